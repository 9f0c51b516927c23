"""Assigning a lead: route by rules, pick a rep, store the Assignment with its reason, or
leave the lead in the team's public pool (公海) and tell the supervisor. Also reassigning
(转派; who may do it is crm_core/authz.py's to decide). Services return Notices; handlers render
and send them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.assignment.pick import pick_rep, skip_reason
from crm_core.assignment.rules import STRATEGY_LABELS, LeadFacts, route
from crm_core.config.schema import AppConfig, Rep, Team
from crm_core.db.models import Activity, Assignment, Contact, Customer, Lead, Task
from crm_core.kv.base import KV
from crm_core.notices import LeadAssigned, LeadPooled, Notice
from crm_core.services.stages import reset_fuse


class AssignError(ValueError):
    """A reassignment that cannot happen; the message is for the person who asked."""


def team_of(cfg: AppConfig, lead: Lead) -> Team | None:
    """The lead's team, else the owner's first team."""
    team = cfg.org.team(lead.team_id) if lead.team_id else None
    if team is None and lead.owner_rep_id:
        teams = cfg.org.teams_of(lead.owner_rep_id)
        team = teams[0] if teams else None
    return team


def supervisors_for(cfg: AppConfig, lead: Lead) -> list[str]:
    """Who hears about this lead: its team's supervisor, else every admin."""
    team = team_of(cfg, lead)
    if team is not None and cfg.org.rep(team.supervisor) is not None:
        return [team.supervisor]
    return [r.id for r in cfg.org.reps if "admin" in r.roles]


def supervisor_platform(cfg: AppConfig, lead: Lead) -> str | None:
    team = team_of(cfg, lead)
    return team.supervisor_platform if team is not None else None


def record_assignment(session: Session, lead: Lead, rep_id: str | None, team_id: str | None, reason: str,
            actor: str, now: datetime) -> Assignment:
    row = Assignment(lead_id=lead.id, rep_id=rep_id, team_id=team_id, reason=reason[:300],
                     assigned_by=actor, created_at=now)
    session.add(row)
    session.add(Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="assigned", actor=actor,
                         text=reason[:2000], created_at=now, data={"rep": rep_id, "team": team_id}))
    audit.record(session, actor, "lead.assign", target_type="lead", target_id=lead.id,
                 detail={"rep": rep_id, "team": team_id, "reason": reason}, now=now)
    session.flush()
    return row


def give_lead(session: Session, lead: Lead, rep: Rep, team_id: str | None, reason: str,
              actor: str, now: datetime) -> tuple[Assignment, LeadAssigned]:
    """Make `rep` the owner: lead, customer (when unowned or owned by the old owner), open tasks."""
    previous = lead.owner_rep_id
    lead.owner_rep_id, lead.team_id, lead.status = rep.id, team_id, "open"
    lead.details = {**(lead.details or {}), "assigned_at": now.isoformat()}
    customer = session.get(Customer, lead.customer_id)
    if customer is not None and customer.owner_rep_id in (None, previous):
        customer.owner_rep_id = rep.id
    for task in session.scalars(select(Task).where(Task.lead_id == lead.id, Task.status == "open")):
        if task.owner_rep_id in (None, previous):
            task.owner_rep_id = rep.id
    row = record_assignment(session, lead, rep.id, team_id, reason, actor, now)
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    # the card is for the new owner, who may call the customer: the renderer asks the policy
    notice = LeadAssigned(to_rep=rep.id, lead_id=lead.id, customer_id=lead.customer_id, title=lead.title,
                          reason=reason, team=team_id, previous_owner=previous, dedupe_key=f"assign:{lead.id}:{row.id}",
                          contact_name=contact.name if contact else None, phone=contact.phone if contact else None)
    return row, notice


def leave_in_pool(session: Session, cfg: AppConfig, lead: Lead, team: Team | None, reason: str,
                  actor: str, now: datetime, skipped: list[tuple[str, str]] | None = None,
                  ) -> tuple[Assignment, list[Notice]]:
    """Nobody can take it: owner None, team kept (the team's 公海), supervisor told."""
    lead.owner_rep_id, lead.team_id = None, team.id if team else None
    row = record_assignment(session, lead, None, lead.team_id, reason, actor, now)
    notices: list[Notice] = [
        LeadPooled(to_rep=sup, lead_id=lead.id, customer_id=lead.customer_id, title=lead.title, reason=reason,
                   team=lead.team_id, team_name=team.name if team else None, skipped=tuple(skipped or ()),
                   platform=team.supervisor_platform if team else None, dedupe_key=f"pool:{lead.id}:{row.id}:{sup}")
        for sup in supervisors_for(cfg, lead)]
    return row, notices


def assign_lead(session: Session, cfg: AppConfig, kv: KV, lead: Lead, now: datetime,
                actor: str) -> tuple[Assignment, list[Notice]]:
    """Route `lead` by the rules and give it to a rep, or to the team's 公海."""
    facts = LeadFacts.of(lead, session.get(Customer, lead.customer_id))
    r = route(cfg, facts)
    team = cfg.org.team(r.team_id) if r.team_id else None
    if team is None:
        return leave_in_pool(session, cfg, lead, None, f"{r.label()} → 公海", actor, now)
    pick = pick_rep(session, cfg, kv, team, r.strategy, now)
    if pick.rep is None:
        reason = f"{r.label()} → {team.name} 无可分配人员 → 公海"
        return leave_in_pool(session, cfg, lead, team, reason, actor, now, pick.skipped)
    reason = f"{r.label()} → {STRATEGY_LABELS[r.strategy]} → {pick.rep.name}"
    if pick.from_paused:
        reason += "(其他成员均不可用)"
    row, notice = give_lead(session, lead, pick.rep, team.id, reason, actor, now)
    return row, [notice]


def reassign(session: Session, cfg: AppConfig, lead: Lead, to_rep: str, actor: str,
             now: datetime) -> tuple[Assignment, list[Notice]]:
    """转派: hand the lead to `to_rep` (checked for availability); the fuse starts afresh."""
    rep = cfg.org.rep(to_rep)
    if rep is None or rep.availability != "active":
        # a supervisor may hand a lead to any active rep, even one outside the rotation
        raise AssignError(f"无法转派给 {rep.name if rep else to_rep}:{skip_reason(rep)}")
    if lead.status not in ("open", "pool"):
        raise AssignError("线索已关闭,不能转派")
    if lead.owner_rep_id == rep.id:
        raise AssignError(f"线索已由 {rep.name} 负责")
    team = cfg.org.team(lead.team_id) if lead.team_id else None
    if team is None or rep.id not in team.members:
        teams = cfg.org.teams_of(rep.id)
        team = teams[0] if teams else team
    who = cfg.org.rep(actor)
    old = cfg.org.rep(lead.owner_rep_id) if lead.owner_rep_id else None
    reason = f"转派({who.name if who else actor}):{old.name if old else '公海'} → {rep.name}"
    row, notice = give_lead(session, lead, rep, team.id if team else None, reason, actor, now)
    reset_fuse(cfg, lead, now)
    return row, [notice]
