"""The first-contact SLA (`assignment.first_contact_sla_hours`): a lead assigned to a rep and not
contacted by the deadline reminds its owner; `first_contact_escalate_hours` later, still not
contacted, the team's supervisor is told. Hours count on `assignment.first_contact_clock`
(calendar, or the working-time calendar). Each step goes out once per assignment (a `reminders`
row keyed by the lead and its assignment time): a new owner gets a fresh SLA, and repeated
scans or two schedulers send nothing twice. A follow-up (「跟进 #12 …」) sets the first contact."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.config.schema import AppConfig
from crm_core.db.models import Lead
from crm_core.notices import FirstContactEscalation, FirstContactReminder, Notice
from crm_core.services.assign import supervisors_for
from crm_core.services.reminders import once
from crm_core.services.routing import assigned_at
from crm_core.worktime import TimerClock, clock_for


def first_contact_due(cfg: AppConfig, lead: Lead, clock: TimerClock | None = None) -> datetime:
    """When the lead's owner should have contacted it: the SLA after its assignment."""
    clock = clock or clock_for(cfg, cfg.assignment.first_contact_clock)
    return clock.add_hours(assigned_at(lead), cfg.assignment.first_contact_sla_hours)


def _candidates(session: Session, cfg: AppConfig, now: datetime, limit: int) -> list[Lead]:
    """Open owned leads never contacted whose SLA may have passed. Working hours run no faster
    than calendar hours, so `created_at <= now - SLA` (created before assigned) keeps them all."""
    cut = now - timedelta(hours=cfg.assignment.first_contact_sla_hours)
    return list(session.scalars(select(Lead).where(
        Lead.status == "open", Lead.owner_rep_id.is_not(None), Lead.first_contact_at.is_(None),
        Lead.created_at <= cut).order_by(Lead.created_at).limit(limit)))


def scan_first_contact(session: Session, cfg: AppConfig, now: datetime, limit: int = 2000) -> list[Notice]:
    """Reminders to owners past the SLA and escalations to supervisors past the SLA plus
    `first_contact_escalate_hours`, each once per assignment."""
    a = cfg.assignment
    clock = clock_for(cfg, a.first_contact_clock)
    notices: list[Notice] = []
    for lead in _candidates(session, cfg, now, limit):
        owner = lead.owner_rep_id
        if owner is None:                      # the query selects owned leads
            continue
        given = assigned_at(lead)
        due = clock.add_hours(given, a.first_contact_sla_hours)
        if now < due:
            continue
        stamp = f"first-contact:{lead.id}:{given:%Y%m%dT%H%M%S}"
        rep = cfg.org.rep(owner)
        if rep is not None and rep.availability == "active":     # on leave or gone: only the supervisor can act
            key = f"{stamp}:owner"
            if once(session, key, FirstContactReminder.kind, lead, owner, now):
                notices.append(FirstContactReminder(
                    to_rep=owner, lead_id=lead.id, customer_id=lead.customer_id, title=lead.title,
                    assigned_at=given.isoformat(), due=due.isoformat(), sla_hours=a.first_contact_sla_hours,
                    clock=a.first_contact_clock, dedupe_key=key))
        if now < clock.add_hours(due, a.first_contact_escalate_hours):
            continue
        overdue = round(clock.hours_between(due, now), 1)
        for sup in supervisors_for(cfg, lead):
            key = f"{stamp}:supervisor:{sup}"
            if once(session, key, FirstContactEscalation.kind, lead, sup, now):
                notices.append(FirstContactEscalation(
                    to_rep=sup, lead_id=lead.id, customer_id=lead.customer_id, title=lead.title, owner=owner,
                    assigned_at=given.isoformat(), due=due.isoformat(), sla_hours=a.first_contact_sla_hours,
                    hours_overdue=overdue, clock=a.first_contact_clock, dedupe_key=key))
    return notices
