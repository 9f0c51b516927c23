"""Issue 17 chat flows end to end on each platform (the real server over HTTP through the sandbox):
拜访纪要 from one free message, with the missing day asked by a card whose 明天 button saves the
note (activity + to-do due tomorrow) and whose second tap changes nothing; a missing part asked
once in text and answered; 推进阶段 into a stage with entry actions: 沟通方式 then 核心异议点 on
the same card updated in place, the move made by the last tap, a stale tap refused."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core.clock import local
from crm_core.config.coaching import StageEntry
from crm_core.db.models import Activity, Lead, Task
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from tests.e2e.conftest import REPS

OWNER = {"wecom": "zhang.wei", "dingtalk": "li.na", "feishu": "chen.jie"}


@pytest.fixture
def cfg(cfg):  # noqa: ANN001, ANN201
    return cfg.model_copy(update={"stage_entry": StageEntry(stages=["proposal"])})


def seed(db, cfg, owner: str, company: str) -> int:  # noqa: ANN001
    with db.uow() as s:
        res = intake_lead(s, cfg, LeadInput(source="chat", company=company, contact_name="王总", phone="13812345678",
                                            budget_cny=500_000),
                          actor=owner, platform="wecom", now=datetime.now().astimezone(), owner_rep_id=owner)
        return res.lead.id


def visit_notes(db, lead_id: int) -> list[Activity]:  # noqa: ANN001
    with db.uow() as s:
        rows = list(s.scalars(select(Activity).where(Activity.lead_id == lead_id, Activity.kind == "visit_note")))
        for r in rows:
            s.expunge(r)
        return rows


def card_with(stack, platform: str, words: str, after: int):  # noqa: ANN001, ANN201
    return next(call for call in stack.sandbox.sent(platform, after=after)
                if words in stack.sim.sent_as_text([call]))


def test_visit_note_with_day_button(stack, platform, db, cfg) -> None:  # noqa: ANN001
    owner, user = OWNER[platform], REPS[platform]
    lead_id = seed(db, cfg, owner, "杭州优品电子商务有限公司")
    mark = stack.sim.mark()
    stack.sim.send_text(platform, user, f"拜访纪要 #{lead_id} 今天和王总聊了二期扩容方案,他最关心数据迁移的风险,"
                                        "我们答应周五前给出迁移方案")
    assert stack.settle()
    card = card_with(stack, platform, "下次什么时候跟进", mark)
    assert stack.sim.tap(platform, user, card, "明天").status_code == 200
    assert stack.settle()
    notes = visit_notes(db, lead_id)
    tomorrow = local(datetime.now().astimezone(), cfg.app.timezone).date() + timedelta(days=1)
    assert len(notes) == 1 and notes[0].data["next_follow_up"] == tomorrow.isoformat()
    assert notes[0].data["topic"] == "二期扩容方案" and notes[0].platform == platform
    with db.uow() as s:
        task = s.get_one(Task, notes[0].data["task"])
        assert task.due_date == tomorrow and task.owner_rep_id == owner
    shown = "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent(platform, after=mark))
    assert "拜访纪要已保存" in shown and f"T{notes[0].data['task']}" in shown
    stack.sim.tap(platform, user, card, "后天", stale_ok=True)        # a second client still showing it
    assert stack.settle()
    assert len(visit_notes(db, lead_id)) == 1


def test_lead_card_button_starts_a_note(stack, platform, db, cfg) -> None:  # noqa: ANN001
    owner, user = OWNER[platform], REPS[platform]
    lead_id = seed(db, cfg, owner, "温州华信电子有限公司")
    mark = stack.sim.mark()
    stack.sim.send_text(platform, user, f"查线索 #{lead_id}")
    assert stack.settle()
    card = card_with(stack, platform, "温州华信", mark)
    assert stack.sim.tap(platform, user, card, "拜访纪要").status_code == 200
    assert stack.settle()
    stack.sim.send_text(platform, user, "今天演示了产品,客户关注数据安全,我们答应发安全白皮书,后天再约")
    assert stack.settle()
    notes = visit_notes(db, lead_id)
    assert len(notes) == 1 and notes[0].data["commitments"] == "发安全白皮书"


def test_visit_note_one_question(stack, platform, db, cfg) -> None:  # noqa: ANN001
    owner, user = OWNER[platform], REPS[platform]
    lead_id = seed(db, cfg, owner, "宁波康达医疗器械有限公司")
    mark = stack.sim.mark()
    stack.sim.send_text(platform, user, f"拜访纪要 #{lead_id} 沟通了报价,客户希望价格再降5%,下周一再约")
    assert stack.settle()
    asked = "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent(platform, after=mark))
    assert "我方承诺事项" in asked and not visit_notes(db, lead_id)
    stack.sim.send_text(platform, user, "明天发新报价单")
    assert stack.settle()
    notes = visit_notes(db, lead_id)
    assert len(notes) == 1 and notes[0].data["commitments"] == "明天发新报价单"


def test_stage_entry_buttons(stack, platform, db, cfg) -> None:  # noqa: ANN001
    owner, user = OWNER[platform], REPS[platform]
    lead_id = seed(db, cfg, owner, "苏州瑞达物流有限公司")
    mark = stack.sim.mark()
    stack.sim.send_text(platform, user, f"推进阶段 #{lead_id} 定制方案发送")
    assert stack.settle()
    card = card_with(stack, platform, "沟通方式", mark)
    with db.uow() as s:
        assert s.get_one(Lead, lead_id).stage == "qualify"          # the move waits for the answers
    assert stack.sim.tap(platform, user, card, "腾讯会议").status_code == 200
    assert stack.settle()
    assert stack.sim.tap(platform, user, card, "决策链").status_code == 200
    assert stack.settle()
    with db.uow() as s:
        assert s.get_one(Lead, lead_id).stage == "proposal"
        entry = list(s.scalars(select(Activity).where(Activity.lead_id == lead_id, Activity.kind == "stage_entry")))
        assert [(a.data["channel"], a.data["objection"]) for a in entry] == [("腾讯会议", "决策链")]
    stack.sim.tap(platform, user, card, "电话", stale_ok=True)      # the card as first shown, on another client
    assert stack.settle()
    with db.uow() as s:
        assert len(list(s.scalars(select(Activity).where(Activity.lead_id == lead_id,
                                                         Activity.kind == "stage_entry")))) == 1


def test_coaching_cards_reach_all_three_platforms(stack, db, cfg) -> None:  # noqa: ANN001
    """Three complete low weeks for a rep on each platform: the Monday job's cards arrive at the
    reps (WeCom, DingTalk, Feishu) and their supervisors (王芳 on Feishu for 华东医疗), once."""
    from crm_core.services.stages import advance_stage
    from scheduler.jobs import coaching_scan

    today = local(datetime.now().astimezone(), cfg.app.timezone).date()
    monday = datetime.combine(today - timedelta(days=today.weekday() + 28), datetime.min.time(),
                              tzinfo=datetime.now().astimezone().tzinfo)
    for week in range(3):
        at = monday + timedelta(weeks=week, days=1, hours=3)
        for owner in OWNER.values():
            for i in range(3):
                with db.uow() as s:
                    res = intake_lead(s, cfg, LeadInput(source="chat", company=f"测试{owner[:2]}{week}{i}号科技有限公司",
                                                        contact_name="王总", phone=f"1381234{week}{i}{len(owner):02d}",
                                                        budget_cny=500_000),
                                      actor=owner, platform="wecom", now=at, owner_rep_id=owner)
                    advance_stage(s, cfg, res.lead, "proposal", owner, "wecom", at,
                                  {"entry_channel": "电话", "entry_objection": "价格"})
    mark = stack.sim.mark()
    now = datetime.now().astimezone()
    assert coaching_scan(stack.rt, now)["notices"] >= 5          # 3 reps, 王芳 twice, 刘洋 once
    assert stack.settle()
    assert coaching_scan(stack.rt, now) == {"notices": 0, "sent": 0}
    for platform, user in REPS.items():
        text = "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent(platform, after=mark))
        assert "辅导提醒：你的「需求确认」阶段推进率连续 3 周偏低" in text, platform
    feishu = "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent("feishu", after=mark))
    assert "辅导提醒：张伟「需求确认」" in feishu and "辅导提醒：李娜「需求确认」" in feishu
