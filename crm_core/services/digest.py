"""Daily digests as notices. Rep: today's top 3 to-dos, overdue follow-ups, the 5 healthiest
customers to push, leads assigned since the previous working day — and nothing at all for a
rep with nothing to do. Supervisor (one per person, over all their teams): stage penetration,
overdue counts per rep, red customers. Every notice has a dedupe key per person per local
day; the job claims them (Reminder rows), so a second run the same day sends nothing."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.authz import Principal
from crm_core.clock import local
from crm_core.config.schema import AppConfig, Team
from crm_core.db.models import Assignment, Customer, Lead, Task
from crm_core.notices import DigestRep, DigestSupervisor, Notice
from crm_core.services.checkin import checkin_roll
from crm_core.services.funnel_report import funnel_report
from crm_core.visibility import Viewer
from crm_core.worktime import WorkCalendar

TOP_TODOS, TOP_HEALTHY, LIST_MAX, RED_MAX = 3, 5, 5, 10
MAX_LOOKBACK_DAYS = 14


def since_previous_workday(cfg: AppConfig, now: datetime) -> datetime:
    """Start (local midnight) of the previous working day: on a Monday that is Friday, so
    weekend assignments are in the Monday digest."""
    cal, today = WorkCalendar(cfg.calendar, cfg.app.timezone), local(now, cfg.app.timezone).date()
    day = today - timedelta(days=1)
    while not cal.is_workday(day) and (today - day).days < MAX_LOOKBACK_DAYS:
        day -= timedelta(days=1)
    if not cal.is_workday(day):
        day = today - timedelta(days=1)
    return datetime.combine(day, time(0), ZoneInfo(cfg.app.timezone))


def _todos(session: Session, rep_id: str, today: date) -> tuple[list[dict[str, Any]], int]:
    """Open tasks due today or earlier: most overdue first, then the bigger deal first."""
    q = (select(Task.id, Task.title, Task.due_date, Task.lead_id, Customer.name, Lead.budget_cny)
         .join(Customer, Customer.id == Task.customer_id).outerjoin(Lead, Lead.id == Task.lead_id)
         .where(Task.owner_rep_id == rep_id, Task.status == "open", Task.due_date <= today))
    rows = sorted(session.execute(q).all(), key=lambda r: (r.due_date, -(r.budget_cny or 0), r.id))
    items = [{"task_id": r.id, "title": r.title, "customer": r.name, "lead_id": r.lead_id,
              "due": r.due_date.isoformat(), "overdue_days": (today - r.due_date).days,
              "budget_cny": r.budget_cny} for r in rows[:TOP_TODOS]]
    return items, len(rows)


def _overdue_leads(session: Session, owner_ids: list[str], now: datetime) -> list[Lead]:
    """Open leads whose stage deadline has passed without an update (oldest first)."""
    return list(session.scalars(select(Lead).where(Lead.owner_rep_id.in_(owner_ids), Lead.status == "open",
                                                   Lead.fuse_deadline <= now).order_by(Lead.fuse_deadline)))


def _lead_item(session: Session, lead: Lead, now: datetime) -> dict[str, Any]:
    name = session.scalar(select(Customer.name).where(Customer.id == lead.customer_id))
    hours = (now - lead.fuse_deadline).total_seconds() / 3600 if lead.fuse_deadline else 0.0
    return {"lead_id": lead.id, "title": lead.title, "customer": name, "stage": lead.stage,
            "overdue_hours": round(hours, 1)}


def _healthiest(session: Session, rep_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(Customer.id, Customer.name, Customer.health_score, Customer.health_level)
                           .where(Customer.owner_rep_id == rep_id, Customer.status == "active",
                                  Customer.health_score.is_not(None), Customer.health_level != "red")
                           .order_by(Customer.health_score.desc(), Customer.id).limit(TOP_HEALTHY)).all()
    return [{"customer_id": r.id, "customer": r.name, "score": r.health_score, "level": r.health_level}
            for r in rows]


def _new_leads(session: Session, rep_id: str, since: datetime) -> list[dict[str, Any]]:
    rows = session.execute(select(Assignment.lead_id, Assignment.created_at, Lead.title, Customer.name)
                           .join(Lead, Lead.id == Assignment.lead_id).join(Customer, Customer.id == Lead.customer_id)
                           .where(Assignment.rep_id == rep_id, Assignment.created_at >= since,
                                  Lead.owner_rep_id == rep_id)
                           .order_by(Assignment.created_at, Assignment.id)).all()
    seen: dict[int, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r.lead_id, {"lead_id": r.lead_id, "title": r.title, "customer": r.name,
                                    "assigned_at": r.created_at.isoformat()})
    return list(seen.values())


def _as_seen(cfg: AppConfig, rep_id: str, todos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The to-dos' amounts as the rep's roles let them see them (crm_core/visibility.py): left out
    when hidden, a size band (`budget_text`) when masked."""
    rep = cfg.org.rep(rep_id)
    if rep is None:
        return todos
    viewer = Viewer.of(cfg, Principal.of(rep))
    out = []
    for t in todos:
        shown = viewer.show("budget", t.get("budget_cny"))
        t = {k: v for k, v in t.items() if k != "budget_cny"}
        if shown is not None and not isinstance(shown, str):
            t["budget_cny"] = shown
        elif shown is not None:
            t["budget_text"] = shown
        out.append(t)
    return out


def rep_digest(session: Session, cfg: AppConfig, rep_id: str, now: datetime) -> DigestRep | None:
    """One rep's digest, or None when there is nothing to do (no to-do, nothing overdue,
    no new lead): healthy customers alone are a suggestion, not a reason to write."""
    today = local(now, cfg.app.timezone).date()
    todos, todo_total = _todos(session, rep_id, today)
    overdue = _overdue_leads(session, [rep_id], now)
    new = _new_leads(session, rep_id, since_previous_workday(cfg, now))
    if not (todos or overdue or new):
        return None
    todos = _as_seen(cfg, rep_id, todos)
    return DigestRep(to_rep=rep_id, date=today.isoformat(), todos=todos, todo_total=todo_total,
                     overdue=[_lead_item(session, ld, now) for ld in overdue[:LIST_MAX]],
                     overdue_total=len(overdue), healthy=_healthiest(session, rep_id), new_leads=new,
                     dedupe_key=f"digest.rep:{rep_id}:{today.isoformat()}")


def rep_digests(session: Session, cfg: AppConfig, now: datetime) -> list[Notice]:
    """Digests for every active rep who has something to do today."""
    reps = [r.id for r in cfg.org.reps if "rep" in r.roles and r.availability == "active"]
    return [n for rid in reps if (n := rep_digest(session, cfg, rid, now)) is not None]


# ---- supervisors --------------------------------------------------------------------------
def _penetration(session: Session, cfg: AppConfig, team_ids: set[str], now: datetime) -> list[dict[str, Any]]:
    names = {s.key: s.name for s in cfg.funnel.stages}
    out = []
    for p in funnel_report(session, cfg, now):
        for tid in sorted(team_ids):
            rate = p.by_team.get(tid)
            if rate is not None and rate.entered:
                out.append({"team": tid, "from": names.get(p.from_stage, p.from_stage),
                            "to": names.get(p.to_stage, p.to_stage), "entered": rate.entered,
                            "reached": rate.reached, "rate": rate.rate})
    return out


def _overdue_by_rep(session: Session, members: list[str], now: datetime, today: date) -> dict[str, dict[str, int]]:
    tasks = dict(session.execute(select(Task.owner_rep_id, func.count()).where(
        Task.owner_rep_id.in_(members), Task.status == "open", Task.due_date < today)
        .group_by(Task.owner_rep_id)).all())
    leads = dict(session.execute(select(Lead.owner_rep_id, func.count()).where(
        Lead.owner_rep_id.in_(members), Lead.status == "open", Lead.fuse_deadline <= now)
        .group_by(Lead.owner_rep_id)).all())
    return {m: {"tasks": tasks.get(m, 0), "leads": leads.get(m, 0)} for m in members
            if tasks.get(m) or leads.get(m)}


def _red_customers(session: Session, members: list[str]) -> tuple[list[dict[str, Any]], int]:
    cond = (Customer.owner_rep_id.in_(members), Customer.status == "active", Customer.health_level == "red")
    total = session.scalar(select(func.count()).select_from(Customer).where(*cond)) or 0
    rows = session.execute(select(Customer.id, Customer.name, Customer.health_score, Customer.owner_rep_id)
                           .where(*cond).order_by(Customer.health_score, Customer.id).limit(RED_MAX)).all()
    return [{"customer_id": r.id, "customer": r.name, "score": r.health_score, "owner": r.owner_rep_id}
            for r in rows], total


def supervisor_digest(session: Session, cfg: AppConfig, supervisor: str, teams: list[Team],
                      now: datetime) -> DigestSupervisor | None:
    today = local(now, cfg.app.timezone).date()
    members = sorted({m for t in teams for m in t.members})
    penetration = _penetration(session, cfg, {t.id for t in teams}, now)
    overdue = _overdue_by_rep(session, members, now, today)
    red, red_total = _red_customers(session, members)
    checkins = checkin_roll(session, members, today)      # only reps whose 晨会打卡 card went out today
    if not (penetration or overdue or red_total or checkins):
        return None
    names = {r.id: r.name for r in cfg.org.reps}
    return DigestSupervisor(to_rep=supervisor, date=today.isoformat(), teams=[t.name for t in teams],
                            penetration=penetration,
                            overdue=[{"rep": m, "name": names.get(m, m), **c} for m, c in overdue.items()],
                            red=red, red_total=red_total, as_supervisor=True,
                            checkins=[{**c, "name": names.get(c["rep"], c["rep"])} for c in checkins],
                            dedupe_key=f"digest.supervisor:{supervisor}:{today.isoformat()}")


def supervisor_digests(session: Session, cfg: AppConfig, now: datetime) -> list[Notice]:
    by_sup: dict[str, list[Team]] = {}
    for t in cfg.org.teams:
        by_sup.setdefault(t.supervisor, []).append(t)
    return [n for sup, teams in by_sup.items() if (n := supervisor_digest(session, cfg, sup, teams, now))]
