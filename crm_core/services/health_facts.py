"""What the customer health score reads, gathered from the database for a batch of customers
in a handful of grouped queries (no query per customer): touches, leads (budget, stage, won,
lost, stage deadline), overdue tasks and contacts."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Contact, Lead, Task

# Bookkeeping, not contact with the customer: these never count as a touch.
SYSTEM_KINDS = ("assigned", "handover", "postpone", "mute", "unmute", "merge", "merged",
                "pool", "returned", "claimed", "todo_done", "todo_postponed")
MONTH, QUARTER = timedelta(days=30), timedelta(days=90)


@dataclass(frozen=True)
class Facts:
    """What the score reads about one customer."""
    last_touch_days: float | None = None
    touches_30d: int = 0
    touches_prior_30d: int = 0
    pipeline_cny: int = 0               # budgets of open and won leads
    won: int = 0
    depth: float = 0.0                  # 0..1, furthest funnel position of any lead
    contacts: int = 0
    overdue_tasks: int = 0
    blown_fuses: int = 0
    lost_90d: int = 0
    new_leads_90d: int = 0


class _LeadFacts(TypedDict):
    """One customer's leads, summed: budgets of open/won leads, won, the furthest depth, fuses
    blown, lost and new in the last 90 days."""
    pipeline: int
    won: int
    depth: float
    blown: int
    lost: int
    new: int


def _no_leads() -> _LeadFacts:
    return {"pipeline": 0, "won": 0, "depth": 0.0, "blown": 0, "lost": 0, "new": 0}


def funnel_depth(cfg: AppConfig, stage: str, status: str) -> float:
    """A lead's position in the funnel: k-th of n open stages = k/(n+1); won = 1; lost = 0."""
    if status == "won":
        return 1.0
    if status == "lost":
        return 0.0
    open_keys = [s.key for s in cfg.funnel.stages if s.outcome is None]
    if stage in open_keys:
        return (open_keys.index(stage) + 1) / (len(open_keys) + 1)
    st = cfg.funnel.stage(stage)
    return 1.0 if st is not None and st.outcome == "won" else 0.0


def _touches(session: Session, ids: list[int], now: datetime) -> dict[int, tuple[datetime, int, int]]:
    """customer -> (last touch, touches in the last 30 d, touches in the 30 d before)."""
    is_touch = and_(Activity.customer_id.in_(ids), Activity.kind.not_in(SYSTEM_KINDS))
    last = dict(session.execute(select(Activity.customer_id, func.max(Activity.created_at))
                                .where(is_touch).group_by(Activity.customer_id)).all())
    recent = func.sum(case((Activity.created_at >= now - MONTH, 1), else_=0))
    rows = session.execute(select(Activity.customer_id, recent, func.count())
                           .where(is_touch, Activity.created_at >= now - 2 * MONTH, Activity.created_at <= now)
                           .group_by(Activity.customer_id)).all()
    counts = {cid: (int(r or 0), int(n) - int(r or 0)) for cid, r, n in rows}
    return {cid: (at, *counts.get(cid, (0, 0))) for cid, at in last.items()}


def _lead_facts(session: Session, cfg: AppConfig, ids: list[int], now: datetime) -> dict[int, _LeadFacts]:
    out: dict[int, _LeadFacts] = defaultdict(_no_leads)
    rows = session.execute(select(Lead.customer_id, Lead.status, Lead.stage, Lead.budget_cny, Lead.fuse_deadline,
                                  Lead.stage_entered_at, Lead.created_at).where(Lead.customer_id.in_(ids)))
    for cid, status, stage, budget, deadline, entered, created in rows:
        f = out[cid]
        if status in ("open", "won", "pool"):
            f["pipeline"] += budget or 0
        f["won"] += status == "won"
        f["depth"] = max(f["depth"], funnel_depth(cfg, stage, status))
        f["blown"] += status == "open" and deadline is not None and deadline <= now
        f["lost"] += status == "lost" and entered is not None and entered >= now - QUARTER
        f["new"] += created is not None and created >= now - QUARTER
    return out


def _grouped_count(session: Session, column: QueryableAttribute[int], *where: ColumnElement[bool]) -> dict[int, int]:
    return dict(session.execute(select(column, func.count()).where(*where).group_by(column)).all())


def gather_facts(session: Session, cfg: AppConfig, ids: list[int], now: datetime) -> dict[int, Facts]:
    """Facts for every customer id in `ids` (customers without any data get empty facts)."""
    today = local(now, cfg.app.timezone).date()
    touches = _touches(session, ids, now)
    leads = _lead_facts(session, cfg, ids, now)
    overdue = _grouped_count(session, Task.customer_id, Task.customer_id.in_(ids), Task.status == "open",
                             Task.due_date < today)
    contacts = _grouped_count(session, Contact.customer_id, Contact.customer_id.in_(ids),
                              Contact.is_alias.is_(False))
    out = {}
    for cid in ids:
        last, recent, prior = touches.get(cid, (None, 0, 0))
        lf = leads[cid] if cid in leads else _no_leads()
        days = None if last is None else max(0.0, (now - last).total_seconds() / 86400)
        out[cid] = Facts(last_touch_days=days, touches_30d=recent, touches_prior_30d=prior,
                         pipeline_cny=lf["pipeline"], won=lf["won"], depth=lf["depth"],
                         contacts=contacts.get(cid, 0), overdue_tasks=overdue.get(cid, 0),
                         blown_fuses=lf["blown"], lost_90d=lf["lost"], new_leads_90d=lf["new"])
    return out


def changed_customers(session: Session, since: datetime, until: datetime) -> list[int]:
    """Customers with something new in (since, until]: an activity (follow-up, stage change,
    assignment...) or a task created or completed — what moves a health score between runs."""
    acts = select(Activity.customer_id).where(Activity.created_at > since, Activity.created_at <= until)
    tasks = select(Task.customer_id).where(
        ((Task.created_at > since) & (Task.created_at <= until)) | ((Task.done_at > since) & (Task.done_at <= until)))
    return sorted(set(session.scalars(acts)) | set(session.scalars(tasks)))
