"""The embedded KV's journal: what of an `EmbeddedKV` must survive a restart — queue messages and
keys (with their expiry), not locks — in one SQLite file (WAL, synchronous=NORMAL), reached
through two append-only segments mapped into memory (`crm_core/kv/segments.py`).

A change is a final row (a row without a value deletes). `JournalWriter.add` copies it into the
active segment: a memory copy, no system call, so an ack never waits for a write nor hands the
GIL back (the SQLite write it replaced cost ≈ 1.5 ms of waiting for the GIL per ack under
load). Once copied it survives the process being killed (the page belongs to the OS's page
cache), as a WAL commit with synchronous=NORMAL does: only a power cut can lose the last ones.
A background thread folds the segments into SQLite every FOLD_EVERY_S (swap, write the
out-of-service one's rows in one statement, mark it folded); opening the journal folds whatever
a stopped process left in them first. Replaying a row twice is harmless (rows are final
states, folded in order), so a process killed mid-fold loses nothing. One process owns the
files at a time (an flock on `<file>.lock`, freed by the OS when the process dies, however).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from crm_core.kv import segments
from crm_core.kv.segments import Segment

# A row: (ref, queue, value, expires_at, enqueued_at, attempts, state, reason, failed_at, ord).
# ref is "k:<full key>" for a key, "m:<message id>" for a message; value None deletes the row.
Row = tuple[str, str | None, str | None, float | None, float | None, int | None, str | None,
            str | None, float | None, int | None]

log = logging.getLogger("crm_bot.kv")
PURGE_EVERY_S = 300.0   # how often expired keys leave the file (memory forgets them on its own)
FOLD_EVERY_S = 0.05     # how often the segments are folded into SQLite
WAIT_FOR_ROOM_S = 10.0  # a change that found the segment full waits this long for the fold

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    ref TEXT PRIMARY KEY,      -- 'k:' + key (with its prefix) | 'm:' + message id
    queue TEXT,                -- messages: the queue's name
    value TEXT,                -- a key's value | a message's payload JSON
    expires_at REAL,           -- keys: epoch seconds, NULL = no TTL
    enqueued_at REAL,          -- messages from here on
    attempts INTEGER,          -- deliveries so far
    state TEXT,                -- r(eady) | i(n flight) | d(ead)
    reason TEXT,               -- dead letters: why
    failed_at REAL,            -- dead letters: when
    ord INTEGER                -- ready order (FIFO across a restart)
) WITHOUT ROWID;
-- A row written without a value is a deletion: one INSERT statement then carries a whole
-- batch, changes and deletions alike (one SQLite step instead of one per row), in order.
CREATE TRIGGER IF NOT EXISTS entries_tombstone AFTER INSERT ON entries WHEN NEW.value IS NULL
BEGIN DELETE FROM entries WHERE ref = NEW.ref; END;
"""

_WRITE = """
INSERT OR REPLACE INTO entries (ref, queue, value, expires_at, enqueued_at, attempts, state, reason,
                                failed_at, ord)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7,
       value->>8, value->>9 FROM json_each(?)
"""


class JournalInUse(RuntimeError):
    """Another process owns the journal file (e.g. a running `crm-bot serve`)."""


class JournalError(RuntimeError):
    """A change could not be written (its call fails; the writer keeps trying)."""


@dataclass(frozen=True)
class StoredMessage:
    queue: str
    id: str
    payload: str
    enqueued_at: float
    attempts: int
    state: str
    reason: str
    failed_at: float
    ord: int


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = _own(self.path)
        try:
            # isolation_level=None: every statement is its own transaction (write() is one statement).
            # check_same_thread=False: EmbeddedKV serialises every use behind its flush lock.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            # We own the file (the flock), so SQLite need not lock it per transaction: six fcntl
            # calls fewer per write, and the WAL index lives in heap memory (no -shm file).
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self.segments = segments.open_pair(self.path, segments.SEGMENT_BYTES)
            self._recover()
        except BaseException:
            self._lock_file.close()
            raise

    def _recover(self) -> None:
        """Fold what the last process left in the segments (oldest generation first)."""
        for segment in sorted(self.segments, key=lambda s: s.gen):
            payloads = segment.records()
            if payloads:
                self.fold(payloads)
            segment.mark_folded()

    def write(self, rows: Iterable[Row]) -> None:
        """Store a batch of final rows in one transaction, in order (a later row for a ref wins)."""
        self._db.execute(_WRITE, (json.dumps(list(rows), ensure_ascii=False, separators=(",", ":")),))

    def fold(self, payloads: list[bytes]) -> None:
        """Store rows as segments hold them (each payload one row's JSON) in one transaction."""
        self._db.execute(_WRITE, ((b"[" + b",".join(payloads) + b"]").decode(),))

    def purge_expired(self, now: float) -> None:
        """Drop keys that expired (the in-memory store forgets them on its own). A full scan, every
        PURGE_EVERY_S: an index on the expiry would cost a page write on every claim instead."""
        self._db.execute("DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))

    def load(self, now: float) -> tuple[dict[str, tuple[str, float | None]], list[StoredMessage]]:
        """(keys still alive -> (value, expires_at), messages in ready order); expired keys go."""
        self.purge_expired(now)
        keys: dict[str, tuple[str, float | None]] = {}
        messages: list[StoredMessage] = []
        query = ("SELECT ref, queue, value, expires_at, enqueued_at, attempts, state, reason, failed_at, ord "
                 "FROM entries ORDER BY ord")
        for ref, queue, value, expires_at, enqueued_at, attempts, state, reason, failed_at, ord_ in self._db.execute(query):
            if ref.startswith("k:"):
                keys[ref[2:]] = (value, expires_at)
            else:
                messages.append(StoredMessage(queue, ref[2:], value, enqueued_at or 0.0, attempts or 0,
                                              state or "r", reason or "", failed_at or 0.0, ord_ or 0))
        return keys, messages

    def close(self) -> None:
        try:
            self._db.close()
            for segment in self.segments:
                segment.close()
        finally:
            self._lock_file.close()     # frees the flock


class JournalWriter:
    """Appends the callers' rows to the active segment and folds the segments into SQLite.

    `add()` (called under the store's mutex, so rows land in the order they were recorded)
    copies the row into the active segment: it is durable on return. Only when the segment is
    full (the fold fell behind: SQLite failing, a disk stalled) does a row wait in memory, and
    then `wait()` blocks until the fold makes room, raising JournalError if the last fold
    failed or no room came within WAIT_FOR_ROOM_S. The folder thread swaps the two segments
    under the lock (appends go on at once in the other one) and writes the rows of the one it
    took out of service to SQLite outside it; a fold that fails is retried, on the same
    segment, at the next turn."""

    def __init__(self, journal: Journal, clock: Callable[[], float], fold_every: float | None = None) -> None:
        self.journal = journal
        self.clock = clock
        self.fold_every = FOLD_EVERY_S if fold_every is None else fold_every
        self.gen = 0                # changes added so far
        self._durable = 0           # changes in a segment (or folded) so far
        self._waiting: list[tuple[int, bytes]] = []   # (gen, payload) that found the segment full
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)   # a fold made room
        self._active, self._other = journal.segments  # both folded: the journal recovered them
        self._last_gen = max(self._active.gen, self._other.gen)
        self._last_gen += 1
        self._active.activate(self._last_gen)
        self._error: BaseException | None = None
        self._closing = False
        self._closed = False
        self._purged_at = time.monotonic()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kv-journal", daemon=True)
        self._thread.start()

    def add(self, row: Row) -> int:
        """Journal a row (durable on return unless the segment is full); returns its gen."""
        payload = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
        with self._lock:
            self.gen += 1
            if self._closed:
                self._durable = self.gen         # later changes are not journalled
            elif not self._waiting and self._active.append(payload):
                self._durable = self.gen
            else:
                self._waiting.append((self.gen, payload))
                self._wake.set()
            return self.gen

    def wait(self, gen: int) -> None:
        """Return once change `gen` is in a segment (at once, unless the segment was full);
        raises JournalError when it cannot be (the row stays queued for the next fold)."""
        if self._durable >= gen:
            return
        deadline = time.monotonic() + WAIT_FOR_ROOM_S
        with self._lock:
            while self._durable < gen:
                left = deadline - time.monotonic()
                if self._error is not None or left <= 0:
                    why = self._error or f"no room in the journal's segments after {WAIT_FOR_ROOM_S:.0f} s"
                    raise JournalError(f"{self.journal.path}: {why}") from self._error
                self._wake.set()
                self._room.wait(left)

    def close(self) -> None:
        """Fold everything into SQLite; later changes are not journalled. (A fold that fails
        here leaves its rows in the segments: the next open folds them.)"""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake.set()
        self._thread.join()
        while self.fold() is None and not (self._other.folded and self._active.empty and not self._waiting):
            pass                 # what is out of service, then the active segment (and what waited)
        with self._lock:
            self._closed = True
            self._room.notify_all()

    def fold(self) -> BaseException | None:
        """One turn of the folder: take the active segment out of service (if the other one is
        free) and write the out-of-service one's rows to SQLite. Returns the error, if any."""
        with self._lock:
            if self._other.folded:
                if self._active.empty and not self._waiting:
                    return None
                if self._waiting:      # the first of them must fit the segment they go to
                    self._other.make_room(max(len(p) for _, p in self._waiting))
                self._last_gen += 1
                self._active, self._other = self._other, self._active
                self._active.activate(self._last_gen)
                while self._waiting and self._active.append(self._waiting[0][1]):
                    self._durable = self._waiting.pop(0)[0]
        error = self._write(self._other)
        if error is not None and self._error is None:      # once per outage, not every turn
            log.error("kv journal fold failed (its rows stay in %s; retried every %.2f s): %s",
                      self._other.path.name, self.fold_every, error)
        elif error is None and self._error is not None:
            log.warning("kv journal fold works again")
        with self._lock:
            self._error = error
            if error is None:
                self._other.mark_folded()
            self._room.notify_all()
        return error

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.fold_every)
            self._wake.clear()
            if not self._closing:
                self.fold()

    def _write(self, segment: Segment) -> BaseException | None:
        try:
            payloads = segment.records()
            if payloads:
                self.journal.fold(payloads)
            if time.monotonic() - self._purged_at >= PURGE_EVERY_S:
                self._purged_at = time.monotonic()
                self.journal.purge_expired(self.clock())
            return None
        except Exception as err:  # noqa: BLE001 - retried at the next turn; callers see it if they must wait
            return err


def _own(path: Path) -> IO[str]:
    """Take the file's flock (held until closed or the process ends) and note our pid in it."""
    lock = open(f"{path}.lock", "a+", encoding="utf-8")   # noqa: SIM115 - held for the journal's life
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise JournalInUse(f"{path} is in use by another crm-bot process (pid {holder})") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock
