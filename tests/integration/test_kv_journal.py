"""The embedded KV's journal: a store reopened from its file — after `close()`, or after the
process that held it was killed without closing — has every message put and every key claimed,
and, while its segments had room, every other change too (crm_core/kv/embedded.py).

Ready messages stay ready (in order), in-flight ones are ready again with their attempts, dead
letters stay, expired keys are gone, locks are not kept. The e2e version (a real `crm-bot serve`
killed during a burst of callbacks) is tests/e2e/test_serve_faults.py.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from crm_core.kv import EmbeddedKV, JournalInUse, connect
from crm_core.kv import segments
from crm_core.kv.journal import Journal, JournalError
from tests.integration.conftest import KVStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):  # noqa: ANN001, ANN201
    s = KVStore("embedded", None, journal=tmp_path / "kv.sqlite3")
    yield s
    s.cleanup()


def drain(queue) -> list:  # noqa: ANN001
    taken = []
    while (d := queue.take(visibility_timeout=30)) is not None:
        taken.append(d)
    return taken


def test_queue_state_survives_a_restart(store):  # noqa: ANN001
    q = store.client().queue("inbound")
    ids = [q.put({"n": i, "text": f"客户{i}"}) for i in range(6)]
    first, second, third, fourth = (q.take(visibility_timeout=30) for _ in range(4))
    q.ack(first)                                   # done: gone for good
    q.dead_letter(second, "无法解析")                # parked
    q.nack(third, delay=600)                       # waiting for its retry: in flight
    assert (q.stats().ready, q.stats().inflight, q.stats().dead) == (2, 2, 1)   # fourth: in flight

    q = store.restart().queue("inbound")
    stats = q.stats()
    assert (stats.ready, stats.inflight, stats.dead) == (4, 0, 1)
    taken = drain(q)
    # in their place in line: the in-flight ones (their worker died with the process) keep
    # theirs, ahead of the two never taken
    assert [d.id for d in taken] == [ids[2], ids[3], ids[4], ids[5]]
    assert [d.attempts for d in taken] == [2, 2, 1, 1]      # attempts kept, counted on
    assert [d.payload["text"] for d in taken] == ["客户2", "客户3", "客户4", "客户5"]
    assert taken[0].enqueued_at == pytest.approx(third.enqueued_at)
    [letter] = q.dead_letters()
    assert (letter["id"], letter["reason"], letter["attempts"]) == (ids[1], "无法解析", 1)
    assert q.retry_dead() == 1


def test_keys_survive_a_restart_until_they_expire(store):  # noqa: ANN001
    kv = store.client()
    kv.set("token", "值-abc", ttl=60)
    kv.set("forever", "1")
    kv.set("brief", "x", ttl=0.5)
    kv.set("gone", "y")
    kv.delete("gone")
    assert kv.claim("outbound:dedupe:reply:wecom:1:0", 3600)
    assert kv.queue("inbound").put_once({"e": 1}, "inbound:seen:wecom:1", 3600) is not None
    assert [kv.incr("rate", ttl=60) for _ in range(3)] == [1, 2, 3]
    lock = kv.lock("scheduler", ttl=60)
    assert lock.acquire(blocking=False)
    store.clock.advance(1)                          # "brief" expires while the process is down

    kv = store.restart()
    assert (kv.get("token"), kv.get("forever"), kv.get("brief"), kv.get("gone")) == ("值-abc", "1", None, None)
    assert kv.claim("outbound:dedupe:reply:wecom:1:0", 3600) is False      # still claimed
    assert kv.queue("inbound").put_once({"e": 1}, "inbound:seen:wecom:1", 3600) is None   # a platform retry
    assert kv.incr("rate") == 4
    assert kv.lock("scheduler", ttl=60).acquire(blocking=False)    # a lock dies with its process
    store.clock.advance(60)
    assert kv.get("token") is None and kv.incr("rate") == 1


def test_expired_keys_leave_the_file(store):  # noqa: ANN001
    kv = store.client()
    for i in range(50):
        kv.claim(f"inbound:seen:wecom:{i}", 10)
    kv.set("keep", "1", ttl=3600)
    store.clock.advance(11)
    store.restart().close()           # loading drops them; closed, the file may be read
    with sqlite3.connect(store.journal) as raw:
        refs = [r for (r,) in raw.execute("SELECT ref FROM entries")]
    assert refs == [f"k:{store.prefix}:keep"]


def test_concurrent_writers_are_all_journalled(store):  # noqa: ANN001
    kv = store.client()

    def deliver(worker: int) -> None:
        q = kv.queue("inbound")
        for n in range(150):
            q.put_once({"w": worker, "n": n}, f"seen:{worker}:{n}", 3600)
            if n % 3 == 0:
                d = q.take(visibility_timeout=30)
                if d is not None:
                    q.ack(d)

    threads = [threading.Thread(target=deliver, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    left = {(d.payload["w"], d.payload["n"]) for d in drain(kv.queue("inbound"))}
    assert len(left) == 8 * 150 - 8 * 50
    for d in drain(store.restart().queue("inbound")):
        left.discard((d.payload["w"], d.payload["n"]))
    assert left == set()    # every message not acked came back after the restart


_KILLED = """
import os, signal, sys
from crm_core.kv import EmbeddedKV, journal
journal.FOLD_EVERY_S = float(sys.argv[2])
kv = EmbeddedKV(prefix="p", path=sys.argv[1])
q = kv.queue("inbound")
for i in range(200):
    q.put_once({"n": i}, f"inbound:seen:wecom:{i}", 3600)
for _ in range(50):
    d = q.take(visibility_timeout=300)
    if d.payload["n"] % 2:
        q.ack(d)
kv.set("draft:zhangwei", "客户A")
kv.claim("card:tap:1", 3600)               # a claim (a database write would follow it)
kv.set("last", "x")                        # nothing waits after it: in the segment all the same
print("acknowledged", flush=True)
os.kill(os.getpid(), signal.SIGKILL)      # no close(), no atexit: as `kill -9`
"""


@pytest.mark.parametrize("fold_every", ["0.0005", "3600"], ids=["folding-all-the-time", "never-folded"])
def test_a_killed_process_loses_nothing_it_acknowledged(tmp_path, fold_every):  # noqa: ANN001
    """Killed while its changes are only in the segments, or in the middle of folding them."""
    path = tmp_path / "kv.sqlite3"
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILLED), str(path), fold_every], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == -9 and "acknowledged" in run.stdout, run.stderr[-2000:]
    kv = EmbeddedKV(prefix="p", path=path)
    try:
        q = kv.queue("inbound")
        taken = {d.payload["n"]: d for d in drain(q)}
        # every put is there but the acked ones: with room in the segment every change is kept
        # (an ack that had to wait for room could come back: at-least-once covers that)
        assert set(taken) == set(range(0, 50, 2)) | set(range(50, 200))
        assert {taken[n].attempts for n in range(0, 50, 2)} == {2}     # attempts kept
        assert {taken[n].attempts for n in range(50, 200)} == {1}
        assert q.put_once({"n": 7}, "inbound:seen:wecom:7", 3600) is None
        assert kv.get("draft:zhangwei") == "客户A" and kv.claim("card:tap:1", 3600) is False
        assert kv.get("last") == "x"
    finally:
        kv.close()


_HOLDER = """
import sys, time
from crm_core.kv import EmbeddedKV
kv = EmbeddedKV(path=sys.argv[1])
kv.queue("inbound").put({"from": "the server"})
print("holding", flush=True)
sys.stdin.read()
"""


def test_one_process_owns_the_journal(tmp_path):  # noqa: ANN001
    path = tmp_path / "kv.sqlite3"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLDER), str(path)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(JournalInUse, match=rf"in use by another crm-bot process \(pid {holder.pid}\)"):
            EmbeddedKV(path=path)
        side = connect(None, path=path)     # a CLI command while `serve` runs: memory only
        assert isinstance(side, EmbeddedKV)
        assert not side.durable and side.path is None and "in use" in (side.busy or "")
        assert side.queue("inbound").stats().ready == 0
    finally:
        holder.communicate("", timeout=30)
    kv = EmbeddedKV(path=path)     # its owner exited: the file is free, its message there
    try:
        assert kv.durable and kv.queue("inbound").take().payload == {"from": "the server"}
    finally:
        kv.close()


def test_a_failing_fold_keeps_every_change_and_fails_calls_once_no_room_is_left(tmp_path, monkeypatch, caplog):  # noqa: ANN001
    """Disk full, I/O error: SQLite failing does not fail the calls while the segments have room
    (their changes are durable there and a restart folds them); once the segment is full, the
    call whose change found no room raises (a webhook answers 500 and the platform retries),
    its change stays queued and goes in with the next fold that works."""
    monkeypatch.setattr(segments, "SEGMENT_BYTES", 4096)
    store = KVStore("embedded", None, journal=tmp_path / "kv.sqlite3")
    failing = [True]
    real_fold = Journal.fold

    def flaky(self, payloads):  # noqa: ANN001, ANN202
        if failing[0]:
            raise sqlite3.OperationalError("disk I/O error")
        return real_fold(self, payloads)

    monkeypatch.setattr(Journal, "fold", flaky)
    try:
        q = store.client().queue("inbound")
        accepted = []
        with pytest.raises(JournalError, match="disk I/O error"):
            for n in range(200):
                q.put_once({"n": n}, f"inbound:seen:wecom:{n}", 3600)
                accepted.append(n)
        assert 10 < len(accepted) < 100          # two 4 KiB segments
        refused = len(accepted)
        time.sleep(0.3)                          # more failed turns of the folder: logged once
        failing[0] = False
        store.client().set("after", "1")
        kv = store.restart()
        logged = [r.getMessage() for r in caplog.records if r.name == "crm_bot.kv"]
        assert len(logged) == 2 and "disk I/O error" in logged[0] and logged[1] == "kv journal fold works again"
        assert kv.get("after") == "1"
        assert [d.payload["n"] for d in drain(kv.queue("inbound"))] == [*accepted, refused]
        assert kv.queue("inbound").put_once({"n": 0}, "inbound:seen:wecom:0", 3600) is None
    finally:
        store.cleanup()


def test_a_restart_folds_what_the_segments_hold(tmp_path):  # noqa: ANN001
    """Closed without folding (the folder never ran: a process killed right after its acks):
    SQLite has nothing yet, the next open folds the segments, in order."""
    path = tmp_path / "kv.sqlite3"
    kv = EmbeddedKV(prefix="p", path=path)
    kv._writer._closing = True          # stop the folder thread, as a kill would
    kv._writer._wake.set()
    kv._writer._thread.join()
    q = kv.queue("inbound")
    ids = [q.put({"n": n}) for n in range(5)]
    q.ack(q.take(visibility_timeout=30))
    kv.set("draft", "客户A")
    kv.delete("draft")
    kv.set("kept", "1")
    journal = kv._writer.journal
    assert journal._db.execute("SELECT count(*) FROM entries").fetchone() == (0,)
    journal.close()                    # frees the flock; nothing folded
    kv = EmbeddedKV(prefix="p", path=path)
    try:
        assert [d.id for d in drain(kv.queue("inbound"))] == ids[1:]
        assert (kv.get("draft"), kv.get("kept")) == (None, "1")
    finally:
        kv.close()


def test_the_folder_moves_changes_into_sqlite_while_the_store_runs(tmp_path):  # noqa: ANN001
    kv = EmbeddedKV(prefix="p", path=tmp_path / "kv.sqlite3")
    message_id = kv.queue("inbound").put({"n": 1})
    time.sleep(1.0)                     # 20 turns of the folder
    writer = kv._writer
    writer._closing = True              # stop it (no final fold) before reading its connection
    writer._wake.set()
    writer._thread.join()
    try:
        assert writer.journal._db.execute("SELECT ref FROM entries").fetchall() == [(f"m:{message_id}",)]
    finally:
        writer.journal.close()
