"""`EmbeddedKV`: the KV interface in process memory, so one crm-bot process runs with zero setup.

Same semantics as `RedisKV` (TTLs, visibility timeouts, delayed nacks, stale-delivery rules),
guarded by one condition variable shared by the web, worker and scheduler threads.
The clock is injectable (epoch seconds); waits are bounded in real time.

With a `path` the store is durable: every change to a queue message or a key (not to a lock)
is recorded under the mutex into the journal (`crm_core/kv/journal.py`): copied into a segment
mapped in memory, in the order recorded, durable at once (it survives a kill -9); a background
thread folds it into the journal's SQLite file. The calls that precede something outside the
store — `put`, `put_once` (the webhook's 200 follows), `claim` (a database write or a platform
call follows), `retry_dead` — also `sync`: only when the segment was full (the fold fell behind)
do they wait for room, or fail with JournalError. The others (take's attempt count, ack, nack,
dead_letter, set, delete, incr) never wait: a change of theirs that found the segment full goes
in with the next room, lost only if the process dies before then, which at-least-once delivery
already covers (an ack lost means a redelivery the inbound log and the outbox recognise).

A new store on the same file starts where the old one stopped, however it stopped: ready
messages stay ready, in-flight ones are ready again (their worker died with the process;
attempts kept), dead letters stay, expired keys are gone. Without a path it is memory only.
"""
from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from crm_core.kv.base import KV, Delivery, Lock, QueueStats, WorkQueue
from crm_core.kv.journal import Journal, JournalInUse, JournalWriter, Row, StoredMessage
from crm_core.kv.scripts import encode_payload, ttl_ms

Clock = Callable[[], float]
# How long a waiter sleeps at most before re-reading the clock. With an injected clock it is
# short, because a test that moves the clock notifies nobody.
_MAX_WAIT_REAL_S = 1.0
_MAX_WAIT_INJECTED_S = 0.05
_REASON_MAX = 4000
_NO_MESSAGE = (None,) * 9   # a deleted message's journal row, after its ref


def _new_id() -> str:
    """A message id, 32 hex digits like uuid4().hex: the time in ns, then 64 random bits from the
    random module's generator (seeded from the OS, reseeded in a forked child), so no system call
    on the ack path. Time-ordered, new messages land at the end of the journal's B-tree: with
    random ids each row of a fold dirtied a page of its own, and a fold of 140 rows took 2 → 4 ms
    as the backlog grew from 3,000 to 19,000 messages; ordered, 1 ms flat."""
    return f"{time.time_ns():016x}{random.getrandbits(64):016x}"


def _seconds(ttl: float) -> float:
    return ttl_ms(ttl) / 1000  # same validation and rounding as Redis


@dataclass
class _Entry:
    value: str
    expires_at: float | None


@dataclass
class _Message:
    payload: str
    enqueued_at: float
    attempts: int = 0
    state: str = "r"  # r(eady) | i(nflight, incl. delayed nack) | d(ead)
    since: float = 0.0
    reason: str = ""
    failed_at: float = 0.0
    ord: int = 0          # ready order, kept across a restart


class EmbeddedQueue(WorkQueue):
    """Ready = insertion-ordered dict (FIFO, O(1) removal); inflight = deadlines + a lazy heap."""

    def __init__(self, kv: "EmbeddedKV", name: str) -> None:
        self.name = name
        self._kv = kv
        # Its own condition on the store's lock: a put wakes one taker of *this* queue only.
        self._cond = threading.Condition(kv.mutex)
        self._messages: dict[str, _Message] = {}
        self._ready: OrderedDict[str, None] = OrderedDict()
        self._inflight: dict[str, float] = {}
        self._deadlines: list[tuple[float, int, str]] = []
        self._dead: OrderedDict[str, None] = OrderedDict()
        self._seq = itertools.count()

    # Message ids are drawn *before* taking the store's mutex, and not by uuid4(): os.urandom is a
    # system call that releases the GIL, and getting it back under load waits for a switch
    # interval (a thread parked there holding the mutex made every webhook thread queue up behind
    # it: the ack bench fell from 65 % to 15 % of the floor; outside it, 11 % of the webhook
    # threads' time in py-spy). put, put_once and retry_dead end with `self._kv.sync(gen)` *after*
    # leaving the mutex: they return once what they changed (or, for a repeat, saw) is in the
    # journal. The rest only record their change: see the module docstring.
    def put(self, payload: dict[str, Any]) -> str:
        body, message_id = encode_payload(payload), _new_id()
        with self._cond:
            self._add_ready(message_id, body, self._kv.now())
            gen = self._kv.gen
        self._kv.sync(gen)
        return message_id

    def put_once(self, payload: dict[str, Any], claim_key: str, ttl: float) -> str | None:
        body, seconds, message_id = encode_payload(payload), _seconds(ttl), _new_id()
        with self._cond:   # the store's one mutex: claim and put are atomic together
            repeat = self._kv.entry(claim_key) is not None
            if not repeat:
                self._kv.put_entry(claim_key, "1", seconds)
                self._add_ready(message_id, body, self._kv.now())
            gen = self._kv.gen
        # a repeat waits too: the first delivery's 200 may still be waiting for the same write
        self._kv.sync(gen)
        return None if repeat else message_id

    def _add_ready(self, message_id: str, body: str, now: float, enqueued_at: float | None = None) -> None:
        """A new message (no deliveries yet), ready `now`, one taker woken; caller holds the lock."""
        self._messages[message_id] = _Message(body, now if enqueued_at is None else enqueued_at)
        self._make_ready(message_id, now)
        self._record(message_id)
        self._cond.notify()

    def _record(self, message_id: str) -> None:
        """Journal the message as it is now; caller holds the lock."""
        m = self._messages[message_id]
        self._kv.record(("m:" + message_id, self.name, m.payload, None, m.enqueued_at, m.attempts,
                         m.state, m.reason, m.failed_at, m.ord))

    def _record_gone(self, message_id: str) -> None:
        self._kv.record(("m:" + message_id, *_NO_MESSAGE))

    def restore(self, stored: StoredMessage, now: float) -> None:
        """Load a journalled message (caller holds the lock): dead stays dead, the rest is ready."""
        message = _Message(stored.payload, stored.enqueued_at, stored.attempts, reason=stored.reason,
                           failed_at=stored.failed_at, ord=stored.ord)
        self._messages[stored.id] = message
        if stored.state == "d":
            message.state = "d"
            self._dead[stored.id] = None
        else:
            message.state, message.since = "r", now
            self._ready[stored.id] = None

    def take(self, visibility_timeout: float = 60.0, wait: float = 0.0) -> Delivery | None:
        if visibility_timeout <= 0:
            raise ValueError("visibility_timeout must be positive")
        deadline = time.monotonic() + max(0.0, wait)
        with self._cond:
            while True:
                now = self._kv.now()
                self._reclaim(now)
                if self._ready:
                    return self._deliver(self._ready.popitem(last=False)[0], now, visibility_timeout)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                due = self._deadlines[0][0] - now if self._deadlines else remaining
                self._cond.wait(max(0.001, min(remaining, due, self._kv.max_wait)))

    def _deliver(self, message_id: str, now: float, visibility_timeout: float) -> Delivery:
        message = self._messages[message_id]
        message.attempts += 1
        self._park(message_id, now + visibility_timeout)
        self._record(message_id)
        return Delivery(self.name, message_id, json.loads(message.payload),
                        message.attempts, message.enqueued_at)

    def _reclaim(self, now: float) -> None:
        """Move in-flight messages whose deadline passed back to the tail of ready."""
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, _, message_id = heapq.heappop(self._deadlines)
            if self._inflight.get(message_id) == deadline:  # else a stale heap entry
                del self._inflight[message_id]
                self._make_ready(message_id, now)

    def _park(self, message_id: str, deadline: float) -> None:
        self._messages[message_id].state = "i"
        self._inflight[message_id] = deadline
        heapq.heappush(self._deadlines, (deadline, next(self._seq), message_id))

    def _make_ready(self, message_id: str, now: float) -> None:
        message = self._messages[message_id]
        message.state, message.since, message.ord = "r", now, self._kv.next_ord()
        self._ready[message_id] = None

    def _current(self, delivery: Delivery) -> _Message | None:
        """The message if `delivery` is still its latest one (see RedisQueue), detached."""
        message = self._messages.get(delivery.id)
        if message is None or message.state == "d" or message.attempts != delivery.attempts:
            return None
        self._inflight.pop(delivery.id, None)  # its heap entry becomes stale
        self._ready.pop(delivery.id, None)
        return message

    def ack(self, delivery: Delivery) -> None:
        with self._cond:
            if self._current(delivery) is not None:
                del self._messages[delivery.id]
                self._record_gone(delivery.id)

    def extend(self, delivery: Delivery, visibility_timeout: float) -> bool:
        if visibility_timeout <= 0:
            raise ValueError("visibility_timeout must be positive")
        with self._cond:
            if self._current(delivery) is None:
                return False
            # A later deadline: sleeping takers wake at the old one, find it stale and recompute.
            self._park(delivery.id, self._kv.now() + visibility_timeout)
            # Nothing to journal: a restart makes every in-flight message ready, whatever its deadline.
            return True

    def nack(self, delivery: Delivery, delay: float = 0.0) -> None:
        with self._cond:
            if self._current(delivery) is None:
                return
            now = self._kv.now()
            if delay > 0:
                self._park(delivery.id, now + delay)
                self._cond.notify_all()   # sleeping takers recompute their next deadline
            else:
                self._make_ready(delivery.id, now)
                self._cond.notify()
            self._record(delivery.id)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        with self._cond:
            message = self._current(delivery)
            if message is None:
                return
            message.state, message.reason = "d", reason[:_REASON_MAX]
            message.failed_at = self._kv.now()
            self._dead[delivery.id] = None
            self._record(delivery.id)

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._cond:
            ids = list(itertools.islice(self._dead, max(0, limit)))
            return [{"id": i, "payload": json.loads(self._messages[i].payload),
                     "reason": self._messages[i].reason, "attempts": self._messages[i].attempts,
                     "failed_at": self._messages[i].failed_at} for i in ids]

    def retry_dead(self, message_id: str | None = None) -> int:
        with self._cond:
            ids = list(self._dead) if message_id is None else [message_id]
            moved = [i for i in ids if i in self._dead]
            now = self._kv.now()
            for i in moved:     # a new message each (see scripts.RETRY_DEAD): attempts from zero
                del self._dead[i]
                old = self._messages.pop(i)
                self._record_gone(i)
                self._add_ready(_new_id(), old.payload, now, old.enqueued_at)   # admin path: rare
            if moved:
                self._cond.notify_all()
            gen = self._kv.gen
        self._kv.sync(gen)
        return len(moved)

    def stats(self) -> QueueStats:
        with self._cond:
            now = self._kv.now()
            head = next(iter(self._ready), None)
            age = None if head is None else max(0.0, now - self._messages[head].since)
            return QueueStats(len(self._ready), len(self._inflight), len(self._dead), age)


class EmbeddedLock(Lock):
    """Owner token stored as an ordinary expiring key, so expiry frees a dead holder's lock.
    Never journalled: a lock dies with the process that held it."""

    def __init__(self, kv: "EmbeddedKV", name: str, ttl: float) -> None:
        self._kv = kv
        self._key = f"lock:{name}"
        self._ttl = _seconds(ttl)
        self._token: str | None = None

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        token = uuid.uuid4().hex
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self._kv.cond:
            while True:
                holder = self._kv.entry(self._key)
                if holder is None:
                    self._kv.put_entry(self._key, token, self._ttl, journal=False)
                    self._token = token
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if not blocking or (remaining is not None and remaining <= 0):
                    return False
                expires_in = (holder.expires_at or 0.0) - self._kv.now()
                cap = self._kv.max_wait if remaining is None else min(remaining, self._kv.max_wait)
                self._kv.cond.wait(max(0.001, min(expires_in, cap)))

    def _owned(self) -> bool:
        holder = self._kv.entry(self._key)
        return self._token is not None and holder is not None and holder.value == self._token

    def release(self) -> None:
        with self._kv.cond:
            if self._owned():
                self._kv.drop(self._key, journal=False)
                self._kv.cond.notify_all()
            self._token = None

    def extend(self, ttl: float) -> bool:
        """Hold for `ttl` seconds from now; False (and no change) if the lock was lost."""
        with self._kv.cond:
            if not self._owned():
                return False
            self._kv.put_entry(self._key, self._token or "", _seconds(ttl), journal=False)
            return True


class EmbeddedKV(KV):
    """In-process KV; thread-safe. `clock` returns epoch seconds (tests inject their own).
    `path`: the journal file that makes it durable (see the module docstring); None = memory only.
    While another process owns that file, `if_busy="memory"` runs memory only (`busy` says why)
    instead of raising `JournalInUse`."""

    def __init__(self, prefix: str = "crmbot", clock: Clock = time.time, path: str | Path | None = None,
                 if_busy: Literal["raise", "memory"] = "raise") -> None:
        self.prefix = prefix
        self.now = clock
        self.max_wait = _MAX_WAIT_REAL_S if clock is time.time else _MAX_WAIT_INJECTED_S
        self.mutex = threading.RLock()
        self.cond = threading.Condition(self.mutex)    # locks and key waits; queues have their own
        self._data: dict[str, _Entry] = {}
        self._expiries: list[tuple[float, str]] = []  # lazy heap, swept on writes
        self._queues: dict[str, EmbeddedQueue] = {}
        self._ords = itertools.count(1)
        self.busy: str | None = None
        journal = None if path is None else self._open(Path(path), if_busy)
        self.path = None if journal is None else journal.path    # None: memory only
        if journal is not None:
            self._load(journal)
        self._writer = None if journal is None else JournalWriter(journal, clock)

    def _open(self, path: Path, if_busy: str) -> Journal | None:
        try:
            return Journal(path)
        except JournalInUse as busy:
            if if_busy == "raise":
                raise
            self.busy = str(busy)
            return None

    def _load(self, journal: Journal) -> None:
        keys, messages = journal.load(self.now())
        now = self.now()
        for full, (value, expires_at) in keys.items():
            self._data[full] = _Entry(value, expires_at)
            if expires_at is not None:
                heapq.heappush(self._expiries, (expires_at, full))
        # ready order first (ord), then dead letters in the order they failed
        for stored in sorted(messages, key=lambda m: (m.state == "d", m.failed_at if m.state == "d" else 0, m.ord)):
            self._queue(stored.queue).restore(stored, now)
        self._ords = itertools.count(max((m.ord for m in messages), default=0) + 1)

    # -- the journal --
    def next_ord(self) -> int:
        return next(self._ords)

    @property
    def gen(self) -> int:
        """How many changes were recorded so far (read under the mutex: see `sync`)."""
        return 0 if self._writer is None else self._writer.gen

    def record(self, row: Row) -> None:
        """Note a changed row for the journal (caller holds the mutex); `sync` waits for it."""
        if self._writer is not None:
            self._writer.add(row)

    def sync(self, gen: int) -> None:
        """Return once every change up to `gen` is in the journal (see `JournalWriter`). Never
        called holding the mutex: the other threads carry on meanwhile."""
        writer = self._writer
        if writer is not None:
            writer.wait(gen)

    # -- primitives used by locks and the public methods; callers hold self.cond --
    def entry(self, key: str) -> _Entry | None:
        full = f"{self.prefix}:{key}"
        item = self._data.get(full)
        if item is not None and item.expires_at is not None and item.expires_at <= self.now():
            del self._data[full]   # the journal keeps it until a purge; a restart drops it too
            return None
        return item

    def put_entry(self, key: str, value: str, ttl: float | None, *, journal: bool = True) -> None:
        self._sweep()
        expires_at = None if ttl is None else self.now() + ttl
        full = f"{self.prefix}:{key}"
        self._data[full] = _Entry(value, expires_at)
        if expires_at is not None:
            heapq.heappush(self._expiries, (expires_at, full))
        if journal:
            self.record(("k:" + full, None, value, expires_at, *_NO_MESSAGE[3:]))

    def drop(self, key: str, *, journal: bool = True) -> None:
        full = f"{self.prefix}:{key}"
        if self._data.pop(full, None) is not None and journal:
            self.record(("k:" + full, *_NO_MESSAGE))

    def _sweep(self) -> None:
        """Forget expired keys so idempotency claims don't pile up in memory."""
        now = self.now()
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, full = heapq.heappop(self._expiries)
            item = self._data.get(full)
            if item is not None and item.expires_at == expires_at:
                del self._data[full]

    # -- KV -- (only claim waits for the journal: see the module docstring)
    def get(self, key: str) -> str | None:
        with self.cond:
            item = self.entry(key)
            return None if item is None else item.value

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        with self.cond:
            self.put_entry(key, str(value), None if ttl is None else _seconds(ttl))

    def delete(self, key: str) -> None:
        with self.cond:
            self.drop(key)

    def claim(self, key: str, ttl: float) -> bool:
        with self.cond:
            won = self.entry(key) is None
            if won:
                self.put_entry(key, "1", _seconds(ttl))
            gen = self.gen
        self.sync(gen)
        return won

    def incr(self, key: str, ttl: float | None = None) -> int:
        with self.cond:
            item = self.entry(key)
            if item is None:
                self.put_entry(key, "1", None if ttl is None else _seconds(ttl))
                value = 1
            else:
                try:
                    value = int(item.value) + 1
                except ValueError:
                    raise ValueError(f"{key!r} does not hold an integer") from None
                item.value = str(value)
                full = f"{self.prefix}:{key}"
                self.record(("k:" + full, None, item.value, item.expires_at, *_NO_MESSAGE[3:]))
            return value

    def lock(self, name: str, ttl: float) -> Lock:
        return EmbeddedLock(self, name, ttl)

    def queue(self, name: str) -> WorkQueue:
        with self.cond:
            return self._queue(name)

    def _queue(self, name: str) -> EmbeddedQueue:
        if name not in self._queues:
            self._queues[name] = EmbeddedQueue(self, name)
        return self._queues[name]

    def ping(self) -> bool:
        return True

    @property
    def backend(self) -> str:
        return "embedded"

    @property
    def durable(self) -> bool:
        """True while changes go to a journal file (see `path`)."""
        return self._writer is not None

    def close(self) -> None:
        """Write what is left and let the file go; the store carries on in memory only."""
        with self.mutex:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            writer.journal.close()
