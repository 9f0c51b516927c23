"""A rep's and her supervisor's field day with the issue-17 workflows, typed the way people type
(the real server over HTTP through the sandbox), the stored data checked after every step:
「审批 A3 同意」 without 意见; 「金额20」 without its unit; the same submission sent twice; 驳回
without a reason; 拜访纪要 alone answered with a wrong lead number; a visit-note question open
while the rep reports a new lead and corrects its draft (both reach the draft, not the note), then
answers 「好的」; the check-in answered 「一，二」; a stage with entry questions moved with the
answers typed after the stage name, a wrong one named, the card answered by typing its buttons'
words or by a tap and a typed word; 日报 for a rep without a supervisor; a one-message visit note.
Feishu only: the journey sends 孙丽 more messages a minute than WeCom (30) and DingTalk (20)
deliver to one person, so there the replies would wait out the rate limit."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from crm_core.config import load_config
from crm_core.config.coaching import StageEntry
from crm_core.db.models import Activity, Approval, FocusCheckin, Lead, Task
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from handlers.drafts import DraftStore
from tests.conftest import EXAMPLE
from tests.helpers.approval_org import approval_config, uid

PLATFORM = "feishu"
REP = uid("sun.li", PLATFORM)
BOSS = uid("zhou.ming", PLATFORM)


@pytest.fixture
def cfg():  # noqa: ANN201
    base = approval_config(load_config(EXAMPLE, env={}), PLATFORM)
    return base.model_copy(update={"stage_entry": StageEntry(stages=["proposal"], channels=["电话", "面谈", "腾讯会议"])})


def seed(rt, company: str, phone: str, owner: str = "sun.li") -> int:  # noqa: ANN001
    with rt.db.uow() as s:
        return intake_lead(s, rt.cfg, LeadInput(source="chat", company=company, contact_name="王总", phone=phone,
                                                budget_cny=500_000, product="影像系统"),
                           actor=owner, platform="feishu", now=datetime.now().astimezone(),
                           owner_rep_id=owner).lead.id


def say(stack, user: str, text: str) -> str:  # noqa: ANN001
    """Send `text` as `user`; what the bot sent back (to anyone) after it."""
    mark = stack.sim.mark()
    assert stack.sim.send_text(PLATFORM, user, text).status_code == 200
    assert stack.settle()
    return "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent(PLATFORM, after=mark))


def row(rt, model, *where):  # noqa: ANN001, ANN002, ANN201
    with rt.db.uow() as s:
        found = s.scalars(select(model).where(*where).order_by(model.id.desc())).first()
        if found is not None:
            s.expunge(found)
        return found


def test_field_day(stack, db) -> None:  # noqa: ANN001
    rt = stack.rt
    first = seed(rt, "杭州优品医疗科技有限公司", "13812345678")
    second = seed(rt, "宁波康达医疗器械有限公司", "13912345678")

    # ---- approvals: 「审批 A1 同意 …」 is the supervisor's 审批意见
    said = say(stack, REP, f"提交审批#{first} 合同 30万")
    a = row(rt, Approval, Approval.lead_id == first)
    assert a is not None and a.amount_cny == 300_000 and a.status == "pending", said
    said = say(stack, BOSS, f"审批 Ａ{a.id} 同意 可以签")           # full-width Ａ, as a Chinese IME types it
    assert row(rt, Approval, Approval.id == a.id).status == "approved", said
    assert "没太看懂" not in said
    # an amount without its unit is asked again, not replaced by the lead's budget; none at all: the budget, said so
    said = say(stack, REP, f"提交审批 #{second} 报价 金额20")
    assert "没看懂金额「20」" in said and row(rt, Approval, Approval.lead_id == second) is None
    said = say(stack, REP, f"提交审批 #{first} 报价")
    q = row(rt, Approval, Approval.lead_id == first)
    assert q.id != a.id and q.amount_cny == 500_000 and "50万（按线索预算）" in said, said
    # the same submission sent twice is one approval (the second is refused, nothing withdrawn)
    say(stack, REP, f"提交审批 #{second} 报价 20万")
    b = row(rt, Approval, Approval.lead_id == second)
    said = say(stack, REP, f"提交审批 #{second} 报价 20万")
    assert "无需重复提交" in said
    again = row(rt, Approval, Approval.lead_id == second)
    assert (again.id, again.status) == (b.id, "pending")
    # 驳回 without a reason changes nothing; with one it rejects
    said = say(stack, BOSS, f"审批A{b.id} 驳回")
    assert "理由" in said and row(rt, Approval, Approval.id == b.id).status == "pending"
    say(stack, BOSS, f"审批意见 A{b.id} 驳回 折扣太大")
    assert row(rt, Approval, Approval.id == b.id).status == "rejected"

    # ---- a visit note's question is open; a new lead and a draft correction are not its answers
    said = say(stack, REP, "拜访纪要")                   # two open leads: which one? a wrong number keeps asking
    assert "记哪条线索" in said
    said = say(stack, REP, "99")
    assert "没有找到线索 #99" in said and json.loads(rt.kv.get("visit_note:sun.li"))["awaiting"] == "lead"
    said = say(stack, REP, f"#{first} 见了王总")
    assert "今日沟通主题" in said
    said = say(stack, REP, "记录温州瑞安医院，李主任，电话13712345678，采购监护仪，预算50万")
    draft = DraftStore(rt.kv).get("sun.li")
    assert draft is not None and draft.fields.get("company") == "温州瑞安医院", said
    assert row(rt, Activity, Activity.lead_id == first, Activity.kind == "visit_note") is None
    said = say(stack, REP, "预算改成80万")
    assert DraftStore(rt.kv).get("sun.li").fields.get("budget_cny") == 800_000, said
    said = say(stack, REP, "聊了二期扩容方案")          # the note's question still waits: this answers it
    assert "客户核心诉求" in said
    assert DraftStore(rt.kv).get("sun.li").fields.get("budget_cny") == 800_000
    said = say(stack, REP, "好的")                     # an acknowledgement is no 客户核心诉求
    assert "客户核心诉求" in said
    waiting = json.loads(rt.kv.get("visit_note:sun.li"))
    assert waiting["parts"]["topic"] == "聊了二期扩容方案" and waiting["parts"]["needs"] is None
    said = say(stack, REP, f"拜访纪要 #{first} 见了王总")        # started again: the half-written one is dropped, said so
    assert "还没记完的拜访纪要已放弃" in said and json.loads(rt.kv.get("visit_note:sun.li"))["parts"]["topic"] is None
    said = say(stack, REP, "取消")
    assert "拜访纪要已放弃" in said and row(rt, Activity, Activity.kind == "visit_note") is None
    said = say(stack, REP, "取消")
    assert DraftStore(rt.kv).get("sun.li") is None, said

    # ---- the morning check-in, typed 「一，二」
    said = say(stack, REP, "主攻")
    assert "晨会打卡" in said
    said = say(stack, REP, "一，二")
    c = row(rt, FocusCheckin, FocusCheckin.rep_id == "sun.li")
    assert c is not None and c.status == "submitted" and sorted(c.picks) == sorted([first, second]), said

    # ---- entering a stage with entry questions: a wrong answer typed after the stage name is named…
    said = say(stack, REP, f"推进阶段 #{first} 定制方案发送 微信 价格")
    assert "“微信”不是可选的沟通方式" in said and row(rt, Lead, Lead.id == first).stage == "qualify", said
    # …the right ones move it
    said = say(stack, REP, f"推进阶段 #{first} 定制方案发送 电话 价格")
    assert row(rt, Lead, Lead.id == first).stage == "proposal", said
    entry = row(rt, Activity, Activity.lead_id == first, Activity.kind == "stage_entry")
    assert entry is not None and "电话" in entry.text and "价格" in entry.text
    # …or typed instead of tapped after the card
    said = say(stack, REP, f"推进阶段 #{second} 定制方案发送")
    assert "沟通方式" in said and row(rt, Lead, Lead.id == second).stage == "qualify"
    said = say(stack, REP, "面谈")
    assert "核心异议点" in said and row(rt, Lead, Lead.id == second).stage == "qualify", said
    said = say(stack, REP, "竞品")
    assert row(rt, Lead, Lead.id == second).stage == "proposal", said
    entry = row(rt, Activity, Activity.lead_id == second, Activity.kind == "stage_entry")
    assert entry is not None and "面谈" in entry.text and "竞品" in entry.text
    assert DraftStore(rt.kv).get("sun.li") is None                  # nothing typed became a lead draft
    # …or 沟通方式 tapped, then 核心异议点 typed
    third = seed(rt, "温州瑞安医院", "13712345678")
    mark = stack.sim.mark()
    say(stack, REP, f"推进阶段 #{third} 定制方案发送")
    card = next(c for c in stack.sandbox.sent(PLATFORM, after=mark) if "进入「定制方案发送」" in stack.sim.sent_as_text([c]))
    assert stack.sim.tap(PLATFORM, REP, card, "腾讯会议").status_code == 200
    assert stack.settle()
    said = say(stack, REP, "预算")
    assert row(rt, Lead, Lead.id == third).stage == "proposal", said
    entry = row(rt, Activity, Activity.lead_id == third, Activity.kind == "stage_entry")
    assert entry is not None and "腾讯会议" in entry.text and "预算" in entry.text

    # ---- 日报: a rep's has 转发给主管; 钱总 has no supervisor, so his has no button that could only fail
    assert "转发给主管" in say(stack, REP, "日报 今天的")
    seed(rt, "嘉兴仁和医院", "13612345678", owner="qian.zong")
    said = say(stack, uid("qian.zong", PLATFORM), "日报")
    assert "嘉兴仁和医院" in said and "转发给主管" not in said, said

    # ---- a visit note said in one message: saved with its to-do, the card reads in Chinese
    said = say(stack, REP, f"拜访纪要 #{second} 今天和王总聊了二期方案，他最关心价格，我们答应周五给报价，12月20日再去")
    note = row(rt, Activity, Activity.lead_id == second, Activity.kind == "visit_note")
    task = row(rt, Task, Task.lead_id == second)
    assert note is not None and task is not None and task.due_date is not None and task.due_date.day == 20, said
    assert f"T{task.id}，" in said and f"T{task.id}," not in said
