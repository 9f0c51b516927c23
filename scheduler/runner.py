"""Runs the configured jobs on APScheduler. Several instances may run this: every job run
is claimed in the KV under its *scheduled* fire time, so each run happens once across
instances, and a dead instance is simply not there to claim the next one (handover within
one interval, no leader to elect). Runs missed while every instance was down are coalesced
into one catch-up run at start, if still within the job's grace time."""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crm_core.clock import local
from scheduler.context import JobContext
from scheduler.jobs import JobFn, registered_jobs

log = logging.getLogger("crm_bot.scheduler")

# Interval grids start here, so every instance fires at the same instants whenever it was
# started (APScheduler's default start is "now + interval", different on every instance).
ANCHOR = datetime(2000, 1, 3, tzinfo=timezone.utc)
CRON_GRACE_SECONDS = 3600.0       # a daily digest an hour late is still worth sending
MIN_CLAIM_TTL = 24 * 3600.0
STATUS_KEY = "jobstatus:{name}"
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")     # crontab numbering


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    fn: JobFn
    trigger: BaseTrigger
    grace: float                  # seconds


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, 1 = Monday) as APScheduler 3 day names:
    APScheduler 3 counts 0 = Monday, so `from_crontab("30 9 * * 1-5")` would run Tue–Sat."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step = item.partition("/")
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            lo, hi = (_weekday(x) for x in span.split("-", 1))
            hi += 7 if hi < lo else 0                     # "sat-sun", "5-0"
        else:
            lo = _weekday(span)
            hi = 6 if step else lo                        # "1/2" = from Monday, every 2nd day
        days |= {d % 7 for d in range(lo, hi + 1, int(step or 1))}
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def _weekday(token: str) -> int:
    return WEEKDAYS.index(token[:3]) if token[:3] in WEEKDAYS else int(token)


def trigger_for(job_cfg: Any, tz: str) -> BaseTrigger:
    """Cron jobs read the crontab the standard way (day-of-week 0/7 = Sunday); interval jobs
    fire on a grid anchored at ANCHOR."""
    if job_cfg.cron:
        fields = job_cfg.cron.split()
        if len(fields) != 5:
            raise ValueError(f"cron needs 5 fields (minute hour day month weekday): {job_cfg.cron!r}")
        minute, hour, day, month, weekday = fields
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=crontab_weekdays(weekday), timezone=tz)
    return IntervalTrigger(seconds=job_cfg.every_minutes * 60, start_date=ANCHOR, timezone=tz)


def grace_seconds(job_cfg: Any) -> float:
    """How late a run may start. Interval jobs: half the interval, so a late run can never be
    mistaken for the next one; cron jobs: an hour."""
    if job_cfg.grace_minutes is not None:
        return job_cfg.grace_minutes * 60
    if job_cfg.every_minutes:
        return max(1.0, job_cfg.every_minutes * 30)
    return CRON_GRACE_SECONDS


def configured_jobs(cfg: Any) -> list[ScheduledJob]:
    """The enabled jobs of `cfg.schedules` that have a registered function."""
    out = []
    for name, fn in registered_jobs().items():
        job_cfg = getattr(cfg.schedules, name, None)
        if job_cfg is None or not job_cfg.enabled:
            continue
        out.append(ScheduledJob(name, fn, trigger_for(job_cfg, cfg.app.timezone), grace_seconds(job_cfg)))
    return out


def last_fire_time(trigger: BaseTrigger, now: datetime, grace: float) -> datetime | None:
    """The latest fire time in [now - grace, now]: the run id every instance agrees on,
    whenever its own timer went off (None if the trigger had no fire time in that span)."""
    t = trigger.get_next_fire_time(None, now - timedelta(seconds=grace))
    last = None
    while t is not None and t <= now:
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return last


def run_id(name: str, scheduled: datetime) -> str:
    return f"job:{name}:{scheduled.astimezone(timezone.utc).isoformat()}"


def running_ttl(job: ScheduledJob) -> float:
    """TTL of the "run in progress" lock: about one interval (2–60 s). It is extended while
    the run lasts, so a crashed instance blocks the job for at most this long."""
    return max(2.0, min(60.0, 2 * job.grace))


class _Held:
    """Holds a KV lock for the length of a run, extending it every third of its TTL."""

    def __init__(self, lock: Any, ttl: float) -> None:
        self.lock, self.ttl = lock, ttl
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name="job-lock-keeper", daemon=True)

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            if not self.lock.extend(self.ttl):
                log.warning("a job's run lock was lost while it ran")
                return

    def __enter__(self) -> "_Held":
        self._keeper.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._keeper.join()
        self.lock.release()


def run_claimed(rt: JobContext, job: ScheduledJob, scheduled: datetime) -> dict[str, Any] | None:
    """Run `job` for this scheduled time unless another instance already claimed it.
    Returns the recorded status (with the job's own return value as "raw"), or None when
    the run belongs to another instance."""
    if not rt.kv.claim(run_id(job.name, scheduled), ttl=max(MIN_CLAIM_TTL, 2 * job.grace)):
        return None
    when = scheduled.astimezone(timezone.utc).isoformat()
    # A previous run still holding the job's lock: wait one lock TTL, so the lock of an
    # instance that died mid-run expires and this run goes ahead. A live holder keeps
    # extending it; then this run is coalesced into that one (max_instances=1 across instances).
    ttl = running_ttl(job)
    running = rt.kv.lock(f"jobrun:{job.name}", ttl=ttl)
    if not running.acquire(blocking=True, timeout=ttl * 1.5):
        log.warning("job %s run %s skipped: the previous run is still going", job.name, when)
        status = {"ok": True, "result": "skipped: previous run still going", "scheduled": when,
                  "at": rt.clock().isoformat(), "seconds": 0.0}
        _save_status(rt, job.name, status)
        return status
    with _Held(running, ttl):
        log.info("job %s run %s claimed by %s", job.name, when, instance_name())
        status, raw = _execute(rt, job)
        status["scheduled"] = when
        _save_status(rt, job.name, status)
    return {**status, "raw": raw}


def _execute(rt: JobContext, job: ScheduledJob) -> tuple[dict[str, Any], object]:
    started, result = rt.clock(), None
    try:
        result = job.fn(rt, started)
        status: dict[str, Any] = {"ok": True, "result": _short(result)}
    except Exception as err:  # noqa: BLE001 - one failing job must not kill the scheduler
        log.exception("job %s failed", job.name)
        status = {"ok": False, "error": f"{type(err).__name__}: {str(err)[:200]}"}
    seconds = round((rt.clock() - started).total_seconds(), 3)
    return {**status, "at": started.isoformat(), "seconds": seconds, "instance": instance_name()}, result


def _short(result: object) -> object:
    if result is None or isinstance(result, (bool, int, float)):
        return result
    text = json.dumps(result, ensure_ascii=False, default=str) if isinstance(result, (dict, list)) else str(result)
    return text[:200]


def _save_status(rt: JobContext, name: str, status: dict[str, Any]) -> None:
    rt.kv.set(STATUS_KEY.format(name=name), json.dumps(status, ensure_ascii=False))


def job_status(rt: JobContext, name: str) -> dict[str, Any] | None:
    """The last recorded run of `name` (from any instance), or None."""
    raw = rt.kv.get(STATUS_KEY.format(name=name))
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _tick(rt: JobContext, job: ScheduledJob, sched: BaseScheduler | None = None) -> None:
    """APScheduler's callback. It does not pass the fire time, so recover it from the
    trigger: the latest fire time at or before now (coalesced runs fire for that one)."""
    scheduled = last_fire_time(job.trigger, datetime.now(timezone.utc), job.grace)
    if scheduled is None:
        log.warning("job %s fired more than %.0f s late; run dropped", job.name, job.grace)
        return
    _follow_up(rt, job, run_claimed(rt, job, scheduled), sched)


def recheck_delay(status: dict[str, Any] | None) -> float | None:
    """A job may ask to run again soon (before its next regular time) by returning a dict
    with "recheck_in_seconds" — the heartbeat does while an incident waits out fail_for."""
    raw = (status or {}).get("raw")
    delay = raw.get("recheck_in_seconds") if isinstance(raw, dict) else None
    return float(delay) if isinstance(delay, (int, float)) and delay > 0 else None


def _follow_up(rt: JobContext, job: ScheduledJob, status: dict[str, Any] | None, sched: BaseScheduler | None) -> None:
    delay = recheck_delay(status)
    if delay is None or sched is None:
        return
    at = (datetime.now(timezone.utc) + timedelta(seconds=delay)).replace(microsecond=0)
    nxt = job.trigger.get_next_fire_time(None, datetime.now(timezone.utc))
    if nxt is not None and nxt <= at:
        return                           # the regular run comes first anyway
    sched.add_job(_recheck, "date", run_date=at, args=(rt, job, at, sched), id=f"{job.name}:recheck",
                  replace_existing=True, misfire_grace_time=max(1, int(job.grace)))


def _recheck(rt: JobContext, job: ScheduledJob, at: datetime, sched: BaseScheduler) -> None:
    # claimed under its own time; _follow_up never schedules one at or after a regular fire time
    _follow_up(rt, job, run_claimed(rt, job, at), sched)


def catch_up(rt: JobContext, job: ScheduledJob, now: datetime, sched: BaseScheduler | None = None) -> bool:
    """At start: run the latest missed fire time once, if within grace and nobody ran it."""
    scheduled = last_fire_time(job.trigger, now, job.grace)
    if scheduled is None:
        return False
    status = run_claimed(rt, job, scheduled)
    _follow_up(rt, job, status, sched)
    return status is not None


def build_scheduler(rt: JobContext) -> BackgroundScheduler:
    # coalesce: a backlog of missed fire times becomes one run; max_instances=1: a slow run
    # is never doubled inside this process; misfire_grace_time per job (see grace_seconds).
    sched = BackgroundScheduler(timezone=rt.cfg.app.timezone,
                                job_defaults={"coalesce": True, "max_instances": 1})
    now = datetime.now(timezone.utc)
    for job in configured_jobs(rt.cfg):
        sched.add_job(_tick, job.trigger, args=(rt, job, sched), id=job.name, name=job.name,
                      misfire_grace_time=max(1, int(job.grace)))
        sched.add_job(catch_up, "date", run_date=now, args=(rt, job, now, sched), id=f"{job.name}:catch-up",
                      misfire_grace_time=None)
    return sched


def run_scheduler(rt: JobContext, stop: threading.Event) -> None:
    sched = build_scheduler(rt)
    sched.start()
    names = sorted({j.id.split(":")[0] for j in sched.get_jobs()})
    log.info("scheduler %s started with jobs: %s", instance_name(), ", ".join(names) or "none")
    stop.wait()
    sched.shutdown(wait=False)


def describe_schedule(job_cfg: Any) -> str:
    return f"cron {job_cfg.cron}" if job_cfg.cron else f"every {job_cfg.every_minutes:g} min"


def job_lines(rt: JobContext, now: datetime | None = None) -> list[str]:
    """`crm-bot scheduler jobs`: each job, its schedule, next run (local) and last result."""
    now = now or datetime.now(timezone.utc)
    tz = rt.cfg.app.timezone
    lines = [f"{'job':<18} {'schedule':<22} {'next run':<17} last result"]
    for name in registered_jobs():
        job_cfg = getattr(rt.cfg.schedules, name)
        if not job_cfg.enabled:
            lines.append(f"{name:<18} {'disabled':<22} {'—':<17} —")
            continue
        nxt = trigger_for(job_cfg, tz).get_next_fire_time(None, now)
        when = local(nxt, tz).strftime("%Y-%m-%d %H:%M") if nxt else "—"
        lines.append(f"{name:<18} {describe_schedule(job_cfg):<22} {when:<17} {_last_text(rt, name, tz)}")
    return lines


def _last_text(rt: JobContext, name: str, tz: str) -> str:
    st = job_status(rt, name)
    if st is None:
        return "never run"
    at = local(datetime.fromisoformat(st["at"]), tz).strftime("%m-%d %H:%M:%S") if st.get("at") else "?"
    outcome = f"ok {st.get('result')}" if st.get("ok") else f"FAILED {st.get('error')}"
    return f"{at} ({st.get('seconds', 0)}s) {outcome}"[:120]
