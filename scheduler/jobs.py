"""The job table: config name (under `schedules:`) → a module-level function (rt, now).
Jobs enter at the service layer in one unit of work and leave through `rt.deliver` after
it commits, so a failed transaction sends nothing. Each returns a small summary that the
runner stores as the job's last result (`crm-bot scheduler jobs`); a dict with
"recheck_in_seconds" asks the runner for one early extra run (the heartbeat does)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from crm_core.services.checkin import morning_checkins
from crm_core.services.approval_versions import sync_flows
from crm_core.services.approvals import scan_timeouts
from crm_core.services.coaching import scan_coaching
from crm_core.services.clv_attribution import run_attribution
from crm_core.services.clv_dashboard import dashboard_notices
from crm_core.services.clv_value import compute_snapshots
from crm_core.services.digest import rep_digests, supervisor_digests
from crm_core.services.first_contact import scan_first_contact
from crm_core.services.followup import scan_followups
from crm_core.services.fuse import scan_fuses
from crm_core.services.health_facts import changed_customers
from crm_core.services.health_score import recompute
from crm_core.services.merge_report import merge_report_notices, previous_month
from crm_core.services.pool import scan_pool
from crm_core.services.reminders import claim_notices
from crm_core.services.routing import check_slow_first_contact
from scheduler.context import JobContext
from scheduler.heartbeat import run_heartbeat

JobFn = Callable[[JobContext, datetime], object]


def heartbeat(rt: JobContext, now: datetime) -> dict[str, Any]:
    """Channel checks, incidents and alerts (scheduler/heartbeat.py)."""
    return run_heartbeat(rt, now)


def fuse_scan(rt: JobContext, now: datetime) -> dict[str, int]:
    with rt.db.uow() as s:
        notices = scan_fuses(s, rt.cfg, now)
    return {"notices": len(notices), "sent": rt.deliver(notices)}


def health_scores(rt: JobContext, now: datetime) -> dict[str, int]:
    """Recompute every active customer's health score; red/drop notices go out."""
    with rt.db.uow() as s:
        notices = recompute(s, rt.cfg, now)
    return {"notices": len(notices), "sent": rt.deliver(notices)}


REFRESH_KEY = "health:refresh:last"


def health_refresh(rt: JobContext, now: datetime) -> dict[str, int]:
    """Between the nightly runs: rescore customers with a new activity or task since the last
    refresh, so a customer turning red is noticed within minutes of what caused it."""
    last = rt.kv.get(REFRESH_KEY)
    since = datetime.fromisoformat(last) if last else now - timedelta(days=1)
    with rt.db.uow() as s:
        ids = changed_customers(s, since, now)
        notices = recompute(s, rt.cfg, now, ids) if ids else []
    rt.kv.set(REFRESH_KEY, now.isoformat(), ttl=7 * 86400)
    return {"customers": len(ids), "sent": rt.deliver(notices)}


def rep_digest(rt: JobContext, now: datetime) -> dict[str, int]:
    with rt.db.uow() as s:
        notices = claim_notices(s, rep_digests(s, rt.cfg, now), now)
    return {"digests": len(notices), "sent": rt.deliver(notices)}


def supervisor_digest(rt: JobContext, now: datetime) -> dict[str, int]:
    with rt.db.uow() as s:
        notices = claim_notices(s, supervisor_digests(s, rt.cfg, now), now)
    return {"digests": len(notices), "sent": rt.deliver(notices)}


def merge_report(rt: JobContext, now: datetime) -> dict[str, object]:
    """Monthly duplicate-merge report (scheduled on the 1st) for the month just ended."""
    month = previous_month(now, rt.cfg.app.timezone)
    with rt.db.uow() as s:     # claimed in the database: a catch-up run after a restart sends nothing twice
        notices = claim_notices(s, merge_report_notices(s, rt.cfg, month), now)
    return {"month": month, "sent": rt.deliver(notices)}


def _scan_and_deliver(rt: JobContext, now: datetime, scan: Callable[..., list]) -> dict[str, int]:
    with rt.db.uow() as s:
        notices = scan(s, now)
    return {"notices": len(notices), "sent": rt.deliver(notices)}


def followup_scan(rt: JobContext, now: datetime) -> dict[str, int]:
    """Assigned leads without a follow-up for 48 h → their supervisor, once per idle spell."""
    return _scan_and_deliver(rt, now, lambda s, t: scan_followups(s, rt.cfg, t))


def pool_scan(rt: JobContext, now: datetime) -> dict[str, int]:
    """Public-pool rules: warn owners K days ahead, return leads that are due."""
    return _scan_and_deliver(rt, now, lambda s, t: scan_pool(s, rt.cfg, t))


def routing_check(rt: JobContext, now: datetime) -> dict[str, int]:
    """Reps letting assigned leads wait too long for first contact leave today's priority rotation."""
    return _scan_and_deliver(rt, now, lambda s, t: check_slow_first_contact(s, rt.cfg, rt.kv, t))


def first_contact_scan(rt: JobContext, now: datetime) -> dict[str, int]:
    """New leads past the first-contact SLA: the owner reminded, later the supervisor (once each)."""
    return _scan_and_deliver(rt, now, lambda s, t: scan_first_contact(s, rt.cfg, t))


def outbox_sweep(rt: JobContext, now: datetime) -> dict[str, int]:
    """Outbound messages with no progress for `stall_minutes` lost their queue message (Redis
    failed after the insert, or restarted empty): back on the queue. One still queued is
    harmless: whichever copy runs first sends, the other finds it sent."""
    stall = rt.cfg.schedules.outbox_sweep.stall_minutes
    return {"requeued": rt.outbox.requeue_stalled(now - timedelta(minutes=stall))}


def morning_checkin(rt: JobContext, now: datetime) -> dict[str, int]:
    """晨会打卡: on a working day, each active rep with open leads gets today's card (once a day)."""
    with rt.db.uow() as s:
        notices = morning_checkins(s, rt.cfg, now)
    return {"cards": len(notices), "sent": rt.deliver(notices)}


def approval_timeouts(rt: JobContext, now: datetime) -> dict[str, int]:
    """Approvals: flow versions synced with the config (people with running approvals told of
    a change), approvers reminded, then escalated to their supervisor after the timeout."""
    with rt.db.uow() as s:
        notices = sync_flows(s, rt.cfg, now)
    with rt.db.uow() as s:
        notices += scan_timeouts(s, rt.cfg, now)
    return {"notices": len(notices), "sent": rt.deliver(notices)}


def clv_nightly(rt: JobContext, now: datetime) -> dict[str, Any]:
    """Attribution of every order (all models, crm_core/services/clv_attribution.py), then each
    customer's CLV snapshot for today (crm_core/services/clv_value.py)."""
    run = run_attribution(rt.db, rt.cfg.clv, rt.cfg.app.timezone, now)
    with rt.db.uow() as s:
        snap = compute_snapshots(s, rt.cfg.clv, rt.cfg.app.timezone, now)
    return {"orders": run.orders, "unattributed": run.unattributed, "seconds": round(run.seconds, 1),
            "customers": snap.customers}


def clv_dashboard(rt: JobContext, now: datetime) -> dict[str, object]:
    """The monthly CLV dashboard (the 5th by default) for the month just ended, once per recipient."""
    month = previous_month(now, rt.cfg.app.timezone)
    with rt.db.uow() as s:
        notices = claim_notices(s, dashboard_notices(s, rt.cfg, month, now), now)
    return {"month": month, "sent": rt.deliver(notices)}


def coaching_scan(rt: JobContext, now: datetime) -> dict[str, int]:
    """Monday: reps whose stage penetration stayed low for weeks running, and their supervisors,
    get the coaching card (once per spell; crm_core/services/coaching.py)."""
    with rt.db.uow() as s:
        notices = scan_coaching(s, rt.cfg, now)
    return {"notices": len(notices), "sent": rt.deliver(notices)}


def registered_jobs() -> dict[str, JobFn]:
    """Config name → job function (every name here is a field of `Schedules`)."""
    return {"heartbeat": heartbeat, "fuse_scan": fuse_scan, "health_scores": health_scores,
            "health_refresh": health_refresh, "rep_digest": rep_digest,
            "supervisor_digest": supervisor_digest, "merge_report": merge_report,
            "followup_scan": followup_scan, "pool_scan": pool_scan, "routing_check": routing_check,
            "first_contact_scan": first_contact_scan,
            "clv_nightly": clv_nightly, "clv_dashboard": clv_dashboard,
            "morning_checkin": morning_checkin,
            "outbox_sweep": outbox_sweep, "approval_timeouts": approval_timeouts,
            "coaching_scan": coaching_scan}
