"""A rep's lead draft between messages, kept in the KV with an expiry: what was extracted,
which field the bot is waiting for, the confirm card it showed last (each new card of a draft
is a new version with its own card id: the newest is the live one) and a question the bot
asked about the draft and is waiting for (`pending`: an ambiguous message's readings, or a
new note that arrived while this draft was open)."""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from crm_core.kv.base import KV

DRAFT_TTL = 2 * 3600
FIELDS = ("company", "contact_name", "phone", "product", "budget_cny", "timeline", "next_action", "industry")


@dataclass
class Draft:
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    fields: dict[str, Any] = field(default_factory=dict)
    awaiting: str | None = None        # the field the bot asked for
    editing: bool = False              # the rep tapped 修改
    source: str = "chat"               # chat | voice
    note: str | None = None            # the rep's original words (or transcript)
    transcript: str | None = None
    audio_ref: str | None = None
    platform: str | None = None
    card_id: str | None = None         # the newest confirm card's id
    version: int = 0                   # how many confirm cards this draft has shown
    pending: dict[str, Any] | None = None   # {"kind": "choice" | "new_note", "card_id": …, …}
    review: list[str] = field(default_factory=list)   # fields heard unsure or borrowed from the CRM: 请核对

    def missing(self, required: list[str]) -> list[str]:
        return [f for f in required if self.fields.get(f) in (None, "")]


class DraftStore:
    def __init__(self, kv: KV):
        self.kv = kv

    def _key(self, rep_id: str) -> str:
        return f"draft:{rep_id}"

    def get(self, rep_id: str) -> Draft | None:
        raw = self.kv.get(self._key(rep_id))
        if raw is None:
            return None
        try:
            return Draft(**json.loads(raw))
        except (ValueError, TypeError):   # an old or damaged draft: start over
            self.kv.delete(self._key(rep_id))
            return None

    def save(self, rep_id: str, draft: Draft) -> None:
        self.kv.set(self._key(rep_id), json.dumps(asdict(draft), ensure_ascii=False), ttl=DRAFT_TTL)

    def clear(self, rep_id: str) -> None:
        self.kv.delete(self._key(rep_id))
