"""Runs the configured jobs on APScheduler. Several instances may run this: every job run
is claimed in Redis by its scheduled time, so each run happens once across instances and
a dead instance is simply not there to claim the next one."""
from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.jobs import registered_jobs

log = logging.getLogger("crm_bot.scheduler")


def trigger_for(job_cfg, tz: str):  # noqa: ANN001, ANN201
    if job_cfg.cron:
        return CronTrigger.from_crontab(job_cfg.cron, timezone=tz)
    return IntervalTrigger(minutes=job_cfg.every_minutes, timezone=tz)


def run_claimed(rt, name: str, fn, scheduled: datetime) -> bool:  # noqa: ANN001
    """Run `fn` for this scheduled time unless another instance already claimed it."""
    key = f"job:{name}:{scheduled.astimezone(timezone.utc).isoformat()}"
    if not rt.kv.claim(key, ttl=24 * 3600):
        return False
    started = rt.clock()
    try:
        result = fn(rt, started)
        status = {"ok": True, "result": str(result)[:200] if result is not None else None}
    except Exception as err:  # noqa: BLE001 - one failing job must not kill the scheduler
        log.exception("job %s failed", name)
        status = {"ok": False, "error": f"{type(err).__name__}: {str(err)[:200]}"}
    status.update(at=started.isoformat(), seconds=round((rt.clock() - started).total_seconds(), 3))
    rt.kv.set(f"jobstatus:{name}", json.dumps(status, ensure_ascii=False))
    return True


def build_scheduler(rt) -> BackgroundScheduler:  # noqa: ANN001
    tz = rt.cfg.app.timezone
    sched = BackgroundScheduler(timezone=tz, job_defaults={"coalesce": True, "max_instances": 1,
                                                           "misfire_grace_time": 300})
    for name, fn in registered_jobs().items():
        job_cfg = getattr(rt.cfg.schedules, name, None)
        if job_cfg is None or not job_cfg.enabled:
            continue
        trig = trigger_for(job_cfg, tz)
        sched.add_job(_tick, trig, args=(rt, name, fn, trig), id=name, name=name)
    return sched


def _tick(rt, name: str, fn, trig) -> None:  # noqa: ANN001
    # APScheduler fires at the scheduled time; use it (floored to the second) as the run id.
    scheduled = datetime.now(timezone.utc).replace(microsecond=0)
    job = getattr(trig, "interval", None)
    if job is not None:   # interval: bucket by interval so instances agree on the run id
        step = int(job.total_seconds())
        scheduled = datetime.fromtimestamp(int(scheduled.timestamp()) // step * step, timezone.utc)
    else:
        scheduled = scheduled.replace(second=0)
    run_claimed(rt, name, fn, scheduled)


def run_scheduler(rt, stop: threading.Event) -> None:  # noqa: ANN001
    sched = build_scheduler(rt)
    sched.start()
    log.info("scheduler started with jobs: %s", ", ".join(j.id for j in sched.get_jobs()) or "none")
    stop.wait()
    sched.shutdown(wait=False)
