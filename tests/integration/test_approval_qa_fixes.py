"""QA fixes on approvals in chat, at handler level on SQLite and PostgreSQL: 「撤回审批」 without a
number takes the rep's one pending approval (named) and lists them when there are several; a node
whose every approver already approved the approval passes by itself (自动通过, in the trail as
such), and a double tap on one card never decides two nodes; a supervisor with nobody above falls
back to the admins, and when the submitter is the only admin the reply says who must be set."""
from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from sqlalchemy import select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card, card_from_dict
from cards.render.text import render_text
from crm_core.config import load_config
from crm_core.config.schema import AppConfig
from crm_core.db.models import Approval, ApprovalStep, AuditLog, CardRecord
from crm_core.services.audit_trail import action_label
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.load import build_registry
from tests.conftest import EXAMPLE
from tests.helpers.approval_org import APPROVALS, approval_config, uid

REGISTRY = build_registry()
_ids = itertools.count(1)
HALF = str.maketrans("，：；（）！？", ",:;()!?")


def _with_vp(vp: list[str]) -> dict[str, Any]:
    data = copy.deepcopy(APPROVALS)
    data["groups"]["vp"] = vp
    return data


def _lonely_admin(base: AppConfig) -> AppConfig:
    """周明 heads 审批销售组, has nobody above him and is the only admin."""
    cfg = approval_config(base, "wecom")
    data = cfg.model_dump(mode="python")
    for rep in data["org"]["reps"]:
        rep["roles"] = [r for r in rep["roles"] if r != "admin"] + (["admin"] if rep["id"] == "zhou.ming" else [])
    for team in data["org"]["teams"]:
        team["members"] = [m for m in team["members"] if m != "zhou.ming"]
    return AppConfig.model_validate(data)


def _no_boss(base: AppConfig) -> AppConfig:
    """周明 has nobody above him; the example's admin (王芳) is still there."""
    data = approval_config(base, "wecom").model_dump(mode="python")
    for team in data["org"]["teams"]:
        team["members"] = [m for m in team["members"] if m != "zhou.ming"]
    return AppConfig.model_validate(data)


@pytest.fixture
def cfg(request):  # noqa: ANN001, ANN201
    base = load_config(EXAMPLE, env={})
    kind = getattr(request, "param", "plain")
    if kind == "lonely":
        return _lonely_admin(base)
    if kind == "no_boss":
        return _no_boss(base)
    if kind == "vp_is_sup":
        return approval_config(base, "wecom", _with_vp(["zhou.ming"]))
    if kind == "vp_with_sup":
        return approval_config(base, "wecom", _with_vp(["zhou.ming", "zheng.zong"]))
    return approval_config(base, "wecom")


def run(rt, rep_id: str, ev: InboundEvent) -> str:  # noqa: ANN001
    rep = rt.cfg.org.rep(rep_id)
    replies: list[Reply] = dispatch(Context(services=rt.services, event=ev, rep=rep, now=rt.clock()), REGISTRY)
    for i, reply in enumerate(replies):
        Pipeline(rt).deliver(ev, rep, reply, i)
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies).translate(HALF)


def say(rt, rep_id: str, text: str) -> str:  # noqa: ANN001
    u = uid(rep_id, "wecom")
    return run(rt, rep_id, InboundEvent(platform="wecom", kind=EventKind.TEXT, event_id=f"m{next(_ids)}",
                                        sender_id=u, conversation_id=u, text=text))


def tap(rt, rep_id: str, card: Card, label: str) -> str:  # noqa: ANN001
    button = next(b for b in card.buttons if b.text == label)
    u = uid(rep_id, "wecom")
    return run(rt, rep_id, InboundEvent(platform="wecom", kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}",
                                        sender_id=u, conversation_id=u,
                                        action=CardAction(button.action, dict(button.value), card.card_id)))


def cards_of(rt, approval_id: int, rep_id: str) -> list[Card]:  # noqa: ANN001
    with rt.db.uow() as s:
        recs = s.scalars(select(CardRecord).where(CardRecord.id.startswith(f"apv{approval_id}n"))
                         .order_by(CardRecord.id)).all()
        return [card_from_dict(r.content) for r in recs if r.recipient == uid(rep_id, "wecom")]


def lead(rt, owner: str = "sun.li", company: str = "杭州优品医疗科技有限公司",  # noqa: ANN001
         budget: int = 2_500_000) -> int:
    with rt.db.uow() as s:
        return intake_lead(s, rt.cfg, LeadInput(source="chat", company=company, contact_name="李经理",
                                                budget_cny=budget, product="影像系统", next_action="拜访"),
                           actor=owner, platform="wecom", now=rt.clock(), owner_rep_id=owner).lead.id


def submitted(reply: str) -> int:
    return int(reply.split("审批A")[1].split("(")[0].split(" ")[0])


def approval(rt, approval_id: int) -> Approval:  # noqa: ANN001
    with rt.db.uow() as s:
        a = s.get_one(Approval, approval_id)
        s.expunge(a)
        return a


def steps(rt, approval_id: int) -> list[tuple[int, str, str, str | None]]:  # noqa: ANN001
    with rt.db.uow() as s:
        return [(st.node_index, st.kind, st.actor, st.label) for st in s.scalars(
            select(ApprovalStep).where(ApprovalStep.approval_id == approval_id).order_by(ApprovalStep.id))]


# ---- 1. 撤回审批 without a number ---------------------------------------------------------

def test_withdraw_without_a_number_takes_the_only_pending_one(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    assert "没有正在审批中的审批" in say(rt, "sun.li", "撤回审批")
    a_id = submitted(say(rt, "sun.li", f"提交审批 #{lead(rt, budget=300_000)} 合同"))
    out = say(rt, "sun.li", "撤回审批")
    assert f"已撤回审批A{a_id}(合同审批 线索#" in out and "请写审批编号" not in out
    assert approval(rt, a_id).status == "withdrawn"


def test_withdraw_without_a_number_lists_several_and_withdraws_none(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    a_id = submitted(say(rt, "sun.li", f"提交审批 #{lead(rt, budget=300_000)} 合同"))
    b_id = submitted(say(rt, "sun.li", f"提交审批 #{lead(rt, company='宁波海曙精工机械有限公司')} 报价"))
    out = say(rt, "sun.li", "撤回审批")
    assert "2个正在审批" in out and f"审批A{a_id}" in out and f"审批A{b_id}" in out
    assert approval(rt, a_id).status == approval(rt, b_id).status == "pending"
    assert f"已撤回审批A{b_id}" in say(rt, "sun.li", f"撤回审批 A{b_id}")
    assert approval(rt, a_id).status == "pending"


# ---- 2. the same approver on consecutive nodes --------------------------------------------

@pytest.mark.parametrize("cfg", ["vp_is_sup"], indirect=True)
def test_a_node_whose_only_approver_already_approved_passes_by_itself(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    reply = say(rt, "sun.li", f"提交审批 #{lead(rt)} 合同 金额250万")
    assert "主管审批(周明) → VP审批(周明) → 风控会审" in reply
    a_id = submitted(reply)
    [card] = cards_of(rt, a_id, "zhou.ming")
    out = tap(rt, "zhou.ming", card, "同意-无修改")
    assert "VP审批的审批人都已在本审批中同意过,已自动通过" in out
    assert approval(rt, a_id).node_index == 2 and approval(rt, a_id).status == "pending"
    assert (1, "approve", "system", "自动通过") in steps(rt, a_id)
    with rt.db.uow() as s:
        [row] = s.scalars(select(AuditLog).where(AuditLog.action == "approval.auto_approve")).all()
        assert row.target_id == str(a_id) and action_label(row.action) == "审批自动通过"
    assert len(cards_of(rt, a_id, "zhou.ming")) == 1              # no VP card for him
    [risk] = cards_of(rt, a_id, "feng.gong")
    assert "VP审批 · 自动通过" in render_text(risk)
    # the same card tapped again: nothing more is decided
    assert "已经处理过" in tap(rt, "zhou.ming", card, "同意-无修改")
    assert approval(rt, a_id).node_index == 2 and [k for _, k, _, _ in steps(rt, a_id)].count("approve") == 2


@pytest.mark.parametrize("cfg", ["vp_with_sup"], indirect=True)
def test_a_node_with_another_approver_still_asks_and_a_double_tap_decides_one_node(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    a_id = submitted(say(rt, "sun.li", f"提交审批 #{lead(rt)} 合同 金额250万"))
    [card] = cards_of(rt, a_id, "zhou.ming")
    assert "自动通过" not in tap(rt, "zhou.ming", card, "同意-无修改")
    assert "已经处理过" in tap(rt, "zhou.ming", card, "同意-无修改")
    a = approval(rt, a_id)
    assert a.node_index == 1 and a.status == "pending"
    assert [(i, k) for i, k, _, _ in steps(rt, a_id)] == [(0, "submit"), (0, "approve")]
    assert len(cards_of(rt, a_id, "zheng.zong")) == 1


# ---- 3. a supervisor with nobody above ------------------------------------------------------

@pytest.mark.parametrize("cfg", ["no_boss"], indirect=True)
def test_a_supervisor_with_nobody_above_goes_to_the_admin(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    reply = say(rt, "zhou.ming", f"提交审批 #{lead(rt, owner='zhou.ming', budget=300_000)} 报价")
    assert "主管审批(王芳)" in reply and "找不到审批人" not in reply


@pytest.mark.parametrize("cfg", ["lonely"], indirect=True)
def test_the_only_admin_with_nobody_above_is_told_who_must_be_set(runtime, db) -> None:  # noqa: ANN001
    rt = runtime
    reply = say(rt, "zhou.ming", f"提交审批 #{lead(rt, owner='zhou.ming', budget=300_000)} 报价")
    assert "周明没有上级主管" in reply and "唯一的管理员就是周明本人" in reply
    assert "给周明设一位上级主管" in reply and "请管理员检查审批流程" not in reply
    with rt.db.uow() as s:
        assert s.scalar(select(Approval.id)) is None
