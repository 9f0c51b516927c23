"""The one outbound path. `Outbox.send(text_or_card, to)` writes an `OutboundMessage` row and
queues it; `Outbox.process`, the worker processor of the "outbound" queue, rate-limits, calls
the platform client and records the outcome. `update_card` goes through the same queue.

Row statuses: queued → sent; → held (over a rate limit: not sent, woken later, and pending
texts for the recipient are coalesced into one message) → sent; → failed (5xx, timeout, token:
the worker retries with backoff) → sent | dead (permanent error or MAX_ATTEMPTS attempts).
Dead rows are the dead-letter list (`crm-bot outbox --status dead`, `crm-bot outbox retry`).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from cards.model import Card
from cards.render import render
from crm_core.db.models import CardRecord, OutboundMessage

from bot.outbound import dingtalk, feishu, wecom
from bot.outbound.http import OutboundError, PermanentError, RateLimited, TransientError
from bot.outbound.message import MAX_PARTS, Recipient, card_from_dict, card_to_dict, coalesce, text_limit
from bot.outbound.ratelimit import LATER_QUEUE, Deferrals, RateLimiter, scopes_of, smallest_allowance

log = logging.getLogger("crm_bot.outbound")

OUTBOUND_QUEUE = "outbound"
MAX_ATTEMPTS = 5
DEDUPE_TTL = 7 * 86400.0
SEND_LOCK_TTL = 120.0          # one job: a few calls with 10 s read timeouts
SEND_LOCK_WAIT = 30.0
TEXT_KINDS = ("text", "markdown")
FINAL = ("sent", "dead")
MAX_ERROR = 300


PLATFORMS: dict[str, Any] = {"wecom": wecom, "dingtalk": dingtalk, "feishu": feishu}
CLIENTS: dict[str, Any] = {"wecom": wecom.WeComClient, "dingtalk": dingtalk.DingTalkClient,
                           "feishu": feishu.FeishuClient}


@dataclass
class Job:
    """What one processing run sends: a (possibly coalesced) text, a card, or a card update."""
    row_id: int
    kind: str
    to: Recipient
    route: str
    parts: list[str] = field(default_factory=list)
    sent_before: int = 0          # parts of a frozen plan that went out in earlier runs
    sent_now: int = 0
    members: list[int] = field(default_factory=list)
    new_plan: dict[str, Any] | None = None
    card: Card | None = None
    ref: dict[str, Any] = field(default_factory=dict)
    response_code: str | None = None

    @property
    def cost(self) -> int:
        return max(1, len(self.parts))

    @property
    def as_text(self) -> bool:
        """A card the route cannot show (robots), or whose original went out as text."""
        if self.kind == "card_update":
            return self.ref.get("fallback") == "text"
        return self.kind == "card" and self.route not in PLATFORMS[self.to.platform].CARD_ROUTES


class Outbox:
    """`send()` from handlers and jobs; `process()` in the worker. One per Runtime: `outbox_for(rt)`."""

    def __init__(self, rt: Any, *, max_attempts: int = MAX_ATTEMPTS, dedupe_ttl: float = DEDUPE_TTL) -> None:
        self.rt = rt
        self.max_attempts, self.dedupe_ttl = max_attempts, dedupe_ttl
        self.queue = rt.kv.queue(OUTBOUND_QUEUE)
        self.limiter = RateLimiter(rt.kv, self._now)
        self.later = Deferrals(rt.kv, self._now, self._on_due)

    def _now(self) -> float:
        return self.rt.clock().timestamp()

    # ---- entry points -------------------------------------------------------------------
    def send(self, item: str | Card, to: Recipient, *, kind: str = "text",
             dedupe_key: str | None = None, lead_id: int | None = None) -> int:
        """Queue `item` for `to`; returns the outbound row id. With `dedupe_key` the logical
        message goes out once: a repeat returns the first row's id and sends nothing.
        For a card, `kind` names the card kind stored in its CardRecord."""
        return self._once(dedupe_key, lambda: self._insert(item, to, kind, dedupe_key, lead_id))

    def update_card(self, card_id: str, resolved_card: Card, *, response_code: str | None = None,
                    reply_ref: dict[str, Any] | None = None, dedupe_key: str | None = None) -> int:
        """Update a sent card in place (after a tap), through the same queue. WeCom needs the
        tap's single-use response_code: pass it, or the tap event's `reply_ref` holding it."""
        if resolved_card.card_id != card_id:
            raise ValueError("resolved_card has a different card_id")
        tap = dict(reply_ref or {})
        code = response_code or tap.get("response_code") or None
        return self._once(dedupe_key, lambda: self._insert_update(card_id, resolved_card, code, tap))

    def _once(self, dedupe_key: str | None, insert: Any) -> int:
        """Insert and queue a row, at most once per `dedupe_key` (a KV claim)."""
        if dedupe_key is not None and not self.rt.kv.claim(f"outbound:dedupe:{dedupe_key}", self.dedupe_ttl):
            return self._deduped_id(dedupe_key)
        try:
            row_id = insert()
        except BaseException:
            if dedupe_key is not None:   # nothing was queued: let a retry through
                self.rt.kv.delete(f"outbound:dedupe:{dedupe_key}")
            raise
        if dedupe_key is not None:
            self.rt.kv.set(f"outbound:dedupe-id:{dedupe_key}", str(row_id), ttl=self.dedupe_ttl)
        self.queue.put({"outbound_id": row_id})
        return row_id

    def _insert_update(self, card_id: str, card: Card, code: str | None, tap: dict[str, Any]) -> int:
        now = self.rt.clock()
        with self.rt.db.uow() as s:
            rec = s.get(CardRecord, card_id)
            if rec is None:
                raise KeyError(f"unknown card {card_id!r}")
            to = self._card_recipient(s, rec)
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

    def process(self, payload: dict[str, Any]) -> None:
        """Worker processor for "outbound". Raises on transient failures (the worker retries
        with backoff); returns once the message is sent, held, or dead."""
        row_id = payload.get("outbound_id")
        if not isinstance(row_id, int):
            log.warning("outbound payload without an outbound_id ignored")
            return
        head = self._head(row_id)
        if head is None:
            return
        # one sender per recipient at a time: coalescing reads and updates its pending rows
        lock = self.rt.kv.lock(f"outbound:send:{head}", ttl=SEND_LOCK_TTL)
        if not lock.acquire(blocking=True, timeout=SEND_LOCK_WAIT):
            raise TransientError("another worker is still sending to this recipient", api="outbox")
        try:
            self._process_locked(row_id)
        finally:
            lock.release()

    # ---- one job ------------------------------------------------------------------------
    def _process_locked(self, row_id: int) -> None:
        started = self._start(row_id)
        if started is None:
            return
        job, wait, attempts = started
        if wait > 0:
            self._hold(job, wait, "rate limit")
            return
        woken = False
        try:
            refs = self._deliver(job)
        except RateLimited as err:
            self._hold(job, err.retry_after, str(err))
        except PermanentError as err:
            self._fail(job, err, attempts, dead=True)
        except OutboundError as err:       # transient, token, or anything unclassified
            self._fail(job, err, attempts, dead=attempts >= self.max_attempts)
            err.already_logged = True      # the worker retries it without another traceback
            raise
        except Exception as err:  # noqa: BLE001 - e.g. a card no renderer can show: never retried
            log.exception("outbound %s cannot be sent", job.row_id)
            self._fail(job, err, attempts, dead=True)
        else:
            self._queue_next(self._finish(job, refs))
            woken = True
        finally:
            if not woken and self._head(job.row_id) is None:    # dead: the recipient's next may go
                self._wake_next(job.to)

    def _deliver(self, job: Job) -> dict[str, Any]:
        """The platform calls for one job; texts go part by part, saving progress."""
        mod, client = PLATFORMS[job.to.platform], client_for(self.rt, job.to.platform)
        if job.kind == "card" and not job.as_text:
            return mod.send_card_to(client, self.rt.cfg, job.to, job.route, job.card,
                                    uuid=f"crm-{job.row_id}")
        if job.kind == "card_update" and not job.as_text:
            return mod.update_card_for(client, job.to, job.card, job.ref, job.response_code)
        refs: dict[str, Any] = {"fallback": "text"} if job.card is not None else {}
        for i, part in enumerate(job.parts):
            index = job.sent_before + i
            got = mod.send_text_to(client, self.rt.cfg, job.to, job.route, part,
                                   job.kind == "markdown", uuid=f"crm-{job.row_id}-{index}")
            refs = {**got, **refs} if i == 0 else refs     # keep the first part's message id
            job.sent_now += 1
            if i + 1 < len(job.parts):
                self._save_progress(job)
        return refs

    def _start(self, row_id: int) -> tuple[Job, float, int] | None:
        """Plan the job, reserve its rate-limit budget and (when it may go now) count the
        attempt, in one transaction: (job, seconds to wait or 0, attempts so far)."""
        with self.rt.db.uow() as s:
            job = self._prepare(s, row_id)
            if job is None:
                return None
            kind = "text" if job.as_text else job.kind
            wait = self.limiter.reserve(scopes_of(job.to, job.route, kind, job.ref), cost=job.cost)
            return job, wait, (self._begin_attempt(s, job) if wait <= 0 else 0)

    def _prepare(self, s: Any, row_id: int) -> Job | None:
        row = s.get(OutboundMessage, row_id)
        if row is None or row.status in FINAL or row.body.get("in_plan_of"):
            return None      # done, or goes out inside another row's coalesced message
        to = Recipient.from_dict(row.body["to"])
        route = PLATFORMS[to.platform].route(self.rt.cfg, to, row.kind, now=self._now())
        if row.kind in TEXT_KINDS:
            return self._text_job(s, row, to, route)
        job = Job(row.id, row.kind, to, route, members=[row.id],
                  card=card_from_dict(row.body["card"]), response_code=row.body.get("response_code"))
        if row.kind == "card_update":
            rec = s.get(CardRecord, row.card_id)
            tapped = row.body.get("tapped_message_id")
            job.ref = {"message_id": tapped} if tapped else {}
            job.ref.update((rec.platform_ref or {}) if rec else {})
        if job.as_text:      # the card as plain text, through a text route
            job.route = PLATFORMS[to.platform].route(self.rt.cfg, to, "text", now=self._now())
            limit = text_limit(to.platform, job.route, "text")
            job.parts = [render(job.card, "text", max_bytes=limit)]
        return job

    def _text_job(self, s: Any, row: OutboundMessage, to: Recipient, route: str) -> Job:
        """Plan the message: a frozen plan (a call was already tried) is resumed as it is;
        otherwise the oldest pending texts for this recipient are coalesced into one."""
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
            return Job(row.id, row.kind, to, route, parts=list(plan["parts"][sent:]),
                       sent_before=sent, members=list(plan["members"]))
        pending = sorted([r for r in held if not r.body.get("plan")] + [row], key=lambda r: r.id)
        max_parts = min(MAX_PARTS, smallest_allowance(scopes_of(to, route, row.kind, {})))
        parts, used = coalesce([str(r.body.get("text", "")) for r in pending],
                               text_limit(to.platform, route, row.kind), max_parts)
        members = [r.id for r in pending[:used]]
        if row.id not in members:
            row.status = "held"
        return Job(members[0], row.kind, to, route, parts=parts, members=members,
                   new_plan={"members": members, "parts": parts, "sent": 0})

    @staticmethod
    def _begin_attempt(s: Any, job: Job) -> int:
        """Count the attempt (and freeze a new plan) before calling: a crash mid-call counts,
        and a retry re-sends the same parts with the same Feishu uuids."""
        row = s.get(OutboundMessage, job.row_id)
        row.attempts = (row.attempts or 0) + 1
        if job.new_plan is not None:
            row.body = {**row.body, "plan": job.new_plan}
            for member_id in job.members[1:]:
                member = s.get(OutboundMessage, member_id)
                member.body = {**member.body, "in_plan_of": job.row_id}
        return row.attempts

    def _save_progress(self, job: Job) -> None:
        with self.rt.db.uow() as s:
            row = s.get(OutboundMessage, job.row_id)
            plan = row.body.get("plan")
            if plan:
                row.body = {**row.body, "plan": {**plan, "sent": job.sent_before + job.sent_now}}

    def _hold(self, job: Job, wait: float, reason: str) -> None:
        """Not sent: park the rows and wake the recipient when its window opens. Unless part
        of the message already went out, the plan is dropped so later texts can join it."""
        until = self.rt.clock() + timedelta(seconds=wait)
        keep_plan = job.sent_before + job.sent_now > 0
        with self.rt.db.uow() as s:
            for member_id in job.members:
                row = s.get(OutboundMessage, member_id)
                row.status = "held"
                row.error = f"held ({reason[:120]}) until {until:%H:%M:%S} UTC"
                if not keep_plan:
                    row.body = {k: v for k, v in row.body.items() if k not in ("plan", "in_plan_of")}
        wake = {"platform": job.to.platform, "recipient": job.to.address[:100]}
        self.later.schedule(job.to.key, wake, wait)

    def _fail(self, job: Job, err: Exception, attempts: int, *, dead: bool) -> None:
        text = _error_text(err)
        with self.rt.db.uow() as s:
            for member_id in job.members:
                row = s.get(OutboundMessage, member_id)
                if member_id == job.row_id:
                    row.status, row.error = ("dead" if dead else "failed"), text
                elif dead:
                    row.status, row.error = "dead", f"coalesced into #{job.row_id}: {text}"[:MAX_ERROR]
        log.log(logging.ERROR if dead else logging.WARNING, "outbound %s %s after %d attempt(s): %s",
                job.row_id, "dead" if dead else "failed", attempts, text)

    def _finish(self, job: Job, refs: dict[str, Any]) -> int | None:
        """Record the send; returns the recipient's next held message, which may go now."""
        now = self.rt.clock()
        msg_id = next((str(refs[k]) for k in ("msgid", "message_id", "cardBizId", "processQueryKey")
                       if refs.get(k)), None)
        with self.rt.db.uow() as s:
            for member_id in job.members:
                row = s.get(OutboundMessage, member_id)
                row.status, row.sent_at, row.error = "sent", now, None
                row.platform_msg_id = msg_id[:200] if msg_id else None
                if member_id != job.row_id:
                    row.body = {**row.body, "coalesced_into": job.row_id}
            rec = s.get(CardRecord, job.card.card_id) if job.card is not None else None
            if rec is not None:    # a `None` value in refs means "used up": drop the key
                merged = {**(rec.platform_ref or {}), **refs}
                rec.platform_ref = {k: v for k, v in merged.items() if v is not None}
            return self._oldest_held_in(s, job.to.platform, job.to.address[:100])

    def _wake_next(self, to: Recipient) -> None:
        """After a send, the recipient's oldest held message (if any) goes next."""
        self._queue_next(self._oldest_held(to.platform, to.address[:100]))

    def _on_due(self, payload: dict[str, Any]) -> None:
        self._queue_next(self._oldest_held(str(payload.get("platform")), str(payload.get("recipient"))))

    def _queue_next(self, next_id: int | None) -> None:
        if next_id is not None:
            self.queue.put({"outbound_id": next_id})

    def _oldest_held(self, platform: str, recipient: str) -> int | None:
        with self.rt.db.uow() as s:
            return self._oldest_held_in(s, platform, recipient)

    @staticmethod
    def _oldest_held_in(s: Any, platform: str, recipient: str) -> int | None:
        rows = s.scalars(select(OutboundMessage).where(
            OutboundMessage.platform == platform, OutboundMessage.recipient == recipient,
            OutboundMessage.status == "held").order_by(OutboundMessage.id))
        return next((r.id for r in rows if not r.body.get("in_plan_of")), None)

    # ---- rows ---------------------------------------------------------------------------
    def _insert(self, item: str | Card, to: Recipient, kind: str, dedupe_key: str | None,
                lead_id: int | None) -> int:
        now = self.rt.clock()
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
        with self.rt.db.uow() as s:
            row = OutboundMessage(platform=to.platform, recipient=to.address[:100], kind=row_kind,
                                  card_id=card_id, body=body, status="queued", attempts=0, created_at=now)
            s.add(row)
            if isinstance(item, Card):
                self._upsert_card(s, item, to, "card" if kind in TEXT_KINDS else kind, lead_id, now)
            s.flush()
            return row.id

    @staticmethod
    def _upsert_card(s: Any, card: Card, to: Recipient, kind: str, lead_id: int | None, now: Any) -> None:
        rec = s.get(CardRecord, card.card_id)
        if rec is None:
            rec = CardRecord(id=card.card_id, created_at=now)
            s.add(rec)
        rec.kind, rec.platform, rec.recipient = kind[:32], to.platform, to.address[:100]
        rec.lead_id = lead_id if lead_id is not None else rec.lead_id
        rec.content, rec.platform_ref = card_to_dict(card), {}   # a new send: new handles
        rec.result, rec.resolved_at = card.result, None

    @staticmethod
    def _card_recipient(s: Any, rec: CardRecord) -> Recipient:
        origin = s.scalar(select(OutboundMessage).where(
            OutboundMessage.card_id == rec.id, OutboundMessage.kind == "card")
            .order_by(OutboundMessage.id.desc()).limit(1))
        if origin is not None:
            return Recipient.from_dict(origin.body["to"])
        chat = rec.recipient[5:] if rec.recipient.startswith("chat:") else None
        return Recipient(rec.platform, "" if chat else rec.recipient, chat_id=chat)

    def _head(self, row_id: int) -> str | None:
        with self.rt.db.uow() as s:
            row = s.get(OutboundMessage, row_id)
            return None if row is None or row.status in FINAL else f"{row.platform}:{row.recipient}"

    def _deduped_id(self, dedupe_key: str, wait: float = 2.0) -> int:
        """The row the first sender created (it may still be writing it); 0 if unknown."""
        give_up = time.monotonic() + wait
        while True:
            value = self.rt.kv.get(f"outbound:dedupe-id:{dedupe_key}")
            if value or time.monotonic() > give_up:
                return int(value) if value else 0
            time.sleep(0.02)


def _error_text(err: Exception) -> str:
    # OutboundError texts are built without URLs or secrets; others get their type name only
    text = str(err) if isinstance(err, OutboundError) else f"{type(err).__name__}: {str(err)[:200]}"
    return text[:MAX_ERROR]


_build_lock = threading.Lock()


def client_for(rt: Any, platform: str) -> Any:
    """The runtime's client for `platform`, built on first use and kept in `rt.extras`;
    its clock is the runtime's, so token expiry follows injected time in tests."""
    key = f"outbound.client.{platform}"
    with _build_lock:
        client = rt.extras.get(key)
        if client is None:
            cfg = getattr(rt.cfg.platforms, platform)
            client = rt.extras[key] = CLIENTS[platform](cfg, rt.kv, clock=lambda: rt.clock().timestamp())
        return client


def outbox_for(rt: Any) -> Outbox:
    """The runtime's Outbox (built once, kept in `rt.extras`)."""
    with _build_lock:
        box = rt.extras.get("outbox")
        if box is None:
            box = rt.extras["outbox"] = Outbox(rt)
        return box


def outbound_processors(rt: Any) -> dict[str, Any]:
    """Queue name → processor, for `bot.worker.processors`: outbound sends and their wake-ups."""
    box = outbox_for(rt)
    return {OUTBOUND_QUEUE: box.process, LATER_QUEUE: box.later.process}
