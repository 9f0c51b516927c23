"""The stage timeout fuse. When a lead sits in a stage past its timeout with no update, one
scan sends (1) a reminder to the rep and (2) a card to the team supervisor, in the same tick;
(3) if still untouched 24 h later (on the stage's clock), a diagnosis card. Each step happens
once per idle spell (Reminder.dedupe_key); any update resets the fuse and cancels the rest."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Contact, Lead
from crm_core.notices import FuseDiagnosis, FuseNotice, FuseReminder, FuseSupervisor, Items, Notice
from crm_core.services.assign import supervisor_platform, supervisors_for
from crm_core.services.followup import muted_pairs
from crm_core.services.funnel_report import median_hours_in_stage, rep_stage_conversion
from crm_core.services.reminders import claim_notices
from crm_core.worktime import clock_for, stage_clock

DIAGNOSIS_AFTER_HOURS = 24
SUPERVISOR, DIAGNOSED = 2, 3
SCAN_LIMIT = 5000          # per tick; the rest waits for the next tick, oldest first


def fuse_key(lead: Lead, level: int) -> str:
    """One key per lead, stage entry, idle spell (its deadline) and step."""
    return (f"fuse:{lead.id}:{lead.stage_entered_at:%Y%m%dT%H%M%S}:"
            f"{lead.fuse_deadline:%Y%m%dT%H%M%S}:{level}")


def _deadline(lead: Lead) -> datetime:
    """The fuse deadline of a lead the scan picked (it selects only leads that have one)."""
    if lead.fuse_deadline is None:
        raise ValueError(f"lead #{lead.id} has no fuse deadline")
    return lead.fuse_deadline


@dataclass
class _Stats:
    """Team medians and rep conversions, computed once per scan."""
    medians: dict[tuple[str | None, str], float | None] = field(default_factory=dict)     # (team, stage)
    conversions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)     # (rep, stage)


def _due_condition(cfg: AppConfig, now: datetime) -> ColumnElement[bool]:
    """Level 0/1 leads are due at their deadline; level-2 leads once the diagnosis delay has
    passed on their stage's clock (so waiting leads are not fetched on every tick)."""
    waiting = []
    for kind in ("calendar", "working"):
        stages = [s.key for s in cfg.funnel.stages if s.clock == kind]
        if stages:
            cut = clock_for(cfg, kind).add_hours(now, -DIAGNOSIS_AFTER_HOURS)
            waiting.append(and_(Lead.stage.in_(stages), Lead.fuse_deadline <= cut))
    return or_(Lead.fuse_level < SUPERVISOR, and_(Lead.fuse_level == SUPERVISOR, or_(*waiting)))


def overdue_leads(session: Session, cfg: AppConfig, now: datetime, limit: int = SCAN_LIMIT) -> list[Lead]:
    """One query on the (status, fuse_deadline) index: open leads whose next fuse step is due.
    Rows are locked (SKIP LOCKED on PostgreSQL) so two schedulers never take the same lead."""
    q = (select(Lead).where(Lead.status == "open", Lead.fuse_deadline <= now,
                            Lead.fuse_level < DIAGNOSED, _due_condition(cfg, now))
         .order_by(Lead.fuse_deadline).limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(q))


def scan_fuses(session: Session, cfg: AppConfig, now: datetime, limit: int = SCAN_LIMIT) -> list[Notice]:
    """Advance every due fuse by one step and return the notices to send."""
    leads = overdue_leads(session, cfg, now, limit)
    muted = muted_pairs(session, {(ld.owner_rep_id, ld.customer_id) for ld in leads if ld.owner_rep_id})
    planned: list[Notice] = []
    stats = _Stats()
    for lead in leads:
        if lead.fuse_level < SUPERVISOR:
            planned += _blow(cfg, lead, now, (lead.owner_rep_id, lead.customer_id) in muted)
        elif now >= stage_clock(cfg, lead.stage).add_hours(_deadline(lead), DIAGNOSIS_AFTER_HOURS):
            planned += _diagnose(session, cfg, lead, now, stats)
        else:
            continue
        audit.record(session, "system", "lead.fuse", target_type="lead", target_id=lead.id, now=now,
                     detail={"level": lead.fuse_level, "stage": lead.stage, "owner": lead.owner_rep_id})
    return claim_notices(session, with_contacts(session, leads, planned), now)


def with_contacts(session: Session, leads: list[Lead], planned: list[Notice]) -> list[Notice]:
    """Each fuse notice with the lead's contact and phone (one query), so the owner can call from
    the card; the renderer shows the phone as the policy lets the recipient see it."""
    ids = {ld.contact_id for ld in leads if ld.contact_id}
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))} if ids else {}
    by_lead = {ld.id: contacts.get(ld.contact_id) for ld in leads if ld.contact_id}
    out: list[Notice] = []
    for n in planned:
        c = by_lead.get(n.lead_id) if isinstance(n, FuseNotice) else None
        out.append(replace(n, contact_name=c.name, phone=c.phone) if isinstance(n, FuseNotice) and c else n)
    return out


def _facts(cfg: AppConfig, lead: Lead, now: datetime) -> dict[str, Any]:
    """The FuseNotice fields every fuse notice carries."""
    stage = cfg.funnel.stage(lead.stage)
    clock, deadline = stage_clock(cfg, stage), _deadline(lead)
    return {"lead_id": lead.id, "customer_id": lead.customer_id, "title": lead.title, "stage": lead.stage,
            "stage_name": stage.name if stage else lead.stage, "owner": lead.owner_rep_id, "deadline": deadline.isoformat(),
            "hours_overdue": round(clock.hours_between(deadline, now), 1), "clock": clock.kind,
            "last_activity_at": lead.last_activity_at.isoformat(),
            "idle_hours": round((now - lead.last_activity_at).total_seconds() / 3600, 1)}


def _blow(cfg: AppConfig, lead: Lead, now: datetime, muted: bool) -> list[Notice]:
    """Timeout passed: reminder to the rep (unless muted or unowned) and a supervisor card."""
    facts = _facts(cfg, lead, now)
    out: list[Notice] = []
    if lead.fuse_level < 1 and lead.owner_rep_id and not muted:
        out.append(FuseReminder(to_rep=lead.owner_rep_id, dedupe_key=fuse_key(lead, 1), **facts))
    platform = supervisor_platform(cfg, lead)
    out += [FuseSupervisor(to_rep=sup, platform=platform, dedupe_key=f"{fuse_key(lead, SUPERVISOR)}:{sup}", **facts)
            for sup in supervisors_for(cfg, lead)]
    lead.fuse_level = SUPERVISOR
    return out


def _recent(session: Session, lead: Lead, n: int = 5) -> Items:
    rows = session.scalars(select(Activity).where(Activity.lead_id == lead.id)
                           .order_by(Activity.created_at.desc(), Activity.id.desc()).limit(n))
    return [{"kind": a.kind, "text": (a.text or a.transcript or "")[:80], "actor": a.actor,
             "at": a.created_at.isoformat()} for a in rows]


def _diagnose(session: Session, cfg: AppConfig, lead: Lead, now: datetime, stats: _Stats) -> list[Notice]:
    """Still untouched a day later: the supervisor gets the context to decide."""
    facts = _facts(cfg, lead, now)
    team_stage = (lead.team_id, lead.stage)
    if team_stage not in stats.medians:
        stats.medians[team_stage] = median_hours_in_stage(session, lead.team_id, lead.stage, now)
    median = stats.medians[team_stage]
    conversion = None
    if lead.owner_rep_id:
        rep_stage = (lead.owner_rep_id, lead.stage)
        if rep_stage not in stats.conversions:
            stats.conversions[rep_stage] = rep_stage_conversion(session, cfg, lead.owner_rep_id, lead.stage,
                                                                now).as_dict()
        conversion = stats.conversions[rep_stage]
    recent, platform = _recent(session, lead), supervisor_platform(cfg, lead)
    lead.fuse_level = DIAGNOSED
    return [FuseDiagnosis(to_rep=sup, recent_activities=recent, team_median_hours=median, rep_conversion_30d=conversion,
                          platform=platform, dedupe_key=f"{fuse_key(lead, DIAGNOSED)}:{sup}", **facts)
            for sup in supervisors_for(cfg, lead)]


def postpone_fuse(session: Session, cfg: AppConfig, lead: Lead, actor: str, platform: str | None,
                  now: datetime, days: float = 1) -> datetime:
    """延期1天: the fuse blows again `days` from now (or from its deadline if still ahead)."""
    base = max(now, lead.fuse_deadline) if lead.fuse_deadline else now
    lead.fuse_deadline, lead.fuse_level = base + timedelta(days=days), 0
    session.add(Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="postpone", actor=actor,
                         platform=platform, created_at=now, text=f"跟进提醒延期 {days:g} 天",
                         data={"until": lead.fuse_deadline.isoformat()}))
    audit.record(session, actor, "lead.postpone", platform=platform, target_type="lead", target_id=lead.id,
                 detail={"until": lead.fuse_deadline.isoformat()}, now=now)
    return lead.fuse_deadline
