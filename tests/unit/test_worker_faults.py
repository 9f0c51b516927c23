"""Infrastructure faults are not message failures: a database or Redis error defers the message
(no attempt counted, never dead-lettered) with one log line when the outage starts and one when
it ends; only the handler's own failures count toward MAX_ATTEMPTS. A heartbeat keeps a long
message in flight; a dead worker's message comes back within one visibility timeout."""
from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest
import redis
from sqlalchemy.exc import OperationalError

from bot.faults import InfrastructureError, Outage, fault_kind, is_infrastructure
from bot.worker import MAX_ATTEMPTS, Heartbeats, Worker
from crm_core.kv import EmbeddedKV


def db_down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


def wrapped() -> Exception:
    try:
        try:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390")
        except redis.ConnectionError as err:
            raise InfrastructureError("outbound 7 deferred") from err
    except InfrastructureError as err:
        return err


def raised_while_handling() -> Exception:
    try:
        try:
            raise db_down()
        except OperationalError:
            raise KeyError("draft")      # noqa: B904 - what a handler's cleanup might raise
    except KeyError as err:
        return err


@pytest.mark.parametrize(("err", "kind"), [
    (db_down(), "database"),
    (sqlite3.OperationalError("database is locked"), "database"),
    (sqlite3.OperationalError("no such table: leads"), None),          # a bug in the statement, not an outage
    (OperationalError("SELECT x", {}, sqlite3.OperationalError('near "FORM": syntax error')), None),
    (OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file")), "database"),
    (redis.ConnectionError("refused"), "redis"),
    (redis.TimeoutError("timeout"), "redis"),
    (redis.BusyLoadingError("loading"), "redis"),
    (wrapped(), "redis"),
    (InfrastructureError("no cause"), "infrastructure"),
    (raised_while_handling(), "database"),
    (ValueError("bad payload"), None),
    (TimeoutError("lock not acquired"), None),
    (redis.ResponseError("WRONGTYPE"), None),
])
def test_classification(err: Exception, kind: str | None) -> None:
    assert fault_kind(err) == kind
    assert is_infrastructure(err) is (kind is not None)


class Store:
    """A processor whose backing store can be switched off: raises an OperationalError."""

    def __init__(self, fail_handler: bool = False) -> None:
        self.up = False
        self.fail_handler = fail_handler
        self.done: list[dict] = []

    def __call__(self, payload: dict) -> None:
        if not self.up:
            raise db_down()
        if self.fail_handler:
            raise RuntimeError("handler bug")
        self.done.append(payload)


def fake_clock_kv() -> tuple[EmbeddedKV, dict]:
    now = {"t": 1_000_000.0}
    return EmbeddedKV(prefix="t", clock=lambda: now["t"]), now


def test_outage_defers_without_counting_then_processes_once(caplog: pytest.LogCaptureFixture) -> None:
    kv, now = fake_clock_kv()
    q = kv.queue("inbound")
    q.put({"n": 1})
    store = Store()
    w = Worker(q, store, outage=Outage(logging.getLogger("crm_bot.worker"), clock=lambda: now["t"]))
    delays = []
    with caplog.at_level(logging.INFO, logger="crm_bot.worker"):
        for _ in range(3 * MAX_ATTEMPTS):         # far more deliveries than MAX_ATTEMPTS
            assert w.drain() == 1                 # taken, deferred (delayed nack): nothing else ready
            delays.append(w.pause)
            now["t"] += w.pause + 0.01
        assert q.stats().dead == 0 and not store.done
        store.up = True
        assert w.drain() == 1
    assert store.done == [{"n": 1}] and q.stats() == q.stats().__class__(0, 0, 0, None)
    assert delays[:6] == [1, 2, 4, 8, 16, 30] and max(delays) == 30      # capped backoff
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines                # no traceback per message: one line each way
    assert lines[0].startswith("database unavailable (OperationalError")
    assert lines[1].startswith("database available again after") and "15 message(s) were deferred" in lines[1]
    assert all(r.exc_info is None for r in caplog.records)


def test_only_handler_failures_count_toward_max_attempts() -> None:
    kv, now = fake_clock_kv()
    q = kv.queue("inbound")
    q.put({"n": 1})
    store = Store(fail_handler=True)
    w = Worker(q, store)
    for _ in range(4):                           # an outage first: four deferrals
        w.drain()
        now["t"] += 31
    store.up = True
    failures = 0
    while q.stats().dead == 0 and failures < 10:
        assert w.drain() == 1
        failures += 1
        now["t"] += 61
    assert failures == MAX_ATTEMPTS              # the deferrals did not count
    (letter,) = q.dead_letters()
    assert letter["reason"] == "RuntimeError: handler bug" and letter["attempts"] == 4 + MAX_ATTEMPTS


def test_worker_loop_survives_redis_down_quietly(caplog: pytest.LogCaptureFixture) -> None:
    class DownQueue:
        name = "inbound"
        calls = 0

        def take(self, visibility_timeout: float = 60.0, wait: float = 0.0) -> None:
            DownQueue.calls += 1
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1")

    stop = threading.Event()
    w = Worker(DownQueue(), lambda p: None)  # type: ignore[arg-type]
    w.outage.first = 0.01                    # fast backoff for the test
    t = threading.Thread(target=w.run, args=(stop,))
    with caplog.at_level(logging.INFO, logger="crm_bot.worker"):
        t.start()
        deadline = time.monotonic() + 5
        while DownQueue.calls < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        t.join(timeout=5)
    assert DownQueue.calls >= 5 and not t.is_alive()
    assert [r.getMessage()[:17] for r in caplog.records] == ["redis unavailable"]


def test_heartbeat_keeps_a_long_message_and_a_dead_workers_comes_back() -> None:
    kv = EmbeddedKV(prefix="hb")
    q = kv.queue("inbound")
    q.put({"n": 1})
    started, other = threading.Event(), []

    def slow(payload: dict) -> None:
        started.set()
        time.sleep(1.0)                          # > 3 visibility timeouts of 0.3 s

    w = Worker(q, slow, visibility=0.3, heartbeats=Heartbeats(idle_exit=0.5))
    t = threading.Thread(target=w.run_once, kwargs={"wait": 0})
    t.start()
    started.wait(5)
    deadline = time.monotonic() + 0.9
    while time.monotonic() < deadline:           # another worker finds nothing while it works
        got = q.take(visibility_timeout=5, wait=0.05)
        if got is not None:
            other.append(got)
    t.join(timeout=5)
    assert other == [] and q.stats().inflight == 0 and q.stats().ready == 0

    q.put({"n": 2})
    lost = q.take(visibility_timeout=0.3)        # a worker that dies with it: nobody extends it
    assert lost is not None
    back = q.take(visibility_timeout=5, wait=2.0)
    assert back is not None and back.id == lost.id and back.attempts == 2
