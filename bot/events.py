"""The neutral inbound event: every platform request becomes one of these.

Handlers only ever see `InboundEvent`; platform formats stay inside the adapters.
Events travel through the work queue, so they round-trip through plain dicts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    TEXT = "text"
    VOICE = "voice"
    MEDIA = "media"              # image / file / video
    CARD_ACTION = "card_action"
    CONTACT = "contact"          # contact / external-contact change
    SYSTEM = "system"            # enter chat, subscribe, ...
    UNKNOWN = "unknown"          # a type we do not handle: acknowledged and logged


@dataclass(frozen=True)
class MediaRef:
    """Where to fetch a voice note / file from the platform."""
    key: str                      # WeCom MediaId, Feishu file_key, DingTalk downloadCode
    format: str | None = None     # amr / opus / ogg / ...; None = sniff the bytes
    message_id: str | None = None # Feishu needs the message id to download a resource
    duration_ms: int | None = None
    recognition: str | None = None  # DingTalk's own ASR text, when present


@dataclass(frozen=True)
class CardAction:
    """A tap on one of our cards."""
    key: str                                   # the button's action key, e.g. "lead.confirm"
    values: dict[str, Any] = field(default_factory=dict)
    card_ref: str | None = None                # our card id (task_id / outTrackId / message id)


@dataclass(frozen=True)
class InboundEvent:
    platform: str                 # "wecom" | "dingtalk" | "feishu"
    kind: EventKind
    event_id: str                 # the platform's dedupe key (MsgId / event_id / msgId ...)
    sender_id: str                # platform user id of the sender
    conversation_id: str          # chat id; for 1:1 chats the sender id
    conversation_type: str = "p2p"  # "p2p" | "group"
    text: str | None = None
    media: MediaRef | None = None
    action: CardAction | None = None
    platform_time: datetime | None = None     # when the platform says it happened (UTC)
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    raw_type: str = ""            # the platform's own type name, for logs
    reply_ref: dict[str, Any] = field(default_factory=dict)  # what the outbound side needs to answer

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: this runs on the ack path; asdict() deep-copies every field.
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["kind"] = self.kind.value
        d["media"] = asdict(self.media) if self.media else None
        d["action"] = asdict(self.action) if self.action else None
        for k in ("platform_time", "received_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "InboundEvent":
        d = dict(d)
        d["kind"] = EventKind(d["kind"])
        d["media"] = MediaRef(**d["media"]) if d.get("media") else None
        d["action"] = CardAction(**d["action"]) if d.get("action") else None
        for k in ("platform_time", "received_at"):
            d[k] = datetime.fromisoformat(d[k]) if d.get(k) else None
        if d["received_at"] is None:
            d["received_at"] = datetime.now(timezone.utc)
        return cls(**d)
