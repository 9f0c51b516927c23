"""The first-contact SLA has an effect (issue 15): a new lead not contacted in time reminds its
owner at the deadline, then tells the supervisor `first_contact_escalate_hours` later; each once
(not per tick), per assignment (a reassignment starts a fresh SLA), on the working-time calendar
or calendar hours. Frozen clock, the scheduler's job, SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cards.model import Card
from crm_core.config.schema import Assignment
from crm_core.db.models import Lead
from crm_core.notices import FirstContactEscalation, FirstContactReminder, Notice
from crm_core.services.activity import record_follow_up
from crm_core.services.assign import give_lead, reassign
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput
from handlers.notify import default_renderers
from scheduler.jobs import first_contact_scan

MONDAY_16H = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)        # 16:00 in Shanghai, a working day


def at(local_day_offset: int, hh: int, mm: int = 0) -> datetime:
    """A Shanghai wall time, days after Monday 2026-11-23."""
    return datetime(2026, 11, 23, hh - 8, mm, tzinfo=timezone.utc) + timedelta(days=local_day_offset)


@pytest.fixture
def rt(runtime, clock):  # noqa: ANN001, ANN201
    clock.now = MONDAY_16H
    sent: list[Notice] = []
    runtime.sent = sent
    runtime.deliver = lambda notices: sent.extend(notices) or len(list(notices))
    return runtime


def configure(rt, **assignment) -> None:  # noqa: ANN001, ANN003
    a = rt.cfg.assignment.model_dump()
    a.update(assignment)
    rt.apply_config(rt.cfg.model_copy(update={"assignment": Assignment.model_validate(a)}))


def new_lead(rt, owner: str, name: str) -> int:  # noqa: ANN001
    now = rt.clock()
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, LeadInput(source="expo", company=f"杭州{name}医疗器械有限公司", contact_name="王总"),
                         actor="api", platform="api", now=now).lead
        give_lead(s, lead, rt.cfg.org.rep(owner), "east-medical", "规则分配", "system", now)
        return lead.id


def tick(rt, when: datetime) -> list[tuple[type, str]]:  # noqa: ANN001
    rt.sent.clear()
    first_contact_scan(rt, when)
    return [(type(n), n.to_rep) for n in rt.sent]


def test_owner_then_supervisor_once_each_in_working_hours(rt) -> None:  # noqa: ANN001
    configure(rt, first_contact_sla_hours=4, first_contact_escalate_hours=2, first_contact_clock="working")
    lead_id = new_lead(rt, "zhang.wei", "甲")               # Mon 16:00: 2 h today + 2 h Tuesday morning
    called = new_lead(rt, "li.na", "乙")
    with rt.db.uow() as s:
        record_follow_up(s, s.get(Lead, called), "li.na", "dingtalk", "电话沟通", at(0, 17), rt.cfg)
    assert tick(rt, at(0, 20)) == []                          # 4 calendar hours, but evening
    assert tick(rt, at(1, 10, 59)) == []
    assert tick(rt, at(1, 11)) == [(FirstContactReminder, "zhang.wei")]
    assert tick(rt, at(1, 11, 15)) == [] and tick(rt, at(1, 12, 59)) == []      # once, not per tick
    assert tick(rt, at(1, 13)) == [(FirstContactEscalation, "wang.fang")]
    assert tick(rt, at(1, 14)) == []
    # a reassignment starts a fresh SLA for the new owner
    with rt.db.uow() as s:
        reassign(s, rt.cfg, s.get(Lead, lead_id), "chen.jie", "wang.fang", at(1, 14))
    assert tick(rt, at(1, 17, 59)) == []
    assert tick(rt, at(1, 18)) == [(FirstContactReminder, "chen.jie")]


def test_calendar_hours_and_what_people_see(rt) -> None:  # noqa: ANN001
    configure(rt, first_contact_sla_hours=4, first_contact_escalate_hours=1, first_contact_clock="calendar")
    lead_id = new_lead(rt, "zhang.wei", "丙")
    assert tick(rt, MONDAY_16H + timedelta(hours=3, minutes=59)) == []
    assert tick(rt, MONDAY_16H + timedelta(hours=4)) == [(FirstContactReminder, "zhang.wei")]
    renderers = default_renderers()
    owner_card = renderers.render(rt.cfg, rt.sent[0])
    assert isinstance(owner_card, Card) and owner_card.title == "新线索还没有首次联系"
    assert [b.text for b in owner_card.buttons] == ["已联系"] and f"跟进 #{lead_id}" in owner_card.footer
    assert tick(rt, MONDAY_16H + timedelta(hours=5)) == [(FirstContactEscalation, "wang.fang")]
    sup_card = renderers.render(rt.cfg, rt.sent[0])
    assert isinstance(sup_card, Card) and sup_card.title == "新线索超时未首次联系"
    labels = [b.text for b in sup_card.buttons]
    assert "转派给李娜" in labels and "催办" in labels and "转派给张伟" not in labels
    assert {f.label: f.value for f in sup_card.fields}["负责人"] == "张伟"


def test_an_owner_on_leave_is_not_reminded_the_supervisor_is(rt) -> None:  # noqa: ANN001
    configure(rt, first_contact_sla_hours=2, first_contact_escalate_hours=1)
    new_lead(rt, "zhang.wei", "丁")
    on_leave = rt.cfg.org.model_copy(update={"reps": [
        r.model_copy(update={"availability": "on_leave"}) if r.id == "zhang.wei" else r for r in rt.cfg.org.reps]})
    rt.apply_config(rt.cfg.model_copy(update={"org": on_leave}))
    assert tick(rt, MONDAY_16H + timedelta(hours=2)) == []
    assert tick(rt, MONDAY_16H + timedelta(hours=3)) == [(FirstContactEscalation, "wang.fang")]
