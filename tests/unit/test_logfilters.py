"""waitress's per-request "Task queue depth" warnings are folded into one line per interval."""
from __future__ import annotations

import logging

from bot.logfilters import EveryFewSeconds


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_one_line_per_interval_with_the_count_held_back(caplog):
    clock = Clock()
    log = logging.getLogger("test.waitress.queue")
    flt = EveryFewSeconds(10.0, clock)
    log.addFilter(flt)
    try:
        with caplog.at_level(logging.WARNING, logger="test.waitress.queue"):
            for depth in range(1, 51):
                log.warning("Task queue depth is %d", depth)
                clock.t += 0.1                      # 50 warnings over 5 s
            log.warning("something else %s", "entirely")
            clock.t += 6.0
            log.warning("Task queue depth is %d", 99)
    finally:
        log.removeFilter(flt)
    assert [r.getMessage() for r in caplog.records] == [
        "Task queue depth is 1",
        "something else entirely",
        "Task queue depth is 99 (49 more like this in the last 10 s)",
    ]
