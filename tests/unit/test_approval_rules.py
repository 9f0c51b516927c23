"""Approval flows without a database: amount conditions (万 / 元, ≥ > < ≤), which nodes apply,
who approves (supervisor, named rep, group; never the submitter, never a departed rep, the
admins when nobody is left), config errors naming the key, the definition hash, fact changes,
and the approver card within every platform's limits."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_core.config import load_config
from crm_core.config.approvals import Approvals, parse_amount_condition
from crm_core.config.checks import cross_reference_problems
from crm_core.notices import ApprovalCard
from crm_core.services.approval_rules import (condition_holds, definition_hash, fact_changes, plan_nodes,
                                              resolve_approvers, show_amount)
from handlers.approval_cards import approval_card
from tests.conftest import EXAMPLE
from tests.helpers.approval_org import APPROVALS, approval_config


@pytest.fixture(scope="module")
def cfg():  # noqa: ANN201
    return approval_config(load_config(EXAMPLE, env={}), "wecom")


@pytest.mark.parametrize("text, want", [(">= 50万", (">=", 500_000)), ("> 200万", (">", 2_000_000)),
                                        ("<50万", ("<", 500_000)), ("≤ 300,000元", ("<=", 300_000)),
                                        ("1.5亿", (">=", 150_000_000)), ("80000", (">=", 80_000))])
def test_amount_conditions(text: str, want: tuple[str, int]) -> None:
    assert parse_amount_condition(text) == want


def test_nodes_by_amount(cfg) -> None:  # noqa: ANN001
    flow = cfg.approvals.flows["contract"]
    names = lambda amount: [n.name for n in plan_nodes(cfg, flow, "sun.li", amount, "qualify")]  # noqa: E731
    assert names(300_000) == ["主管审批"]
    assert names(500_000) == ["主管审批", "VP审批"]                       # ≥ 50万: the VP
    assert names(1_800_000) == ["主管审批", "VP审批"]
    assert names(2_000_000) == ["主管审批", "VP审批"]                     # > 200万 only
    assert names(2_000_001) == ["主管审批", "VP审批", "风控会审"]
    vp = flow.nodes[1]
    assert not condition_holds(vp, None, None)                           # unknown amount: not skipped silently
    assert plan_nodes(cfg, flow, "sun.li", 2_500_000, None)[1].approvers == ("wu.zong", "zheng.zong")


def test_stage_condition(cfg) -> None:  # noqa: ANN001
    data = APPROVALS | {"flows": {"quote": {"name": "报价审批", "nodes": [
        {"name": "主管审批", "approver": "supervisor"},
        {"name": "总监审批", "approver": "rep: qian.zong", "when": {"stages": ["qualify"]}}]}}}
    c = approval_config(load_config(EXAMPLE, env={}), "wecom", data)
    flow = c.approvals.flows["quote"]
    assert [n.name for n in plan_nodes(c, flow, "sun.li", None, "qualify")] == ["主管审批", "总监审批"]
    assert [n.name for n in plan_nodes(c, flow, "sun.li", None, "proposal")] == ["主管审批"]


def test_approvers_never_the_submitter_nor_departed(cfg) -> None:  # noqa: ANN001
    assert resolve_approvers(cfg, "supervisor", "sun.li") == ["zhou.ming"]
    assert resolve_approvers(cfg, "group: vp", "wu.zong") == ["zheng.zong"]
    assert resolve_approvers(cfg, "rep: sun.li", "sun.li") == ["wang.fang"]           # nobody left: admins
    assert resolve_approvers(cfg, "role: steward", "sun.li") == ["liu.yang"]
    gone = cfg.model_copy(update={"org": cfg.org.model_copy(update={"reps": [
        r.model_copy(update={"availability": "departed"}) if r.id == "zhou.ming" else r for r in cfg.org.reps]})})
    assert resolve_approvers(gone, "supervisor", "sun.li") == ["wang.fang"]


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValidationError, match="金额条件"):
        Approvals.model_validate({"flows": {"contract": {"name": "合同审批", "nodes": [
            {"name": "VP审批", "approver": "supervisor", "when": {"amount": "about 50"}}]}}})
    with pytest.raises(ValidationError, match="审批人"):
        Approvals.model_validate({"flows": {"contract": {"name": "合同审批", "nodes": [
            {"name": "VP审批", "approver": "the boss"}]}}})
    with pytest.raises(ValidationError, match="remind_after_hours"):
        Approvals.model_validate({"timeout_hours": 8, "remind_after_hours": 10})
    raw = {"org": {"reps": [{"id": "a"}]}, "funnel": {"stages": [{"key": "qualify"}]},
           "approvals": {"groups": {"vp": ["a", "ghost"]}, "flows": {"contract": {"name": "合同审批", "nodes": [
               {"name": "x", "approver": "group: board"}, {"name": "y", "approver": "rep: nobody",
                                                           "when": {"stages": ["closing"]}},
               {"name": "z", "approver": "role: boss"}]}}}}
    found = "\n".join(cross_reference_problems(raw))
    assert "approvals.groups.vp[1]: unknown rep 'ghost'" in found
    assert "approvals.flows.contract.nodes[0].approver: unknown group 'board'" in found
    assert "approvals.flows.contract.nodes[1].approver: unknown rep 'nobody'" in found
    assert "approvals.flows.contract.nodes[1].when.stages[0]: unknown stage 'closing'" in found
    assert "approvals.flows.contract.nodes[2].approver: unknown role 'boss'" in found


def test_definition_hash_and_changes(cfg) -> None:  # noqa: ANN001
    d = cfg.approvals.flows["contract"].definition()
    assert definition_hash(d) == definition_hash(dict(reversed(list(d.items()))))
    other = {**d, "nodes": d["nodes"][:1]}
    assert definition_hash(other) != definition_hash(d)
    assert [c.line() for c in fact_changes({"amount": "30万", "stage": "需求确认"},
                                           {"amount": "28万", "stage": "需求确认"})] == ["金额:30万 → 28万"]
    assert show_amount(1_800_000) == "180万" and show_amount(12_345) == "12,345元" and show_amount(None) == "未填写"


def test_the_approver_card_fits_every_platform(cfg) -> None:  # noqa: ANN001
    """A long card (long names, three history lines, changes, an escalation) stays within each
    platform's size limits and every quick reply still taps back to itself on all three."""
    import json

    from cards.render import dingtalk as dt_mod, feishu as fs_mod, wecom as wc_mod
    from cards.render import decode_dingtalk_callback_params, decode_wecom_event_key, dingtalk_card_params
    from cards.render.feishu import render_feishu
    from cards.render.text import render_text
    from cards.render.wecom import render_wecom
    from cards.model import instance_id
    n = ApprovalCard(to_rep="zhou.ming", card_id="apv12n1r0", approval_id=12, flow_name="合同审批", flow_version=3,
                     title="杭州优品医疗科技有限公司影像系统采购" * 3, submitter_name="孙丽",
                     facts={"customer": "杭州优品医疗科技有限公司" * 3, "amount": "180万", "stage": "方案报价",
                            "product": "影像系统", "history": ["11-20 跟进:" + "约了下周演示" * 10] * 3},
                     changes=["金额:200万 → 180万", "阶段:需求确认 → 方案报价"], revision=2, node_index=1,
                     node_name="VP审批", node_count=3,
                     replies=["同意-无修改", "同意-建议修改条款", "驳回-价格过低", "驳回-条款风险", "同意-加急"],
                     decided=["主管审批 · 周明 同意(同意-无修改)"], waited_hours=48.3, escalated_from="周明")
    card = approval_card(cfg, n)
    assert len(card.buttons) == 5 and card.buttons[2].style == "danger"
    tc = render_wecom(card, 1)["template_card"]
    assert len(tc["sub_title_text"].encode()) <= wc_mod.LIMITS["sub_title_text"]
    assert [decode_wecom_event_key(b["key"], tc["task_id"]).values["reply"] for b in tc["button_list"]] == \
        ["0", "1", "2", "3", "4"]
    params = dingtalk_card_params(card)
    assert dt_mod._size(params) <= dt_mod.MAX_CARD_DATA_BYTES
    taps = [decode_dingtalk_callback_params({
        "type": "actionCallback", "outTrackId": instance_id(card.card_id, "crm-1"), "userId": "0457",
        "content": json.dumps({"cardPrivateData": {"actionIds": [f"btn{i}"],
                                                   "params": {"token": params[f"btn{i}_token"]}}})})
        for i in range(1, 7) if params[f"btn{i}_text"]]
    assert [t.values["reply"] for t in taps] == ["0", "1", "2", "3", "4"]
    for schema in ("2.0", "1.0"):
        assert len(json.dumps(render_feishu(card, schema), ensure_ascii=False).encode()) <= fs_mod.MAX_CARD_BYTES
    text = render_text(card)
    assert "已等待 48 个工作小时" in text and "金额:200万 → 180万" in text


def test_the_policy_on_approvals(cfg) -> None:  # noqa: ANN001
    from crm_core.authz import Action, ApprovalFacts, Principal, decide
    who = {r.id: Principal.of(r) for r in cfg.org.reps}
    a = ApprovalFacts(id=3, submitter="sun.li", approvers=frozenset({"zhou.ming"}))
    assert decide(cfg, who["zhou.ming"], Action.DECIDE_APPROVAL, a)
    assert decide(cfg, who["wang.fang"], Action.DECIDE_APPROVAL, a)                 # an admin
    assert "不是由你审批" in decide(cfg, who["wu.zong"], Action.DECIDE_APPROVAL, a).reason
    assert "不能审批自己" in decide(cfg, who["sun.li"], Action.DECIDE_APPROVAL, a).reason
    assert decide(cfg, who["sun.li"], Action.WITHDRAW_APPROVAL, a)
    assert not decide(cfg, who["zhou.ming"], Action.WITHDRAW_APPROVAL, a)
    assert decide(cfg, who["zhou.ming"], Action.COMMENT_APPROVAL, a) and decide(cfg, who["sun.li"],
                                                                                 Action.COMMENT_APPROVAL, a)
    assert not decide(cfg, who["feng.gong"], Action.COMMENT_APPROVAL, a)
    done = ApprovalFacts(id=3, submitter="sun.li", approvers=frozenset(), status="approved")
    assert "已通过" in decide(cfg, who["wang.fang"], Action.DECIDE_APPROVAL, done).reason
    assert not decide(cfg, who["sun.li"], Action.WITHDRAW_APPROVAL, done)
    assert not decide(cfg, who["sun.li"], Action.MANAGE_APPROVAL_FLOWS) and decide(cfg, who["wang.fang"],
                                                                                    Action.MANAGE_APPROVAL_FLOWS)
    departed = Principal(id="zhou.ming", name="周明", roles=frozenset({"supervisor"}), availability="departed")
    assert not decide(cfg, departed, Action.DECIDE_APPROVAL, a)
