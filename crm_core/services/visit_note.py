"""Saving a structured visit note (拜访纪要): one `visit_note` activity with the four parts in its
JSON (topic, needs, commitments, next_follow_up), which counts as a follow-up (it touches the
lead and re-arms its stage fuse, crm_core/services/activity.py), and a to-do due on the next
follow-up day for the lead's owner. Who may write one is the policy's FOLLOW_UP, asked by the
caller; everything is written in the caller's unit of work."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Lead, Task
from crm_core.extract.visit_note import PART_LABELS
from crm_core.services.activity import ActivityError, record_follow_up

KIND = "visit_note"
TITLE_CHARS = 40


class VisitNoteError(ValueError):
    """A visit note that cannot be saved; the message is for the rep."""


@dataclass(frozen=True)
class VisitParts:
    topic: str | None
    needs: str | None
    commitments: str | None
    next_date: date | None

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) in the template's order; an empty part reads 「未填写」."""
        day = f"{self.next_date.month}月{self.next_date.day}日" if self.next_date else None
        values = (self.topic, self.needs, self.commitments, day)
        return [(PART_LABELS[p], v or "未填写") for p, v in zip(PART_LABELS, values)]


@dataclass(frozen=True)
class SavedVisit:
    activity_id: int
    task_id: int | None
    due: date | None


def todo_title(parts: VisitParts) -> str:
    what = parts.commitments or parts.topic or parts.needs or ""
    what = what if len(what) <= TITLE_CHARS else what[:TITLE_CHARS] + "…"
    return f"拜访后跟进:{what}" if what else "按拜访纪要跟进客户"


def save_visit_note(session: Session, cfg: AppConfig, lead: Lead, parts: VisitParts, actor: str,
                    platform: str | None, now: datetime) -> SavedVisit:
    """The activity and, when a next follow-up day is given, the to-do (due that day)."""
    if parts.next_date is not None and parts.next_date < local(now, cfg.app.timezone).date():
        raise VisitNoteError("下次跟进时间已经过去了,请写今天以后的日期。")
    text = "\n".join(f"{label}:{value}" for label, value in parts.lines())
    data = {"topic": parts.topic, "needs": parts.needs, "commitments": parts.commitments,
            "next_follow_up": parts.next_date.isoformat() if parts.next_date else None}
    try:
        act: Activity = record_follow_up(session, lead, actor, platform, text, now, cfg, kind=KIND, data=data)
    except ActivityError as err:
        raise VisitNoteError(str(err)) from None
    task = None
    if parts.next_date is not None:
        task = Task(customer_id=lead.customer_id, lead_id=lead.id, owner_rep_id=lead.owner_rep_id or actor,
                    title=todo_title(parts)[:200], due_date=parts.next_date, created_at=now)
        session.add(task)
        session.flush()
        act.data = {**data, "task": task.id}
    return SavedVisit(act.id, task.id if task else None, parts.next_date)

