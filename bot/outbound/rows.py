"""The outbound log and card records in the database: every state change of an outbound
row (queued → sent | held | failed | dead) and of the card it carries, one unit of work
each, and the rows whose queue message was lost (`claim_stalled`, for the sweeper). Statuses
are described in `bot.outbound.delivery`."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.faults import is_infrastructure
from bot.outbound.message import Recipient
from bot.outbound.plan import FINAL, TEXT_KINDS, Job
from cards.model import Card, card_to_dict
from crm_core.db import Database
from crm_core.db.models import CardRecord, OutboundMessage

MAX_ERROR = 300
PROGRESS = "progress_at"          # body key: epoch seconds of the row's last move (fail, hold, sweep)
STALLABLE = ("queued", "failed", "held")


class OutboundRows:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    # ---- new rows ---------------------------------------------------------------------
    def insert(self, item: str | Card, to: Recipient, kind: str, dedupe_key: str | None,
               lead_id: int | None) -> int:
        """A queued row for a text or card (and the card's record); returns its id."""
        now = self.clock()
        body: dict[str, Any]
        card_id: str | None
        if isinstance(item, Card):
            row_kind, card_id, body = "card", item.card_id, {"card": card_to_dict(item)}
        elif isinstance(item, str):
            if kind not in TEXT_KINDS:
                raise ValueError(f"kind must be one of {TEXT_KINDS} for a text, not {kind!r}")
            if not item.strip():
                raise ValueError("empty message")
            row_kind, card_id, body = kind, None, {"text": item}
        else:
            raise TypeError(f"cannot send a {type(item).__name__}")
        body.update(to=to.to_dict(), **({"dedupe_key": dedupe_key} if dedupe_key else {}))
        with self.db.uow() as s:
            row = OutboundMessage(platform=to.platform, recipient=to.address[:100], kind=row_kind,
                                  card_id=card_id, body=body, status="queued", attempts=0, created_at=now)
            s.add(row)
            if isinstance(item, Card):
                _upsert_card(s, item, to, "card" if kind in TEXT_KINDS else kind, lead_id, now)
            s.flush()
            return row.id

    def insert_update(self, card_id: str, card: Card, code: str | None, tap: dict[str, Any]) -> int:
        """A queued card_update row for a sent card; the record takes the new content."""
        now = self.clock()
        with self.db.uow() as s:
            rec = s.get(CardRecord, card_id)
            if rec is None:
                raise KeyError(f"unknown card {card_id!r}")
            to = _card_recipient(s, rec)
            rec.content = card_to_dict(card)
            if card.is_resolved:
                rec.result, rec.resolved_at = str(card.result)[:300], now
            # the tapped message, should the send's handle be missing (Feishu open_message_id)
            tapped = tap.get("open_message_id") or tap.get("message_id")
            body = {"card": card_to_dict(card), "to": to.to_dict(), "response_code": code,
                    "tapped_message_id": tapped}
            row = OutboundMessage(platform=to.platform, recipient=to.address[:100], kind="card_update",
                                  card_id=card_id, body=body, status="queued", attempts=0, created_at=now)
            s.add(row)
            s.flush()
            return row.id

    def never_started(self, row_id: int) -> bool:
        """True for a row still `queued` with no attempt: nothing has run it yet (its queue
        message may have been lost with the put that failed after the insert)."""
        with self.db.uow() as s:
            row = s.get(OutboundMessage, row_id)
            return row is not None and row.status == "queued" and not row.attempts \
                and not row.body.get("in_plan_of")

    def older_unstarted(self, row_id: int) -> int | None:
        """The oldest row for the same recipient, written before `row_id`, that nothing has
        started yet (queued, no attempt, not in another's plan), else None: sending it first
        keeps one recipient's messages in the order they were written."""
        with self.db.uow() as s:
            row = s.get(OutboundMessage, row_id)
            if row is None:
                return None
            older = s.scalars(select(OutboundMessage).where(
                OutboundMessage.platform == row.platform, OutboundMessage.recipient == row.recipient,
                OutboundMessage.id < row_id, OutboundMessage.status == "queued")
                .order_by(OutboundMessage.id).limit(20))
            return next((o.id for o in older if not o.attempts and not o.body.get("in_plan_of")
                         and _superseded_by(s, o) is None), None)   # never a copy a fault left

    # ---- one run ------------------------------------------------------------------------
    def head(self, row_id: int) -> str | None:
        """"platform:recipient" of a row still to send (the send lock's name), else None."""
        with self.db.uow() as s:
            row = s.get(OutboundMessage, row_id)
            return None if row is None or row.status in FINAL else f"{row.platform}:{row.recipient}"

    @staticmethod
    def begin_attempt(s: Session, job: Job) -> int:
        """Count the attempt (and freeze a new plan) before calling: a crash mid-call counts,
        and a retry re-sends the same parts with the same Feishu uuids."""
        row = s.get_one(OutboundMessage, job.row_id)
        row.attempts = (row.attempts or 0) + 1
        if job.new_plan is not None:
            row.body = {**row.body, "plan": job.new_plan}
            for member_id in job.members[1:]:
                member = s.get_one(OutboundMessage, member_id)
                member.body = {**member.body, "in_plan_of": job.row_id}
        return row.attempts

    def undo_attempt(self, job: Job) -> None:
        """Uncount the attempt `begin_attempt` counted when the call never happened for a reason
        outside the message (Redis or the database failed). Best effort: with the database
        down the count stays (it only shows in the outbox table)."""
        try:
            with self.db.uow() as s:
                row = s.get(OutboundMessage, job.row_id)
                if row is not None and row.attempts:
                    row.attempts -= 1
        except Exception as err:  # noqa: BLE001 - the caller is already raising the real fault
            if not is_infrastructure(err):
                raise

    def save_progress(self, job: Job) -> None:
        with self.db.uow() as s:
            row = s.get_one(OutboundMessage, job.row_id)
            plan = row.body.get("plan")
            if plan:
                row.body = {**row.body, "plan": {**plan, "sent": job.sent_before + job.sent_now}}

    def hold(self, job: Job, wait: float, reason: str, *, keep_plan: bool = False) -> None:
        """Park the rows. Unless part of the message already went out (or `keep_plan`: a call
        that may have gone through is repeated as it was), the plan is dropped so later texts can
        join it."""
        until = self.clock() + timedelta(seconds=wait)
        keep_plan = keep_plan or job.sent_before + job.sent_now > 0
        with self.db.uow() as s:
            for member_id in job.members:
                row = s.get_one(OutboundMessage, member_id)
                row.status = "held"
                row.error = f"held ({reason[:120]}) until {until:%H:%M:%S} UTC"
                body = row.body if keep_plan else {k: v for k, v in row.body.items() if k not in ("plan", "in_plan_of")}
                row.body = {**body, PROGRESS: until.timestamp()}     # when it is due to move again

    def fail(self, job: Job, text: str, *, dead: bool) -> None:
        now = self.clock().timestamp()
        with self.db.uow() as s:
            for member_id in job.members:
                row = s.get_one(OutboundMessage, member_id)
                if member_id == job.row_id:
                    row.status, row.error = ("dead" if dead else "failed"), text
                    row.body = {**row.body, PROGRESS: now}
                elif dead:
                    row.status, row.error = "dead", f"coalesced into #{job.row_id}: {text}"[:MAX_ERROR]

    def mark_dead(self, row_id: int, text: str) -> None:
        with self.db.uow() as s:
            row = s.get(OutboundMessage, row_id)
            if row is not None:
                row.status, row.error = "dead", text[:MAX_ERROR]

    def finish(self, job: Job, refs: dict[str, Any]) -> int | None:
        """Record the send; returns the recipient's next held message, which may go now."""
        now = self.clock()
        msg_id = next((str(refs[k]) for k in ("msgid", "message_id", "outTrackId", "cardBizId", "processQueryKey")
                       if refs.get(k)), None)
        with self.db.uow() as s:
            for member_id in job.members:
                row = s.get_one(OutboundMessage, member_id)
                row.status, row.sent_at, row.error = "sent", now, None
                row.platform_msg_id = msg_id[:200] if msg_id else None
                if member_id != job.row_id:
                    row.body = {**row.body, "coalesced_into": job.row_id}
            rec = s.get(CardRecord, job.card.card_id) if job.card is not None else None
            if rec is not None:    # a `None` value in refs means "used up": drop the key
                merged = {**(rec.platform_ref or {}), **refs}
                rec.platform_ref = {k: v for k, v in merged.items() if v is not None}
            return _oldest_held_in(s, job.to.platform, job.to.address[:100])

    def claim_stalled(self, older_than: datetime, limit: int) -> list[int]:
        """Rows still to send (queued, failed, or held past their wake-up) that have not moved
        since `older_than`: their queue message was lost (never put: Redis failed after the
        insert; or gone with a Redis that kept nothing). Each is stamped, so the next sweep
        leaves it alone for as long again; coalesced members go with their carrier."""
        cutoff, now = older_than.timestamp(), self.clock().timestamp()
        with self.db.uow() as s:
            rows = s.scalars(select(OutboundMessage).where(
                OutboundMessage.status.in_(STALLABLE), OutboundMessage.created_at < older_than)
                .order_by(OutboundMessage.id).limit(limit * 10))
            stalled = [r for r in rows if not r.body.get("in_plan_of")
                       and float(r.body.get(PROGRESS) or 0.0) < cutoff][:limit]
            ids = []
            for row in stalled:
                if (by := _superseded_by(s, row)) is not None:
                    row.status, row.body = "dead", {**row.body, "superseded_by": by}
                    row.error = f"not sent: #{by} is the same message (dedupe key), written again after a fault"
                    continue
                row.body = {**row.body, PROGRESS: now}
                ids.append(row.id)
            return ids

    def oldest_held(self, platform: str, recipient: str) -> int | None:
        with self.db.uow() as s:
            return _oldest_held_in(s, platform, recipient)


def _superseded_by(s: Session, row: OutboundMessage) -> int | None:
    """Another row of the same logical message (dedupe key) that is sent or was written later:
    a fault between this row's insert and its registration in the KV (`once.py`) let a retry
    write the message again, and that newer row is the one registered and queued."""
    key = row.body.get("dedupe_key")
    if not key:
        return None
    twins = s.execute(select(OutboundMessage.id, OutboundMessage.status).where(
        OutboundMessage.platform == row.platform, OutboundMessage.recipient == row.recipient,
        OutboundMessage.id != row.id, OutboundMessage.body["dedupe_key"].as_string() == str(key))).all()
    sent = [i for i, status in twins if status == "sent"]
    later = [i for i, status in twins if i > row.id and status != "dead"]
    return min(sent) if sent else (max(later) if later else None)


def _oldest_held_in(s: Session, platform: str, recipient: str) -> int | None:
    rows = s.scalars(select(OutboundMessage).where(
        OutboundMessage.platform == platform, OutboundMessage.recipient == recipient,
        OutboundMessage.status == "held").order_by(OutboundMessage.id))
    return next((r.id for r in rows if not r.body.get("in_plan_of")), None)


def _upsert_card(s: Session, card: Card, to: Recipient, kind: str, lead_id: int | None, now: datetime) -> None:
    rec = s.get(CardRecord, card.card_id)
    if rec is None:
        rec = CardRecord(id=card.card_id, created_at=now)
        s.add(rec)
    rec.kind, rec.platform, rec.recipient = kind[:32], to.platform, to.address[:100]
    rec.lead_id = lead_id if lead_id is not None else rec.lead_id
    rec.content, rec.platform_ref = card_to_dict(card), {}   # a new send: new handles
    rec.result, rec.resolved_at = card.result, None


def _card_recipient(s: Session, rec: CardRecord) -> Recipient:
    origin = s.scalar(select(OutboundMessage).where(
        OutboundMessage.card_id == rec.id, OutboundMessage.kind == "card")
        .order_by(OutboundMessage.id.desc()).limit(1))
    if origin is not None:
        return Recipient.from_dict(origin.body["to"])
    chat = rec.recipient[5:] if rec.recipient.startswith("chat:") else None
    return Recipient(rec.platform, "" if chat else rec.recipient, chat_id=chat)
