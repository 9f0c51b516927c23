"""waitress's per-request "Task queue depth" warnings are folded into one line per interval, and
the same exception raised at the same place logs its traceback once a minute."""
from __future__ import annotations

import io
import logging

import pytest
from click.testing import CliRunner

from bot.logfilters import EveryFewSeconds, TracebackOncePerInterval, exception_key


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


# --- tracebacks: one full traceback per exception type and place per minute -------------------

def deep(n: int) -> None:
    deep(n + 1)                                   # RecursionError, raised here


def bad_json() -> None:
    raise ValueError("bad 100% json")            # ValueError, raised here


def other_place() -> None:
    raise ValueError("bad json elsewhere")       # the same type, another place


@pytest.fixture
def logged():
    """A logger with its own handler carrying the filter; yields (logger, clock, output)."""
    clock, out = Clock(), io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    flt = TracebackOncePerInterval(60.0, clock)
    handler.addFilter(flt)
    log = logging.getLogger("test.tracebacks")
    log.addHandler(handler)
    log.propagate = False
    try:
        yield log, clock, out
    finally:
        log.removeHandler(handler)
        log.propagate = True


def fail(log: logging.Logger, fn, *args) -> None:  # noqa: ANN001
    try:
        fn(*args)
    except Exception:  # noqa: BLE001
        log.exception("message %s failed (attempt %d)", "m-1", 1)


def test_the_same_error_logs_its_traceback_once_a_minute_then_one_line_each(logged) -> None:  # noqa: ANN001
    log, clock, out = logged
    for _ in range(5):                            # a message failing on every retry
        fail(log, deep, 0)
        clock.t += 5
    text = out.getvalue()
    assert text.count("Traceback (most recent call last)") == 1
    lines = text.splitlines()
    short = [line for line in lines if line.startswith("ERROR") and "traceback logged" in line]
    assert len(short) == 4 and len(text) < 20_000
    assert short[0].startswith("ERROR message m-1 failed (attempt 1) [RecursionError: maximum recursion depth")
    assert "test_logfilters.py:" in short[0] and short[-1].endswith("traceback logged 20 s ago, 4 more since]")
    clock.t += 60                                 # a minute later: the traceback again, with the count
    out.truncate(0), out.seek(0)
    fail(log, deep, 0)
    text = out.getvalue()
    assert text.count("Traceback (most recent call last)") == 1
    assert text.startswith("ERROR message m-1 failed (attempt 1) (4 more like this without traceback in the "
                           "last 60 s)\n")


def test_other_types_and_places_keep_their_own_traceback(logged) -> None:  # noqa: ANN001
    log, clock, out = logged
    fail(log, bad_json)
    fail(log, other_place)                        # same type, another place: full traceback
    fail(log, deep, 0)                            # another type: full traceback
    fail(log, bad_json)                           # a repeat: one line, its "%" kept as it is
    text = out.getvalue()
    assert text.count("Traceback (most recent call last)") == 3
    assert text.splitlines()[-1].startswith("ERROR message m-1 failed (attempt 1) [ValueError: bad 100% json at ")
    log.warning("no exception here %d", 1)        # records without a traceback pass untouched
    assert out.getvalue().endswith("WARNING no exception here 1\n")


def test_exception_key_is_type_and_raising_line() -> None:
    keys = set()
    for _ in range(2):
        try:
            bad_json()
        except ValueError as err:
            keys.add(exception_key(ValueError, err.__traceback__))
    (key,) = keys
    assert key[0] == "ValueError" and key[1].endswith("test_logfilters.py")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_install_the_filter(command: str, monkeypatch) -> None:  # noqa: ANN001
    import bot.cli.run as run
    from bot.cli import cli

    class Stop(Exception):
        pass

    def no_runtime(_path):  # noqa: ANN001, ANN202
        raise Stop

    monkeypatch.setattr(run, "build_runtime", no_runtime)
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        result = CliRunner().invoke(cli, [command])
        assert isinstance(result.exception, Stop)
        assert any(isinstance(f, TracebackOncePerInterval) for f in handler.filters)
    finally:
        root.removeHandler(handler)
        for h in root.handlers:                   # pytest's own handlers got it too
            for f in [f for f in h.filters if isinstance(f, TracebackOncePerInterval)]:
                h.removeFilter(f)
