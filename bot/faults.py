"""Infrastructure faults versus message failures. The database or Redis being unreachable says
nothing about the message in hand: it is deferred (no attempt counted, never dead-lettered)
and retried once the store is back. `is_infrastructure` decides; `Outage` turns a burst of
such errors into one log line when it starts and one when it ends, and paces the retries."""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

import psycopg
import redis.exceptions as redis_errors
from sqlalchemy import exc as sa_errors

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
_CHAIN_DEPTH = 5

# Connection loss, refusal, timeouts, a server still loading its data or demoted to a
# replica: the store is unavailable, not the request wrong.
_REDIS = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError,
          redis_errors.ReadOnlyError)
# SQLAlchemy wraps DBAPI errors: OperationalError (connection refused or lost, server shutting
# down, SQLite "database is locked"), InterfaceError (a closed connection), DisconnectionError
# (the pool's ping failed). The raw DBAPI classes come through paths SQLAlchemy does not wrap.
_DATABASE = (sa_errors.OperationalError, sa_errors.InterfaceError, sa_errors.DisconnectionError,
             psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError)
# SQLite reports a broken statement ("no such table", a syntax error) as OperationalError too:
# that is the code's fault and must fail like any bug, not be deferred for ever. Only these
# mean the file is unavailable for now.
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open database",
                       "disk i/o error", "database or disk is full", "readonly database")


def _sqlite_statement_error(err: BaseException) -> bool:
    """An SQLite OperationalError that is about the statement, not the database's availability."""
    raw = err.orig if isinstance(err, sa_errors.DBAPIError) else err
    if not isinstance(raw, sqlite3.OperationalError):
        return False
    text = str(raw).lower()
    return not any(marker in text for marker in _SQLITE_UNAVAILABLE)


class InfrastructureError(Exception):
    """Raised by our own code for "a store we depend on failed; try this again later" (the
    original error is its `__cause__`)."""


def fault_kind(err: BaseException) -> str | None:
    """"database", "redis" or "infrastructure" when `err` (or what explicitly caused it, or
    what it was raised while handling) is an infrastructure fault; None for anything else."""
    seen: BaseException | None = err
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            return None
        if isinstance(seen, _REDIS):
            return "redis"
        if isinstance(seen, _DATABASE) and not _sqlite_statement_error(seen):
            return "database"
        if isinstance(seen, sa_errors.DBAPIError) and seen.connection_invalidated:
            return "database"
        if isinstance(seen, InfrastructureError):
            return fault_kind(seen.__cause__) if seen.__cause__ is not None else "infrastructure"
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return None


def is_infrastructure(err: BaseException) -> bool:
    """True when `err` means a store is unavailable, not that the work itself failed."""
    return fault_kind(err) is not None


def describe(err: BaseException) -> str:
    """A short line for logs: the type and the first line of the message (no traceback)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:160]}" if text else type(err).__name__


class Outage:
    """Shared by a process's workers: logs one line when infrastructure errors start and one
    when work succeeds again, however many workers and messages run into them; in between,
    the deferred messages are only counted. `backoff(n)` paces retries: 1 s doubling to 30 s."""

    def __init__(self, log: logging.Logger, *, first: float = FIRST_BACKOFF, cap: float = MAX_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.first, self.cap, self.clock = log, first, cap, clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._kinds: set[str] = set()
        self._deferred = 0

    @property
    def active(self) -> bool:
        return self._since is not None

    def backoff(self, failures: int) -> float:
        """Seconds to wait after `failures` consecutive infrastructure errors (≥ 1)."""
        return min(self.cap, self.first * 2 ** max(0, min(failures, 32) - 1))

    def failed(self, err: BaseException, deferred: bool = False) -> None:
        """An infrastructure error; `deferred`: a message was put back because of it."""
        kind = fault_kind(err) or "infrastructure"
        with self._lock:
            starting = self._since is None
            if starting:
                self._since = self.clock()
            new_kind = kind not in self._kinds
            self._kinds.add(kind)
            self._deferred += int(deferred)
        if starting or new_kind:
            self.log.warning("%s unavailable (%s): messages are deferred and retried, not failed",
                             kind, describe(err))

    def reachable(self, kind: str) -> None:
        """`kind` answered (e.g. an empty take from Redis): ends an outage of that kind only."""
        with self._lock:
            if self._since is None or self._kinds - {kind}:
                return
        self.recovered()

    def recovered(self) -> None:
        """Work succeeded again: ends the outage (one line), if there was one."""
        with self._lock:
            if self._since is None:
                return
            took, kinds, deferred = self.clock() - self._since, sorted(self._kinds), self._deferred
            self._since, self._kinds, self._deferred = None, set(), 0
        self.log.warning("%s available again after %.0f s; %d message(s) were deferred meanwhile",
                         " and ".join(kinds), took, deferred)
