"""Log flood control. Under load waitress warns "Task queue depth is N" for nearly every
request (thousands of lines a minute) and formatting them costs the ack path CPU; one line
every few seconds, saying how many were folded into it, tells an admin the same thing.

The same goes for tracebacks: a message that fails on every retry (or a flood of bad
requests) must not write the same hundred-line traceback again and again, so one exception
type raised at one place logs its traceback at most once a minute (`TracebackOncePerInterval`)."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

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


ExcKey = tuple[str, str, int]       # exception type, file and line where it was raised


class _Seen:
    __slots__ = ("logged_at", "shortened")

    def __init__(self, logged_at: float) -> None:
        self.logged_at = logged_at    # when its full traceback was last logged
        self.shortened = 0            # records of it logged as one line since then


class TracebackOncePerInterval(logging.Filter):
    """For a handler: an exception type raised at one place (file:line of the innermost frame)
    logs its full traceback at most once per `interval` seconds; the records after it within
    the interval keep their message but lose the traceback, and end in one line saying what
    was raised where and how many times since the traceback. Records without an exception
    pass untouched. Attach it to handlers (a logger's own filter misses propagated records);
    one instance may sit on several handlers: each record is looked at once."""

    MAX_KEYS = 1000   # distinct places remembered; the oldest are forgotten beyond that

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._seen: dict[ExcKey, _Seen] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info
        if not exc or exc[0] is None or getattr(record, "_traceback_limited", False):
            return True
        setattr(record, "_traceback_limited", True)
        key = exception_key(exc[0], exc[2])
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen.logged_at >= self.interval:
                shortened = seen.shortened if seen else 0
                self._seen.pop(key, None)
                self._seen[key] = _Seen(now)
                self._forget_oldest()
                full, age, count = True, 0.0, shortened
            else:
                seen.shortened += 1
                full, age, count = False, now - seen.logged_at, seen.shortened
        if full:
            if count:
                self._rewrite(record, f" ({count} more like this without traceback in the last "
                                      f"{self.interval:.0f} s)")
            return True
        where = f"{key[1]}:{key[2]}"
        self._rewrite(record, f" [{key[0]}: {_one_line(exc[1])} at {where}; traceback logged "
                              f"{age:.0f} s ago, {count} more since]")
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def _forget_oldest(self) -> None:
        while len(self._seen) > self.MAX_KEYS:      # dicts keep insertion order: oldest first
            del self._seen[next(iter(self._seen))]

    @staticmethod
    def _rewrite(record: logging.LogRecord, suffix: str) -> None:
        # Format the message now: the suffix may contain "%" and must not meet the args.
        record.msg, record.args = record.getMessage() + suffix, None


def exception_key(exc_type: type[BaseException], tb: TracebackType | None) -> ExcKey:
    """(type, file, line) of the frame that raised: the innermost frame of the traceback."""
    if tb is None:
        return (exc_type.__qualname__, "?", 0)
    while tb.tb_next is not None:       # no source lines read: a RecursionError has ~1000 frames
        tb = tb.tb_next
    return (exc_type.__qualname__, tb.tb_frame.f_code.co_filename, tb.tb_lineno)


def _one_line(err: BaseException | None) -> str:
    text = " ".join(str(err).split()) if err is not None else ""
    return text[:200] + ("…" if len(text) > 200 else "")


def limit_tracebacks(interval: float = 60.0,
                     logger: logging.Logger | None = None) -> TracebackOncePerInterval:
    """Install `TracebackOncePerInterval` on every handler of `logger` (the root logger)."""
    flt = TracebackOncePerInterval(interval)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(flt)
    return flt
