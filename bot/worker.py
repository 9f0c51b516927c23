"""Queue workers: take a message, process it, ack. While it is processed a heartbeat keeps the
message invisible to other workers; a crash mid-message means redelivery within one (short)
visibility timeout. A message whose handler fails MAX_ATTEMPTS times is dead-lettered; a
database or Redis outage (`bot.faults`) only defers messages, with one log line each way."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.faults import Outage, describe, is_infrastructure
from bot.pipeline import Pipeline
from crm_core.kv.base import KV, Delivery, WorkQueue
from crm_core.kv.keys import WORKER_BEAT_KEY

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("crm_bot.worker")

MAX_ATTEMPTS = 5              # failures of the handler itself; infrastructure faults don't count
VISIBILITY_SECONDS = 30.0     # kept extended while a message is processed (Heartbeats)
HEARTBEAT_IDLE_EXIT = 60.0
FAILURES_KEY = "worker:failures:{queue}:{id}"
FAILURES_TTL = 7 * 86400.0
Processor = Callable[[dict[str, Any]], None]
WEB_BUSY_WINDOW = 0.1          # "callbacks are arriving": one was taken in the last 100 ms
REST_FACTOR = 2.0              # while they are, rest 2× each message's time (workers ≤ ⅓ of the time)
# Under a flood a message takes 100-250 ms of wall time (it waits for the GIL): a cap of 0.1 s
# let the workers run ⅔ of the time and cost the ack bench ≈ 10 % of its rate (py-spy: 11 % of
# the GIL); 0.5 s keeps the ⅓ for messages up to 250 ms and bounds the rest after a long one.
MAX_REST_SECONDS = 0.5
MAX_TURN_WAIT_SECONDS = 1.0    # a turn held longer (message + rest) is I/O-bound: the next worker goes ahead
BEAT_EVERY = 10.0


WebActivity = Callable[[], tuple[int, float]]   # (callbacks taken so far, monotonic time of the last)


class WebFirstGate:
    """Acks before background work, for a process that serves webhooks *and* runs workers
    (`crm-bot serve`): they share one GIL, and a platform that waits too long for its ack
    retries or disables the callback, while a queued message only waits a little longer.

    While callbacks are arriving (one in the last `window` seconds), the process's workers
    take turns, one message at a time; when callbacks came in *while* a message was being
    processed (they competed with it for the GIL), the next turn waits `rest_factor` × that
    message's duration. Under a flood all workers together get at most 1 / (1 + rest_factor)
    of the time and the ack path the rest (plus its GIL share during each message); at a
    trickle most messages see no callback and no rest. Without callbacks the workers run
    freely and drain what a burst queued. `crm-bot worker` processes have no gate."""

    def __init__(self, activity: WebActivity, rest_factor: float = REST_FACTOR,
                 max_rest: float = MAX_REST_SECONDS, window: float = WEB_BUSY_WINDOW,
                 max_wait: float = MAX_TURN_WAIT_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.activity = activity
        self.rest_factor = rest_factor
        self.max_rest = max_rest
        self.max_wait = max_wait
        self.window = window
        self.clock = clock
        self._turn = threading.Lock()

    @contextmanager
    def turn(self, stop: threading.Event) -> Iterator[None]:
        """Around the processing of one message taken from a queue."""
        if self.clock() - self.activity()[1] >= self.window:
            yield
            return
        # A message that holds its turn for long is waiting on I/O (a platform API, a model),
        # not holding the GIL: after `max_wait` the next worker goes ahead anyway.
        turn = self._turn.acquire(timeout=self.max_wait)
        taken = self.activity()[0]
        started = self.clock()
        try:
            yield
        finally:
            try:
                if turn and self.activity()[0] != taken:
                    stop.wait(min((self.clock() - started) * self.rest_factor, self.max_rest))
            finally:
                if turn:
                    self._turn.release()


class Failures(Protocol):
    """How many times the handler itself failed on a message (infrastructure faults and
    crashes are not counted): what MAX_ATTEMPTS limits."""

    def add(self, queue: str, message_id: str) -> int:
        """Count one more failure; returns the count so far."""
        ...

    def clear(self, queue: str, message_id: str) -> None: ...


class KVFailures:
    """Counts in the KV, so every worker process of a deployment sees the same count."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def add(self, queue: str, message_id: str) -> int:
        return self.kv.incr(FAILURES_KEY.format(queue=queue, id=message_id), ttl=FAILURES_TTL)

    def clear(self, queue: str, message_id: str) -> None:
        self.kv.delete(FAILURES_KEY.format(queue=queue, id=message_id))


class LocalFailures:
    """Counts in this process, for workers not given the KV's (tests, one-off drains)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def add(self, queue: str, message_id: str) -> int:
        with self._lock:
            n = self._counts[(queue, message_id)] = self._counts.get((queue, message_id), 0) + 1
            return n

    def clear(self, queue: str, message_id: str) -> None:
        with self._lock:
            self._counts.pop((queue, message_id), None)


PROCESS_FAILURES = LocalFailures()     # shared by such workers: a message keeps its count across them


@dataclass
class _Held:
    queue: WorkQueue
    delivery: Delivery
    visibility: float
    next_at: float


class Heartbeats:
    """Keeps the messages being processed invisible to other workers: one background thread per
    process extends each held delivery every `visibility / 3` while its processor runs. A
    live worker keeps its message however long the work takes (voice transcription), and a
    dead worker's message is free again within one (short) visibility timeout. The thread
    starts with the first message and ends after a while without any."""

    def __init__(self, idle_exit: float = HEARTBEAT_IDLE_EXIT) -> None:
        self.idle_exit = idle_exit
        self._cond = threading.Condition()
        self._held: dict[int, _Held] = {}
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._wake_at = 0.0          # when the thread next looks (monotonic); a new earlier due wakes it

    @contextmanager
    def holding(self, queue: WorkQueue, delivery: Delivery, visibility: float) -> Iterator[None]:
        token, due = next(self._seq), time.monotonic() + visibility / 3
        with self._cond:
            self._held[token] = _Held(queue, delivery, visibility, due)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)
                self._thread.start()
            elif due < self._wake_at:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._held.pop(token, None)

    def _run(self) -> None:
        idle_since: float | None = None
        while True:
            with self._cond:
                now = time.monotonic()
                if not self._held:
                    idle_since = now if idle_since is None else idle_since
                    if now - idle_since >= self.idle_exit:
                        self._thread = None
                        return
                    self._wake_at = idle_since + self.idle_exit
                    self._cond.wait(self._wake_at - now)
                    continue
                idle_since = None
                due = [(token, h) for token, h in self._held.items() if h.next_at <= now]
                if not due:
                    self._wake_at = min(h.next_at for h in self._held.values())
                    self._cond.wait(self._wake_at - now)
                    continue
                self._wake_at = now
                for _, h in due:
                    h.next_at = now + h.visibility / 3
            for token, h in due:       # outside the lock: one KV round trip each
                self._extend(token, h)

    def _extend(self, token: int, h: _Held) -> None:
        d = h.delivery
        try:
            if h.queue.extend(d, h.visibility):
                return
        except Exception as err:  # noqa: BLE001 - Redis briefly away: try again next round
            if is_infrastructure(err):
                log.debug("could not extend message %s on %s: %s", d.id, d.queue, describe(err))
            else:
                log.exception("could not extend message %s on %s", d.id, d.queue)
            return
        # acked meanwhile, or its deadline passed (a long stall) and another worker took it
        with self._cond:
            if self._held.pop(token, None) is not None:
                log.warning("message %s on %s is no longer held by this worker (taken again elsewhere?)",
                            d.id, d.queue)


class Worker:
    """Takes messages from one queue and runs `process` on each. A handler failure is retried
    with backoff and dead-lettered after MAX_ATTEMPTS; an infrastructure fault (database or
    Redis unavailable) defers the message without counting, and the worker backs off."""

    def __init__(self, queue: WorkQueue, process: Processor, visibility: float = VISIBILITY_SECONDS,
                 beat: Callable[[], None] | None = None, gate: WebFirstGate | None = None, *,
                 failures: Failures | None = None, outage: Outage | None = None,
                 heartbeats: Heartbeats | None = None) -> None:
        self.queue = queue
        self.process = process
        self.visibility = visibility
        self.beat = beat          # "this worker is alive", for the channel heartbeat
        self.gate = gate          # shared by the workers of a `serve` process (see WebFirstGate)
        self.failures: Failures = failures or PROCESS_FAILURES
        self.outage = outage or Outage(log)          # shared by a process's workers: one log line
        self.heartbeats = heartbeats or Heartbeats()
        self.stop = threading.Event()     # set by run()'s caller; cuts a gate rest short
        self.faults = 0           # consecutive infrastructure faults this worker ran into
        self.pause = 0.0          # run() waits this long before the next take (after a fault)

    def run_once(self, wait: float = 1.0) -> bool:
        """Process at most one message; True if one was taken."""
        d = self.queue.take(visibility_timeout=self.visibility, wait=wait)
        if d is None:
            self._reachable()
            return False
        try:
            with self.heartbeats.holding(self.queue, d, self.visibility):
                if self.gate is None:
                    self.process(d.payload)
                else:
                    with self.gate.turn(self.stop):
                        self.process(d.payload)
        except Exception as err:  # noqa: BLE001 - a bad message must not stop the worker
            if is_infrastructure(err):
                self._defer(d, err)
            else:
                self._failed(d, err)
            return True
        self.queue.ack(d)
        if d.attempts > 1:        # it may have failed before: forget the count
            self.failures.clear(self.queue.name, d.id)
        self.faults = 0
        if self.outage.active:
            self.outage.recovered()
        return True

    def _reachable(self) -> None:
        """An empty take: the queue's store answered (the database may still be down)."""
        if self.outage.active:
            self.outage.reachable("redis")
        if not self.outage.active:
            self.faults = 0

    def _defer(self, d: Delivery, err: Exception) -> None:
        """Not the message's fault: back on the queue after a pause, no attempt counted."""
        self.faults += 1
        self.pause = self.outage.backoff(self.faults)
        self.outage.failed(err, deferred=True)
        try:
            self.queue.nack(d, delay=self.pause)
        except Exception as nack_err:  # noqa: BLE001 - it comes back after its visibility timeout
            if not is_infrastructure(nack_err):
                raise
            log.debug("message %s on %s not put back (%s); it returns after its visibility timeout",
                      d.id, d.queue, describe(nack_err))

    def _failed(self, d: Delivery, err: Exception) -> None:
        """The handler failed: retried with backoff, dead-lettered after MAX_ATTEMPTS."""
        n = self.failures.add(self.queue.name, d.id)
        if getattr(err, "already_logged", False):   # an expected failure its processor reported
            log.info("message %s on %s will be retried (failure %d of %d)", d.id, d.queue, n, MAX_ATTEMPTS)
        else:
            log.exception("message %s on %s failed (failure %d of %d)", d.id, d.queue, n, MAX_ATTEMPTS)
        if n >= MAX_ATTEMPTS:
            self.queue.dead_letter(d, f"{type(err).__name__}: {str(err)[:200]}")
            self.failures.clear(self.queue.name, d.id)
        else:
            self.queue.nack(d, delay=min(2 ** n, 60))

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        last_beat = 0.0
        while not stop.is_set():
            try:
                if self.beat is not None and time.monotonic() - last_beat >= BEAT_EVERY:
                    self.beat()
                    last_beat = time.monotonic()
                self.run_once(wait=0.5)
            except Exception as err:  # noqa: BLE001 - e.g. Redis unreachable: wait, quietly
                if is_infrastructure(err):
                    self.faults += 1
                    self.outage.failed(err)
                    self.pause = self.outage.backoff(self.faults)
                else:
                    log.exception("worker loop error; retrying")
                    self.pause = 1.0
            if self.pause > 0:
                stop.wait(self.pause)
                self.pause = 0.0

    def drain(self, limit: int | None = None) -> int:
        """Process until the queue is empty (tests, `queue drain`); returns how many."""
        n = 0
        while (limit is None or n < limit) and self.run_once(wait=0):
            n += 1
        return n


def processors(rt: "Runtime") -> dict[str, Processor]:
    return Pipeline(rt).processors()


def worker_beat(rt: "Runtime", queue: str) -> None:
    """Record that a worker loop of `queue` is turning (read by scheduler/heartbeat.py)."""
    rt.kv.set(WORKER_BEAT_KEY.format(queue=queue), f"{rt.clock().timestamp():.3f}", ttl=24 * 3600)


def web_activity(rt: "Runtime") -> WebActivity:
    """How many callbacks this process's webhook endpoints took, and when the last one came."""
    gw = rt.gateway
    return lambda: (gw.accepted, gw.last_accept)


def run_workers(rt: "Runtime", stop: threading.Event) -> list[threading.Thread]:
    threads = []
    gate = WebFirstGate(web_activity(rt))
    failures, outage, heartbeats = KVFailures(rt.kv), Outage(log), Heartbeats()
    for name, fn in processors(rt).items():
        for i in range(rt.cfg.app.worker_threads):
            w = Worker(rt.kv.queue(name), fn, beat=lambda q=name: worker_beat(rt, q), gate=gate,  # type: ignore[misc]
                       failures=failures, outage=outage, heartbeats=heartbeats)
            t = threading.Thread(target=w.run, args=(stop,), name=f"worker-{name}-{i}", daemon=True)
            t.start()
            threads.append(t)
    return threads
