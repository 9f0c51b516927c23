"""`crm-bot scheduler run JOB [--at TIME] [--dry-run]`: one scheduler job, now, as the
scheduler would run it (the job's `now` may be any time), outside its schedule.

A real run takes the job's run lock (never alongside the scheduler's own run of it) and
records its result as the job's last result (`scheduler jobs` shows it, marked 手动).
A dry run changes nothing and sends nothing: its units of work join one database transaction
that is rolled back at the end, its KV writes stay in memory over the real store's values
(`OverlayKV`), and what it would send (notices, ops probes) is rendered and listed instead."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.orm import sessionmaker

from bot.outbound.delivery import Outbox
from bot.recipients import Unreachable, recipient_for_rep
from bot.runtime import Runtime
from cards.model import Card
from cards.render.text import render_text
from crm_core.config.schema import AppConfig
from crm_core.db import Database
from crm_core.db.session import make_engine
from crm_core.kv import EmbeddedKV
from crm_core.kv.base import KV, Lock, WorkQueue
from crm_core.notices import Notice
from scheduler.context import ChannelOps
from scheduler.jobs import JobFn
from scheduler.runner import STATUS_KEY, ScheduledJob, grace_seconds, registered_jobs, running_ttl, trigger_for

MANUAL = "cli"


class UnknownJob(ValueError):
    pass


@dataclass
class JobRun:
    name: str
    at: datetime
    dry_run: bool
    ok: bool = True
    result: object = None
    error: str | None = None
    seconds: float = 0.0
    would_send: list[str] = field(default_factory=list)      # dry run: one line per message


def job_fn(name: str) -> JobFn:
    jobs = registered_jobs()
    if name not in jobs:
        raise UnknownJob(f"unknown job '{name}'; choose one of {', '.join(jobs)}")
    return jobs[name]


# ---- a database whose every unit of work is undone ---------------------------------------------

class RollbackDatabase(Database):
    """Units of work run in savepoints of one outer transaction on one connection; `close()`
    rolls the outer transaction back, so nothing the dry run wrote is ever committed."""

    def __init__(self, url: str) -> None:   # noqa: D107 - no super(): its own engine, set up below
        self.url = url
        self.engine = make_engine(url)
        if self.engine.dialect.name == "sqlite":
            _sqlite_savepoints(self.engine)
        self._conn: Connection = self.engine.connect()
        self._outer = self._conn.begin()
        self._factory = sessionmaker(bind=self._conn, expire_on_commit=False,
                                     join_transaction_mode="create_savepoint")

    def close(self) -> None:
        self._outer.rollback()
        self._conn.close()
        self.engine.dispose()


def _sqlite_savepoints(engine: Any) -> None:
    """pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented fix:
    let SQLAlchemy emit BEGIN itself (only on this throw-away engine)."""
    @event.listens_for(engine, "connect")
    def _no_pysqlite_tx(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        conn.exec_driver_sql("BEGIN")


# ---- a KV that reads the real store and writes to memory -----------------------------------------

class OverlayKV(KV):
    """Reads see the real store (what the deployment has); writes, claims, counters, locks and
    queues stay in this object's memory and vanish with it."""

    def __init__(self, real: KV) -> None:
        self.real = real
        self.mem = EmbeddedKV(prefix="dry-run")
        self.written: set[str] = set()
        self.deleted: set[str] = set()

    def get(self, key: str) -> str | None:
        if key in self.deleted:
            return None
        return self.mem.get(key) if key in self.written else self.real.get(key)

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self.written.add(key)
        self.deleted.discard(key)
        self.mem.set(key, value, ttl)

    def delete(self, key: str) -> None:
        self.deleted.add(key)
        self.written.discard(key)
        self.mem.delete(key)

    def claim(self, key: str, ttl: float) -> bool:
        if self.get(key) is not None:
            return False
        self.deleted.discard(key)
        self.written.add(key)
        return self.mem.claim(key, ttl)

    def incr(self, key: str, ttl: float | None = None) -> int:
        if key not in self.written:
            self.set(key, self.get(key) or "0", ttl)
        return self.mem.incr(key, ttl)

    def lock(self, name: str, ttl: float) -> Lock:
        return self.mem.lock(name, ttl)

    def queue(self, name: str) -> WorkQueue:
        return self.mem.queue(name)

    def ping(self) -> bool:
        return self.real.ping()

    @property
    def backend(self) -> str:
        return f"dry-run over {self.real.backend}"

    def close(self) -> None:
        self.mem.close()


# ---- channels that only record -----------------------------------------------------------------

class RecordingChannelOps:
    """The ops view of the channels for a dry run: token checks go to the platform (nothing is
    sent by one), texts are written down instead of sent."""

    def __init__(self, real: ChannelOps, record: Callable[[str], None]) -> None:
        self.real, self.record = real, record

    def enabled(self) -> tuple[str, ...]:
        return self.real.enabled()

    def label(self, platform: str) -> str:
        return self.real.label(platform)

    def check_token(self, platform: str) -> None:
        self.real.check_token(platform)

    def send_text(self, platform: str, target: str, text: str, uuid: str) -> None:
        self.record(f"→ {self.label(platform)} {target}:{first_line(text)}")


def first_line(text: str, width: int = 80) -> str:
    line = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


@dataclass
class DryRunContext:
    """What a job is given (scheduler.context.JobContext), for a dry run."""
    rt: Runtime
    db: RollbackDatabase
    kv: OverlayKV
    would_send: list[str]
    channel_ops: RecordingChannelOps = field(init=False)
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.channel_ops = RecordingChannelOps(self.rt.channel_ops, self.would_send.append)
        self.outbox = Outbox(self.db, self.kv, self.rt.channels, self.rt.clock)

    @property
    def cfg(self) -> AppConfig:
        return self.rt.cfg

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.rt.clock

    def deliver(self, notices: Iterable[Notice]) -> int:
        """Render each notice as the notifier would, and write down who would get what."""
        n = 0
        for notice in notices:
            item = self.rt.notifier.renderers.render(self.cfg, notice)
            if item is None:
                continue
            try:
                to = recipient_for_rep(self.cfg, notice.to_rep, self.rt.notifier.enabled,
                                       as_supervisor=notice.to_supervisor)
            except Unreachable as err:
                self.would_send.append(f"✗ {notice.to_rep}:无法送达({err})")
                continue
            rep = self.cfg.org.rep(notice.to_rep)
            text = render_text(item) if isinstance(item, Card) else str(item)
            self.would_send.append(f"→ {rep.name if rep else notice.to_rep}({self.rt.channel_ops.label(to.platform)})"
                                   f":{first_line(text)}")
            n += 1
        return n


@contextmanager
def dry_run_context(rt: Runtime, would_send: list[str]) -> Iterator[DryRunContext]:
    db, kv = RollbackDatabase(rt.db.url), OverlayKV(rt.kv)
    try:
        yield DryRunContext(rt, db, kv, would_send)
    finally:
        db.close()
        kv.close()


# ---- running one ---------------------------------------------------------------------------------

def run_job_now(rt: Runtime, name: str, at: datetime, *, dry_run: bool = False) -> JobRun:
    """Run job `name` once with `now` = `at`. Raises UnknownJob."""
    fn = job_fn(name)
    run = JobRun(name, at, dry_run)
    if dry_run:
        with dry_run_context(rt, run.would_send) as ctx:
            _call(run, lambda: fn(ctx, at))
        return run
    job_cfg = getattr(rt.cfg.schedules, name)
    job = ScheduledJob(name, fn, trigger_for(job_cfg, rt.cfg.app.timezone), grace_seconds(job_cfg))
    ttl = running_ttl(job)
    lock = rt.kv.lock(f"jobrun:{name}", ttl=ttl)
    if not lock.acquire(blocking=True, timeout=ttl * 1.5):
        run.ok, run.error = False, "the scheduler's own run of this job is still going; try again shortly"
        return run
    try:
        _call(run, lambda: fn(rt, at))
    finally:
        lock.release()
    status = {"ok": run.ok, "result": _short(run.result), "error": run.error, "at": rt.clock().isoformat(),
              "seconds": run.seconds, "instance": MANUAL, "manual": True, "as_of": at.isoformat()}
    rt.kv.set(STATUS_KEY.format(name=name), json.dumps(status, ensure_ascii=False, default=str))
    return run


def _call(run: JobRun, work: Callable[[], object]) -> None:
    started = time.perf_counter()
    try:
        run.result = work()
    except Exception as err:  # noqa: BLE001 - reported as the run's outcome, one line
        run.ok, run.error = False, f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
    run.seconds = round(time.perf_counter() - started, 3)


def _short(result: object) -> object:
    if result is None or isinstance(result, (bool, int, float)):
        return result
    return json.dumps(result, ensure_ascii=False, default=str)[:200] if isinstance(result, (dict, list)) \
        else str(result)[:200]
