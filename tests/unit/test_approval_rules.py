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
                                                           "when": {"stages": ["closing"]}}]}}}}
    found = "\n".join(cross_reference_problems(raw))
    assert "approvals.groups.vp[1]: unknown rep 'ghost'" in found
    assert "approvals.flows.contract.nodes[0].approver: unknown group 'board'" in found
    assert "approvals.flows.contract.nodes[1].approver: unknown rep 'nobody'" in found
    assert "approvals.flows.contract.nodes[1].when.stages[0]: unknown stage 'closing'" in found


def test_definition_hash_and_changes(cfg) -> None:  # noqa: ANN001
    d = cfg.approvals.flows["contract"].definition()
    assert definition_hash(d) == definition_hash(dict(reversed(list(d.items()))))
    other = {**d, "nodes": d["nodes"][:1]}
    assert definition_hash(other) != definition_hash(d)
    assert [c.line() for c in fact_changes({"amount": "30万", "stage": "需求确认"},
                                           {"amount": "28万", "stage": "需求确认"})] == ["金额:30万 → 28万"]
    assert show_amount(1_800_000) == "180万" and show_amount(12_345) == "12,345元" and show_amount(None) == "未填写"


def test_the_approver_card_fits_every_platform(cfg) -> None:  # noqa: ANN001
    from cards.render.dingtalk import render_dingtalk as dingtalk
    from cards.render.feishu import render_feishu as feishu
    from cards.render.text import render_text
    from cards.render.wecom import render_wecom as wecom
    n = ApprovalCard(to_rep="zhou.ming", card_id="apv12n1r0", approval_id=12, flow_name="合同审批", flow_version=3,
                     title="杭州优品医疗科技有限公司影像系统采购" * 3, submitter_name="孙丽",
                     facts={"customer": "杭州优品医疗科技有限公司" * 3, "amount": "180万", "stage": "方案报价",
                            "product": "影像系统", "history": ["11-20 跟进:" + "约了下周演示" * 10] * 3},
                     changes=["金额:200万 → 180万", "阶段:需求确认 → 方案报价"], revision=2, node_index=1,
                     node_name="VP审批", node_count=3, replies=["同意-无修改", "同意-建议修改条款", "驳回-价格过低"],
                     decided=["主管审批 · 周明 同意(同意-无修改)"], waited_hours=48.3, escalated_from="周明")
    card = approval_card(cfg, n)
    assert len(card.buttons) == 3 and card.buttons[2].style == "danger"
    wecom(card, agent_id="1000002")
    feishu(card)
    dingtalk(card)
    text = render_text(card)
    assert "已等待 48 个工作小时" in text and "金额:200万 → 180万" in text
