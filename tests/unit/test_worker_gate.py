"""Workers in a process that also serves webhooks: while callbacks arrive, the workers take
turns and rest between messages (the ack path keeps the GIL); otherwise they run freely."""
from __future__ import annotations

import itertools
import threading
import time

from bot.worker import WebFirstGate, Worker
from crm_core.kv import EmbeddedKV

WORK_S = 0.03


def flood():
    """Callbacks arriving all the time: each look sees one more, just now."""
    taken = itertools.count()
    return lambda: (next(taken), time.monotonic())


def quiet():
    return lambda: (0, float("-inf"))


class Recorder:
    """A processor that works WORK_S seconds and records when each message ran."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float, str]] = []
        self.guard = threading.Lock()

    def __call__(self, payload: dict) -> None:
        start = time.monotonic()
        time.sleep(WORK_S)
        with self.guard:
            self.spans.append((start, time.monotonic(), payload["q"]))
        if payload.get("fail"):
            raise RuntimeError("handler bug")


def run_two_queues(gate: WebFirstGate | None, per_queue: int = 4) -> tuple[Recorder, float]:
    kv = EmbeddedKV()
    rec = Recorder()
    for name in ("inbound", "outbound"):
        for _ in range(per_queue):
            kv.queue(name).put({"q": name})
    stop = threading.Event()
    workers = [Worker(kv.queue(name), rec, gate=gate) for name in ("inbound", "outbound") for _ in range(2)]
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    started = time.monotonic()
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(rec.spans) < 2 * per_queue and time.monotonic() < deadline:
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(timeout=5)
    assert len(rec.spans) == 2 * per_queue
    return rec, elapsed


def overlaps(spans: list[tuple[float, float, str]]) -> int:
    ordered = sorted(spans)
    return sum(1 for a, b in zip(ordered, ordered[1:]) if b[0] < a[1])


def test_while_callbacks_arrive_workers_take_turns_and_rest():
    gate = WebFirstGate(flood(), rest_factor=2.0, max_rest=1.0, max_wait=30.0)
    rec, _ = run_two_queues(gate)
    ordered = sorted(rec.spans)
    assert overlaps(ordered) == 0                       # one message at a time, across queues
    gaps = [b[0] - a[1] for a, b in zip(ordered, ordered[1:])]
    assert min(gaps) >= 2.0 * WORK_S * 0.9              # each followed by a 2x rest
    busy = sum(end - start for start, end, _ in ordered)
    assert busy / (ordered[-1][1] - ordered[0][0]) < 0.40   # workers <= ~1/3 of the time


def test_rest_is_capped():
    gate = WebFirstGate(flood(), rest_factor=50.0, max_rest=0.01, max_wait=30.0)
    rec, elapsed = run_two_queues(gate, per_queue=3)
    assert overlaps(rec.spans) == 0
    assert elapsed < 6 * (WORK_S + 0.01) + 1.0          # not 6 x 50 x WORK_S


def test_after_a_recent_callback_workers_take_turns_without_resting():
    last = time.monotonic()
    gate = WebFirstGate(lambda: (7, last), rest_factor=50.0, max_rest=1.0, window=60.0, max_wait=30.0)
    rec, elapsed = run_two_queues(gate)
    assert overlaps(rec.spans) == 0
    assert elapsed < 8 * WORK_S + 1.0                   # no callback during a message: no rest


def test_without_callbacks_workers_run_concurrently():
    rec, _ = run_two_queues(WebFirstGate(quiet()))
    assert overlaps(rec.spans) >= 2


def test_worker_processes_without_a_gate():
    rec, _ = run_two_queues(None)
    assert overlaps(rec.spans) >= 2


def test_a_failing_message_is_retried_and_its_turn_released():
    kv = EmbeddedKV()
    q = kv.queue("inbound")
    q.put({"q": "inbound", "fail": True})
    q.put({"q": "inbound"})
    gate = WebFirstGate(flood(), rest_factor=1.0, max_rest=0.05)
    rec = Recorder()
    w = Worker(q, rec, gate=gate)
    assert w.run_once(wait=0) and w.run_once(wait=0)
    assert [s[2] for s in rec.spans] == ["inbound", "inbound"]
    assert q.stats().inflight == 1                      # the failed one, nacked with a delay
    assert gate._turn.acquire(blocking=False)           # nobody holds the turn


def test_stop_cuts_a_rest_short():
    kv = EmbeddedKV()
    q = kv.queue("inbound")
    q.put({"q": "inbound"})
    gate = WebFirstGate(flood(), rest_factor=1000.0, max_rest=30.0)
    w = Worker(q, Recorder(), gate=gate)
    stop = threading.Event()
    t = threading.Thread(target=w.run, args=(stop,), daemon=True)
    t.start()
    time.sleep(WORK_S + 0.1)
    began = time.monotonic()
    stop.set()
    t.join(timeout=5)
    assert not t.is_alive() and time.monotonic() - began < 2.0


def test_expected_failures_are_retried_without_a_second_traceback(caplog):
    class Reported(Exception):
        already_logged = True

    def process(payload: dict) -> None:
        raise (Reported if payload["reported"] else KeyError)("x")

    q = EmbeddedKV().queue("outbound")
    q.put({"reported": True})
    q.put({"reported": False})
    w = Worker(q, process)
    with caplog.at_level("INFO", logger="crm_bot.worker"):
        assert w.run_once(wait=0) and w.run_once(wait=0)
    quiet, loud = [r for r in caplog.records if r.name == "crm_bot.worker"]
    assert "will be retried" in quiet.getMessage() and quiet.exc_info is None
    assert "failed" in loud.getMessage() and loud.exc_info is not None
    assert q.stats().inflight == 2                      # both nacked for a later retry


def test_a_message_waiting_on_io_does_not_hold_up_the_others():
    kv = EmbeddedKV()
    slow, fast = kv.queue("voice"), kv.queue("inbound")
    slow.put({"q": "voice"})
    done: dict[str, float] = {}

    def transcribe(payload: dict) -> None:
        time.sleep(1.5)                                 # e.g. a platform API or a model: no GIL
        done["slow"] = time.monotonic()

    def reply(payload: dict) -> None:
        done["fast"] = time.monotonic()

    gate = WebFirstGate(flood(), rest_factor=2.0, max_rest=0.1, max_wait=0.2)
    stop = threading.Event()
    workers = [Worker(slow, transcribe, gate=gate), Worker(fast, reply, gate=gate)]
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    threads[0].start()
    time.sleep(0.1)                                     # the slow one holds the turn
    fast.put({"q": "inbound"})
    began = time.monotonic()
    threads[1].start()
    deadline = time.monotonic() + 5
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    assert done["fast"] - began < 0.8 and done["fast"] < done["slow"]
