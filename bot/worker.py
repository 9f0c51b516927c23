"""Queue workers: take a message, process it, ack. A crash mid-message means redelivery
after the visibility timeout; a message failing MAX_ATTEMPTS times is dead-lettered."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from crm_core.kv.base import WorkQueue

log = logging.getLogger("crm_bot.worker")

MAX_ATTEMPTS = 5
VISIBILITY_SECONDS = 300.0    # voice transcription can take a while
Processor = Callable[[dict[str, Any]], None]
MAX_YIELD_SECONDS = 0.05
WEB_BUSY_WINDOW = 0.1
WORKER_BEAT_KEY = "worker:beat:{queue}"   # epoch seconds of the queue's last worker loop turn
BEAT_EVERY = 10.0


class Worker:
    def __init__(self, queue: WorkQueue, process: Processor, visibility: float = VISIBILITY_SECONDS,
                 beat: Callable[[], None] | None = None, yield_to: Callable[[], bool] | None = None):
        self.queue = queue
        self.process = process
        self.visibility = visibility
        self.beat = beat          # "this worker is alive", for the channel heartbeat
        # In a process that also serves webhooks (crm-bot serve), the workers share one GIL with
        # the ack path. While callbacks are arriving, rest after each message for as long as it
        # took: acks stay fast, and the workers still get at least half their time.
        self.yield_to = yield_to

    def run_once(self, wait: float = 1.0) -> bool:
        """Process at most one message; True if one was taken."""
        d = self.queue.take(visibility_timeout=self.visibility, wait=wait)
        if d is None:
            return False
        try:
            self.process(d.payload)
        except Exception as err:  # noqa: BLE001 - a bad message must not stop the worker
            log.exception("message %s on %s failed (attempt %d)", d.id, d.queue, d.attempts)
            if d.attempts >= MAX_ATTEMPTS:
                self.queue.dead_letter(d, f"{type(err).__name__}: {str(err)[:200]}")
            else:
                self.queue.nack(d, delay=min(2 ** d.attempts, 60))
            return True
        self.queue.ack(d)
        return True

    def run(self, stop: threading.Event) -> None:
        last_beat = 0.0
        while not stop.is_set():
            try:
                if self.beat is not None and time.monotonic() - last_beat >= BEAT_EVERY:
                    self.beat()
                    last_beat = time.monotonic()
                started = time.monotonic()
                if self.run_once(wait=0.5) and self.yield_to is not None and self.yield_to():
                    stop.wait(min(time.monotonic() - started, MAX_YIELD_SECONDS))
            except Exception:  # noqa: BLE001 - e.g. Redis briefly unreachable
                log.exception("worker loop error; retrying")
                stop.wait(1.0)

    def drain(self, limit: int | None = None) -> int:
        """Process until the queue is empty (tests, `queue drain`); returns how many."""
        n = 0
        while (limit is None or n < limit) and self.run_once(wait=0):
            n += 1
        return n


def processors(rt) -> dict[str, Processor]:  # noqa: ANN001
    from bot.pipeline import Pipeline
    return Pipeline(rt).processors()


def worker_beat(rt, queue: str) -> None:  # noqa: ANN001
    """Record that a worker loop of `queue` is turning (read by scheduler/heartbeat.py)."""
    rt.kv.set(WORKER_BEAT_KEY.format(queue=queue), f"{rt.clock().timestamp():.3f}", ttl=24 * 3600)


def web_busy(rt) -> Callable[[], bool]:  # noqa: ANN001
    """True while this process's webhook endpoints took a callback in the last 100 ms."""
    def busy() -> bool:
        gw = rt.extras.get("gateway")
        return gw is not None and time.monotonic() - gw.last_accept < WEB_BUSY_WINDOW
    return busy


def run_workers(rt, stop: threading.Event) -> list[threading.Thread]:  # noqa: ANN001
    threads = []
    busy = web_busy(rt)
    for name, fn in processors(rt).items():
        for i in range(rt.cfg.app.worker_threads):
            w = Worker(rt.kv.queue(name), fn, beat=lambda q=name: worker_beat(rt, q), yield_to=busy)
            t = threading.Thread(target=w.run, args=(stop,), name=f"worker-{name}-{i}", daemon=True)
            t.start()
            threads.append(t)
    return threads
