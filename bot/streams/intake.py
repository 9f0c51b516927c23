"""Ack first, enqueue after: the socket loop hands a mapped event to `Intake.submit` and goes
straight back to reading, while one thread runs the gateway's dedupe + enqueue. A socket loop
that waits on Redis would miss pings and make the platform redeliver (pitfalls 4 and 9)."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from bot.events import InboundEvent

log = logging.getLogger("crm_bot.streams")

Sink = Callable[[InboundEvent], bool]     # Gateway.enqueue: False for a duplicate delivery


class Intake:
    """A one-thread hand-off (keeps arrival order) with a few retries when the queue fails.

    The frame was already acknowledged, so a sink that keeps failing loses the event: it is
    logged with the platform's event id so an operator can find it."""

    def __init__(self, sink: Sink, *, platform: str, attempts: int = 4, retry_delay: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._sink, self.platform = sink, platform
        self._attempts, self._retry_delay, self._sleep = max(1, attempts), retry_delay, sleep
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{platform}-intake")
        self._pending: set[Future[bool]] = set()
        self._lock = threading.Lock()

    def submit(self, event: InboundEvent) -> Future[bool]:
        """Queue `event` for enqueueing; never blocks. The future says True once enqueued,
        False for a duplicate or a give-up."""
        future = self._executor.submit(self._deliver, event)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[bool]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _deliver(self, event: InboundEvent) -> bool:
        for attempt in range(self._attempts):
            try:
                return self._sink(event)
            except Exception as err:  # noqa: BLE001 - retried, then logged with the event id
                last = type(err).__name__
                if attempt + 1 < self._attempts:
                    self._sleep(self._retry_delay * 2 ** attempt)
        log.error("%s event %s acknowledged but not enqueued after %d attempts (%s)",
                  self.platform, event.event_id, self._attempts, last)
        return False

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every submitted event went through; False on timeout."""
        with self._lock:
            pending = list(self._pending)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._executor.shutdown(wait=False, cancel_futures=False)
