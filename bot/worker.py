"""Queue workers: take a message, process it, ack. A crash mid-message means redelivery
after the visibility timeout; a message failing MAX_ATTEMPTS times is dead-lettered."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bot.pipeline import Pipeline
from crm_core.kv.base import WorkQueue
from crm_core.kv.keys import WORKER_BEAT_KEY

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("crm_bot.worker")

MAX_ATTEMPTS = 5
VISIBILITY_SECONDS = 300.0    # voice transcription can take a while
Processor = Callable[[dict[str, Any]], None]
WEB_BUSY_WINDOW = 0.1          # "callbacks are arriving": one was taken in the last 100 ms
REST_FACTOR = 2.0              # while they are, rest 2× each message's time (workers ≤ ⅓ of the time)
MAX_REST_SECONDS = 0.1
MAX_TURN_WAIT_SECONDS = 0.5    # a turn held longer is I/O-bound: the next worker goes ahead
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


class Worker:
    def __init__(self, queue: WorkQueue, process: Processor, visibility: float = VISIBILITY_SECONDS,
                 beat: Callable[[], None] | None = None, gate: WebFirstGate | None = None):
        self.queue = queue
        self.process = process
        self.visibility = visibility
        self.beat = beat          # "this worker is alive", for the channel heartbeat
        self.gate = gate          # shared by the workers of a `serve` process (see WebFirstGate)
        self.stop = threading.Event()     # set by run()'s caller; cuts a gate rest short

    def run_once(self, wait: float = 1.0) -> bool:
        """Process at most one message; True if one was taken."""
        d = self.queue.take(visibility_timeout=self.visibility, wait=wait)
        if d is None:
            return False
        try:
            if self.gate is None:
                self.process(d.payload)
            else:
                with self.gate.turn(self.stop):
                    self.process(d.payload)
        except Exception as err:  # noqa: BLE001 - a bad message must not stop the worker
            if getattr(err, "already_logged", False):   # an expected failure its processor reported
                log.info("message %s on %s will be retried (attempt %d)", d.id, d.queue, d.attempts)
            else:
                log.exception("message %s on %s failed (attempt %d)", d.id, d.queue, d.attempts)
            if d.attempts >= MAX_ATTEMPTS:
                self.queue.dead_letter(d, f"{type(err).__name__}: {str(err)[:200]}")
            else:
                self.queue.nack(d, delay=min(2 ** d.attempts, 60))
            return True
        self.queue.ack(d)
        return True

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        last_beat = 0.0
        while not stop.is_set():
            try:
                if self.beat is not None and time.monotonic() - last_beat >= BEAT_EVERY:
                    self.beat()
                    last_beat = time.monotonic()
                self.run_once(wait=0.5)
            except Exception:  # noqa: BLE001 - e.g. Redis briefly unreachable
                log.exception("worker loop error; retrying")
                stop.wait(1.0)

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
    for name, fn in processors(rt).items():
        for i in range(rt.cfg.app.worker_threads):
            w = Worker(rt.kv.queue(name), fn, beat=lambda q=name: worker_beat(rt, q), gate=gate)  # type: ignore[misc]
            t = threading.Thread(target=w.run, args=(stop,), name=f"worker-{name}-{i}", daemon=True)
            t.start()
            threads.append(t)
    return threads
