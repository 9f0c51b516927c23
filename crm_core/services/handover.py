"""Handover when a rep leaves: list the rep's open leads by importance (budget, then stage, then
recency) and move them to another rep or back to the pool with a note; every customer of the
rep moves too (won ones included: the customer, its closed leads' ownership and its open to-dos),
so nothing stays with someone who left. The receiver gets one summary notice listing the
customers, with a button to confirm they took them over, instead of one card per lead."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig, Rep
from crm_core.db.models import Activity, Customer, Lead, Task
from crm_core.notices import HandoverSummary, Notice
from crm_core.services.assign import AssignError, give_lead, supervisors_for
from crm_core.services.pool import return_to_pool
from crm_core.services.stages import reset_fuse

SUMMARY_ITEMS = 20     # the summary card lists the most important ones; the rest is a count


def _stage_rank(cfg: AppConfig | None, stage: str) -> int:
    keys = [s.key for s in cfg.funnel.stages] if cfg else []
    return keys.index(stage) if stage in keys else -1


def plan_handover(session: Session, rep_id: str, cfg: AppConfig | None = None) -> list[Lead]:
    """The rep's open leads, most important first: bigger budget, later stage, more recent."""
    leads = list(session.scalars(select(Lead).where(Lead.owner_rep_id == rep_id, Lead.status == "open")))
    leads.sort(key=lambda ld: (ld.budget_cny or 0, _stage_rank(cfg, ld.stage), ld.last_activity_at), reverse=True)
    return leads


def plan_customers(session: Session, rep_id: str) -> list[Customer]:
    """Every active customer of the rep (owned, or with an open lead of theirs; won ones too),
    biggest open budget first, then the most recently updated."""
    open_leads = select(Lead.customer_id).where(Lead.owner_rep_id == rep_id, Lead.status == "open")
    customers = list(session.scalars(select(Customer).where(
        Customer.status == "active", (Customer.owner_rep_id == rep_id) | Customer.id.in_(open_leads))))
    budgets: dict[int, int] = {}
    won: dict[int, int] = {}
    ids = [c.id for c in customers]
    if ids:
        for cid, status, budget in session.execute(select(Lead.customer_id, Lead.status, Lead.budget_cny)
                                                   .where(Lead.customer_id.in_(ids))):
            if status == "open":
                budgets[cid] = budgets.get(cid, 0) + (budget or 0)
            won[cid] = won.get(cid, 0) + (status == "won")
    customers.sort(key=lambda c: (budgets.get(c.id, 0), won.get(c.id, 0), c.updated_at), reverse=True)
    return customers


def _customer_brief(session: Session, customer: Customer, rep_id: str) -> dict[str, Any]:
    statuses = list(session.scalars(select(Lead.status).where(Lead.customer_id == customer.id)))
    budget = sum(b or 0 for b in session.scalars(select(Lead.budget_cny).where(
        Lead.customer_id == customer.id, Lead.status == "open")))
    return {"id": customer.id, "name": customer.name, "open": statuses.count("open"), "won": statuses.count("won"),
            "budget_cny": budget}


def _move_customer(session: Session, customer: Customer, from_rep: str, to_rep: str | None, text: str,
                   actor: str, now: datetime) -> None:
    """The customer and what of it the leaving rep still holds: its closed leads (history stays
    with the customer's new owner, not reopened) and its open to-dos."""
    if customer.owner_rep_id == from_rep:
        customer.owner_rep_id = to_rep
    for lead in session.scalars(select(Lead).where(Lead.customer_id == customer.id, Lead.owner_rep_id == from_rep,
                                                   Lead.status.in_(("won", "lost")))):
        if to_rep is not None:
            lead.owner_rep_id = to_rep
    for task in session.scalars(select(Task).where(Task.customer_id == customer.id, Task.owner_rep_id == from_rep,
                                                   Task.status == "open")):
        task.owner_rep_id = to_rep
    session.add(Activity(customer_id=customer.id, lead_id=None, kind="handover", actor=actor, text=text,
                         created_at=now, data={"from": from_rep, "to": to_rep, "customer": True}))


def _brief(cfg: AppConfig, lead: Lead) -> dict[str, Any]:
    stage = cfg.funnel.stage(lead.stage)
    return {"id": lead.id, "title": lead.title, "stage": stage.name if stage else lead.stage,
            "budget_cny": lead.budget_cny, "last_activity_at": lead.last_activity_at.isoformat()}


def handover(session: Session, cfg: AppConfig, from_rep: str, to_rep: str | None, actor: str,
             now: datetime, note: str | None = None) -> tuple[list[Lead], list[Notice]]:
    """Move every open lead of `from_rep` to `to_rep` (None: the pool), then every customer of
    theirs (won ones too). Returns the moved open leads and the summary notice(s): to the
    receiver, or to the supervisors for the pool."""
    old = cfg.org.rep(from_rep)
    if old is None:
        raise AssignError(f"配置中没有销售 {from_rep}")
    new = cfg.org.rep(to_rep) if to_rep else None
    if to_rep and (new is None or new.availability != "active" or new.id == from_rep):
        raise AssignError(f"无法交接给 {to_rep}:该同事不存在、不在岗或与原负责人相同")
    leads = plan_handover(session, from_rep, cfg)
    customers = plan_customers(session, from_rep)
    text = note or f"交接:{old.name} → {new.name if new else '公海'}"
    for lead in leads:
        session.add(Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="handover", actor=actor,
                             text=text, created_at=now, data={"from": from_rep, "to": to_rep}))
        if new is None:
            return_to_pool(session, cfg, lead, now, f"{old.name} 离职交接", actor=actor)
            continue
        teams = [t.id for t in cfg.org.teams_of(new.id)]
        team_id = lead.team_id if lead.team_id in teams or not teams else teams[0]
        give_lead(session, lead, new, team_id, text, actor, now)
        reset_fuse(cfg, lead, now)
    for customer in customers:
        _move_customer(session, customer, from_rep, new.id if new else None, text, actor, now)
    session.flush()
    audit.record(session, actor, "lead.handover", target_type="rep", target_id=from_rep,
                 detail={"to": to_rep, "count": len(leads), "customers": [c.id for c in customers]}, now=now)
    briefs = [_customer_brief(session, c, from_rep) for c in customers[:SUMMARY_ITEMS]]
    return leads, _summary(cfg, leads, briefs, len(customers), old, new.id if new else None, now)


def _summary(cfg: AppConfig, leads: list[Lead], customers: list[dict[str, Any]], customer_count: int, old: Rep,
             to_rep: str | None, now: datetime) -> list[Notice]:
    if not leads and not customer_count:
        return []
    budget_total = sum(ld.budget_cny or 0 for ld in leads)
    briefs = [_brief(cfg, ld) for ld in leads[:SUMMARY_ITEMS]]
    recipients = [to_rep] if to_rep else sorted({s for ld in leads for s in supervisors_for(cfg, ld)}
                                                | set(_old_supervisors(cfg, old.id)))
    stamp = f"{now:%Y%m%dT%H%M%S}"
    return [HandoverSummary(to_rep=r, from_rep=old.id, from_name=old.name, count=len(leads), to_pool=to_rep is None,
                            budget_total=budget_total, leads=briefs, customers=customers,
                            customer_count=customer_count, dedupe_key=f"handover:{old.id}:{stamp}:{r}")
            for r in recipients]


def _old_supervisors(cfg: AppConfig, rep_id: str) -> list[str]:
    """The supervisors of the leaving rep's teams (else the admins): who hears about a pool handover."""
    sups = [t.supervisor for t in cfg.org.teams_of(rep_id) if cfg.org.rep(t.supervisor) is not None]
    return sups or [r.id for r in cfg.org.reps if "admin" in r.roles]
