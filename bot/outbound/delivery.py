"""The one outbound path. `Outbox.send(text_or_card, to)` writes an `OutboundMessage` row and
queues it; `Outbox.process`, the worker processor of the "outbound" queue, plans the run
(`plan.py`), reserves rate budget (`ratelimit.py`), calls the platform's `Channel` and
records the outcome (`rows.py`). `update_card` goes through the same queue.

Row statuses: queued → sent; → held (over a rate limit: not sent, woken later, and pending
texts for the recipient are coalesced into one message) → sent; → failed (5xx, timeout, token:
the worker retries with backoff) → sent | dead (permanent error, or MAX_ATTEMPTS attempts of
another kind). A platform that keeps answering 5xx or timing out is down, not refusing the
message: after MAX_ATTEMPTS such a row is held and woken again (OUTAGE_MAX_WAIT apart at most,
the plan kept as it was) until `retry_window` seconds after it was written, then dead.
Dead rows are the dead-letter list (`crm-bot outbox --status dead`, `crm-bot outbox retry`).
Redis or the database failing mid-run never makes a row dead: the run raises
`InfrastructureError` and the worker defers it. A row whose queue message was lost (put after
the insert failed, a Redis that kept nothing) is re-queued by the `outbox_sweep` job.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.faults import InfrastructureError, describe, is_infrastructure
from bot.logsetup import log_context
from bot.outbound.http import OutboundError, PermanentError, RateLimited, TransientError
from bot.outbound.images import ChartImages
from bot.outbound.message import Recipient
from bot.outbound.once import DEDUPE_TTL, SendOnce
from bot.outbound.plan import Job, plan_job
from bot.outbound.ratelimit import Deferrals, RateLimiter, scopes_of
from bot.outbound.rows import MAX_ERROR, OutboundRows
from bot.platforms.interface import Channel
from cards.model import Card
from cards.zh import polish, polish_card
from crm_core.db import Database
from crm_core.kv.base import KV, Lock
from crm_core.kv.keys import LATER_QUEUE, OUTBOUND_QUEUE

log = logging.getLogger("crm_bot.outbound")

MAX_ATTEMPTS = 5
OUTAGE_MAX_WAIT = 30.0         # seconds between the tries of a platform that is down, at most
# One sender per recipient. The lock is extended before each platform call (≤ 13 s each), so
# it can be short: a worker killed mid-send holds up its recipient for SEND_LOCK_TTL at most.
SEND_LOCK_TTL = 30.0
SEND_LOCK_WAIT = 30.0
SWEEP_LIMIT = 500              # rows re-queued per sweep at most
MAX_OLDER_FIRST = 10           # earlier rows for the same recipient sent first, per run at most


class Outbox:
    """`send()` from handlers and jobs; `process()` in the worker. One per process, built by
    the composition root."""

    def __init__(self, db: Database, kv: KV, channels: Mapping[str, Channel],
                 clock: Callable[[], datetime], *, max_attempts: int = MAX_ATTEMPTS,
                 dedupe_ttl: float = DEDUPE_TTL, images: ChartImages | None = None,
                 retry_window: float = 3600.0) -> None:
        self.kv = kv
        self.images = images           # cards' chart pictures; None: cards go without them
        self.db = db
        self.channels = channels
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_window = retry_window      # seconds after writing a reply that a platform outage may delay it
        self.rows = OutboundRows(db, clock)
        self.once = SendOnce(kv, dedupe_ttl)
        self.queue = kv.queue(OUTBOUND_QUEUE)
        self.limiter = RateLimiter(kv, self._now)
        self.later = Deferrals(kv, self._now, self._on_due)

    def _now(self) -> float:
        return self.clock().timestamp()

    def processors(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        """Queue name → processor, for the workers: sends and their wake-ups."""
        return {OUTBOUND_QUEUE: self.process, LATER_QUEUE: self.later.process}

    # ---- entry points -------------------------------------------------------------------
    def send(self, item: str | Card, to: Recipient, *, kind: str = "text",
             dedupe_key: str | None = None, lead_id: int | None = None) -> int:
        """Queue `item` for `to`; returns the outbound row id. With `dedupe_key` the logical
        message goes out once: a repeat returns the first row's id and sends nothing.
        For a card, `kind` names the card kind stored in its CardRecord. Chinese text gets
        full-width punctuation here, once for every sender (cards/zh.py)."""
        item = polish_card(item) if isinstance(item, Card) else polish(item)
        return self._queued(dedupe_key, lambda: self.rows.insert(item, to, kind, dedupe_key, lead_id))

    def update_card(self, card_id: str, resolved_card: Card, *, response_code: str | None = None,
                    reply_ref: dict[str, Any] | None = None, dedupe_key: str | None = None) -> int:
        """Update a sent card in place (after a tap), through the same queue. WeCom needs the
        tap's single-use response_code: pass it, or the tap event's `reply_ref` holding it."""
        if resolved_card.card_id != card_id:
            raise ValueError("resolved_card has a different card_id")
        resolved_card = polish_card(resolved_card)
        tap = dict(reply_ref or {})
        code = response_code or tap.get("response_code") or None
        return self._queued(dedupe_key, lambda: self.rows.insert_update(card_id, resolved_card, code, tap))

    def _queued(self, dedupe_key: str | None, insert: Callable[[], int]) -> int:
        row_id, new = self.once.run(dedupe_key, insert)
        # A repeat (the handler run again after a Redis fault) puts a row nothing has started
        # back on the queue: the first put may be what failed. A second copy is harmless.
        if new or self.rows.never_started(row_id):
            self.queue.put({"outbound_id": row_id})
        return row_id

    def requeue_stalled(self, older_than: datetime, limit: int = SWEEP_LIMIT) -> int:
        """Put rows back on the queue that have made no progress since `older_than` (their
        queue message was lost); returns how many. A copy that is still queued somewhere is
        harmless: the first to run sends, the other finds the row finished and does nothing."""
        ids = self.rows.claim_stalled(older_than, limit)
        for row_id in ids:
            self.queue.put({"outbound_id": row_id})
        if ids:
            log.warning("re-queued %d outbound message(s) with no progress since %s: %s", len(ids),
                        f"{older_than:%H:%M:%S} UTC", ", ".join(map(str, ids[:20])) + (" …" if len(ids) > 20 else ""))
        return len(ids)

    def process(self, payload: dict[str, Any]) -> None:
        """Worker processor for "outbound". Raises on transient failures (the worker retries
        with backoff); returns once the message is sent, held, or dead."""
        row_id = payload.get("outbound_id")
        if not isinstance(row_id, int):
            log.warning("outbound payload without an outbound_id ignored")
            return
        head = self.rows.head(row_id)
        if head is None:
            return
        # one sender per recipient at a time: coalescing reads and updates its pending rows
        lock = self.kv.lock(f"outbound:send:{head}", ttl=SEND_LOCK_TTL)
        if not lock.acquire(blocking=True, timeout=SEND_LOCK_WAIT):
            raise TransientError("another worker is still sending to this recipient", api="outbox")
        try:
            self._older_first(row_id, lambda: _keep(lock))
            with log_context(outbound_id=row_id):
                self._process_locked(row_id, lambda: _keep(lock))
        finally:
            lock.release()

    def _older_first(self, row_id: int, keep: Callable[[], None]) -> None:
        """Workers take a recipient's messages in parallel, so a later one can win the send
        lock: send what was written before it first (in order), so 「识别到…」 never arrives after
        the question that follows it. Each older row keeps its own queue message; whoever runs
        it later finds it finished. A failure here is left to that row's own retry."""
        tried: set[int] = set()
        for _ in range(MAX_OLDER_FIRST):
            older = self.rows.older_unstarted(row_id)
            if older is None or older in tried:
                return
            tried.add(older)
            try:
                with log_context(outbound_id=older):
                    self._process_locked(older, keep)
            except Exception as err:  # noqa: BLE001 - the older row's own queue message retries it
                log.info("outbound %s: sending the earlier %s first failed (%s); it is retried on its own",
                         row_id, older, describe(err))
                return

    # ---- one job ------------------------------------------------------------------------
    def _process_locked(self, row_id: int, keep: Callable[[], None]) -> None:
        started = self._start(row_id)
        if started is None:
            return
        job, wait, attempts = started
        job.attempts = attempts
        if wait > 0:
            self._hold(job, wait, "rate limit")
            return
        woken = False
        try:
            refs = self._deliver(job, keep)
        except RateLimited as err:
            self._hold(job, err.retry_after, str(err))
        except PermanentError as err:
            self._fail(job, err, attempts, dead=True)
        except OutboundError as err:       # transient, token, or anything unclassified
            if self._platform_down(job, err, attempts):
                return                     # held: woken by `later`, the worker's message is done
            self._fail(job, err, attempts, dead=attempts >= self.max_attempts)
            err.already_logged = True      # the worker retries it without another traceback
            raise
        except Exception as err:  # noqa: BLE001 - e.g. a card no renderer can show: never retried
            if is_infrastructure(err):     # Redis or the database, not the message: retry later
                self.rows.undo_attempt(job)
                raise InfrastructureError(f"outbound {job.row_id} deferred: {describe(err)}") from err
            log.exception("outbound %s cannot be sent", job.row_id)
            self._fail(job, err, attempts, dead=True)
        else:
            self._queue_next(self.rows.finish(job, refs))
            woken = True
        finally:
            if not woken and self._is_dead(job.row_id):    # the recipient's next may go
                self._queue_next(self.rows.oldest_held(job.to.platform, job.to.address[:100]))

    def _is_dead(self, row_id: int) -> bool:
        """Finished without being sent; False when the database cannot say (an outage: the
        row is retried, and the error being raised already tells the worker)."""
        try:
            return self.rows.head(row_id) is None
        except Exception as err:  # noqa: BLE001 - never hide the error being raised
            if is_infrastructure(err):
                return False
            raise

    def _start(self, row_id: int) -> tuple[Job, float, int] | None:
        """Plan the job, reserve its rate-limit budget and (when it may go now) count the
        attempt, in one transaction: (job, seconds to wait or 0, attempts so far)."""
        try:
            with self.db.uow() as s:
                job = plan_job(s, row_id, self.channels, self._now())
                if job is None:
                    return None
                scopes = scopes_of(job.channel.platform, job.to, job.route, job.rate_kind, job.ref)
                wait = self.limiter.reserve(scopes, cost=job.cost)
                return job, wait, (self.rows.begin_attempt(s, job) if wait <= 0 else 0)
        except LookupError as err:           # a platform this deployment does not run
            log.error("outbound %s cannot be sent: %s", row_id, err)
            self.rows.mark_dead(row_id, str(err)[:MAX_ERROR])
            return None

    def _deliver(self, job: Job, keep: Callable[[], None] = lambda: None) -> dict[str, Any]:
        """The platform calls for one job; texts go part by part, saving progress. `keep()`
        before each call: the send lock lasts for the call."""
        channel = job.channel
        # an earlier call of this same message may have gone out (a retry after a timeout, a
        # crash or an outage): how far back, for platforms that dedupe by content (WeCom)
        window = max(0.0, self._now() - job.created) if job.attempts > 1 else 0.0
        keep()
        if job.kind == "card" and not job.as_text and job.card is not None:
            return self._send_card(job, job.card, window, keep)
        if job.kind == "card_update" and not job.as_text and job.card is not None:
            return channel.update_card(job.to, job.card, job.ref, job.response_code)
        refs: dict[str, Any] = {"fallback": "text"} if job.card is not None else {}
        for i, part in enumerate(job.parts):
            index = job.sent_before + i
            if i:
                keep()
            got = channel.send_text(job.to, job.route, part, job.kind == "markdown",
                                    uuid=f"crm-{job.row_id}-{index}", resend_window=window)
            refs = {**got, **refs} if i == 0 else refs     # keep the first part's message id
            job.sent_now += 1
            if i + 1 < len(job.parts):
                self.rows.save_progress(job)
        return refs

    def _send_card(self, job: Job, card: Card, window: float, keep: Callable[[], None]) -> dict[str, Any]:
        """A card, with its chart's picture where there is one (uploaded first; see images.py).
        A send the platform refuses with the picture (an id it no longer knows) goes once more
        as the text version, and the cached id is forgotten."""
        channel, uuid = job.channel, f"crm-{job.row_id}"
        image = None
        if self.images is not None and card.chart is not None:
            image = self.images.image_for(channel, card, last_attempt=job.attempts >= self.max_attempts)
            keep()                       # an upload (or waiting for another's) took a while
        if not image:
            return channel.send_card(job.to, job.route, card, uuid=uuid, resend_window=window)
        try:
            return channel.send_card(job.to, job.route, card, uuid=uuid, resend_window=window, image=image)
        except PermanentError as err:
            assert self.images is not None
            self.images.forget(channel, card)
            log.warning("outbound %s: card refused with its chart (%s); sending it as text", job.row_id, err)
            return channel.send_card(job.to, job.route, card, uuid=uuid, resend_window=window)

    def _hold(self, job: Job, wait: float, reason: str, *, keep_plan: bool = False) -> None:
        """Not sent: park the rows and wake the recipient when its window opens."""
        self.rows.hold(job, wait, reason, keep_plan=keep_plan)
        wake = {"platform": job.to.platform, "recipient": job.to.address[:100]}
        self.later.schedule(job.to.key, wake, wait)

    def _platform_down(self, job: Job, err: OutboundError, attempts: int) -> bool:
        """Past MAX_ATTEMPTS, a 5xx / timeout / token failure within the retry window: hold the
        rows and try again later (backoff up to OUTAGE_MAX_WAIT) instead of giving them up."""
        if not isinstance(err, TransientError) or attempts < self.max_attempts:
            return False
        if self.clock().timestamp() - job.created >= self.retry_window:
            return False
        wait = min(OUTAGE_MAX_WAIT, 2.0 ** min(attempts - self.max_attempts + 3, 10))
        self._hold(job, wait, f"platform unavailable: {_error_text(err)}", keep_plan=True)
        log.warning("outbound %s: %s still unavailable after %d attempt(s), tried again in %.0f s",
                    job.row_id, job.to.platform, attempts, wait)
        return True

    def _fail(self, job: Job, err: Exception, attempts: int, *, dead: bool) -> None:
        text = _error_text(err)
        self.rows.fail(job, text, dead=dead)
        log.log(logging.ERROR if dead else logging.WARNING, "outbound %s %s after %d attempt(s): %s",
                job.row_id, "dead" if dead else "failed", attempts, text)

    def _on_due(self, payload: dict[str, Any]) -> None:
        self._queue_next(self.rows.oldest_held(str(payload.get("platform")), str(payload.get("recipient"))))

    def _queue_next(self, next_id: int | None) -> None:
        if next_id is not None:
            self.queue.put({"outbound_id": next_id})


def _keep(lock: Lock) -> None:
    """Hold the recipient's send lock for one more call, or stop: another worker may be sending."""
    if not lock.extend(SEND_LOCK_TTL):
        raise TransientError("lost the send lock to another worker", api="outbox")


def _error_text(err: Exception) -> str:
    # OutboundError texts are built without URLs or secrets; others get their type name only
    text = str(err) if isinstance(err, OutboundError) else f"{type(err).__name__}: {str(err)[:200]}"
    return text[:MAX_ERROR]
