"""The coaching push on a frozen clock, SQLite and PostgreSQL: a rep whose 定制方案发送 → 首版报价签收
penetration is 1 of 3 (33 %) week after week gets nothing after one or two complete weeks, one card
(and the supervisor one) in the third, nothing more in the fourth of the same spell, and a new card
after a good week breaks the spell and three low weeks follow; a rep with one lead a week (below
`min_entries`) never does. The job delivers rendered cards through the outbox."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cards.model import Card
from crm_core.clock import SHANGHAI
from crm_core.config.coaching import Coaching, Material
from crm_core.db.models import Lead
from crm_core.notices import CoachingPush
from crm_core.services.coaching import last_complete_week, scan_coaching
from crm_core.services.stages import advance_stage
from handlers.coaching_cards import coaching_card
from scheduler.jobs import coaching_scan
from tests.integration.test_lead_edit import make_lead

W1 = datetime(2026, 11, 2, tzinfo=SHANGHAI)       # a Monday


@pytest.fixture
def cfg(cfg):  # noqa: ANN001, ANN201
    return cfg.model_copy(update={"coaching": Coaching(
        pairs=[("proposal", "quote")], min_entries=3,
        material={"proposal": Material(text="方案讲解三步法:先复述需求,再给方案,最后约报价", link="https://wiki.example.com/fa")})})


def week_of_leads(rt, week: int, owner: str, entered: int, reached: int) -> None:  # noqa: ANN001
    """`entered` leads of `owner` enter 定制方案发送 on the Tuesday of week `week` (1-based),
    `reached` of them reach 首版报价签收 two days later."""
    at = W1 + timedelta(weeks=week - 1, days=1, hours=10)
    team = "east-medical" if owner != "chen.jie" else "south-industry"
    for i in range(entered):
        rt.clock.now = at
        lead_id = make_lead(rt, owner=owner, team=team)
        with rt.db.uow() as s:
            lead = s.get_one(Lead, lead_id)
            advance_stage(s, rt.cfg, lead, "proposal", owner, "wecom", at)
            if i < reached:
                advance_stage(s, rt.cfg, lead, "quote", owner, "wecom", at + timedelta(days=2),
                              {"requirements_file": "需求说明.docx"})


def scan_at(rt, monday_week: int) -> list[CoachingPush]:  # noqa: ANN001
    now = W1 + timedelta(weeks=monday_week - 1, hours=8)
    rt.clock.now = now
    with rt.db.uow() as s:
        return scan_coaching(s, rt.cfg, now)


def test_fires_once_in_the_third_low_week(runtime) -> None:  # noqa: ANN001
    for week in (1, 2, 3, 4):
        week_of_leads(runtime, week, "zhang.wei", entered=3, reached=1)      # 33 % < 65 %
        week_of_leads(runtime, week, "li.na", entered=1, reached=0)          # one lead: never judged
    week_of_leads(runtime, 5, "zhang.wei", entered=3, reached=3)              # a good week ends the spell
    for week in (6, 7, 8):
        week_of_leads(runtime, week, "zhang.wei", entered=4, reached=2)      # 50 %
    assert last_complete_week(runtime.cfg, W1 + timedelta(weeks=2, hours=8)) == W1.date()
    assert scan_at(runtime, 3) == []                # week 1 complete: one low week
    assert scan_at(runtime, 4) == []                # two
    pushed = scan_at(runtime, 5)                    # three: the rep and the supervisor, once
    assert sorted((n.to_rep, n.to_supervisor) for n in pushed) == [("wang.fang", True), ("zhang.wei", False)]
    push = next(n for n in pushed if n.to_rep == "zhang.wei")
    assert (push.from_name, push.to_name) == ("定制方案发送", "首版报价签收")
    assert [(w.week, w.entered, w.reached) for w in push.weeks] == [
        ("2026-11-02", 3, 1), ("2026-11-09", 3, 1), ("2026-11-16", 3, 1)]
    assert scan_at(runtime, 5) == []                # a second run the same morning
    assert scan_at(runtime, 6) == []                # week 4 still low: the same spell, not again
    assert scan_at(runtime, 7) == []                # week 5 good
    assert scan_at(runtime, 8) == [] and scan_at(runtime, 9) == []
    again = scan_at(runtime, 10)                    # weeks 6, 7, 8: a new spell
    assert sorted(n.to_rep for n in again) == ["wang.fang", "zhang.wei"]
    assert all(n.weeks[0].week == "2026-12-07" for n in again)


def test_card_names_stage_figures_and_material(runtime) -> None:  # noqa: ANN001
    for week in (1, 2, 3):
        week_of_leads(runtime, week, "zhang.wei", entered=3, reached=1)
    pushed = {n.to_rep: n for n in scan_at(runtime, 5)}
    rep_card, sup_card = coaching_card(runtime.cfg, pushed["zhang.wei"]), coaching_card(runtime.cfg, pushed["wang.fang"])
    for card in (rep_card, sup_card):
        shown = {f.label: f.value for f in card.fields}
        assert shown["阶段"] == "定制方案发送 → 首版报价签收" and "65%" in shown["目标推进率"]
        assert shown["11月2日当周"] == "推进 1/3，33%" and "方案讲解三步法" in (card.text or "")
        assert "https://wiki.example.com/fa" in (card.text or "") and not card.buttons
    assert rep_card.title.startswith("辅导提醒:你的") and "张伟" in sup_card.title


def test_job_delivers_cards_once(runtime) -> None:  # noqa: ANN001
    for week in (1, 2, 3):
        week_of_leads(runtime, week, "zhang.wei", entered=3, reached=0)
    now = W1 + timedelta(weeks=4, hours=8)
    runtime.clock.now = now
    assert coaching_scan(runtime, now) == {"notices": 2, "sent": 2}
    assert coaching_scan(runtime, now) == {"notices": 0, "sent": 0}
    assert isinstance(coaching_card(runtime.cfg, CoachingPush(
        to_rep="zhang.wei", rep="zhang.wei", rep_name="张伟", from_stage="proposal", to_stage="quote",
        from_name="定制方案发送" * 20, to_name="首版报价签收", weeks=(), min_rate=0.65, window_days=7,
        material="很长的材料" * 100, link=None)), Card)


def test_disabled_sends_nothing(runtime) -> None:  # noqa: ANN001
    for week in (1, 2, 3):
        week_of_leads(runtime, week, "zhang.wei", entered=3, reached=0)
    now = W1 + timedelta(weeks=4, hours=8)
    with runtime.db.uow() as s:
        assert scan_coaching(s, runtime.cfg.model_copy(update={"coaching": Coaching(enabled=False)}), now) == []


def test_departed_rep_gets_nothing(runtime) -> None:  # noqa: ANN001
    for week in (1, 2, 3):
        week_of_leads(runtime, week, "zhang.wei", entered=3, reached=0)
    reps = [r.model_copy(update={"availability": "departed"}) if r.id == "zhang.wei" else r
            for r in runtime.cfg.org.reps]
    gone = runtime.cfg.model_copy(update={"org": runtime.cfg.org.model_copy(update={"reps": reps})})
    with runtime.db.uow() as s:
        assert scan_coaching(s, gone, W1 + timedelta(weeks=4, hours=8)) == []
