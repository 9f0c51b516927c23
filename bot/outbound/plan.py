"""Planning one outbound run: which rows go out together and as what. A `Job` is a
(possibly coalesced) text split into parts, a card, or a card update; texts waiting for the
same recipient are coalesced into as few messages as the platform's size limit allows."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.outbound.message import MAX_PARTS, Recipient, coalesce
from bot.outbound.ratelimit import scopes_of, smallest_allowance
from bot.platforms.interface import Channel
from cards.model import Card, card_from_dict
from cards.render.text import render_text
from cards.zh import polish
from crm_core.db.models import CardRecord, OutboundMessage

TEXT_KINDS = ("text", "markdown")
FINAL = ("sent", "dead")


@dataclass
class Job:
    """What one processing run sends: a (possibly coalesced) text, a card, or a card update."""
    row_id: int
    kind: str
    to: Recipient
    route: str
    channel: Channel
    parts: list[str] = field(default_factory=list)
    sent_before: int = 0          # parts of a frozen plan that went out in earlier runs
    sent_now: int = 0
    members: list[int] = field(default_factory=list)
    new_plan: dict[str, Any] | None = None
    card: Card | None = None
    ref: dict[str, Any] = field(default_factory=dict)
    response_code: str | None = None
    created: float = 0.0          # epoch seconds the (oldest) row was written
    attempts: int = 0             # counted calls, this one included (set when it may go)

    @property
    def cost(self) -> int:
        return max(1, len(self.parts))

    @property
    def as_text(self) -> bool:
        """A card the route cannot show (robots), or whose original went out as text."""
        if self.kind == "card_update":
            return self.ref.get("fallback") == "text"
        return self.kind == "card" and self.route not in self.channel.platform.card_routes

    @property
    def rate_kind(self) -> str:
        return "text" if self.as_text else self.kind


def plan_job(s: Session, row_id: int, channels: Mapping[str, Channel], now: float) -> Job | None:
    """The job for outbound row `row_id`, or None when it is done or rides in another row's
    coalesced message. Raises LookupError for a platform this deployment has no channel for."""
    row = s.get(OutboundMessage, row_id)
    if row is None or row.status in FINAL or row.body.get("in_plan_of"):
        return None
    to = Recipient.from_dict(row.body["to"])
    channel = channels.get(to.platform)
    if channel is None:
        raise LookupError(f"platform {to.platform!r} is not enabled")
    route = channel.route(to, row.kind, now)
    if row.kind in TEXT_KINDS:
        return _text_job(s, row, to, route, channel)
    job = Job(row.id, row.kind, to, route, channel, members=[row.id],
              card=card_from_dict(row.body["card"]), response_code=row.body.get("response_code"),
              created=_epoch(row.created_at))
    if row.kind == "card_update":
        rec = s.get(CardRecord, row.card_id)
        tapped = row.body.get("tapped_message_id")
        job.ref = {"message_id": tapped} if tapped else {}
        job.ref.update((rec.platform_ref or {}) if rec else {})
    if job.as_text and job.card is not None:      # the card as plain text, through a text route
        job.route = channel.route(to, "text", now)
        job.parts = [polish(render_text(job.card, max_bytes=channel.platform.text_limit(job.route, "text")))]
    return job


def _text_job(s: Session, row: OutboundMessage, to: Recipient, route: str, channel: Channel) -> Job:
    """A frozen plan (a call was already tried) is resumed as it is; otherwise the oldest
    pending texts for this recipient are coalesced into one message."""
    plan = row.body.get("plan")
    held = [r for r in s.scalars(select(OutboundMessage).where(
        OutboundMessage.platform == row.platform, OutboundMessage.recipient == row.recipient,
        OutboundMessage.kind == row.kind, OutboundMessage.status == "held",
        OutboundMessage.id != row.id).order_by(OutboundMessage.id)) if not r.body.get("in_plan_of")]
    frozen = [r for r in held if r.body.get("plan") and r.id < row.id]
    if not plan and frozen:          # an older message goes first; this one waits its turn
        row.status, row = "held", frozen[0]
        plan = row.body["plan"]
    if plan:
        sent = int(plan.get("sent", 0))
        return Job(row.id, row.kind, to, route, channel, parts=list(plan["parts"][sent:]),
                   sent_before=sent, members=list(plan["members"]), created=_epoch(row.created_at))
    pending = sorted([r for r in held if not r.body.get("plan")] + [row], key=lambda r: r.id)
    max_parts = min(MAX_PARTS, smallest_allowance(scopes_of(channel.platform, to, route, row.kind, {})))
    parts, used = coalesce([str(r.body.get("text", "")) for r in pending],
                           channel.platform.text_limit(route, row.kind), max_parts)
    members = [r.id for r in pending[:used]]
    if row.id not in members:
        row.status = "held"
    return Job(members[0], row.kind, to, route, channel, parts=parts, members=members,
               new_plan={"members": members, "parts": parts, "sent": 0},
               created=min(_epoch(r.created_at) for r in pending[:used]))


def _epoch(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0
