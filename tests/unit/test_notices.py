"""Typed notices and their renderers: every type in NOTICE_TYPES has exactly one renderer in
default_renderers(), and each renderer turns a minimal instance of its type into a Card (or
non-empty text) with the example config; an unregistered type renders as None (logged)."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest

from cards.model import Card
from cards.render.text import render_text
from crm_core.config import load_config
from crm_core.config.schema import AppConfig
from crm_core.notices import (NOTICE_TYPES, DigestRep, DigestSupervisor, DuplicatePrompt, DuplicateReview,
                              FollowupSupervisor, FuseDiagnosis, FuseReminder, FuseSupervisor, HandoverSummary,
                              HealthDrop, HealthRed, HelpRequested, LeadAssigned, LeadPooled, MergeReport, Notice,
                              PoolReturned, PoolWarning, RoutingPaused, FirstContactReminder, FirstContactEscalation,
                              CustomerJoined)
from crm_core.notices import ApprovalCard, ApprovalCardResolved, ApprovalFlowChanged, ApprovalProgress
from handlers.notify import Renderers, default_renderers
from tests.conftest import EXAMPLE

AT = "2026-11-23T01:30:00+00:00"
LEAD: dict[str, Any] = dict(to_rep="zhang.wei", lead_id=7, customer_id=3, title="杭州某医院影像系统", dedupe_key="k:7")
FUSE: dict[str, Any] = dict(LEAD, stage="qualify", stage_name="需求确认", owner="zhang.wei", deadline=AT,
                            last_activity_at=AT, hours_overdue=2.5, idle_hours=74.5, clock="calendar")
SUP: dict[str, Any] = dict(FUSE, to_rep="wang.fang")
HEALTH: dict[str, Any] = dict(to_rep="zhang.wei", customer_id=3, customer="杭州示例医疗科技有限公司", score=38.0, level="red",
              previous_score=None, previous_level="yellow", dimensions={"activity": 20.0, "value": 50.0},
              weakest="activity", weakest_label="互动活跃度", suggestion="本周安排一次拜访", dedupe_key="h:3")
SIDE: dict[str, Any] = {"id": 3, "line": "杭州优品电子商务有限公司 · 李明 139****5678", "name": "杭州优品电子商务有限公司",
        "source": "官网表单", "created": "11-20"}
VIEW: dict[str, Any] = {"review_id": 11, "score": 88.0, "status": "open", "new": SIDE, "existing": {**SIDE, "id": 4}}
REPORT: dict[str, Any] = {"month": "2026-11", "records_before": 10, "records_after": 6, "groups_merged": 2,
                          "duplicates_merged": 3, "duplicates_avoided": 1, "minutes_saved": 40,
                          "minutes_per_duplicate": 10, "undone": 0, "reviews": {"open": 1}, "by_source": {"官网表单": 2}}

# One minimal instance per notice type (a new type without a sample fails test_every_type_has_a_sample).
SAMPLES: dict[type[Notice], Callable[[], Notice]] = {
    LeadAssigned: lambda: LeadAssigned(**LEAD, reason="规则 华东医疗 → 轮流分配 → 张伟"),
    LeadPooled: lambda: LeadPooled(**{**LEAD, "to_rep": "wang.fang"}, reason="无可分配人员 → 公海",
                                   team="east-medical", skipped=(("zhao.min", "休假中"),)),
    RoutingPaused: lambda: RoutingPaused(to_rep="wang.fang", rep="zhang.wei", rep_name="张伟", count=3, hours=2,
                                         until=AT, dedupe_key="routing:paused"),
    FirstContactReminder: lambda: FirstContactReminder(**LEAD, assigned_at=AT, due=AT, sla_hours=48),
    FirstContactEscalation: lambda: FirstContactEscalation(**{**LEAD, "to_rep": "wang.fang"}, owner="zhang.wei",
                                                           assigned_at=AT, due=AT, sla_hours=48, hours_overdue=4.5,
                                                           clock="working"),
    FuseReminder: lambda: FuseReminder(**FUSE),
    FuseSupervisor: lambda: FuseSupervisor(**SUP, platform="feishu"),
    FuseDiagnosis: lambda: FuseDiagnosis(**SUP, recent_activities=[], team_median_hours=None),
    HelpRequested: lambda: HelpRequested(**{**LEAD, "to_rep": "wang.fang"}, owner="zhang.wei", stage="qualify",
                                         team="east-medical", last_activity_at=AT, by="zhang.wei"),
    FollowupSupervisor: lambda: FollowupSupervisor(**{**LEAD, "to_rep": "wang.fang"}, owner="zhang.wei",
                                                   stage="qualify", idle_hours=49.0, last_activity_at=AT),
    PoolWarning: lambda: PoolWarning(**LEAD, return_at=AT, reason="30 天未跟进", days_left=2.5),
    PoolReturned: lambda: PoolReturned(**LEAD, reason="30 天未跟进", cooldown_until=AT),
    HandoverSummary: lambda: HandoverSummary(to_rep="li.na", from_rep="zhang.wei", from_name="张伟", count=0,
                                             to_pool=False, budget_total=0, leads=[], dedupe_key="handover:1"),
    DuplicatePrompt: lambda: DuplicatePrompt(to_rep="zhang.wei", customer_id=3, view=VIEW, dedupe_key="dedup:11"),
    DuplicateReview: lambda: DuplicateReview(to_rep="liu.yang", customer_id=3, view=VIEW, dedupe_key="dedup:11"),
    MergeReport: lambda: MergeReport(to_rep="wang.fang", report=REPORT, as_supervisor=True, dedupe_key="m:1"),
    CustomerJoined: lambda: CustomerJoined(to_rep="zhang.wei", customer_id=3, customer="杭州优品电子商务有限公司",
                                           lead_id=7, title="杭州优品 · CRM", by="li.na", contact_name="王总",
                                           phone="13800001111", new_contact=True, dedupe_key="customer.joined:7"),
    HealthRed: lambda: HealthRed(**HEALTH),
    HealthDrop: lambda: HealthDrop(**HEALTH, drop_percent=35.0),
    DigestRep: lambda: DigestRep(to_rep="zhang.wei", date="2026-11-23", todos=[], todo_total=0, overdue=[],
                                 overdue_total=0, healthy=[], new_leads=[], dedupe_key="digest.rep:1"),
    DigestSupervisor: lambda: DigestSupervisor(to_rep="wang.fang", date="2026-11-23", teams=[], penetration=[],
                                               overdue=[], red=[], red_total=0, dedupe_key="digest.supervisor:1"),
}

# Who gets a notice in their supervisor role regardless of `as_supervisor` (unchanged by typing).
SUPERVISOR_KINDS = {"fuse.supervisor", "fuse.diagnosis", "followup.supervisor", "lead.pool", "routing.paused",
                    "fuse.help", "digest.supervisor", "first_contact.supervisor"}


# morning focus check-in and 日报 (issue 17: 晨会打卡)
from crm_core.notices import CheckinCard, DailyReportForward, FocusLog  # noqa: E402
_PICK: dict[str, Any] = {"lead_id": 7, "title": "杭州某医院影像系统", "customer": "杭州示例医疗科技有限公司",
                         "stage": "需求确认", "due": "2026-11-23", "due_kind": "待办", "health": 72.0,
                         "budget_cny": 1_800_000, "status": "open"}
_MOVE: dict[str, Any] = {"lead_id": 7, "title": "杭州某医院影像系统", "customer": None, "status": "open",
                         "stages": ["需求确认 → 方案报价"], "follow_ups": 1, "todos_done": 0}
SAMPLES.update({
    CheckinCard: lambda: CheckinCard(to_rep="zhang.wei", date="2026-11-23", picks=3, items=[_PICK],
                                     moves=[_MOVE], moves_date="2026-11-20", dedupe_key="checkin.card:1"),
    FocusLog: lambda: FocusLog(to_rep="wang.fang", as_supervisor=True, rep="zhang.wei", rep_name="张伟",
                               date="2026-11-23", picks=[_PICK], moves=[_MOVE], moves_date="2026-11-20"),
    DailyReportForward: lambda: DailyReportForward(
        to_rep="wang.fang", as_supervisor=True, rep="zhang.wei", rep_name="张伟", date="2026-11-23",
        report={"rep": "zhang.wei", "date": "2026-11-23", "stage_moves": [], "todos_new": [], "new_leads": [],
                "follow_ups": [{"lead_id": 7, "title": "杭州某医院影像系统", "customer": None, "text": "电话沟通", "at": "10:05"}],
                "todos_done": [{"task_id": 5, "title": "寄样品", "customer": "杭州示例医疗科技有限公司"}]}),
})


# approvals (issue 17: 审批)
_APV: dict[str, Any] = dict(approval_id=3, flow_name="合同审批", title="杭州某医院影像系统", lead_id=7)
SAMPLES.update({
    ApprovalCard: lambda: ApprovalCard(
        to_rep="wang.fang", card_id="apv3n0r0", flow_version=2, submitter_name="张伟",
        facts={"customer": "杭州示例医疗科技有限公司", "amount": "180万", "stage": "需求确认", "product": "影像系统",
               "history": ["11-20 跟进:约了下周演示"]},
        changes=["金额:200万 → 180万"], revision=2, node_index=1, node_name="VP审批", node_count=2,
        replies=["同意-无修改", "驳回-价格过低"], decided=["主管审批 · 王芳 同意"], dedupe_key="a:3", **_APV),
    ApprovalCardResolved: lambda: ApprovalCardResolved(
        to_rep="zhang.wei", replaces_card="apv3n0r0", result="已由 王芳 同意",
        content={"card_id": "apv3n0r0", "title": "合同审批 · 审批A3", "level": "info", "fields": [], "buttons": []}),
    ApprovalProgress: lambda: ApprovalProgress(to_rep="zhang.wei", event="node_approved", actor_name="王芳",
                                               node_name="主管审批", next_node="VP审批", **_APV),
    ApprovalFlowChanged: lambda: ApprovalFlowChanged(to_rep="zhang.wei", flow_name="合同审批", old_version=2,
                                                     new_version=1, rollback=True, running=[3]),
})


# customer lifetime value (issue 18)
from crm_core.clv.report import AtRiskCustomer, ChannelRoi, ClvDashboard, Winback  # noqa: E402
from crm_core.notices import ClvDashboardNotice  # noqa: E402
SAMPLES[ClvDashboardNotice] = lambda: ClvDashboardNotice(to_rep="wang.fang", as_supervisor=True, dedupe_key="clv:1",
    dashboard=ClvDashboard(
        month="2026-11", model="mix", model_label="末次70%+首次30%", as_of=None, customers=2, total_clv=52000.0,
        month_margin=8000.0, high_value_from=30000.0,
        at_risk=(AtRiskCustomer(3, "杭州示例医疗科技有限公司", "zhang.wei", 21000.0, 40000.0, 47.5, 45),), at_risk_total=1,
        channels=(ChannelRoi("ads", "广告投放", 5000.0, 3.0, 2000.0, 2.5),),
        winbacks=(Winback(3, "杭州示例医疗科技有限公司", __import__("datetime").datetime(2026, 11, 2), 0.6, 3000.0, 1),)))

# coaching push (issue 17)
from crm_core.notices import CoachingPush, CoachingWeek  # noqa: E402
SAMPLES[CoachingPush] = lambda: CoachingPush(
    to_rep="zhang.wei", dedupe_key="coaching:zhang.wei:proposal>quote:2026-11-02:rep", rep="zhang.wei", rep_name="张伟",
    from_stage="proposal", to_stage="quote", from_name="定制方案发送", to_name="首版报价签收",
    weeks=(CoachingWeek("2026-11-02", 3, 1), CoachingWeek("2026-11-09", 4, 2)), min_rate=0.65, window_days=7,
    material="方案讲解三步法", link="https://wiki.example.com/fa")


@pytest.fixture(scope="module")
def cfg() -> AppConfig:
    return load_config(EXAMPLE, env={})


def test_every_notice_type_has_a_renderer() -> None:
    registered = default_renderers().registered()
    missing = [t.__name__ for t in NOTICE_TYPES if t not in registered]
    assert not missing, f"no renderer registered in default_renderers() for: {', '.join(missing)}"
    unlisted = [t.__name__ for t in registered if t not in NOTICE_TYPES]
    assert not unlisted, f"renderers for types missing from NOTICE_TYPES: {', '.join(unlisted)}"


def test_notice_types_are_frozen_dataclasses_with_distinct_kinds() -> None:
    assert len(set(NOTICE_TYPES)) == len(NOTICE_TYPES)
    kinds = [t.kind for t in NOTICE_TYPES]
    assert all(kinds) and len(set(kinds)) == len(kinds)
    for t in NOTICE_TYPES:
        assert issubclass(t, Notice) and dataclasses.is_dataclass(t)
        assert t.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert {t.kind for t in NOTICE_TYPES if t.supervisor_role} == SUPERVISOR_KINDS


def test_every_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(NOTICE_TYPES)


@pytest.mark.parametrize("notice_type", NOTICE_TYPES, ids=lambda t: t.__name__)
def test_every_renderer_shows_its_sample(cfg: AppConfig, notice_type: type[Notice]) -> None:
    notice = SAMPLES[notice_type]()
    assert type(notice) is notice_type
    with pytest.raises(dataclasses.FrozenInstanceError):
        notice.to_rep = "someone.else"  # type: ignore[misc]
    item = default_renderers().render(cfg, notice)
    assert isinstance(item, (Card, str)), f"{notice_type.__name__} rendered {item!r}"
    text = item if isinstance(item, str) else render_text(item)
    assert text.strip() and "None" not in text
    again = default_renderers().render(cfg, SAMPLES[notice_type]())
    if isinstance(item, Card):
        assert isinstance(again, Card) and again.card_id == item.card_id      # stable per logical notice


def test_to_supervisor_follows_the_class_flag_or_the_instance() -> None:
    assert SAMPLES[FuseSupervisor]().to_supervisor and not SAMPLES[FuseReminder]().to_supervisor
    assert SAMPLES[HealthRed]().to_supervisor is False
    assert dataclasses.replace(SAMPLES[HealthRed](), as_supervisor=True).to_supervisor


@dataclasses.dataclass(frozen=True, kw_only=True)
class Unlisted(Notice):
    kind = "test.unlisted"


def test_an_unregistered_type_renders_none_and_logs(cfg: AppConfig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="crm_bot.notify"):
        assert default_renderers().render(cfg, Unlisted(to_rep="zhang.wei")) is None
    assert "test.unlisted" in caplog.text and "Unlisted" in caplog.text


def test_register_refuses_a_second_renderer_and_a_non_notice() -> None:
    renderers = Renderers()
    renderers.register(Unlisted, lambda cfg, n: "hi")
    assert Unlisted in renderers
    with pytest.raises(ValueError):
        renderers.register(Unlisted, lambda cfg, n: "again")
    with pytest.raises(TypeError):
        renderers.register(dict, lambda cfg, n: "x")  # type: ignore[type-var]
