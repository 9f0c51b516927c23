"""To-dos (`Task` rows): when one is due, the rep's open list, and finishing or postponing one.
A step said for a month ("3月招标") is due a week before that month starts, so the rep
prepares; a step said for a day is due that day. A to-do is named 「T3」 (its id with a T), so
it cannot be taken for lead #3 or customer C3. Finishing or postponing writes the task, an
activity (bookkeeping: the health score's touch count ignores it, and it marks the customer
for the next health run) and an audit row, in the caller's unit of work; who may do it is
crm_core/authz.py's to decide (Action.COMPLETE_TASK / POSTPONE_TASK)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Customer, Task
from crm_core.extract.timeline import find_timeline
from crm_core.worktime import WorkCalendar

PREPARE_DAYS = 7
MAX_POSTPONE_DAYS = 366
DONE_KIND, POSTPONED_KIND = "todo_done", "todo_postponed"     # activity kinds (not customer touches)
# 「T3」「t3」「待办T3」「待办3」「待办 #3」: a to-do number, never a bare number or #3 (a lead).
TASK_REF = re.compile(r"(?:待办\s*[#＃]?\s*[Tt]?|(?<![A-Za-z0-9])[Tt])\s*(\d{1,12})(?!\d)")
PAST_WORDS = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2}
IN_DAYS = re.compile(r"^(\d{1,3})\s*(?:天|日)(?:后|以后|之后)?$")


class TaskError(ValueError):
    """A to-do that cannot be finished or postponed as asked; the message is for the rep."""


def task_label(task_id: int) -> str:
    return f"T{task_id}"


def due_date_for(timeline: str | None, next_action: str | None, now: datetime) -> date:
    today = local(now).date()
    if not timeline:
        return today + timedelta(days=1)
    parts = [int(p) for p in timeline.split("-")]
    if len(parts) == 3:
        return max(date(*parts), today)
    first = date(parts[0], parts[1], 1)
    return max(first - timedelta(days=PREPARE_DAYS), today)


def task_refs(text: str) -> list[int]:
    """The to-do numbers a message names, in order, each once."""
    return list(dict.fromkeys(int(m.group(1)) for m in TASK_REF.finditer(text or "")))


# ---- the rep's list ------------------------------------------------------------------------

@dataclass(frozen=True)
class TodoView:
    id: int
    title: str
    due: date | None
    customer: str | None
    lead_id: int | None

    @property
    def label(self) -> str:
        return task_label(self.id)

    def overdue_days(self, today: date) -> int:
        return max(0, (today - self.due).days) if self.due else 0


def open_todos(session: Session, rep_id: str, limit: int = 10) -> tuple[int, list[TodoView]]:
    """(how many open to-dos the rep has, the first `limit`: soonest due first, undated last)."""
    where = (Task.owner_rep_id == rep_id, Task.status == "open")
    total = session.scalar(select(func.count()).select_from(Task).where(*where)) or 0
    rows = session.execute(select(Task.id, Task.title, Task.due_date, Task.lead_id, Customer.name)
                           .join(Customer, Customer.id == Task.customer_id).where(*where)
                           .order_by(Task.due_date.is_(None), Task.due_date, Task.id).limit(limit)).all()
    return total, [TodoView(r.id, r.title, r.due_date, r.name, r.lead_id) for r in rows]


def get_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise TaskError(f"没有找到待办 {task_label(task_id)}。发送「我的待办」可以查看待办编号。")
    return task


# ---- finishing and postponing ----------------------------------------------------------------

def _note(session: Session, task: Task, kind: str, text: str, actor: str, platform: str | None,
          now: datetime, **data: object) -> None:
    session.add(Activity(customer_id=task.customer_id, lead_id=task.lead_id, kind=kind, text=text[:2000],
                         actor=actor, platform=platform, created_at=now, data={"task": task.id, **data}))


def complete_task(session: Session, task: Task, actor: str, platform: str | None, now: datetime) -> bool:
    """Mark the to-do done (False: it was done already, nothing changed)."""
    if task.status == "done":
        return False
    if task.status != "open":
        raise TaskError(f"待办 {task_label(task.id)} 已取消,无需完成。")
    task.status, task.done_at = "done", now
    _note(session, task, DONE_KIND, f"完成待办:{task.title}", actor, platform, now)
    audit.record(session, actor, "task.complete", platform=platform, target_type="task", target_id=task.id,
                 detail={"lead_id": task.lead_id, "due": task.due_date.isoformat() if task.due_date else None},
                 now=now)
    return True


def postpone_task(session: Session, task: Task, until: date, actor: str, platform: str | None,
                  now: datetime, tz: str = "Asia/Shanghai") -> date:
    """Move the to-do's due date to `until` (a day after today)."""
    if task.status != "open":
        raise TaskError(f"待办 {task_label(task.id)} 已{'完成' if task.status == 'done' else '取消'},无需延期。")
    today = local(now, tz).date()
    if until <= today:
        raise TaskError("延期的日期要晚于今天,例如「延期 T3 到周五」。")
    if (until - today).days > MAX_POSTPONE_DAYS:
        raise TaskError("最多只能延期一年。")
    before = task.due_date
    task.due_date = until
    _note(session, task, POSTPONED_KIND, f"待办延期到 {until.month}月{until.day}日:{task.title}", actor, platform,
          now, before=before.isoformat() if before else None, after=until.isoformat())
    audit.record(session, actor, "task.postpone", platform=platform, target_type="task", target_id=task.id,
                 detail={"before": before.isoformat() if before else None, "after": until.isoformat()}, now=now)
    return until


def next_workday(cfg: AppConfig, today: date) -> date:
    """The first working day after `today` (the 延期 button's default)."""
    cal = WorkCalendar(cfg.calendar, cfg.app.timezone)
    day = today + timedelta(days=1)
    for _ in range(MAX_POSTPONE_DAYS):
        if cal.is_workday(day):
            return day
        day += timedelta(days=1)
    return today + timedelta(days=1)


def postpone_date(cfg: AppConfig, text: str, now: datetime) -> date | None:
    """「到周五」「明天」「下周一」「12月5日」「3天」 → the day meant; "" → the next working day;
    None when the text names no day."""
    today = local(now, cfg.app.timezone).date()
    said = re.sub(r"^(?:改到|推到|延到|延期到|到|至)\s*", "", (text or "").strip()).strip(" ,,。.")
    if not said:
        return next_workday(cfg, today)
    if said in PAST_WORDS:
        return today - timedelta(days=PAST_WORDS[said])      # refused by postpone_task, with the reason
    days = IN_DAYS.match(said)
    if days:
        return today + timedelta(days=int(days.group(1)))
    found = find_timeline(said, now)
    if found is None:
        return None
    parts = [int(p) for p in found.split("-")]
    return date(parts[0], parts[1], parts[2] if len(parts) == 3 else 1)
