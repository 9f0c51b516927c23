"""What people see for the first-contact SLA (crm_core/services/first_contact.py): the owner's
reminder (已联系 records the first contact, as 「跟进 #12 …」 does) and the supervisor's card
(转派 / 催办, served by handlers/workflow_actions.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cards.model import Button, Card, Field, Level
from crm_core.config.schema import AppConfig
from crm_core.notices import FirstContactEscalation, FirstContactReminder
from handlers.workflow_cards import card_id_for, hours, lead_label, reassign_footer, rep_name, supervisor_buttons, when

if TYPE_CHECKING:
    from handlers.notify import Renderers


def _sla(notice: FirstContactReminder | FirstContactEscalation) -> str:
    return hours(notice.sla_hours) + ("(工作时间)" if notice.clock == "working" else "")


def first_contact_reminder(cfg: AppConfig, notice: FirstContactReminder) -> Card:
    value = {"lead": str(notice.lead_id)}
    return Card(card_id=card_id_for("first-r", notice), title="新线索还没有首次联系", level=Level.WARNING,
                fields=(Field("线索", lead_label(notice), short=False),
                        Field("分配时间", when(cfg, notice.assigned_at)),
                        Field("首次联系时限", _sla(notice)),
                        Field("已到期", when(cfg, notice.due))),
                buttons=(Button("已联系", "fuse.done", value, "primary"),),
                footer=f"联系后点「已联系」或回复「跟进 #{notice.lead_id} 内容」;再不联系将通知主管")


def first_contact_escalation(cfg: AppConfig, notice: FirstContactEscalation) -> Card:
    clock = "(工作时间)" if notice.clock == "working" else ""
    return Card(card_id=card_id_for("first-s", notice), title="新线索超时未首次联系", level=Level.DANGER,
                fields=(Field("线索", lead_label(notice), short=False),
                        Field("负责人", rep_name(cfg, notice.owner)),
                        Field("分配时间", when(cfg, notice.assigned_at)),
                        Field("首次联系时限", _sla(notice)),
                        Field("已超时", hours(notice.hours_overdue) + clock)),
                buttons=supervisor_buttons(cfg, notice, notice.owner, with_assist=False),
                footer=reassign_footer(notice))


def register(renderers: Renderers) -> None:
    renderers.register(FirstContactReminder, first_contact_reminder)
    renderers.register(FirstContactEscalation, first_contact_escalation)
