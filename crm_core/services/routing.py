"""Smart routing: a rep who lets `slow_first_contact_count` (3) leads pass
`slow_first_contact_hours` (2 h) without first contact today leaves the priority rotation
until local midnight and the supervisor is told; plus the per-lead first-contact SLA."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.assignment.pick import is_paused, pause_for_today
from crm_core.config.schema import AppConfig
from crm_core.db.models import Assignment, Lead
from crm_core.kv.base import KV
from crm_core.notices import Notice, RoutingPaused
from crm_core.services.reminders import once
from crm_core.worktime import next_local_midnight


def _day_start(now: datetime, tz: str) -> datetime:
    zone = ZoneInfo(tz)
    return datetime.combine(now.astimezone(zone).date(), time(0), zone).astimezone(now.tzinfo)


def slow_counts(session: Session, cfg: AppConfig, now: datetime) -> dict[str, int]:
    """Per rep: open leads, still without first contact, whose grace period ran out today."""
    grace = timedelta(hours=cfg.assignment.slow_first_contact_hours)
    earliest = _day_start(now, cfg.app.timezone) - grace
    latest = (select(Assignment.lead_id, func.max(Assignment.created_at).label("at"))
              .where(Assignment.created_at > earliest).group_by(Assignment.lead_id).subquery())
    rows = session.execute(
        select(Lead.owner_rep_id, func.count()).join(latest, latest.c.lead_id == Lead.id)
        .where(Lead.status == "open", Lead.owner_rep_id.is_not(None), Lead.first_contact_at.is_(None),
               latest.c.at <= now - grace).group_by(Lead.owner_rep_id)).all()
    return {rep: n for rep, n in rows if rep is not None}     # the query selects owned leads only


def _supervisors_of_rep(cfg: AppConfig, rep_id: str) -> list[tuple[str, str | None]]:
    found = [(t.supervisor, t.supervisor_platform) for t in cfg.org.teams_of(rep_id)]
    return found or [(r.id, None) for r in cfg.org.reps if "admin" in r.roles]


def check_slow_first_contact(session: Session, cfg: AppConfig, kv: KV, now: datetime) -> list[Notice]:
    """Take slow reps out of the priority rotation for the rest of the day (once a day)."""
    tz, limit = cfg.app.timezone, cfg.assignment.slow_first_contact_count
    day = now.astimezone(ZoneInfo(tz)).date().isoformat()
    notices: list[Notice] = []
    for rep_id, n in sorted(slow_counts(session, cfg, now).items()):
        if n < limit or is_paused(kv, rep_id, now, tz):
            continue
        pause_for_today(kv, rep_id, now, tz)
        rep = cfg.org.rep(rep_id)
        until = next_local_midnight(now, tz).isoformat()
        for sup, platform in _supervisors_of_rep(cfg, rep_id):
            key = f"routing:paused:{rep_id}:{day}:{sup}"
            if once(session, key, RoutingPaused.kind, None, sup, now):
                notices.append(RoutingPaused(to_rep=sup, rep=rep_id, rep_name=rep.name if rep else rep_id, count=n,
                                             hours=cfg.assignment.slow_first_contact_hours, until=until,
                                             platform=platform, dedupe_key=key))
    return notices


def assigned_at(lead: Lead) -> datetime:
    raw = (lead.details or {}).get("assigned_at")
    return datetime.fromisoformat(raw) if raw else lead.created_at


def first_contact_sla(cfg: AppConfig, lead: Lead, now: datetime) -> dict[str, Any]:
    """Per-lead first-contact SLA: met / pending / breached (none when unassigned)."""
    if lead.owner_rep_id is None and lead.first_contact_at is None:
        return {"state": "none"}
    due = assigned_at(lead) + timedelta(hours=cfg.assignment.first_contact_sla_hours)
    if lead.first_contact_at is not None:
        return {"state": "met" if lead.first_contact_at <= due else "late", "due": due.isoformat(),
                "contacted_at": lead.first_contact_at.isoformat()}
    hours_left = round((due - now).total_seconds() / 3600, 1)
    return {"state": "breached" if hours_left < 0 else "pending", "due": due.isoformat(), "hours_left": hours_left}


def sla_breaches(session: Session, cfg: AppConfig, now: datetime, limit: int = 500) -> list[Lead]:
    """Open owned leads past the first-contact SLA without any contact, oldest first."""
    sla = timedelta(hours=cfg.assignment.first_contact_sla_hours)
    # created_at <= assigned_at, so this prefilter keeps every breached lead.
    rows = session.scalars(select(Lead).where(
        Lead.status == "open", Lead.owner_rep_id.is_not(None), Lead.first_contact_at.is_(None),
        Lead.created_at <= now - sla).order_by(Lead.created_at).limit(limit))
    return [ld for ld in rows if assigned_at(ld) + sla <= now]
