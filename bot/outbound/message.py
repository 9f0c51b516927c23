"""Neutral outbound types: who a message goes to (`Recipient`), and how long texts are split and pending texts
coalesced to fit each platform's size limit.

Long texts: split at line boundaries into at most `MAX_PARTS` messages (a single over-long
line is cut at a word or clause break); whatever is left after that is dropped and the last
part ends with `TRUNCATED_NOTE`. Splitting keeps query results readable; the cap keeps one
reply from eating a recipient's whole per-minute allowance.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cards.model import clip_bytes
from cards.zh import boundary_cut

MAX_PARTS = 4
TRUNCATED_NOTE = "\n…（内容过长，已截断）"
COALESCE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Recipient:
    """A user (platform user id) or a chat; `reply_ref` is what the inbound event said about
    how to answer (DingTalk sessionWebhook, Feishu message_id, WeCom response_code...)."""
    platform: str
    user_id: str = ""
    rep_id: str | None = None
    chat_id: str | None = None
    reply_ref: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.platform:
            raise ValueError("a recipient needs a platform")
        if not (self.user_id or self.chat_id):
            raise ValueError("a recipient needs a user_id or a chat_id")
        object.__setattr__(self, "reply_ref", dict(self.reply_ref or {}))

    @property
    def address(self) -> str:
        """What the outbox table shows and groups by: the chat if any, else the user."""
        return f"chat:{self.chat_id}" if self.chat_id else str(self.user_id)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.address}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipient":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def for_event(cls, event: Any, rep_id: str | None = None) -> "Recipient":
        """Answer an `InboundEvent` where it came from (the group, or the sender in 1:1)."""
        group = getattr(event, "conversation_type", "p2p") == "group"
        return cls(platform=event.platform, user_id=event.sender_id, rep_id=rep_id,
                   chat_id=event.conversation_id if group else None, reply_ref=dict(event.reply_ref))

    @classmethod
    def for_rep(cls, cfg: Any, rep_id: str, platform: str | None = None) -> "Recipient":
        """A rep on their usual platform (or `platform`), from the org config."""
        rep = cfg.org.rep(rep_id)
        if rep is None:
            raise ValueError(f"unknown rep {rep_id!r}")
        where = platform or rep.platform
        user_id = rep.platform_ids.get(where)
        if not user_id:
            raise ValueError(f"rep {rep_id!r} has no {where} id")
        return cls(platform=where, user_id=user_id, rep_id=rep_id)


# ---- sizing ---------------------------------------------------------------------------

def _nbytes(text: str) -> int:
    return len(text.encode())


def _hard_split(line: str, limit: int) -> list[str]:
    """Cut one over-long line into pieces of ≤ limit bytes, at breaks between words or clauses."""
    pieces, rest = [], line
    while _nbytes(rest) > limit:
        head = rest[:max(1, boundary_cut(rest, limit))]      # at a word or clause break when there is one
        pieces.append(head)
        rest = rest[len(head):]
    return pieces + ([rest] if rest else [])


def split_text(text: str, limit: int, max_parts: int = MAX_PARTS) -> list[str]:
    """`text` as ≤ `max_parts` pieces of ≤ `limit` bytes, cut at line boundaries."""
    if _nbytes(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if _nbytes(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        pieces = _hard_split(line, limit) or [""]
        parts.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        parts.append(current)
    # a cut between two texts leaves their blank separator line at the edge of a part
    parts = [p.strip("\n") for p in parts if p.strip("\n")] or [text[:1]]
    if len(parts) > max_parts:
        parts = parts[:max_parts]
        room = limit - _nbytes(TRUNCATED_NOTE)
        parts[-1] = clip_bytes(parts[-1], room, ellipsis="").rstrip("\n") + TRUNCATED_NOTE
    return parts


def coalesce(texts: list[str], limit: int, max_parts: int = MAX_PARTS) -> tuple[list[str], int]:
    """Join pending texts into as few messages as fit; returns (parts, how many texts used).

    The first text is always used (split or truncated if it has to be); later texts are
    added while the result still fits in `max_parts` messages, so none of them is cut.
    """
    if not texts:
        return [], 0
    used, parts = 1, split_text(texts[0], limit, max_parts)
    for _ in texts[1:]:
        joined = COALESCE_SEPARATOR.join(texts[: used + 1])
        candidate = split_text(joined, limit, max_parts + 1)
        if len(candidate) > max_parts:
            break
        used, parts = used + 1, candidate
    return parts, used
