"""The KV interface against both backends: reliable queue, idempotency keys, counters, locks.
The embedded backend runs twice: in memory and with a journal file (`journal`), which must not
change any behaviour. Restarts from the journal: tests/integration/test_kv_journal.py.

Redis runs on real server time with short (< 1 s) timeouts; the embedded clock is jumped.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
import redis

from crm_core.kv import connect
from tests.integration.conftest import KVStore

VT = 0.4  # visibility timeout used where a test waits for redelivery


@pytest.fixture(params=["embedded", "journal", pytest.param("redis", marks=pytest.mark.redis)])
def kv_store(request, tmp_path):  # noqa: ANN001, ANN201 - conftest's, plus the journalled store
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    backend = "embedded" if request.param == "journal" else request.param
    store = KVStore(backend, url, journal=tmp_path / "kv.sqlite3" if request.param == "journal" else None)
    yield store
    store.cleanup()


def drain(queue, visibility_timeout: float = 30.0) -> list:
    """Take everything currently ready, without acking."""
    taken = []
    while (delivery := queue.take(visibility_timeout)) is not None:
        taken.append(delivery)
    return taken


def elapse(kv_store, kv, seconds: float) -> None:
    """Let `seconds` pass on the store's clock: a witness key set now must expire first."""
    kv.set("witness", "1", ttl=seconds)
    assert kv_store.wait_for(lambda: kv.get("witness") is None, seconds)


# -- work queue -------------------------------------------------------------------------

def test_put_take_ack_is_fifo(kv):
    q = kv.queue("inbound")
    payloads = [{"n": i, "text": f"客户{i}要报价"} for i in range(6)]
    ids = [q.put(p) for p in payloads]
    taken = drain(q)
    assert [d.id for d in taken] == ids
    assert [d.payload for d in taken] == payloads
    assert all(d.attempts == 1 and d.queue == "inbound" for d in taken)
    assert [d.enqueued_at for d in taken] == sorted(d.enqueued_at for d in taken)
    for d in taken:
        q.ack(d)
    stats = q.stats()
    assert (stats.ready, stats.inflight, stats.dead, stats.oldest_ready_age) == (0, 0, 0, None)
    assert q.take() is None


def test_queues_are_separate_and_payload_must_be_a_dict(kv):
    a, b = kv.queue("a"), kv.queue("b")
    a.put({"to": "a"})
    assert b.take() is None
    assert a.take().payload == {"to": "a"}
    with pytest.raises(TypeError):
        a.put(["not", "a", "dict"])  # type: ignore[arg-type]


def test_unacked_message_is_redelivered_after_visibility_timeout(kv_store):
    q = kv_store.client().queue("jobs")
    message_id = q.put({"lead": 7})
    first = q.take(visibility_timeout=VT)
    assert first.attempts == 1
    assert q.take() is None  # invisible while in flight
    again = kv_store.wait_for(lambda: q.take(visibility_timeout=30), VT)
    assert (again.id, again.attempts, again.payload) == (message_id, 2, {"lead": 7})
    assert again.enqueued_at == pytest.approx(first.enqueued_at)
    q.ack(again)
    assert (q.stats().ready, q.stats().inflight) == (0, 0)


def test_worker_that_dies_has_its_messages_redelivered_to_another(kv_store):
    producer, dying, survivor = (kv_store.client() for _ in range(3))
    ids = [producer.queue("jobs").put({"n": i}) for i in range(3)]
    assert [d.id for d in drain(dying.queue("jobs"), VT)] == ids
    dying.close()  # dies without acking
    # each take blocks until the next deadline is due (they were taken a few ms apart)
    redelivered = [survivor.queue("jobs").take(visibility_timeout=30, wait=VT + 3) for _ in ids]
    assert [d.id for d in redelivered] == ids
    assert {d.attempts for d in redelivered} == {2}


@pytest.mark.parametrize("retaken", [False, True])
def test_ack_after_visibility_timeout(kv_store, retaken):
    """A late ack is honoured while nobody has taken the message since (the work is done);
    once another worker holds the redelivered copy, the late ack/nack leave that copy alone."""
    kv = kv_store.client()
    q = kv.queue("jobs")
    message_id = q.put({"x": 1})
    late = q.take(visibility_timeout=VT)
    elapse(kv_store, kv, VT)
    if retaken:
        copy = q.take(visibility_timeout=30)
        assert (copy.id, copy.attempts) == (message_id, 2)
    else:  # a take of another message reclaims ours to ready without taking it
        q.put({"filler": True})
        copy = q.take(visibility_timeout=30)
        assert copy.payload == {"filler": True}
        assert q.stats().ready == 1
    q.ack(late)
    q.nack(late)
    stats = q.stats()
    assert (stats.ready, stats.inflight) == (0, 1)  # the copy (or the filler) is still held
    q.ack(copy)
    assert q.take() is None and q.stats().inflight == 0


def test_nack_now_and_with_delay(kv_store):
    q = kv_store.client().queue("jobs")
    q.put({"k": "v"})
    first = q.take()
    q.nack(first)
    second = q.take()
    assert (second.id, second.attempts) == (first.id, 2)
    q.nack(second, delay=VT)
    assert q.take() is None
    assert (q.stats().ready, q.stats().inflight) == (0, 1)
    third = kv_store.wait_for(lambda: q.take(), VT)
    assert (third.id, third.attempts) == (first.id, 3)


def test_extend_pushes_the_deadline_of_a_delivery_still_owned(kv_store):
    kv = kv_store.client()
    q = kv.queue("jobs")
    q.put({"long": "job"})
    held = q.take(visibility_timeout=VT)
    assert q.extend(held, VT * 3)
    elapse(kv_store, kv, VT)              # past the first deadline: still held
    assert q.take() is None and q.stats().inflight == 1
    again = kv_store.wait_for(lambda: q.take(visibility_timeout=30), VT * 2)
    assert (again.id, again.attempts) == (held.id, 2)
    assert q.extend(held, 30) is False    # stale: another worker holds the message now
    assert q.extend(again, 30)
    q.ack(again)
    assert q.extend(again, 30) is False   # acked
    with pytest.raises(ValueError):
        q.extend(again, 0)


def test_extend_takes_back_a_reclaimed_message_nobody_took(kv_store):
    """Like a late ack: the deadline passed and a take moved the message back to ready, but
    nobody took it, so the worker still owns it and keeps it in flight."""
    kv = kv_store.client()
    q = kv.queue("jobs")
    q.put({"slow": True})
    held = q.take(visibility_timeout=VT)
    q.put({"filler": True})
    elapse(kv_store, kv, VT)
    filler = q.take(visibility_timeout=30)     # reclaims ours to the tail of ready, behind it
    assert filler.payload == {"filler": True}
    assert (q.stats().ready, q.stats().inflight) == (1, 1)
    assert q.extend(held, 30)
    assert (q.stats().ready, q.stats().inflight) == (0, 2) and q.take() is None
    q.dead_letter(held, "gave up")
    assert q.extend(held, 30) is False                  # dead


def test_take_with_wait_returns_when_a_message_arrives(kv_store):
    q, producer = kv_store.client().queue("jobs"), kv_store.client().queue("jobs")
    got, started = [], threading.Event()

    def consume() -> None:
        started.set()
        got.append(q.take(wait=5.0))
        got.append(time.monotonic())

    worker = threading.Thread(target=consume)
    worker.start()
    started.wait()
    put_at = time.monotonic()
    producer.put({"hello": "你好"})
    worker.join(timeout=6)
    assert got[0].payload == {"hello": "你好"}
    assert got[1] - put_at < 0.5
    assert q.take(wait=0.15) is None  # an empty wait ends on time


def test_dead_letter_and_retry(kv_store):
    q = kv_store.client().queue("jobs")
    ids = [q.put({"n": i}) for i in range(3)]
    a, b, c = drain(q)
    q.dead_letter(a, "无法解析的消息")
    q.dead_letter(b, "customer gone")
    q.ack(c)
    q.dead_letter(a, "second time")  # stale: already dead
    letters = q.dead_letters()
    assert [(x["id"], x["payload"], x["reason"], x["attempts"]) for x in letters] == [
        (ids[0], {"n": 0}, "无法解析的消息", 1), (ids[1], {"n": 1}, "customer gone", 1)]
    assert all(x["failed_at"] > 0 for x in letters)
    assert len(q.dead_letters(limit=1)) == 1
    assert q.stats().dead == 2 and q.take() is None
    assert [q.retry_dead(ids[1]), q.retry_dead("no-such-id"), q.retry_dead()] == [1, 0, 1]
    retried = drain(q)
    # back as new messages: attempts from zero (an admin's retry gets every attempt again)
    assert [(d.payload, d.attempts) for d in retried] == [({"n": 1}, 1), ({"n": 0}, 1)]
    assert not {d.id for d in retried} & set(ids)
    assert [d.enqueued_at for d in retried] == [b.enqueued_at, a.enqueued_at]
    q.ack(a)                      # a stale delivery of the old message changes nothing
    q.nack(b)
    assert q.stats().inflight == 2 and q.take() is None
    for d in retried:
        q.ack(d)
    assert q.dead_letters() == [] and q.stats() == type(q.stats())(0, 0, 0, None)


def test_stats(kv_store):
    q = kv_store.client().queue("jobs")
    empty = q.stats()
    assert (empty.ready, empty.inflight, empty.dead, empty.oldest_ready_age) == (0, 0, 0, None)
    for i in range(4):
        q.put({"n": i})
    q.dead_letter(q.take(), "bad")
    q.take()
    stats = q.stats()
    assert (stats.ready, stats.inflight, stats.dead) == (2, 1, 1)
    assert 0 <= stats.oldest_ready_age < 5
    aged = kv_store.wait_for(lambda: q.stats().oldest_ready_age >= 0.2, 0.2)
    assert aged


def test_many_threads_process_each_message_exactly_once(kv_store):
    total, workers = 500, 4
    producer = kv_store.client().queue("bulk")
    ids = {producer.put({"n": i}) for i in range(total)}
    seen: list[str] = []
    guard = threading.Lock()

    def work() -> None:
        q = kv_store.client().queue("bulk")
        while (d := q.take(visibility_timeout=30, wait=0.2)) is not None:
            with guard:
                seen.append(d.id)
            q.ack(d)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Counter(seen).most_common(1)[0][1] == 1
    assert set(seen) == ids
    stats = producer.stats()
    assert (stats.ready, stats.inflight, stats.dead) == (0, 0, 0)


def test_put_once_enqueues_once_per_claim_key_and_shares_keys_with_claim(kv_store):
    kv = kv_store.client()
    q = kv.queue("inbound")
    first = q.put_once({"event": "a"}, "seen:wecom:1", 0.3)
    assert first is not None
    assert q.put_once({"event": "a again"}, "seen:wecom:1", 0.3) is None     # a platform retry
    assert q.put_once({"event": "b"}, "seen:wecom:2", 0.3) is not None
    assert kv.claim("seen:wecom:2", 60) is False          # the same idempotency key space
    assert kv.claim("seen:wecom:3", 60) is True
    assert q.put_once({"event": "c"}, "seen:wecom:3", 60) is None
    taken = drain(q)
    assert [d.payload for d in taken] == [{"event": "a"}, {"event": "b"}]
    assert taken[0].id == first
    assert kv_store.wait_for(lambda: q.put_once({"event": "a later"}, "seen:wecom:1", 60) is not None, 0.3)
    assert [d.payload for d in drain(q)] == [{"event": "a later"}]


def test_put_once_with_a_bad_payload_claims_nothing(kv):
    q = kv.queue("inbound")
    with pytest.raises(TypeError):
        q.put_once(["not a dict"], "seen:x", 60)   # type: ignore[arg-type]
    with pytest.raises(ValueError):
        q.put_once({"ok": 1}, "seen:x", 0)
    assert q.stats().ready == 0
    assert kv.claim("seen:x", 60) is True


def test_put_once_from_many_threads_enqueues_each_key_once(kv_store):
    keys, threads_n = 200, 6
    won: list[str] = []
    guard = threading.Lock()

    def deliver() -> None:
        q = kv_store.client().queue("dup")
        for k in range(keys):
            if q.put_once({"k": k}, f"seen:{k}", 60) is not None:
                with guard:
                    won.append(f"seen:{k}")

    threads = [threading.Thread(target=deliver) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(won) == sorted(f"seen:{k}" for k in range(keys))
    assert sorted(d.payload["k"] for d in drain(kv_store.client().queue("dup"))) == list(range(keys))


# -- idempotency keys, cache, counters --------------------------------------------------

def test_claim_is_true_once_per_ttl(kv_store):
    kv = kv_store.client()
    assert [kv.claim("evt:1", 0.3), kv.claim("evt:1", 0.3), kv.claim("evt:2", 0.3)] == [True, False, True]
    assert kv_store.wait_for(lambda: kv.claim("evt:1", 60), 0.3)
    assert kv.claim("evt:1", 60) is False


@pytest.mark.parametrize("ttl, expires", [(None, False), (0.3, True), (60, False)])
def test_set_get_delete_and_ttl(kv_store, ttl, expires):
    kv = kv_store.client()
    kv.set("token", "值-abc", ttl=ttl)
    kv.set("witness", "1", ttl=0.3)
    assert kv.get("token") == "值-abc"
    assert kv_store.wait_for(lambda: kv.get("witness") is None, 0.3)
    assert (kv.get("token") is None) is expires
    kv.set("token", "x")
    kv.delete("token")
    kv.delete("never-set")
    assert kv.get("token") is None


def test_invalid_ttl_is_rejected(kv):
    for ttl in (0, -1):
        with pytest.raises(ValueError):
            kv.set("k", "v", ttl=ttl)
        with pytest.raises(ValueError):
            kv.claim("k", ttl)


def test_incr_counts_and_sets_ttl_only_when_creating(kv_store):
    kv = kv_store.client()
    assert [kv.incr("rate", ttl=0.3) for _ in range(3)] == [1, 2, 3]
    assert kv.incr("rate", ttl=600) == 4  # must not push the expiry out
    kv.set("plain", "41")
    assert kv.incr("plain", ttl=0.3) == 42  # existed: stays without TTL
    assert kv_store.wait_for(lambda: kv.get("rate") is None, 0.3)
    assert kv.get("plain") == "42"
    assert kv.incr("rate") == 1
    kv.set("name", "张三")
    with pytest.raises(ValueError):
        kv.incr("name")


@pytest.mark.redis
def test_redis_keys_stay_under_the_prefix(redis_url):
    tag = uuid.uuid4().hex
    mine, theirs = (connect(redis_url, prefix=f"crmbot-test-{tag}-{who}") for who in ("a", "b"))
    try:
        mine.set(f"k-{tag}", "v", ttl=30)
        mine.claim(f"c-{tag}", 30)
        mine.incr(f"n-{tag}", ttl=30)
        mine.queue(f"q-{tag}").put({"n": 1})
        lock = mine.lock(f"l-{tag}", ttl=30)
        assert lock.acquire(blocking=False)
        assert theirs.get(f"k-{tag}") is None and theirs.queue(f"q-{tag}").take() is None
        assert theirs.lock(f"l-{tag}", ttl=30).acquire(blocking=False)
        raw = redis.Redis.from_url(redis_url, decode_responses=True)
        written = list(raw.scan_iter(match=f"*{tag}*", count=1000))
        assert len(written) >= 6
        assert all(k.startswith((f"crmbot-test-{tag}-a:", f"crmbot-test-{tag}-b:")) for k in written)
        raw.delete(*written)
        raw.close()
    finally:
        mine.close()
        theirs.close()


def test_connect_picks_backend_and_ping_reports_an_unreachable_server():
    assert connect(None).backend == "embedded"
    dead = connect("redis://127.0.0.1:1/0")
    assert dead.backend == "redis" and dead.ping() is False


# -- locks ------------------------------------------------------------------------------

def test_only_one_contender_wins_a_lock(kv_store):
    contenders = 6
    locks = [kv_store.client().lock("scheduler-leader", ttl=30) for _ in range(contenders)]
    start, results = threading.Barrier(contenders), [None] * contenders

    def attempt(i: int) -> None:
        start.wait()
        results[i] = locks[i].acquire(blocking=False)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    winner = results.index(True)
    locks[winner].release()
    assert locks[(winner + 1) % contenders].acquire(blocking=False)


def test_lock_excludes_concurrent_holders(kv_store):
    inside, peak, entries = [0], [0], [0]
    guard = threading.Lock()

    def work() -> None:
        lock = kv_store.client().lock("customer:42", ttl=10)
        for _ in range(15):
            with lock:
                with guard:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                    entries[0] += 1
                time.sleep(0.001)  # widen the window a second holder would need
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert (peak[0], entries[0]) == (1, 60)


def test_lock_owner_release_extend_and_expiry(kv_store):
    first = kv_store.client().lock("report", ttl=VT)
    second = kv_store.client().lock("report", ttl=VT)
    assert first.acquire(blocking=False)
    assert second.acquire(blocking=True, timeout=0.05) is False
    second.release()  # not the owner: nothing happens
    assert second.acquire(blocking=False) is False
    assert second.extend(5) is False
    assert first.extend(VT * 2)  # now holds for 2*VT from here
    elapse(kv_store, kv_store.client(), VT)  # past the original TTL
    assert second.acquire(blocking=False) is False
    assert kv_store.wait_for(lambda: second.acquire(blocking=False), VT)  # expiry hands over
    assert first.extend(5) is False  # lost it
    first.release()  # stale owner: must not free the new holder's lock
    assert first.acquire(blocking=False) is False
    second.release()
    assert first.acquire(blocking=False)
    first.release()


def test_lock_as_context_manager_and_blocking_handover(kv_store):
    holder = kv_store.client().lock("import", ttl=30)
    waiter = kv_store.client().lock("import", ttl=30)
    got = []
    with holder:
        t = threading.Thread(target=lambda: got.append(waiter.acquire(timeout=5)))
        t.start()
        t.join(timeout=0.1)
        assert got == []  # still blocked while held
    t.join(timeout=5)
    assert got == [True]
    waiter.release()
