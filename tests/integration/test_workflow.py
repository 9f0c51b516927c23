"""The "nothing falls through" workflow on SQLite and PostgreSQL with a frozen clock: stage
gates, the fuse (once per step, cancelled by an update, on working time), follow-up watch and
mutes, smart routing, the public pool, handover and stage penetration."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Lead, Reminder, Task
from crm_core.kv import EmbeddedKV
from crm_core.notices import (FollowupSupervisor, FuseDiagnosis, FuseReminder, FuseSupervisor, HandoverSummary,
                              LeadAssigned, Notice, PoolReturned, PoolWarning, RoutingPaused)
from crm_core.services.activity import record_follow_up
from crm_core.authz import Action, Principal, decide
from crm_core.services.access import lead_facts
from crm_core.services.assign import assign_lead, give_lead, reassign
from crm_core.services.capture import save_lead
from crm_core.services.fuse import postpone_fuse, scan_fuses
from crm_core.services.followup import mute, scan_followups, unmute
from crm_core.services.lead_input import LeadInput
from crm_core.services.stages import LossReasonNeeded, StageError, StageGateError, advance_stage
from crm_core.worktime import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH).astimezone(timezone.utc)


def with_stage(cfg: AppConfig, key: str, **changes: object) -> AppConfig:
    stages = [s.model_copy(update=changes) if s.key == key else s for s in cfg.funnel.stages]
    return cfg.model_copy(update={"funnel": cfg.funnel.model_copy(update={"stages": stages})})


def make_lead(db, cfg: AppConfig, now: datetime, owner: str | None = "zhang.wei",  # noqa: ANN001
              stage: str | None = None, **fields: object) -> int:
    data = {"source": "chat", "company": "杭州某医院", "contact_name": "王总", "phone": "13812345678",
            "budget_cny": 500_000, "industry": "医疗", "region": "浙江", **fields}
    with db.uow() as s:
        lead = save_lead(s, cfg, LeadInput(**data), actor="zhang.wei", platform="wecom", now=now).lead
        if owner:
            give_lead(s, lead, cfg.org.rep(owner), "east-medical", "测试分配", "system", now)
        if stage:
            lead.stage = stage
        return lead.id


def scan_until(db, cfg: AppConfig, clock, until: datetime, step=timedelta(minutes=15)) -> list:  # noqa: ANN001
    """Run the scheduler's fuse scan every `step` up to `until`, each tick its own transaction."""
    out = []
    while clock.now < until:
        clock.now = min(clock.now + step, until)
        with db.uow() as s:
            out += scan_fuses(s, cfg, clock.now)
    return out


def kinds(notices: list[Notice]) -> list[tuple[type[Notice], str]]:
    return sorted(((type(n), n.to_rep) for n in notices), key=lambda t: (t[0].kind, t[1]))


# ---------------------------------------------------------------- stage gates
GATE_CASES = [
    # (start stage, lead fields, target, details given, missing, invalid keys)
    ("qualify", {"contact_name": None, "phone": None, "budget_cny": None}, "proposal", None,
     ["contact_name", "phone", "budget_cny"], []),
    ("qualify", {"phone": None}, "proposal", None, ["phone"], []),
    ("qualify", {}, "proposal", None, [], []),
    ("proposal", {}, "quote", None, ["requirements_file"], []),
    ("proposal", {}, "quote", {"requirements_file": "需求说明.docx"}, [], []),
    ("qualify", {"budget_cny": None}, "quote", None, ["budget_cny", "requirements_file"], []),   # jumping
    ("negotiation", {}, "won", None, ["objection_category"], []),
    ("negotiation", {}, "won", {"objection_category": "心情"}, [], ["objection_category"]),
    ("negotiation", {}, "won", {"objection_category": "价格"}, [], []),
    ("quote", {}, "won", {"decision_chain": "   "}, ["decision_chain", "objection_category"], []),
    ("qualify", {"phone": None}, "lost", {"loss_reason": "price"}, [], []),   # losing needs only its reason
    ("quote", {}, "proposal", None, [], []),                     # stepping back needs nothing
]


@pytest.mark.parametrize("start, fields, target, details, missing, invalid", GATE_CASES)
def test_stage_gate(db, cfg, clock, start, fields, target, details, missing, invalid) -> None:  # noqa: ANN001
    lead_id = make_lead(db, cfg, clock.now, stage=start, **fields)
    with db.uow() as s:
        lead = s.get(Lead, lead_id)
        if missing or invalid:
            with pytest.raises(StageGateError) as err:
                advance_stage(s, cfg, lead, target, "zhang.wei", "wecom", clock.now, details)
            assert err.value.missing == missing
            assert sorted(err.value.invalid) == invalid
            assert "无法推进阶段" in str(err.value)
            assert lead.stage == start
        else:
            act = advance_stage(s, cfg, lead, target, "li.na", "dingtalk", clock.now, details)
            assert (act.actor, act.platform, act.data["from"], act.data["to"]) == ("li.na", "dingtalk", start, target)
            assert lead.stage == target and lead.stage_entered_at == clock.now
            outcome = cfg.funnel.stage(target).outcome
            assert lead.status == (outcome or "open")
            assert (lead.fuse_deadline is None) == (outcome is not None)


def test_stage_move_resets_fuse_on_the_new_stage_clock(db, cfg) -> None:  # noqa: ANN001
    friday = sh(2027, 1, 8, 17)            # proposal runs on working time: 72 h = 8 working days
    lead_id = make_lead(db, cfg, friday)
    with db.uow() as s:
        lead = s.get(Lead, lead_id)
        lead.fuse_level = 2
        advance_stage(s, cfg, lead, "proposal", "zhang.wei", "wecom", friday)
        assert lead.fuse_level == 0
        assert lead.fuse_deadline == sh(2027, 1, 20, 17)
        with pytest.raises(StageError):
            advance_stage(s, cfg, lead, "proposal", "zhang.wei", "wecom", friday)
        with pytest.raises(StageError):
            advance_stage(s, cfg, lead, "nowhere", "zhang.wei", "wecom", friday)


def test_losing_needs_a_configured_reason(db, cfg, clock) -> None:  # noqa: ANN001
    lead_id = make_lead(db, cfg, clock.now)
    with db.uow() as s:
        lead = s.get(Lead, lead_id)
        for given in (None, {"loss_reason": "天气"}):
            with pytest.raises(LossReasonNeeded) as err:
                advance_stage(s, cfg, lead, "lost", "zhang.wei", "wecom", clock.now, given)
            assert "价格不合适" in str(err.value) and lead.status == "open"
        act = advance_stage(s, cfg, lead, "lost", "zhang.wei", "wecom", clock.now, {"loss_reason": "竞品"})
        assert (lead.status, lead.details["loss_reason"]) == ("lost", "competitor") and "选了竞品" in act.text


def test_losing_cancels_the_leads_open_todos_only(db, cfg, clock) -> None:  # noqa: ANN001
    """A lost lead leaves nothing to do: its open to-dos are cancelled (out of 我的待办 and the
    digest), a finished one stays done, another lead's stays open."""
    lost, other = make_lead(db, cfg, clock.now), make_lead(db, cfg, clock.now, company="宁波某医院")
    with db.uow() as s:
        for lead_id, status in ((lost, "open"), (lost, "done"), (other, "open"), (lost, "open")):
            s.add(Task(customer_id=s.get_one(Lead, lead_id).customer_id, lead_id=lead_id, owner_rep_id="zhang.wei",
                       title="拜访", due_date=clock.now.date(), status=status))
    with db.uow() as s:
        advance_stage(s, cfg, s.get_one(Lead, lost), "lost", "zhang.wei", "wecom", clock.now, {"loss_reason": "price"})
    with db.uow() as s:
        assert [(t.lead_id, t.status) for t in s.scalars(select(Task).order_by(Task.id))] == [
            (lost, "cancelled"), (lost, "done"), (other, "open"), (lost, "cancelled")]


# ---------------------------------------------------------------- the fuse
def test_idle_lead_escalates_exactly_once_per_step(db, cfg, clock) -> None:  # noqa: ANN001
    start = clock.now
    earlier = start - timedelta(days=12)         # history for the diagnosis: 30 h in 需求确认, then on
    done_id = make_lead(db, cfg, earlier)
    with db.uow() as s:
        done = s.get(Lead, done_id)
        advance_stage(s, cfg, done, "proposal", "zhang.wei", "wecom", earlier + timedelta(hours=30))
        advance_stage(s, cfg, done, "lost", "zhang.wei", "wecom", earlier + timedelta(hours=40), {"loss_reason": "price"})
    lead_id = make_lead(db, cfg, start)
    early = scan_until(db, cfg, clock, start + timedelta(hours=71, minutes=59))
    assert early == []
    at_timeout = scan_until(db, cfg, clock, start + timedelta(hours=95))
    assert kinds(at_timeout) == [(FuseReminder, "zhang.wei"), (FuseSupervisor, "wang.fang")]
    sup = next(n for n in at_timeout if isinstance(n, FuseSupervisor))
    assert sup.platform == "feishu" and sup.stage_name == "需求确认"
    assert 0 <= sup.hours_overdue < 1 and sup.lead_id == lead_id
    later = scan_until(db, cfg, clock, start + timedelta(hours=140))
    assert kinds(later) == [(FuseDiagnosis, "wang.fang")]
    diag = later[0]
    assert isinstance(diag, FuseDiagnosis) and diag.hours_overdue == pytest.approx(24, abs=0.3)
    assert diag.recent_activities and diag.recent_activities[0]["kind"] in ("assigned", "created")
    assert diag.team_median_hours == 30.0
    assert diag.rep_conversion_30d == {"entered": 2, "reached": 1, "rate": 0.5}
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Reminder).where(Reminder.lead_id == lead_id)) == 3


def test_update_cancels_escalation_and_rearms(db, cfg, clock) -> None:  # noqa: ANN001
    start = clock.now
    lead_id = make_lead(db, cfg, start)
    assert len(scan_until(db, cfg, clock, start + timedelta(hours=80))) == 2
    with db.uow() as s:
        record_follow_up(s, s.get(Lead, lead_id), "zhang.wei", "wecom", "已电话沟通", clock.now, cfg)
    assert scan_until(db, cfg, clock, start + timedelta(hours=151)) == []     # no diagnosis: cancelled
    again = scan_until(db, cfg, clock, start + timedelta(hours=153))          # idle 72 h again
    assert kinds(again) == [(FuseReminder, "zhang.wei"), (FuseSupervisor, "wang.fang")]


def test_postpone_one_day(db, cfg, clock) -> None:  # noqa: ANN001
    start = clock.now
    lead_id = make_lead(db, cfg, start)
    scan_until(db, cfg, clock, start + timedelta(hours=73))
    with db.uow() as s:
        until = postpone_fuse(s, cfg, s.get(Lead, lead_id), "zhang.wei", "wecom", clock.now)
    assert until == clock.now + timedelta(days=1)
    assert scan_until(db, cfg, clock, until - timedelta(minutes=1)) == []
    assert len(scan_until(db, cfg, clock, until + timedelta(minutes=30))) == 2


@pytest.mark.parametrize("entered, deadline, quiet_until, overdue_at, overdue_hours", [
    # 9 working hours in proposal; 调休 Sunday 7 Feb works
    (sh(2027, 2, 5, 17), sh(2027, 2, 7, 17), sh(2027, 2, 7, 16, 59), sh(2027, 2, 8, 10), 2),
    # Spring Festival 16–18 Feb skipped
    (sh(2027, 2, 15, 17), sh(2027, 2, 19, 17), sh(2027, 2, 19, 16, 59), sh(2027, 2, 22, 10), 2),
    # plain weekend
    (sh(2027, 1, 8, 12), sh(2027, 1, 11, 12), sh(2027, 1, 11, 11, 59), sh(2027, 1, 11, 13), 1),
])
def test_working_time_fuse(db, cfg, clock, entered, deadline, quiet_until, overdue_at, overdue_hours) -> None:  # noqa: ANN001
    cfg = with_stage(cfg, "proposal", timeout_hours=9, clock="working")
    lead_id = make_lead(db, cfg, entered)
    with db.uow() as s:
        advance_stage(s, cfg, s.get(Lead, lead_id), "proposal", "zhang.wei", "wecom", entered)
        assert s.get(Lead, lead_id).fuse_deadline == deadline
    clock.now = entered
    assert scan_until(db, cfg, clock, quiet_until, step=timedelta(hours=1)) == []
    clock.now = overdue_at
    with db.uow() as s:
        notices = scan_fuses(s, cfg, overdue_at)
    assert kinds(notices) == [(FuseReminder, "zhang.wei"), (FuseSupervisor, "wang.fang")]
    reminder = notices[0]
    assert isinstance(reminder, FuseReminder)
    assert reminder.hours_overdue == overdue_hours and reminder.clock == "working"
    # the diagnosis also waits 24 *working* hours
    diag_at = WorkCalendar(cfg.calendar, cfg.app.timezone).add_hours(deadline, 24)
    assert scan_until(db, cfg, clock, diag_at - timedelta(minutes=1), step=timedelta(hours=2)) == []
    assert kinds(scan_until(db, cfg, clock, diag_at)) == [(FuseDiagnosis, "wang.fang")]


def test_muted_customer_skips_only_the_rep_reminder(db, cfg, clock) -> None:  # noqa: ANN001
    start = clock.now
    lead_id = make_lead(db, cfg, start)
    with db.uow() as s:
        customer_id = s.get(Lead, lead_id).customer_id
        first = mute(s, "zhang.wei", customer_id, "zhang.wei", "wecom", start)
        assert mute(s, "zhang.wei", customer_id, "zhang.wei", "wecom", start).id == first.id   # double tap
    assert kinds(scan_until(db, cfg, clock, start + timedelta(hours=73))) == [(FuseSupervisor, "wang.fang")]
    with db.uow() as s:
        assert unmute(s, "zhang.wei", customer_id, "zhang.wei", "wecom", clock.now)
        assert not unmute(s, "zhang.wei", customer_id, "zhang.wei", "wecom", clock.now)
        record_follow_up(s, s.get(Lead, lead_id), "zhang.wei", "wecom", "回访", clock.now, cfg)
        logged = s.scalars(select(Activity.kind).where(Activity.customer_id == customer_id,
                                                       Activity.kind.in_(["mute", "unmute"]))).all()
        assert sorted(logged) == ["mute", "unmute"]
    assert (FuseReminder, "zhang.wei") in kinds(scan_until(db, cfg, clock, clock.now + timedelta(hours=73)))


def test_pool_leads_only_reach_the_supervisor(db, cfg, clock) -> None:  # noqa: ANN001
    start = clock.now
    make_lead(db, cfg, start, owner=None)
    with db.uow() as s:
        s.execute(text("UPDATE leads SET team_id = 'east-medical'"))
    assert kinds(scan_until(db, cfg, clock, start + timedelta(hours=73))) == [(FuseSupervisor, "wang.fang")]


def test_scan_query_uses_the_fuse_index(db, cfg, clock) -> None:  # noqa: ANN001
    if db.dialect != "sqlite":
        pytest.skip("query plan checked on SQLite; the bench covers PostgreSQL")
    from crm_core.services.fuse import _due_condition
    stmt = select(Lead.id).where(Lead.status == "open", Lead.fuse_deadline <= clock.now, Lead.fuse_level < 3,
                                 _due_condition(cfg, clock.now))
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as c:
        plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_leads_status_fuse" in plan


# ---------------------------------------------------------------- follow-up watch
def test_followup_48h_notifies_supervisor_once_per_spell(db, cfg, clock) -> None:  # noqa: ANN001
    start = clock.now
    lead_id = make_lead(db, cfg, start)
    make_lead(db, cfg, start, owner=None)             # unassigned: not watched

    def tick(hours: float) -> list:
        clock.now = start + timedelta(hours=hours)
        with db.uow() as s:
            return scan_followups(s, cfg, clock.now)
    assert tick(47.9) == []
    assert kinds(tick(48)) == [(FollowupSupervisor, "wang.fang")]
    assert tick(49) == [] and tick(60) == []
    with db.uow() as s:
        record_follow_up(s, s.get(Lead, lead_id), "zhang.wei", "wecom", "微信沟通", clock.now, cfg)
    assert tick(100) == []
    assert kinds(tick(108)) == [(FollowupSupervisor, "wang.fang")]


# ---------------------------------------------------------------- assignment with the database
def test_assign_round_robin_skips_leave_and_stores_reason(db, cfg, clock) -> None:  # noqa: ANN001
    kv = EmbeddedKV(prefix="wf-rr")
    owners = []
    for _ in range(4):
        lead_id = make_lead(db, cfg, clock.now, owner=None)
        with db.uow() as s:
            row, notices = assign_lead(s, cfg, kv, s.get(Lead, lead_id), clock.now, "system")
            owners.append(row.rep_id)
            rep = cfg.org.rep(row.rep_id)
            assert row.reason == f"规则 华东医疗 → 轮流分配 → {rep.name}"
            assert [(type(n), n.to_rep) for n in notices] == [(LeadAssigned, row.rep_id)]
    assert owners[0] != owners[1] and owners[:2] == owners[2:]
    assert set(owners) == {"zhang.wei", "li.na"}               # zhao.min is on leave


def test_least_open_prefers_the_lighter_rep(db, cfg, clock) -> None:  # noqa: ANN001
    for _ in range(2):
        make_lead(db, cfg, clock.now, owner="zhang.wei")
    rules = [r.model_copy(update={"strategy": "least_open"}) for r in cfg.assignment.rules]
    cfg = cfg.model_copy(update={"assignment": cfg.assignment.model_copy(update={"rules": rules})})
    lead_id = make_lead(db, cfg, clock.now, owner=None)
    with db.uow() as s:
        row, _ = assign_lead(s, cfg, EmbeddedKV(prefix="wf-lo"), s.get(Lead, lead_id), clock.now, "system")
    assert row.rep_id == "li.na" and "最少在手" in row.reason


def test_reassign_and_who_may(db, cfg, clock) -> None:  # noqa: ANN001
    lead_id = make_lead(db, cfg, clock.now)
    with db.uow() as s:
        lead = s.get(Lead, lead_id)

        def can_reassign(rep_id: str) -> bool:
            return decide(cfg, Principal.of(cfg.org.rep(rep_id)), Action.REASSIGN, lead_facts(lead)).allowed
        assert can_reassign("wang.fang") and not can_reassign("li.na")
        assert not can_reassign("liu.yang")          # supervisor of another team
        lead.fuse_level = 2
        row, notices = reassign(s, cfg, lead, "li.na", "wang.fang", clock.now)
        assert lead.owner_rep_id == "li.na" and lead.fuse_level == 0 and "王芳" in row.reason
        assert isinstance(notices[0], LeadAssigned)
        assert notices[0].to_rep == "li.na" and notices[0].previous_owner == "zhang.wei"
        with pytest.raises(ValueError):
            reassign(s, cfg, lead, "zhao.min", "wang.fang", clock.now)       # on leave


def test_explain_shows_rules_members_and_does_not_advance(db, cfg, clock) -> None:  # noqa: ANN001
    from crm_core.assignment.explain import explain
    kv = EmbeddedKV(prefix="wf-ex")
    lead_id = make_lead(db, cfg, clock.now, owner=None)
    with db.uow() as s:
        lines = explain(s, cfg, kv, lead_id, clock.now)
        again = explain(s, cfg, kv, lead_id, clock.now)
        row, _ = assign_lead(s, cfg, kv, s.get(Lead, lead_id), clock.now, "system")
        assert explain(s, cfg, kv, 999999, clock.now) == ["找不到线索 #999999"]
    assert lines == again
    assert any(ln.startswith("规则 1「华东医疗」:命中") for ln in lines)
    assert any("赵敏:跳过(休假中)" in ln for ln in lines)
    assert lines[-1].startswith(f"结果:现在分配将给 {cfg.org.rep(row.rep_id).name}")


# ---------------------------------------------------------------- smart routing
def test_slow_first_contact_pauses_rep_for_the_day(db, cfg, clock) -> None:  # noqa: ANN001
    from crm_core.assignment.pick import is_paused
    from crm_core.services.routing import check_slow_first_contact, first_contact_sla
    kv = EmbeddedKV(prefix="wf-slow")
    start = sh(2027, 1, 4, 9)
    ids = [make_lead(db, cfg, start) for _ in range(3)]
    make_lead(db, cfg, start, owner="li.na")
    fresh = [make_lead(db, cfg, start, owner=None) for _ in range(3)]
    with db.uow() as s:
        record_follow_up(s, s.get(Lead, ids[0]), "zhang.wei", "wecom", "已联系", start + timedelta(hours=1), cfg)
        assert check_slow_first_contact(s, cfg, kv, start + timedelta(hours=3)) == []   # only 2 missed
        s.get(Lead, ids[0]).first_contact_at = None                                   # pretend it was never called
        assert check_slow_first_contact(s, cfg, kv, start + timedelta(hours=1, minutes=59)) == []
        notices = check_slow_first_contact(s, cfg, kv, start + timedelta(hours=2))
        assert kinds(notices) == [(RoutingPaused, "wang.fang")]
        assert isinstance(notices[0], RoutingPaused) and notices[0].count == 3
        assert check_slow_first_contact(s, cfg, kv, start + timedelta(hours=4)) == []   # once a day
        assert is_paused(kv, "zhang.wei", start + timedelta(hours=8))
        assert not is_paused(kv, "zhang.wei", sh(2027, 1, 5, 0, 1))                   # until local midnight
        owners = set()
        for lead_id in fresh:
            row, _ = assign_lead(s, cfg, kv, s.get(Lead, lead_id), start + timedelta(hours=5), "system")
            owners.add(row.rep_id)
        assert owners == {"li.na"}
        lead = s.get(Lead, ids[1])
        assert first_contact_sla(cfg, lead, start + timedelta(hours=47))["state"] == "pending"
        assert first_contact_sla(cfg, lead, start + timedelta(hours=49))["state"] == "breached"


# ---------------------------------------------------------------- public pool
def test_pool_warning_return_cooldown_and_limit(db, cfg, clock) -> None:  # noqa: ANN001
    from crm_core.services.pool import PoolError, PoolPolicy, claim_from_pool, scan_pool, visible_phone
    policy = PoolPolicy(idle_days=10, max_open_days=30, warn_days_before=3, cooldown_days=7)
    start = clock.now
    lead_id = make_lead(db, cfg, start)

    def tick(days: float) -> list:
        with db.uow() as s:
            return scan_pool(s, cfg, start + timedelta(days=days), policy)
    assert tick(6.9) == []
    assert kinds(tick(7)) == [(PoolWarning, "zhang.wei")]
    assert tick(8) == [] and tick(9.9) == []
    assert kinds(tick(10)) == [(PoolReturned, "zhang.wei")]
    assert tick(11) == []
    now = start + timedelta(days=11)
    with db.uow() as s:
        lead = s.get(Lead, lead_id)
        assert (lead.status, lead.owner_rep_id, lead.team_id) == ("pool", None, "east-medical")
        assert visible_phone(s, cfg, lead, "zhang.wei") == "138****5678"
        with pytest.raises(PoolError, match="重新领取"):
            claim_from_pool(s, cfg, lead, "zhang.wei", now, policy)
        limited = PoolPolicy(**{**policy.__dict__, "max_holding": 0})
        with pytest.raises(PoolError, match="上限"):
            claim_from_pool(s, cfg, lead, "li.na", now, limited)
        notices = claim_from_pool(s, cfg, lead, "li.na", now, policy)
        assert lead.owner_rep_id == "li.na" and lead.status == "open" and lead.fuse_deadline > now
        assert isinstance(notices[0], LeadAssigned) and "公海领取" in notices[0].reason
        assert visible_phone(s, cfg, lead, "li.na") == "13812345678"
        assert visible_phone(s, cfg, lead, "zhang.wei") == "138****5678"
        assert visible_phone(s, cfg, lead, "wang.fang") == "13812345678"        # team supervisor
        with pytest.raises(PoolError, match="不在公海"):
            claim_from_pool(s, cfg, lead, "chen.jie", now, policy)


def test_pool_after_cooldown_and_not_won_in_time(db, cfg, clock) -> None:  # noqa: ANN001
    from crm_core.services.pool import PoolPolicy, claim_from_pool, return_to_pool, scan_pool
    policy = PoolPolicy(idle_days=10, max_open_days=20, warn_days_before=2, cooldown_days=7)
    start = clock.now
    lead_id = make_lead(db, cfg, start)
    for day in range(1, 18):                          # busy every day, but never won
        with db.uow() as s:
            record_follow_up(s, s.get(Lead, lead_id), "zhang.wei", "wecom", "跟进", start + timedelta(days=day), cfg)
            assert scan_pool(s, cfg, start + timedelta(days=day), policy) == []
    with db.uow() as s:
        warned = scan_pool(s, cfg, start + timedelta(days=18), policy)
        assert kinds(warned) == [(PoolWarning, "zhang.wei")]
        assert isinstance(warned[0], PoolWarning) and "未赢单" in warned[0].reason
        returned = scan_pool(s, cfg, start + timedelta(days=20), policy)
        assert kinds(returned) == [(PoolReturned, "zhang.wei")]
        lead = s.get(Lead, lead_id)
        later = start + timedelta(days=27, minutes=1)
        claim_from_pool(s, cfg, lead, "zhang.wei", later, policy)         # cool-down is over
        assert lead.owner_rep_id == "zhang.wei"
        assert scan_pool(s, cfg, later + timedelta(days=1), policy) == []  # held-since restarts
        return_to_pool(s, cfg, lead, later, "测试", policy=policy)
        assert s.get(Lead, lead_id).status == "pool"


def test_holding_limit_from_rep_config(db, cfg, clock) -> None:  # noqa: ANN001
    from crm_core.services.pool import PoolError, claim_from_pool
    reps = [r.model_copy(update={"max_open_leads": 1}) if r.id == "li.na" else r for r in cfg.org.reps]
    cfg = cfg.model_copy(update={"org": cfg.org.model_copy(update={"reps": reps})})
    make_lead(db, cfg, clock.now, owner="li.na")
    pooled = make_lead(db, cfg, clock.now, owner=None)
    with db.uow() as s:
        with pytest.raises(PoolError, match="1 条"):
            claim_from_pool(s, cfg, s.get(Lead, pooled), "li.na", clock.now)
        claim_from_pool(s, cfg, s.get(Lead, pooled), "zhang.wei", clock.now)


# ---------------------------------------------------------------- handover
def test_handover_orders_by_importance_and_moves(db, cfg, clock) -> None:  # noqa: ANN001
    from crm_core.services.handover import handover, plan_handover
    small = make_lead(db, cfg, clock.now, budget_cny=100_000)
    big = make_lead(db, cfg, clock.now, budget_cny=2_000_000)
    late_stage = make_lead(db, cfg, clock.now, budget_cny=100_000, stage="negotiation")
    make_lead(db, cfg, clock.now, owner="li.na")
    with db.uow() as s:
        assert [ld.id for ld in plan_handover(s, "zhang.wei", cfg)] == [big, late_stage, small]
        moved, notices = handover(s, cfg, "zhang.wei", "li.na", "wang.fang", clock.now)
        assert [ld.id for ld in moved] == [big, late_stage, small]
        assert all(s.get(Lead, i).owner_rep_id == "li.na" for i in (big, late_stage, small))
        summary = notices[0]
        assert kinds(notices) == [(HandoverSummary, "li.na")]
        assert isinstance(summary, HandoverSummary) and summary.count == 3 and summary.leads[0]["id"] == big
        assert s.scalar(select(func.count()).select_from(Activity).where(
            Activity.kind == "handover", Activity.lead_id.is_not(None))) == 3       # + one per customer moved
        assert summary.customer_count == 3
        moved, notices = handover(s, cfg, "li.na", None, "wang.fang", clock.now)
        assert len(moved) == 4 and all(ld.status == "pool" and ld.owner_rep_id is None for ld in moved)
        assert kinds(notices) == [(HandoverSummary, "wang.fang")]
        assert handover(s, cfg, "li.na", "zhang.wei", "wang.fang", clock.now) == ([], [])
        with pytest.raises(ValueError):
            handover(s, cfg, "zhang.wei", "zhao.min", "wang.fang", clock.now)    # on leave


# ---------------------------------------------------------------- stage penetration
def test_stage_penetration_per_rep_and_team(db, cfg, clock) -> None:  # noqa: ANN001
    from crm_core.services.funnel_report import funnel_report, stage_penetration
    start = clock.now
    plan = [  # (owner, days until the move or None, target)
        ("zhang.wei", 2, "proposal"), ("zhang.wei", 9, "proposal"), ("zhang.wei", None, None),
        ("li.na", 1, "proposal"), ("li.na", 3, "lost"), ("li.na", 5, "quote"),
    ]
    for owner, days, target in plan:
        lead_id = make_lead(db, cfg, start, owner=owner)
        if days is not None:
            with db.uow() as s:
                advance_stage(s, cfg, s.get(Lead, lead_id), target, owner, "wecom", start + timedelta(days=days),
                              {"requirements_file": "需求.pdf", **({"loss_reason": "timing"} if target == "lost" else {})})
    make_lead(db, cfg, start + timedelta(days=40), owner="li.na")     # window not closed yet: ignored
    with db.uow() as s:
        rep = stage_penetration(s, cfg, "qualify", "proposal", start + timedelta(days=42))
        report = [p.as_dict() for p in funnel_report(s, cfg, start + timedelta(days=42))]
    assert (rep.overall.entered, rep.overall.reached) == (6, 3)
    assert rep.by_rep["zhang.wei"].as_dict() == {"entered": 3, "reached": 1, "rate": 0.3333}
    assert rep.by_rep["li.na"].as_dict() == {"entered": 3, "reached": 2, "rate": 0.6667}
    assert rep.by_team["east-medical"].reached == 3
    assert [(p["from"], p["to"]) for p in report] == [
        ("qualify", "proposal"), ("proposal", "quote"), ("quote", "negotiation"), ("negotiation", "won")]
    assert report[1]["overall"] == {"entered": 3, "reached": 0, "rate": 0.0}   # qualify→quote skipped it


def test_a_step_already_sent_elsewhere_is_not_repeated(db, cfg, clock, monkeypatch) -> None:  # noqa: ANN001
    """Another scheduler won the race for the rep reminder: only the supervisor card is new,
    whether the key is seen up front or only when the insert collides."""
    from crm_core.services import reminders
    from crm_core.services.fuse import fuse_key
    start = clock.now
    ids = [make_lead(db, cfg, start) for _ in range(2)]
    with db.uow() as s:
        for lead_id in ids:
            lead = s.get(Lead, lead_id)
            s.add(Reminder(lead_id=lead.id, kind="fuse.reminder", dedupe_key=fuse_key(lead, 1), created_at=start))
    clock.now = start + timedelta(hours=73)
    with db.uow() as s:
        assert kinds(scan_fuses(s, cfg, clock.now, limit=1)) == [(FuseSupervisor, "wang.fang")]
    monkeypatch.setattr(reminders, "sent_keys", lambda session, keys: set())   # blind pre-check
    with db.uow() as s:
        assert kinds(scan_fuses(s, cfg, clock.now)) == [(FuseSupervisor, "wang.fang")]
        assert s.get(Lead, ids[1]).fuse_level == 2
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Reminder)) == 4
