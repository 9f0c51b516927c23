"""The workflow in chat, handler level (SQLite and PostgreSQL, frozen clock, hand-built events):
every notice kind renders, stage-gate refusals say exactly what is missing, 转派 is for the
supervisor or an admin only (a refusal changes nothing), a double tap has one effect, mutes are
reversible, claims respect the pool rules; plus the CLI commands and the funnel API."""
from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.pipeline import Pipeline
from bot.events import CardAction, EventKind, InboundEvent
from cards.model import Card
from cards.render import render_dingtalk, render_dingtalk_update, render_feishu, render_wecom, render_wecom_update
from cards.render.text import render_text
from cards.zh import polish
from crm_core.clock import local
from crm_core.db.models import Activity, Assignment, CardRecord, Lead, OutboundMessage
from crm_core.kv import EmbeddedKV
from crm_core.notices import (FollowupSupervisor, FuseDiagnosis, FuseReminder, FuseSupervisor, HandoverSummary,
                              LeadAssigned, LeadPooled, Notice, PoolReturned, PoolWarning, RoutingPaused)
from crm_core.services.activity import record_follow_up
from crm_core.services.assign import give_lead, leave_in_pool, reassign
from crm_core.services.capture import save_lead
from crm_core.services.followup import is_muted, scan_followups
from crm_core.services.fuse import scan_fuses
from crm_core.services.handover import handover
from crm_core.services.lead_input import LeadInput
from crm_core.services.pool import PoolPolicy, return_to_pool, scan_pool
from crm_core.services.routing import check_slow_first_contact
from crm_core.services.stages import advance_stage
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.load import build_registry
from handlers.notify import default_renderers
from handlers.workflow_actions import STALE, card_from_dict

TOKEN = {"Authorization": "Bearer change-me-local-token"}
REGISTRY = build_registry()
RENDERERS = default_renderers()


# ---------------------------------------------------------------- helpers
def make_lead(rt, now, owner: str | None = "zhang.wei", stage: str | None = None, **fields) -> int:  # noqa: ANN001
    data = {"source": "chat", "company": f"杭州{uuid.uuid4().hex[:4]}医疗器械有限公司", "contact_name": "王总",
            "phone": "13812345678", "budget_cny": 500_000, "industry": "医疗", "region": "浙江", **fields}
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, LeadInput(**data), actor="zhang.wei", platform="wecom", now=now).lead
        if owner:
            give_lead(s, lead, rt.cfg.org.rep(owner), "east-medical", "测试分配", "system", now)
        lead.team_id = "east-medical"
        if stage:
            lead.stage = stage
        return lead.id


def run(rt, rep_id: str, *, text: str | None = None, card: Card | None = None,  # noqa: ANN001
        action: str | None = None, **values: str) -> list[Reply]:
    """One event from `rep_id` on their platform through the real dispatcher; the replies
    are handed to the outbox (card updates included), nothing is sent."""
    rep = rt.cfg.org.rep(rep_id)
    tap = None
    if card is not None:
        button = next(b for b in card.buttons
                      if b.action == action and all(b.value.get(k) == v for k, v in values.items()))
        tap = CardAction(key=button.action, values=dict(button.value), card_ref=card.card_id)
    ev = InboundEvent(platform=rep.platform, kind=EventKind.CARD_ACTION if tap else EventKind.TEXT,
                      event_id=uuid.uuid4().hex, sender_id=rep.platform_ids[rep.platform],
                      conversation_id=rep.platform_ids[rep.platform], text=text, action=tap)
    replies = dispatch(Context(services=rt.services, event=ev, rep=rep, now=rt.clock()), REGISTRY)
    for i, reply in enumerate(replies):      # queued in the outbox as the worker would
        Pipeline(rt).deliver(ev, rep, reply, i)
    return replies


def said(replies: list[Reply]) -> str:
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def lead_row(rt, lead_id: int) -> Lead:  # noqa: ANN001
    with rt.db.uow() as s:
        lead = s.get(Lead, lead_id)
        s.expunge(lead)
        return lead


def count(rt, model, *where) -> int:  # noqa: ANN001
    with rt.db.uow() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def render(rt, notice: Notice) -> Card:  # noqa: ANN001
    card = RENDERERS.render(rt.cfg, notice)
    assert isinstance(card, Card)
    return card


def escalate(rt, clock, lead_id: int, hours: float = 73) -> dict[type[Notice], Card]:  # noqa: ANN001
    """Let the lead's fuse blow, send the notices, and return the cards by notice type (as stored)."""
    clock.advance(hours=hours)
    with rt.db.uow() as s:
        notices = [n for n in scan_fuses(s, rt.cfg, clock.now) if n.lead_id == lead_id]
    rt.deliver(notices)
    cards = {}
    with rt.db.uow() as s:
        for n in notices:
            card = render(rt, n)
            cards[type(n)] = card_from_dict(s.get(CardRecord, card.card_id).content)
    return cards


# ---------------------------------------------------------------- every notice kind renders
def all_notices(rt, clock) -> list:  # noqa: ANN001
    """Real notices from the real services, one or more per kind."""
    cfg, start, out = rt.cfg, clock.now, []
    ids = [make_lead(rt, start) for _ in range(4)]     # one is reassigned, three stay uncontacted
    unowned = make_lead(rt, start, owner=None)
    with rt.db.uow() as s:
        out += reassign(s, cfg, s.get(Lead, ids[0]), "li.na", "wang.fang", start)[1]                 # lead.assigned
        out += leave_in_pool(s, cfg, s.get(Lead, unowned), cfg.org.team("east-medical"), "测试 → 公海", "system", start,
                             [("zhao.min", "休假中")])[1]                                             # lead.pool
        out += check_slow_first_contact(s, cfg, EmbeddedKV(prefix="wfh"), start + timedelta(hours=3))
        out += scan_followups(s, cfg, start + timedelta(hours=49))
        out += scan_fuses(s, cfg, start + timedelta(hours=73))
        out += scan_fuses(s, cfg, start + timedelta(hours=98))
        out += scan_pool(s, cfg, start + timedelta(days=28), PoolPolicy(idle_days=30, warn_days_before=3))
        out += scan_pool(s, cfg, start + timedelta(days=31), PoolPolicy(idle_days=30, warn_days_before=3))
    make_lead(rt, start, owner="chen.jie", budget_cny=2_000_000)
    with rt.db.uow() as s:
        out += handover(s, cfg, "chen.jie", "li.na", "cli", start)[1]
    return out


def test_every_workflow_notice_renders_a_valid_card(runtime, clock) -> None:  # noqa: ANN001
    notices = all_notices(runtime, clock)
    types = {type(n) for n in notices}
    assert types == {LeadAssigned, LeadPooled, RoutingPaused, FollowupSupervisor, FuseReminder,
                     FuseSupervisor, FuseDiagnosis, PoolWarning, PoolReturned, HandoverSummary}
    ids = set()
    for n in notices:
        card = render(runtime, n)
        assert isinstance(card, Card) and len(card.buttons) <= 6
        assert card.card_id not in ids and render(runtime, n).card_id == card.card_id   # stable, distinct
        ids.add(card.card_id)
        text = render_text(card)
        if n.lead_id:
            assert f"#{n.lead_id}" in text
        assert "None" not in text                                    # no raw values
        # the new owner's assignment card and the fuse cards (owner, supervisors) carry the phone
        # to call, in full as the policy allows them; the other cards carry none
        assert ("13812345678" in text) == isinstance(n, (LeadAssigned, FuseReminder, FuseSupervisor, FuseDiagnosis))
        done = card.resolved("已由 王芳 转派给 李娜 · 11-22 14:03")
        # every platform can show it
        assert render_wecom(card, 1000002) and render_wecom_update(done, 1000002)
        assert render_dingtalk(card) and render_dingtalk_update(done)
        assert render_feishu(card) and render_feishu(done)


SUPERVISOR_TYPES = (FuseSupervisor, FuseDiagnosis, FollowupSupervisor)


def test_buttons_on_reminder_and_supervisor_cards(runtime, clock) -> None:  # noqa: ANN001
    notices = all_notices(runtime, clock)
    by_type = {type(n): render(runtime, n) for n in notices if n.lead_id}
    reminder = by_type[FuseReminder]
    assert [(b.text, b.action) for b in reminder.buttons] == [
        ("已跟进", "fuse.done"), ("延期1天", "fuse.snooze"), ("需要支援", "fuse.help"),
        ("不再提醒此客户", "followup.mute")]
    team = runtime.cfg.org.team("east-medical")
    for n in (n for n in notices if isinstance(n, SUPERVISOR_TYPES)):
        assert n.to_supervisor
        card = render(runtime, n)
        reassign_to = [b.value["to"] for b in card.buttons if b.action == "lead.reassign"]
        eligible = [m for m in team.members if m != n.owner
                    and runtime.cfg.org.rep(m).availability == "active"]
        assert reassign_to == eligible and eligible          # the on-leave member gets no button
        assert "fuse.nudge" in [b.action for b in card.buttons]
    diagnosis = render_text(by_type[FuseDiagnosis])
    assert "团队同阶段一般停留" in diagnosis and "近30天" in diagnosis and "最近动态" in diagnosis


# ---------------------------------------------------------------- 推进阶段
GATE_CASES = [
    # (start, lead fields, command after "推进阶段 #id", reply must contain, stage after)
    ("qualify", {"phone": None}, "定制方案发送", ["无法推进阶段", "还缺:电话", "需要先补充到线索中"], "qualify"),
    ("proposal", {}, "首版报价签收", ["还缺:需求文件", "需求文件:需求说明.docx"], "proposal"),
    ("proposal", {}, "quote 需求文件:需求说明V2.docx", ["已推进", "定制方案发送 → 首版报价签收"], "quote"),
    ("quote", {}, "谈判 决策链:采购部张总→分管副院长", ["已推进"], "negotiation"),
    ("negotiation", {}, "赢单", ["还缺:异议类别", "异议:价格"], "negotiation"),
    ("negotiation", {}, "赢单 异议:心情", ["异议类别无效", "价格、竞品"], "negotiation"),
    ("negotiation", {}, "won 异议:价格", ["已推进", "赢单"], "won"),
    ("qualify", {"budget_cny": None}, "报价", ["还缺:预算、需求文件"], "qualify"),       # name fragment
    ("qualify", {}, "火星", ["没有找到阶段「火星」", "需求确认、定制方案发送"], "qualify"),
    ("qualify", {}, "需求确认", ["已在“需求确认”阶段"], "qualify"),
]


@pytest.mark.parametrize("start, fields, command, expected, after", GATE_CASES)
def test_advance_command_gates(runtime, clock, start, fields, command, expected, after) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now, stage=start, **fields)
    out = said(run(runtime, "zhang.wei", text=f"推进阶段 #{lead_id} {command}"))
    for piece in expected:
        assert piece in out, out
    assert lead_row(runtime, lead_id).stage == after
    moves = count(runtime, Activity, Activity.lead_id == lead_id, Activity.kind == "stage")
    assert moves == (after != start)


def test_advance_saves_details_and_is_owner_only(runtime, clock) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now, stage="quote")
    refused = said(run(runtime, "li.na", text=f"advance #{lead_id} negotiation 决策链:张总"))
    assert "不是你负责的" in refused and lead_row(runtime, lead_id).stage == "quote"
    run(runtime, "zhang.wei", text=f"推进阶段 #{lead_id} 谈判 决策链: 采购部张总→院长 异议:价格")
    lead = lead_row(runtime, lead_id)
    assert lead.stage == "negotiation"
    assert lead.details["decision_chain"] == "采购部张总→院长" and lead.details["objection_category"] == "价格"


# ---------------------------------------------------------------- 转派 from the supervisor card
@pytest.mark.parametrize("actor, allowed", [("wang.fang", True), ("zhang.wei", False), ("li.na", False),
                                            ("liu.yang", False)])
def test_reassign_tap_only_for_supervisor_or_admin(runtime, clock, actor, allowed) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now)
    card = escalate(runtime, clock, lead_id)[FuseSupervisor]
    before = count(runtime, Assignment, Assignment.lead_id == lead_id)
    replies = run(runtime, actor, card=card, action="lead.reassign", to="li.na")
    lead = lead_row(runtime, lead_id)
    to_lina = count(runtime, OutboundMessage, OutboundMessage.recipient == "manager7002",
                    OutboundMessage.kind == "card")
    if allowed:
        assert lead.owner_rep_id == "li.na" and lead.fuse_level == 0
        assert count(runtime, Assignment, Assignment.lead_id == lead_id) == before + 1
        assert to_lina == 1                                              # 李娜 is told on DingTalk
        update = next(r for r in replies if r.update)
        assert update.item.card_id == card.card_id
        assert update.item.result == f"已由 王芳 转派给 李娜 · {local(clock.now):%m-%d %H:%M}"
        assert any(r.to_rep == "zhang.wei" for r in replies)             # the old owner hears it too
    else:
        assert "只有该线索所在团队的主管或管理员" in said(replies)
        assert not any(r.update for r in replies)
        assert (lead.owner_rep_id, lead.fuse_level) == ("zhang.wei", 2)
        assert count(runtime, Assignment, Assignment.lead_id == lead_id) == before and to_lina == 0
        # the refusal did not use the card up: the supervisor can still act on it
        run(runtime, "wang.fang", card=card, action="lead.reassign", to="li.na")
        assert lead_row(runtime, lead_id).owner_rep_id == "li.na"


def test_reassign_command(runtime, clock) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now)
    assert "只有该线索所在团队的主管或管理员" in said(run(runtime, "li.na", text=f"转派 #{lead_id} 李娜"))
    assert "休假中" in said(run(runtime, "wang.fang", text=f"转派 #{lead_id} 赵敏"))
    assert "没有找到同事" in said(run(runtime, "wang.fang", text=f"reassign #{lead_id} 小明"))
    assert lead_row(runtime, lead_id).owner_rep_id == "zhang.wei"
    out = said(run(runtime, "wang.fang", text=f"转派 #{lead_id} li.na"))
    assert "转派给 李娜" in out and lead_row(runtime, lead_id).owner_rep_id == "li.na"
    assert count(runtime, OutboundMessage, OutboundMessage.recipient == "manager7002",
                 OutboundMessage.kind == "card") == 1                 # the lead.assigned card


# ---------------------------------------------------------------- one effect per card
TAPS = [
    # (card's notice type, tapper, action, values, what one effect looks like)
    (FuseSupervisor, "wang.fang", "lead.reassign", {"to": "li.na"}, (Assignment, None)),
    (FuseReminder, "zhang.wei", "fuse.done", {}, (Activity, "follow_up")),
    (FuseReminder, "zhang.wei", "fuse.snooze", {}, (Activity, "postpone")),
    (FuseReminder, "zhang.wei", "fuse.help", {}, (Activity, "help")),
    (FuseSupervisor, "wang.fang", "fuse.nudge", {}, (Activity, "nudge")),
    (FuseSupervisor, "wang.fang", "fuse.assist", {}, (Activity, "assist")),
    (FuseReminder, "zhang.wei", "followup.mute", {}, (Activity, "mute")),
]


@pytest.mark.parametrize("kind, actor, action, values, effect", TAPS,
                         ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_double_tap_has_one_effect(runtime, clock, kind, actor, action, values, effect) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now)
    card = escalate(runtime, clock, lead_id)[kind]
    model, act_kind = effect
    where = [model.lead_id == lead_id] if act_kind is None else [Activity.kind == act_kind]
    before = count(runtime, model, *where)
    first = run(runtime, actor, card=card, action=action, **values)
    second = run(runtime, actor, card=card, action=action, **values)     # a stale client, or a retry
    assert count(runtime, model, *where) == before + 1
    assert [r.item.result is not None for r in first if r.update] == [True]
    assert STALE in said(second) and not any(r.update for r in second)
    with runtime.db.uow() as s:
        assert s.get(CardRecord, card.card_id).result.startswith(polish(first[0].item.result.split(" · ")[0]))


def test_help_request_reaches_the_supervisor_platform(runtime, clock) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now)
    card = escalate(runtime, clock, lead_id)[FuseReminder]
    assert "王芳" in said(run(runtime, "zhang.wei", card=card, action="fuse.help"))
    with runtime.db.uow() as s:
        sent = s.scalars(select(OutboundMessage).where(OutboundMessage.recipient == "ou_wangfang",
                                                       OutboundMessage.kind == "card")).all()
    assert any("请求支援" in row.body["card"]["title"] for row in sent)


def test_rep_cannot_act_on_someone_elses_reminder(runtime, clock) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now)
    card = escalate(runtime, clock, lead_id)[FuseReminder]
    for action in ("fuse.done", "fuse.snooze", "followup.mute"):
        assert "不是你负责的" in said(run(runtime, "li.na", card=card, action=action))
    lead = lead_row(runtime, lead_id)
    assert lead.fuse_level == 2 and count(runtime, Activity, Activity.lead_id == lead_id,
                                          Activity.kind.in_(("follow_up", "postpone"))) == 0
    with runtime.db.uow() as s:
        assert not is_muted(s, "li.na", lead.customer_id) and s.get(CardRecord, card.card_id).result is None


# ---------------------------------------------------------------- mute / unmute
def test_mute_by_card_and_command_is_reversible(runtime, clock) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, clock.now, company="杭州优品医疗科技有限公司")
    customer_id = lead_row(runtime, lead_id).customer_id

    def muted() -> bool:
        with runtime.db.uow() as s:
            return is_muted(s, "zhang.wei", customer_id)
    card = escalate(runtime, clock, lead_id)[FuseReminder]
    replies = run(runtime, "zhang.wei", card=card, action="followup.mute")
    assert muted()
    undo = next(r.item for r in replies if isinstance(r.item, Card) and not r.update)
    run(runtime, "zhang.wei", card=undo, action="followup.unmute")
    assert not muted()
    assert "已静音" in said(run(runtime, "zhang.wei", text="静音提醒 优品")) and muted()
    with runtime.db.uow() as s:
        record_follow_up(s, s.get(Lead, lead_id), "zhang.wei", "wecom", "回访", clock.now, runtime.cfg)
        notices = scan_fuses(s, runtime.cfg, clock.now + timedelta(hours=73))
    assert [type(n) for n in notices] == [FuseSupervisor]          # muted: no rep reminder
    assert "已恢复提醒" in said(run(runtime, "zhang.wei", text=f"取消静音 #{customer_id}")) and not muted()
    assert "本来就没有静音" in said(run(runtime, "zhang.wei", text="unmute 优品"))
    assert "没有找到" in said(run(runtime, "li.na", text="mute 优品"))     # not li.na's customer


# ---------------------------------------------------------------- 领取
def pool_lead(rt, now, former: str = "zhang.wei") -> int:  # noqa: ANN001
    lead_id = make_lead(rt, now, owner=former)
    with rt.db.uow() as s:
        return_to_pool(s, rt.cfg, s.get(Lead, lead_id), now, "30 天未跟进")
    return lead_id


def with_limit(rt, rep_id: str, limit: int):  # noqa: ANN001, ANN201
    reps = [r.model_copy(update={"max_open_leads": limit}) if r.id == rep_id else r for r in rt.cfg.org.reps]
    cfg = rt.cfg.model_copy(update={"org": rt.cfg.org.model_copy(update={"reps": reps})})
    return dataclasses.replace(rt, cfg=cfg)


CLAIMS = [
    # (claimer, holding limit, already held, former owner, expected reply, claimed)
    ("li.na", None, 0, "zhang.wei", "已领取", True),
    ("zhang.wei", None, 0, "zhang.wei", "后才能重新领取", False),         # cool-down for the former owner
    ("li.na", 2, 2, "zhang.wei", "已达上限 2 条", False),
    ("li.na", 2, 1, "zhang.wei", "已领取", True),
    ("zhao.min", None, 0, "zhang.wei", "休假中", False),
]


@pytest.mark.parametrize("claimer, limit, held, former, expected, claimed", CLAIMS)
def test_claim_from_pool(runtime, clock, claimer, limit, held, former, expected, claimed) -> None:  # noqa: ANN001
    rt = with_limit(runtime, claimer, limit) if limit else runtime
    for _ in range(held):
        make_lead(rt, clock.now, owner=claimer)
    lead_id = pool_lead(rt, clock.now, former)
    clock.advance(hours=1)
    out = said(run(rt, claimer, text=f"领取 #{lead_id}"))
    assert expected in out, out
    assert lead_row(rt, lead_id).owner_rep_id == (claimer if claimed else None)
    if claimed:
        assert "13812345678" in out                               # the new owner sees the phone
        assert "不在公海中" in said(run(rt, "chen.jie", text=f"claim #{lead_id}"))


def test_pool_listing_masks_phones(runtime, clock) -> None:  # noqa: ANN001
    lead_id = pool_lead(runtime, clock.now)
    out = said(run(runtime, "li.na", text="公海"))
    assert f"#{lead_id}" in out and "138****5678" in out and "13812345678" not in out


# ---------------------------------------------------------------- CLI and API
def test_cli_explain_handover_and_funnel(runtime, clock) -> None:  # noqa: ANN001
    from bot.cli.workflow import assign_group, handover_cmd, report_funnel_cmd
    cli = CliRunner()
    lead_id = make_lead(runtime, clock.now, owner=None)
    res = cli.invoke(assign_group, ["explain", str(lead_id)], obj=runtime)
    assert res.exit_code == 0 and "规则 1「华东医疗」:命中" in res.output
    assert cli.invoke(assign_group, ["explain", "999999"], obj=runtime).exit_code == 1
    small, big = (make_lead(runtime, clock.now, owner="chen.jie", budget_cny=b) for b in (100_000, 3_000_000))
    refused = cli.invoke(handover_cmd, ["chen.jie", "--to", "li.na", "--yes"], obj=runtime)
    assert refused.exit_code == 2 and "仍是在岗" in refused.output
    listed = cli.invoke(handover_cmd, ["chen.jie", "--to", "li.na", "--dry-run", "--force"], obj=runtime)
    assert listed.output.index(f"#{big}") < listed.output.index(f"#{small}") and "未做任何更改" in listed.output
    assert lead_row(runtime, big).owner_rep_id == "chen.jie"
    done = cli.invoke(handover_cmd, ["chen.jie", "--to", "li.na", "--yes", "--force"], obj=runtime)
    assert done.exit_code == 0 and "已交接 2 条线索、2 个客户给 李娜" in done.output
    assert {lead_row(runtime, i).owner_rep_id for i in (small, big)} == {"li.na"}
    with runtime.db.uow() as s:
        summaries = s.scalars(select(OutboundMessage).where(OutboundMessage.recipient == "manager7002")).all()
    assert len(summaries) == 1 and "交接给你" in summaries[0].body["card"]["title"]
    assert cli.invoke(handover_cmd, ["chen.jie"], obj=runtime).exit_code == 2           # needs --to or --pool
    report = cli.invoke(report_funnel_cmd, ["--from", "需求确认", "--to", "proposal"], obj=runtime)
    assert report.exit_code == 0 and "需求确认 → 定制方案发送" in report.output
    assert cli.invoke(report_funnel_cmd, ["--from", "qualify"], obj=runtime).exit_code == 2


def funnel_history(rt, clock) -> tuple[int, int]:  # noqa: ANN001
    """Leads created 30 days ago; some reach 定制方案发送 within 7 days, one too late."""
    base = clock.now - timedelta(days=30)
    plan = [3, 5, None, 10, None]               # days until the move (None: never)
    for days in plan:
        lead_id = make_lead(rt, base)
        if days is not None:
            with rt.db.uow() as s:
                advance_stage(s, rt.cfg, s.get(Lead, lead_id), "proposal", "zhang.wei", "wecom",
                              base + timedelta(days=days))
    return len(plan), sum(1 for d in plan if d is not None and d <= 7)


def test_funnel_api(runtime, clock) -> None:  # noqa: ANN001
    from bot.web import create_app
    from bot.web.workflow_api import workflow_api
    app = create_app(runtime)
    if "workflow_api" not in app.blueprints:
        app.register_blueprint(workflow_api)
    client = app.test_client()
    entered, reached = funnel_history(runtime, clock)
    assert client.get("/api/v1/reports/funnel").status_code == 401
    res = client.get("/api/v1/reports/funnel?from=qualify&to=定制方案发送&days=90", headers=TOKEN)
    assert res.status_code == 200, res.get_json()
    report = res.get_json()["reports"][0]
    assert report["overall"] == {"entered": entered, "reached": reached, "rate": round(reached / entered, 4)}
    assert report["by_team"]["east-medical"]["entered"] == entered and report["to_name"] == "定制方案发送"
    whole = client.get("/api/v1/reports/funnel", headers=TOKEN).get_json()["reports"]
    assert [(r["from"], r["to"]) for r in whole] == [("qualify", "proposal"), ("proposal", "quote"),
                                                     ("quote", "negotiation"), ("negotiation", "won")]
    for bad in ("from=qualify", "from=qualify&to=nowhere", "days=abc", "days=0"):
        assert client.get(f"/api/v1/reports/funnel?{bad}", headers=TOKEN).status_code == 400
