"""Log flood control. Under load waitress warns "Task queue depth is N" for nearly every
request (thousands of lines a minute) and formatting them costs the ack path CPU; one line
every few seconds, saying how many were folded into it, tells an admin the same thing."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

WAITRESS_QUEUE_LOGGER = "waitress.queue"


class EveryFewSeconds(logging.Filter):
    """Passes the first record of each message template, then at most one per `interval`
    seconds; a passed record says how many were held back since the last one."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.interval:.0f} s)"
        return True


def limit_waitress_queue_warnings(interval: float = 10.0) -> EveryFewSeconds:
    flt = EveryFewSeconds(interval)
    logging.getLogger(WAITRESS_QUEUE_LOGGER).addFilter(flt)
    return flt
