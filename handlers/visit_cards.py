"""The cards of a visit note (拜访纪要): the question for the next follow-up time (a button per
configured choice: 明天 / 后天 / 下周一, or type a day) and the saved note (the four parts and
the to-do made from it)."""
from __future__ import annotations

import uuid
from datetime import date

from cards.model import Button, Card, Field, Level
from crm_core.extract.visit_note import PART_LABELS
from crm_core.refs import show_lead, show_task
from crm_core.services.visit_note import VisitParts

WHEN_ACTION = "visit.when"
START_ACTION = "visit.start"


def day_label(d: date | None) -> str:
    return f"{d.month}月{d.day}日" if d else "未定"


def visit_button(lead_id: int) -> Button:
    """The 拜访纪要 button of the lead detail card."""
    return Button("拜访纪要", START_ACTION, {"lead": str(lead_id)})


def when_card(lead_id: int, title: str, choices: list[str], said: str | None = None) -> Card:
    """下次跟进时间? with a button per choice. `said`: a 「下次…」 the note had without a day."""
    text = f"你提到「{said}」,但没说哪天。" if said else None
    return Card(card_id=f"visit-when-{lead_id}-{uuid.uuid4().hex[:12]}",
                title=f"{show_lead(lead_id)} {title}:下次什么时候跟进?", level=Level.INFO, text=text,
                buttons=tuple(Button(c, WHEN_ACTION, {"lead": str(lead_id), "day": c}) for c in choices),
                footer="点选,或直接回复日期,例如「12月10日」「周五」;发送「取消」放弃这份纪要")


def saved_card(lead_id: int, title: str, parts: VisitParts, task_id: int | None) -> Card:
    fields = tuple(Field(label, value, short=False) for label, value in parts.lines())
    footer = (f"已建{show_task(task_id)}，{day_label(parts.next_date)}到期;完成后回复「完成 T{task_id}」"   # ， typed: T1,12 reads as a number
              if task_id else "没有下次跟进时间,未建待办")
    return Card(card_id=f"visit-saved-{lead_id}-{uuid.uuid4().hex[:12]}",
                title=f"拜访纪要已保存 · {show_lead(lead_id)} {title}", level=Level.SUCCESS, fields=fields,
                footer=footer)


QUESTIONS = {
    "topic": f"请补充{PART_LABELS['topic']}:今天主要聊了什么?",
    "needs": f"请补充{PART_LABELS['needs']}:客户最关心什么、想要什么?",
    "commitments": f"请补充{PART_LABELS['commitments']}:我们答应了客户什么?没有请回复「无」。",
}
