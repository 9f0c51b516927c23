"""To-dos finished and postponed from chat, end to end on each platform (the real server over
HTTP through the sandbox): 我的待办 arrives as a card with 完成 / 延期 buttons; tapping 完成 marks
the to-do done and updates the card in place (its buttons gone, the outcome shown); 延期 on the
same card moves the other to the next working day; 「完成 T…」 typed works too."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from crm_core.clock import local
from crm_core.db.models import Task
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.services.todo import next_workday
from tests.e2e.conftest import REPS

OWNER = {"wecom": "zhang.wei", "dingtalk": "li.na", "feishu": "chen.jie"}


def seed(db, cfg, owner: str, company: str) -> int:  # noqa: ANN001
    now = datetime.now().astimezone()
    with db.uow() as s:
        res = intake_lead(s, cfg, LeadInput(source="chat", company=company, contact_name="李经理", next_action="拜访",
                                            timeline=local(now, cfg.app.timezone).date().isoformat()),
                          actor=owner, platform="wecom", now=now, owner_rep_id=owner)
        assert res.task is not None
        return res.task.id


def task(db, task_id: int) -> Task:  # noqa: ANN001
    with db.uow() as s:
        t = s.get_one(Task, task_id)
        s.expunge(t)
        return t


def test_todo_card_buttons_and_command(stack, platform, db, cfg):  # noqa: ANN001
    owner, user = OWNER[platform], REPS[platform]
    a = seed(db, cfg, owner, "杭州优品电子商务有限公司")
    b = seed(db, cfg, owner, "宁波康达医疗器械有限公司")
    c = seed(db, cfg, owner, "苏州瑞达物流有限公司")
    stack.sim.send_text(platform, user, "我的待办")
    assert stack.settle()
    card = next(call for call in stack.sandbox.sent(platform) if f"T{a}" in stack.sim.sent_as_text([call]))
    assert stack.sim.tap(platform, user, card, f"完成 T{a}").status_code == 200
    assert stack.settle()
    assert task(db, a).status == "done"
    assert stack.sim.tap(platform, user, card, f"延期 T{b}").status_code == 200
    assert stack.settle()
    today = local(datetime.now().astimezone(), cfg.app.timezone).date()
    assert task(db, b).due_date == next_workday(cfg, today) and task(db, b).status == "open"
    shown = "\n".join(stack.sim.sent_as_text([call]) for call in stack.sandbox.sent(platform))
    assert f"T{a} 已完成" in shown and f"T{b} 延期到" in shown
    stack.sim.send_text(platform, user, f"完成 T{c}")
    assert stack.settle()
    assert task(db, c).status == "done" and task(db, c).done_at is not None
    assert task(db, c).done_at > datetime.now().astimezone() - timedelta(minutes=5)
