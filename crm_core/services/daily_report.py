"""A rep's 日报 on demand: the local day's follow-ups (what the rep recorded on their leads),
stage moves, to-dos finished and new, and new leads (created by the rep or assigned to them),
read from activities, tasks and assignments. 转发给主管 sends it to the supervisors of the
rep's teams, once per card (a Reminder row per card and supervisor: a second tap sends nothing)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Assignment, Customer, Lead, Task
from crm_core.notices import DailyReportForward, Items, Notice
from crm_core.services.checkin import NOT_FOLLOW_UPS
from crm_core.services.reminders import claim_notices

NOTE_CHARS = 40


class ReportError(ValueError):
    """A report that cannot be forwarded; the message is for the rep."""


@dataclass(frozen=True)
class DailyReport:
    rep: str
    date: str                       # ISO local day
    follow_ups: Items               # lead_id, title, customer, text, at (HH:MM), owner, team, status
    stage_moves: Items              # lead_id, title, customer, text, at
    todos_done: Items               # task_id, title, customer
    todos_new: Items                # task_id, title, customer, due
    new_leads: Items                # lead_id, title, customer

    @property
    def empty(self) -> bool:
        return not (self.follow_ups or self.stage_moves or self.todos_done or self.todos_new or self.new_leads)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def day_window(cfg: AppConfig, day: date) -> tuple[datetime, datetime]:
    """The local day as [start, end) aware datetimes."""
    start = datetime.combine(day, time(0), ZoneInfo(cfg.app.timezone))
    return start, start + timedelta(days=1)


def _clip(text: str | None) -> str:
    t = " ".join((text or "").split())
    return t if len(t) <= NOTE_CHARS else t[:NOTE_CHARS - 1] + "…"


def _activities(session: Session, cfg: AppConfig, rep_id: str, start: datetime, end: datetime) -> tuple[Items, Items]:
    rows = session.execute(select(Activity.lead_id, Activity.kind, Activity.text, Activity.created_at, Lead.title,
                                  Customer.name, Lead.owner_rep_id, Lead.team_id, Lead.status)
                           .join(Lead, Lead.id == Activity.lead_id).join(Customer, Customer.id == Activity.customer_id)
                           .where(Activity.actor == rep_id, Activity.created_at >= start, Activity.created_at < end,
                                  or_(Activity.kind == "stage", Activity.kind.not_in(NOT_FOLLOW_UPS)))
                           .order_by(Activity.created_at, Activity.id)).all()
    tz = ZoneInfo(cfg.app.timezone)
    follow: Items = []
    stages: Items = []
    for r in rows:
        item = {"lead_id": r.lead_id, "title": r.title, "customer": r.name, "text": _clip(r.text),
                "at": r.created_at.astimezone(tz).strftime("%H:%M"),
                "owner": r.owner_rep_id, "team": r.team_id, "status": r.status}   # whose row: what a reader sees
        (stages if r.kind == "stage" else follow).append(item)
    return follow, stages


def _tasks(session: Session, rep_id: str, start: datetime, end: datetime) -> tuple[Items, Items]:
    base = (select(Task.id, Task.title, Task.due_date, Customer.name).join(Customer, Customer.id == Task.customer_id)
            .where(Task.owner_rep_id == rep_id))
    done = session.execute(base.where(Task.done_at >= start, Task.done_at < end).order_by(Task.done_at, Task.id)).all()
    new = session.execute(base.where(Task.created_at >= start, Task.created_at < end, Task.status == "open")
                          .order_by(Task.created_at, Task.id)).all()
    return ([{"task_id": r.id, "title": r.title, "customer": r.name} for r in done],
            [{"task_id": r.id, "title": r.title, "customer": r.name,
              "due": r.due_date.isoformat() if r.due_date else None} for r in new])


def _new_leads(session: Session, rep_id: str, start: datetime, end: datetime) -> Items:
    assigned = select(Assignment.lead_id).where(Assignment.rep_id == rep_id, Assignment.created_at >= start,
                                                Assignment.created_at < end)
    rows = session.execute(select(Lead.id, Lead.title, Customer.name).join(Customer, Customer.id == Lead.customer_id)
                           .where(or_(Lead.id.in_(assigned),
                                      (Lead.created_by == rep_id) & (Lead.created_at >= start) & (Lead.created_at < end)))
                           .order_by(Lead.id)).all()
    return [{"lead_id": r.id, "title": r.title, "customer": r.name} for r in rows]


def daily_report(session: Session, cfg: AppConfig, rep_id: str, day: date, now: datetime) -> DailyReport:
    """What `rep_id` did on the local `day` (up to `now` when that is today)."""
    start, end = day_window(cfg, day)
    end = min(end, now + timedelta(seconds=1)) if start <= now else end
    follow, stages = _activities(session, cfg, rep_id, start, end)
    done, new = _tasks(session, rep_id, start, end)
    return DailyReport(rep=rep_id, date=day.isoformat(), follow_ups=follow, stage_moves=stages, todos_done=done,
                       todos_new=new, new_leads=_new_leads(session, rep_id, start, end))


def report_supervisors(cfg: AppConfig, rep_id: str) -> list[str]:
    """The supervisors of the rep's teams (configured reps, not the rep), in team order."""
    out: list[str] = []
    for team in cfg.org.teams_of(rep_id):
        if team.supervisor != rep_id and cfg.org.rep(team.supervisor) and team.supervisor not in out:
            out.append(team.supervisor)
    return out


def forward_report(session: Session, cfg: AppConfig, rep_id: str, day: date, card_id: str, now: datetime,
                   platform: str | None) -> tuple[list[str], list[Notice]]:
    """(the supervisors, the notices not sent before) for the 日报 card `card_id`: the day's
    report as of now, to each supervisor once per card."""
    sups = report_supervisors(cfg, rep_id)
    if not sups:
        raise ReportError("你所在的团队还没有配置主管,日报无法转发;请联系管理员。")
    report = daily_report(session, cfg, rep_id, day, now)
    rep = cfg.org.rep(rep_id)
    notices: list[Notice] = [DailyReportForward(to_rep=sup, as_supervisor=True, rep=rep_id,
                                                rep_name=rep.name if rep else rep_id, date=day.isoformat(),
                                                report=report.as_dict(),
                                                dedupe_key=f"report.daily:{card_id}:{sup}") for sup in sups]
    fresh = claim_notices(session, notices, now)
    if fresh:
        audit.record(session, rep_id, "report.forward", platform=platform, target_type="rep", target_id=rep_id,
                     detail={"day": day.isoformat(), "to": [n.to_rep for n in fresh]}, now=now)
    return sups, fresh
