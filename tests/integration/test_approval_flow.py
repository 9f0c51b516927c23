"""Approvals at handler level on SQLite and PostgreSQL (frozen clock): 「提交审批」 fills the lead's
facts in and plans the nodes by amount; each approver's card carries the node's quick replies; a
tap decides once (a second tap, or the other VP's tap, changes nothing), the other holder's card
is settled in place, the submitter hears every step; a reject needs a reason; withdrawing
settles every card; the timeout fuse reminds and then escalates to the approver's supervisor;
a resubmission shows what changed; 我的审批 lists both sides; every step is audited."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card, card_from_dict
from cards.render.text import render_text
from crm_core.config import load_config
from crm_core.db.models import Approval, ApprovalStep, AuditLog, CardRecord, OutboundMessage
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.worktime import clock_for
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.load import build_registry
from scheduler.jobs import approval_timeouts
from tests.conftest import EXAMPLE
from tests.helpers.approval_org import approval_config, uid

REGISTRY = build_registry()
_ids = itertools.count(1)


@pytest.fixture
def cfg():  # noqa: ANN201
    return approval_config(load_config(EXAMPLE, env={}), "wecom")


def shown_text(card: Card) -> str:
    return norm(render_text(card))


def run(rt, rep_id: str, ev: InboundEvent) -> list[Reply]:  # noqa: ANN001
    rep = rt.cfg.org.rep(rep_id)
    replies = dispatch(Context(services=rt.services, event=ev, rep=rep, now=rt.clock()), REGISTRY)
    for i, reply in enumerate(replies):
        Pipeline(rt).deliver(ev, rep, reply, i)
    return replies


HALF = str.maketrans("，：；（）！？", ",:;()!?")


def norm(text: str) -> str:
    return text.translate(HALF)


def say(rt, rep_id: str, text: str) -> str:  # noqa: ANN001
    u = uid(rep_id, "wecom")
    replies = run(rt, rep_id, InboundEvent(platform="wecom", kind=EventKind.TEXT, event_id=f"m{next(_ids)}",
                                           sender_id=u, conversation_id=u, text=text))
    return norm("\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies))


def cards_of(rt, approval_id: int, rep_id: str | None = None) -> list[Card]:  # noqa: ANN001
    with rt.db.uow() as s:
        recs = s.scalars(select(CardRecord).where(CardRecord.id.startswith(f"apv{approval_id}n"))
                         .order_by(CardRecord.id)).all()
        return [card_from_dict(r.content) for r in recs if rep_id is None or r.recipient == uid(rep_id, "wecom")]


def tap(rt, rep_id: str, card: Card, label: str) -> str:  # noqa: ANN001
    button = next(b for b in card.buttons if b.text == label)
    u = uid(rep_id, "wecom")
    ev = InboundEvent(platform="wecom", kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}", sender_id=u,
                      conversation_id=u, action=CardAction(button.action, dict(button.value), card.card_id))
    return norm("\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in run(rt, rep_id, ev)))


def texts_to(rt, rep_id: str) -> str:  # noqa: ANN001
    with rt.db.uow() as s:
        rows = s.scalars(select(OutboundMessage).where(OutboundMessage.recipient == uid(rep_id, "wecom"),
                                                       OutboundMessage.kind == "text").order_by(OutboundMessage.id))
        return norm("\n".join(str(r.body.get("text") or "") for r in rows))


def lead(rt, company: str = "杭州优品医疗科技有限公司", budget: int | None = 1_500_000) -> int:  # noqa: ANN001
    with rt.db.uow() as s:
        res = intake_lead(s, rt.cfg, LeadInput(source="chat", company=company, contact_name="李经理", budget_cny=budget,
                                                product="影像系统", next_action="拜访"),
                          actor="sun.li", platform="wecom", now=rt.clock(), owner_rep_id="sun.li")
        return res.lead.id


def approval(rt, approval_id: int) -> Approval:  # noqa: ANN001
    with rt.db.uow() as s:
        a = s.get_one(Approval, approval_id)
        s.expunge(a)
        return a


def test_contract_over_two_million_goes_through_every_node(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    lead_id = lead(rt)
    reply = say(rt, "sun.li", f"提交审批 #{lead_id} 合同 金额250万")
    assert "审批A" in reply and "主管审批(周明) → VP审批(吴总、郑总) → 风控会审(冯工、陈工)" in reply
    a = approval(rt, int(reply.split("审批A")[1].split("(")[0].split(" ")[0]))
    assert a.amount_cny == 2_500_000 and a.facts["customer"].startswith("杭州优品") and a.facts["amount"] == "250万"
    [sup_card] = cards_of(rt, a.id, "zhou.ming")
    assert [b.text for b in sup_card.buttons] == ["同意-无修改", "同意-建议修改条款", "驳回-价格需重报"]
    shown = shown_text(sup_card)
    assert "250万" in shown and "影像系统" in shown and "主管审批(第1步,共3步)" in shown

    # someone not on the node taps the supervisor's card: refused, nothing changes
    assert "只有" in tap(rt, "wu.zong", sup_card, "同意-无修改") or "不是由你审批" in tap(rt, "wu.zong", sup_card,
                                                                                          "同意-无修改")
    assert approval(rt, a.id).node_index == 0
    out = tap(rt, "zhou.ming", sup_card, "同意-无修改")
    assert "已由 周明 同意-无修改" in out
    assert approval(rt, a.id).node_index == 1
    assert "主管审批 已由 周明 同意,下一步:VP审批" in texts_to(rt, "sun.li").replace("，", ",").replace("：", ":")
    # the same tap again: nothing
    again = tap(rt, "zhou.ming", sup_card, "同意-无修改")
    assert "已经处理过" in again and approval(rt, a.id).node_index == 1

    wu, zheng = cards_of(rt, a.id, "wu.zong")[0], cards_of(rt, a.id, "zheng.zong")[0]
    assert "主管审批 · 周明 同意(同意-无修改)" in shown_text(wu)
    assert [b.text for b in wu.buttons] == ["同意-无修改", "同意-建议修改条款", "驳回-价格过低"]
    assert "建议修改条款" in tap(rt, "wu.zong", wu, "同意-建议修改条款")
    # 郑总's card was settled in place (an update row for it, record resolved), his tap changes nothing
    with rt.db.uow() as s:
        rec = s.get_one(CardRecord, zheng.card_id)
        assert rec.resolved_at is not None and "吴总" in (rec.result or "")
        assert s.scalar(select(OutboundMessage).where(OutboundMessage.card_id == zheng.card_id,
                                                      OutboundMessage.kind == "card_update")) is not None
    assert "已经处理过" in tap(rt, "zheng.zong", zheng, "同意-无修改")
    assert approval(rt, a.id).node_index == 2

    risk = cards_of(rt, a.id, "feng.gong")[0]
    assert "驳回需要写理由" not in tap(rt, "feng.gong", risk, "同意-无修改")
    done = approval(rt, a.id)
    assert done.status == "approved" and done.decided_at is not None
    told = texts_to(rt, "sun.li")
    assert "已通过" in told and "风控会审" in told
    with rt.db.uow() as s:
        kinds = [st.kind for st in s.scalars(select(ApprovalStep).where(ApprovalStep.approval_id == a.id)
                                             .order_by(ApprovalStep.id))]
        assert kinds == ["submit", "approve", "approve", "approve"]
        actions = set(s.scalars(select(AuditLog.action).where(AuditLog.target_type == "approval")))
        assert {"approval.submit", "approval.approve"} <= actions
    trail = say(rt, "zhou.ming", f"查记录 #{lead_id}")          # the lead's trail has the approval's steps
    assert f"提交审批 审批A{a.id}:主管审批、VP审批、风控会审" in trail
    assert f"审批同意 审批A{a.id}:主管审批,同意-无修改" in trail and "吴总 审批同意" in trail


def test_small_contract_skips_the_vp_and_reject_needs_a_reason(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    lead_id = lead(rt, budget=300_000)
    say(rt, "sun.li", f"跟进 #{lead_id} 李总手机13912345678,约了下周演示")
    reply = say(rt, "sun.li", f"提交审批 #{lead_id} 合同")          # the lead's budget: 30万
    card_text = shown_text(cards_of(rt, int(reply.split("审批A")[1].split("(")[0]), "zhou.ming")[0])
    assert "约了下周演示" in card_text and "139****5678" in card_text and "13912345678" not in card_text
    assert "金额 30万" in reply and "VP审批" not in reply and "风控" not in reply
    a_id = int(reply.split("审批A")[1].split("(")[0])
    assert "驳回需要写理由" in say(rt, "zhou.ming", f"审批意见 A{a_id} 驳回")
    assert approval(rt, a_id).status == "pending"
    out = say(rt, "zhou.ming", f"审批意见 A{a_id} 驳回 付款周期太长")
    assert "已驳回" in out and approval(rt, a_id).status == "rejected"
    assert "付款周期太长" in texts_to(rt, "sun.li")
    # the card was settled in place (no tap on it)
    [card_rec] = cards_of(rt, a_id, "zhou.ming")
    assert card_rec.result is not None
    # resubmitted with a new amount: the card shows what changed
    reply = say(rt, "sun.li", f"提交审批 #{lead_id} 合同 金额28万")
    b_id = int(reply.split("审批A")[1].split("(")[0])
    b = approval(rt, b_id)
    assert b.revision == 2 and b.previous_id == a_id and b.changes == ["金额:30万 → 28万"]
    assert "金额:30万 → 28万" in shown_text(cards_of(rt, b_id, "zhou.ming")[0]).replace("：", ":")
    listing = say(rt, "zhou.ming", "我的审批")
    assert f"审批A{b_id}" in listing and "等我审批(1)" in listing.replace("（", "(").replace("）", ")")
    mine = say(rt, "sun.li", "我的审批")
    assert f"审批A{a_id}" in mine and "已驳回" in mine
    # the submitter withdraws: the card is settled, the approver told
    assert "已撤回" in say(rt, "sun.li", f"撤回审批 A{b_id}")
    assert approval(rt, b_id).status == "withdrawn"
    assert cards_of(rt, b_id, "zhou.ming")[0].result is not None
    assert "不能再撤回" in say(rt, "sun.li", f"撤回审批 A{b_id}")


def test_timeout_reminds_then_escalates_to_the_approvers_supervisor(runtime, db, clock) -> None:  # noqa: ANN001
    rt = runtime
    lead_id = lead(rt, budget=300_000)
    reply = say(rt, "sun.li", f"提交审批 #{lead_id} 合同")
    a_id = int(reply.split("审批A")[1].split("(")[0])
    start = approval(rt, a_id).node_started_at
    work = clock_for(rt.cfg, "working")
    assert approval_timeouts(rt, work.add_hours(start, 23))["notices"] == 0
    res = approval_timeouts(rt, work.add_hours(start, 24.5))
    assert res["notices"] == 1 and "提醒" in texts_to(rt, "zhou.ming")
    assert approval_timeouts(rt, work.add_hours(start, 30))["notices"] == 0        # reminded once
    # 47 calendar hours later is far fewer working hours: nothing yet
    assert approval(rt, a_id).escalated_at is None
    res = approval_timeouts(rt, work.add_hours(start, 48.2))
    assert res["notices"] == 2                          # 钱总's card, 孙丽 told
    assert approval_timeouts(rt, work.add_hours(start, 60))["notices"] == 0        # escalated once
    [card] = cards_of(rt, a_id, "qian.zong")
    assert "已等待 48 个工作小时" in shown_text(card) and "周明" in shown_text(card)
    assert "已升级给 钱总" in texts_to(rt, "sun.li")
    clock.now = work.add_hours(start, 49)
    assert "已由 钱总" in tap(rt, "qian.zong", card, "同意-无修改")
    assert approval(rt, a_id).status == "approved"
    # 周明's own card is settled too
    assert cards_of(rt, a_id, "zhou.ming")[0].result is not None


def test_unknown_kind_and_foreign_lead_are_refused(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    lead_id = lead(rt)
    assert "可提交的审批:合同审批、报价审批" in say(rt, "sun.li", f"提交审批 #{lead_id} 请假").replace("：", ":")
    assert "不是你负责的" in say(rt, "feng.gong", f"提交审批 #{lead_id} 合同 金额10万")
    with rt.db.uow() as s:
        assert s.scalar(select(Approval.id)) is None
    assert "报价审批" in say(rt, "sun.li", f"提交审批 #{lead_id} 报价")
    # a timeout scan well later: unaffected approvals of other flows are fine
    assert approval_timeouts(rt, rt.clock() + timedelta(minutes=1))["notices"] == 0


def test_the_lead_cards_submit_button(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    lead_id = lead(rt, budget=1_200_000)
    u = uid("sun.li", "wecom")
    [detail] = [r.item for r in run(rt, "sun.li", InboundEvent(platform="wecom", kind=EventKind.TEXT,
                                                               event_id=f"m{next(_ids)}", sender_id=u,
                                                               conversation_id=u, text=f"查线索 #{lead_id}"))
                if isinstance(r.item, Card)]
    assert "提交审批" in [b.text for b in detail.buttons]
    replies = run(rt, "sun.li", InboundEvent(platform="wecom", kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}",
                                             sender_id=u, conversation_id=u,
                                             action=CardAction("approval.start", {"lead": str(lead_id)},
                                                               detail.card_id)))
    [picker] = [r.item for r in replies if isinstance(r.item, Card)]
    assert [b.text for b in picker.buttons] == ["合同审批", "报价审批"]
    # another rep taps the owner's picker: refused, nothing submitted
    assert "不是你负责的" in tap(rt, "feng.gong", picker, "合同审批")
    out = tap(rt, "sun.li", picker, "合同审批")
    assert "金额 120万" in out and "VP审批" in out
    assert "已经处理过了" in tap(rt, "sun.li", picker, "合同审批")          # the card was resolved
    with rt.db.uow() as s:
        assert len(s.scalars(select(Approval)).all()) == 1


def test_a_config_reload_makes_a_new_version_and_tells_the_running_approvals(runtime, db) -> None:  # noqa: ANN001
    import json

    from crm_core.config.live import LIVE_SECTIONS
    from crm_core.db.models import ApprovalFlowVersion
    from tests.helpers.approval_org import APPROVALS
    rt = runtime
    assert "approvals" in LIVE_SECTIONS
    lead_id = lead(rt, budget=300_000)
    say(rt, "sun.li", f"提交审批 #{lead_id} 合同")
    changed = json.loads(json.dumps(APPROVALS))
    changed["flows"]["contract"]["nodes"][0]["name"] = "直属主管审批"
    rt.apply_config(approval_config(load_config(EXAMPLE, env={}), "wecom", changed))     # what a reload does
    with rt.db.uow() as s:
        rows = s.scalars(select(ApprovalFlowVersion).where(ApprovalFlowVersion.flow == "contract")
                         .order_by(ApprovalFlowVersion.version)).all()
        assert [(r.version, r.current) for r in rows] == [(1, False), (2, True)]
    told = texts_to(rt, "sun.li") + texts_to(rt, "zhou.ming")
    assert told.count("已更新为第2版") == 2 and "仍按提交时的版本审批" in told
    rt.apply_config(approval_config(load_config(EXAMPLE, env={}), "wecom", changed))     # the same again: nothing
    assert (texts_to(rt, "sun.li") + texts_to(rt, "zhou.ming")).count("已更新为第2版") == 2


def test_two_approvers_deciding_at_once_decide_once(runtime, db) -> None:  # noqa: ANN001
    """吴总 and 郑总 tap at the same moment: one decision is written, the other is told it was made."""
    import threading

    from crm_core.services.approvals import decide, get_approval
    rt = runtime
    lead_id = lead(rt)
    reply = say(rt, "sun.li", f"提交审批 #{lead_id} 合同 金额180万")
    a_id = int(reply.split("审批A")[1].split("(")[0])
    tap(rt, "zhou.ming", cards_of(rt, a_id, "zhou.ming")[0], "同意-无修改")
    barrier, results = threading.Barrier(2), {}

    def one(actor: str) -> None:
        barrier.wait()
        with rt.db.uow() as s:
            results[actor] = decide(s, rt.cfg, get_approval(s, a_id), node_index=1, actor=actor, decision="approve",
                                    label="同意-无修改", comment=None, platform="wecom", now=rt.clock())
    threads = [threading.Thread(target=one, args=(who,)) for who in ("wu.zong", "zheng.zong")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.repeated for r in results.values()) == [False, True]
    with rt.db.uow() as s:
        steps = s.scalars(select(ApprovalStep).where(ApprovalStep.approval_id == a_id,
                                                     ApprovalStep.kind == "approve")).all()
        assert len(steps) == 2                      # 周明's and one VP's
    assert approval(rt, a_id).status == "approved"


def test_a_supervisors_card_goes_to_the_supervisor_platform(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    data = rt.cfg.model_dump(mode="python")
    for rep in data["org"]["reps"]:
        if rep["id"] == "zhou.ming":
            rep["platform_ids"]["feishu"] = "ou_zhouming"
    for team in data["org"]["teams"]:
        if team["id"] == "apv-sales":
            team["supervisor_platform"] = "feishu"
    rt.apply_config(type(rt.cfg).model_validate(data))
    lead_id = lead(rt, budget=300_000)
    reply = say(rt, "sun.li", f"提交审批 #{lead_id} 合同")
    a_id = int(reply.split("审批A")[1].split("(")[0])
    with rt.db.uow() as s:
        rec = s.scalars(select(CardRecord).where(CardRecord.id.startswith(f"apv{a_id}n0"))).one()
        assert (rec.platform, rec.recipient) == ("feishu", "ou_zhouming")
