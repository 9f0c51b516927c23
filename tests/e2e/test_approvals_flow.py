"""Issue 17, approvals in chat, end to end on each platform (the real server over HTTP through
the sandbox; every participant reached on that platform): a contract of 180万 submitted in
chat goes 主管审批 → VP审批 with quick replies, the other VP's card is updated in place and his
late tap changes nothing; one of 30万 skips the VP; one waits 48 working hours (the scheduler's
job at shifted times: reminded at 24, escalated at 48) and 钱总 decides it from the escalation
card; a config change makes flow version 2 (VP from 20万) and the people with running approvals
are told; a rollback to version 1 applies to new approvals only."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from crm_core.config import load_config
from crm_core.db.models import Approval, CardRecord
from crm_core.services.approval_versions import rollback
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.worktime import clock_for
from scheduler.jobs import approval_timeouts
from tests.conftest import EXAMPLE
from tests.helpers.approval_org import APPROVALS, approval_config, uid


@pytest.fixture
def cfg(platform):  # noqa: ANN001, ANN201
    return approval_config(load_config(EXAMPLE, env={}), platform)


def seed(rt, company: str, budget: int) -> int:  # noqa: ANN001
    with rt.db.uow() as s:
        return intake_lead(s, rt.cfg, LeadInput(source="chat", company=company, contact_name="李经理",
                                                budget_cny=budget, product="影像系统", next_action="拜访"),
                           actor="sun.li", platform="wecom", now=rt.clock(), owner_rep_id="sun.li").lead.id


def approval_of(rt, lead_id: int) -> Approval:  # noqa: ANN001
    with rt.db.uow() as s:
        a = s.scalars(select(Approval).where(Approval.lead_id == lead_id).order_by(Approval.id.desc())).first()
        assert a is not None
        s.expunge(a)
        return a


def texts_to(stack, platform: str, rep_id: str) -> str:  # noqa: ANN001
    calls = [c for c in stack.sandbox.sent(platform) if c.recipient == uid(rep_id, platform)]
    return "\n".join(stack.sim.sent_as_text([c]) for c in calls).translate(str.maketrans("，：（）", ",:()"))


def card_to(stack, platform: str, rep_id: str, approval_id: int):  # noqa: ANN001, ANN201
    calls = [c for c in stack.sandbox.sent(platform) if c.recipient == uid(rep_id, platform)
             and f"审批A{approval_id}" in stack.sim.sent_as_text([c]) and "审批节点" in stack.sim.sent_as_text([c])]
    assert calls, f"no approval card for {rep_id}"
    return calls[-1]


def card_shown(stack, platform: str, rt, approval_id: int, rep_id: str) -> str:  # noqa: ANN001
    with rt.db.uow() as s:
        recs = s.scalars(select(CardRecord).where(CardRecord.id.startswith(f"apv{approval_id}n"),
                                                  CardRecord.recipient == uid(rep_id, platform))).all()
        ids = [r.id for r in recs]
    found = [stack.sandbox.find_card(platform, [i]) for i in ids]
    return json.dumps([f["card"] for f in found if f], ensure_ascii=False)


def submit(stack, platform: str, text: str) -> None:  # noqa: ANN001
    assert stack.sim.send_text(platform, uid("sun.li", platform), text).status_code == 200
    assert stack.settle()


def tap(stack, platform: str, rep_id: str, card, label: str, **kw) -> None:  # noqa: ANN001, ANN003
    assert stack.sim.tap(platform, uid(rep_id, platform), card, label, **kw).status_code == 200
    assert stack.settle()


def test_approvals_in_chat(stack, platform, db) -> None:  # noqa: ANN001
    rt = stack.rt
    # ---- 180万: 主管审批 → VP审批, quick replies, the other VP's card updated in place
    big = seed(rt, "杭州优品医疗科技有限公司", 1_500_000)
    submit(stack, platform, f"提交审批 #{big} 合同 金额180万")
    a = approval_of(rt, big)
    assert a.amount_cny == 1_800_000 and [n["name"] for n in a.plan] == ["主管审批", "VP审批"]
    assert f"审批A{a.id}" in texts_to(stack, platform, "sun.li")
    sup = card_to(stack, platform, "zhou.ming", a.id)
    shown = stack.sim.sent_as_text([sup])
    assert "180万" in shown and "杭州优品医疗科技有限公司" in shown and "同意-无修改" in shown
    tap(stack, platform, "wu.zong", sup, "同意-无修改")                           # not his card, not his node
    assert approval_of(rt, big).node_index == 0 and "操作未生效" in texts_to(stack, platform, "wu.zong")
    tap(stack, platform, "zhou.ming", sup, "同意-无修改")
    assert approval_of(rt, big).node_index == 1
    assert "下一步:VP审批" in texts_to(stack, platform, "sun.li")
    wu, zheng = card_to(stack, platform, "wu.zong", a.id), card_to(stack, platform, "zheng.zong", a.id)
    tap(stack, platform, "wu.zong", wu, "同意-建议修改条款")
    done = approval_of(rt, big)
    assert done.status == "approved"
    told = texts_to(stack, platform, "sun.li")
    assert "已通过" in told and "同意,建议修改付款条款" in told.replace("，", ",")
    assert "已由 吴总" in card_shown(stack, platform, rt, a.id, "zheng.zong")       # updated in place
    assert "已由 吴总" in card_shown(stack, platform, rt, a.id, "wu.zong")
    tap(stack, platform, "zheng.zong", zheng, "驳回-价格过低", stale_ok=True)     # a stale client
    assert approval_of(rt, big).status == "approved"
    assert "处理过" in texts_to(stack, platform, "zheng.zong")

    # ---- 30万 skips the VP, waits 48 working hours and escalates to 钱总
    small = seed(rt, "宁波康达医疗器械有限公司", 300_000)
    submit(stack, platform, f"提交审批 #{small} 合同 金额30万")
    b = approval_of(rt, small)
    assert [n["name"] for n in b.plan] == ["主管审批"]
    work = clock_for(rt.cfg, "working")
    assert approval_timeouts(rt, work.add_hours(b.node_started_at, 24.2))["sent"] == 1     # 周明 reminded
    assert approval_timeouts(rt, work.add_hours(b.node_started_at, 47.5))["sent"] == 0
    assert approval_timeouts(rt, work.add_hours(b.node_started_at, 48.2))["sent"] == 2     # 钱总's card, 孙丽 told
    assert approval_timeouts(rt, work.add_hours(b.node_started_at, 60))["sent"] == 0       # once
    assert stack.settle()
    assert "提醒" in texts_to(stack, platform, "zhou.ming")
    assert "已升级给 钱总" in texts_to(stack, platform, "sun.li")
    esc = card_to(stack, platform, "qian.zong", b.id)
    assert "已等待 48 个工作小时" in stack.sim.sent_as_text([esc])
    tap(stack, platform, "qian.zong", esc, "同意-无修改")
    assert approval_of(rt, small).status == "approved"

    # ---- the config changes (VP from 20万): version 2; a running approval's people are told
    running = seed(rt, "苏州瑞达物流有限公司", 250_000)
    submit(stack, platform, f"提交审批 #{running} 合同 金额25万")
    c = approval_of(rt, running)
    assert [n["name"] for n in c.plan] == ["主管审批"]
    changed = json.loads(json.dumps(APPROVALS))
    changed["flows"]["contract"]["nodes"][1]["when"]["amount"] = ">= 20万"
    rt.apply_config(approval_config(load_config(EXAMPLE, env={}), platform, changed))
    approval_timeouts(rt, rt.clock())
    assert stack.settle()
    assert "已更新为第2版" in texts_to(stack, platform, "sun.li")
    v2 = seed(rt, "无锡华康医疗设备有限公司", 250_000)
    submit(stack, platform, f"提交审批 #{v2} 合同 金额25万")
    assert [n["name"] for n in approval_of(rt, v2).plan] == ["主管审批", "VP审批"]

    # ---- rollback to version 1: new approvals only
    with rt.db.uow() as s:
        version, notices = rollback(s, rt.cfg, "contract", 1, "cli", rt.clock())
    assert version.version == 1
    rt.deliver(notices)
    v1 = seed(rt, "常州恒信医疗科技有限公司", 250_000)
    submit(stack, platform, f"提交审批 #{v1} 合同 金额25万")
    assert [n["name"] for n in approval_of(rt, v1).plan] == ["主管审批"]
    assert [n["name"] for n in approval_of(rt, v2).plan] == ["主管审批", "VP审批"]   # kept its version
    assert "已回退到第1版" in texts_to(stack, platform, "sun.li")
