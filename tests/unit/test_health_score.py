"""Customer health score: each dimension's formula, the weights, the red/yellow/green
thresholds, and (on SQLite and PostgreSQL) that a customer crossing into red produces one
card for the owner (plus the supervisor copy) and that a 30-day drop is detected."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cards.model import Card, Level
from crm_core.clock import local
from crm_core.config.schema import Health
from crm_core.db.models import Activity, Contact, Customer, HealthSnapshot, Lead, Task
from crm_core.notices import HealthDrop, HealthRed
from crm_core.services import health_score as hs
from crm_core.services.health_facts import Facts, funnel_depth, gather_facts

OWNER, SUPERVISOR = "zhang.wei", "wang.fang"       # east-medical in the example config


@pytest.mark.parametrize("days, touches, expected", [
    (None, 0, 0.0), (0, 4, 100.0), (15, 2, 50.0), (45, 0, 0.0), (0, 8, 100.0), (30, 1, 12.5), (6, 0, 40.0),
])
def test_activity(days, touches, expected):  # noqa: ANN001
    assert hs.activity(Facts(last_touch_days=days, touches_30d=touches)) == pytest.approx(expected)


@pytest.mark.parametrize("pipeline, won, expected", [
    (0, 0, 0.0), (10_000, 0, 0.0), (100_000, 0, 50.0), (1_000_000, 0, 100.0), (5_000_000, 0, 100.0),
    (100_000, 1, 70.0), (1_000_000, 2, 100.0), (0, 1, 20.0),
])
def test_value(pipeline, won, expected):  # noqa: ANN001
    assert hs.value(Facts(pipeline_cny=pipeline, won=won)) == pytest.approx(expected)


@pytest.mark.parametrize("depth, contacts, won, expected", [
    (0.0, 0, 0, 0.0), (1.0, 3, 2, 100.0), (0.5, 1, 0, 30.0), (0.25, 6, 1, 55.0),
])
def test_dependency(depth, contacts, won, expected):  # noqa: ANN001
    assert hs.dependency(Facts(depth=depth, contacts=contacts, won=won)) == pytest.approx(expected)


@pytest.mark.parametrize("overdue, blown, lost, expected", [
    (0, 0, 0, 100.0), (1, 0, 0, 75.0), (2, 1, 0, 35.0), (0, 0, 1, 80.0), (5, 0, 0, 0.0), (1, 2, 1, 25.0),
])
def test_risk(overdue, blown, lost, expected):  # noqa: ANN001
    assert hs.risk(Facts(overdue_tasks=overdue, blown_fuses=blown, lost_90d=lost)) == pytest.approx(expected)


@pytest.mark.parametrize("recent, prior, new, expected", [
    (0, 0, 0, 50.0), (4, 2, 0, 75.0), (0, 4, 0, 25.0), (2, 0, 2, 100.0), (3, 4, 1, 56.25), (0, 0, 1, 62.5),
])
def test_growth(recent, prior, new, expected):  # noqa: ANN001
    assert hs.growth(Facts(touches_30d=recent, touches_prior_30d=prior, new_leads_90d=new)) == pytest.approx(expected)


@pytest.mark.parametrize("score, red_below, green_above, level", [
    (59.9, 60, 85, "red"), (60, 60, 85, "yellow"), (85, 60, 85, "yellow"), (85.1, 60, 85, "green"),
    (0, 60, 85, "red"), (100, 60, 85, "green"), (65, 70, 90, "red"), (88, 50, 80, "green"),
])
def test_levels(score, red_below, green_above, level):  # noqa: ANN001
    assert hs.level_for(score, Health(red_below=red_below, green_above=green_above)) == level


def test_weighted_sum_follows_configured_weights():
    f = Facts(last_touch_days=0, touches_30d=4)               # activity 100, risk 100, growth 75 (up from 0)
    default = hs.score_facts(f, Health())
    assert default.score == pytest.approx((25 * 100 + 15 * 100 + 10 * 75) / 100)
    activity_heavy = hs.score_facts(f, Health(weights={"activity": 60, "value": 10, "dependency": 10,
                                                       "risk": 10, "growth": 10}))
    assert activity_heavy.score == pytest.approx((60 * 100 + 10 * 100 + 10 * 75) / 100)
    assert activity_heavy.level == "yellow" and default.level == "red"


@pytest.mark.parametrize("dims, weakest", [
    ({"activity": 50, "value": 50, "dependency": 50, "risk": 50, "growth": 50}, "value"),
    ({"activity": 0, "value": 80, "dependency": 50, "risk": 100, "growth": 50}, "activity"),
    ({"activity": 90, "value": 90, "dependency": 90, "risk": 0, "growth": 90}, "risk"),
])
def test_weakest_dimension_costs_most_points(dims, weakest):  # noqa: ANN001
    assert hs.weakest_dimension(dims, Health().weights) == weakest


def test_funnel_depth(cfg):  # noqa: ANN001
    # example funnel: 4 open stages, then won / lost
    assert [funnel_depth(cfg, s, "open") for s in ("qualify", "proposal", "quote", "negotiation")] == \
        pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert funnel_depth(cfg, "won", "won") == 1.0 and funnel_depth(cfg, "lost", "lost") == 0.0


# ---- recompute against the database --------------------------------------------------------
def _customer(s, now, name="杭州示例医疗科技有限公司"):  # noqa: ANN001, ANN202
    c = Customer(name=name, owner_rep_id=OWNER, status="active", created_at=now)
    s.add(c)
    s.flush()
    s.add(Contact(customer_id=c.id, name="李经理", created_at=now))
    lead = Lead(customer_id=c.id, title="影像系统", stage="quote", status="open", budget_cny=800_000,
                owner_rep_id=OWNER, team_id="east-medical", stage_entered_at=now, created_at=now,
                last_activity_at=now)
    s.add(lead)
    for days in (1, 5, 9, 13):
        s.add(Activity(customer_id=c.id, kind="follow_up", created_at=now - timedelta(days=days)))
    s.flush()
    return c.id


def test_turning_red_produces_one_card_for_owner_and_supervisor(cfg, db, clock):  # noqa: ANN001
    now = clock.now
    with db.uow() as s:
        cid = _customer(s, now)
        assert hs.recompute(s, cfg, now) == []                 # first score: no transition yet
        first = s.get(Customer, cid)
        assert first.health_level in ("yellow", "green")
    later = now + timedelta(days=40)                           # silence, overdue tasks, a blown fuse
    with db.uow() as s:
        for i in range(3):
            s.add(Task(customer_id=cid, owner_rep_id=OWNER, title=f"回访{i}", status="open",
                       due_date=local(later).date() - timedelta(days=3 + i), created_at=now))
        lead = s.scalars(select(Lead).where(Lead.customer_id == cid)).one()
        lead.fuse_deadline = later - timedelta(days=1)
        notices = hs.recompute(s, cfg, later)
        again = hs.recompute(s, cfg, later + timedelta(hours=1))
    assert again == []                                          # still red: no second card
    assert sorted((n.kind, n.to_rep, n.as_supervisor) for n in notices) == sorted([
        ("health.red", OWNER, False), ("health.red", SUPERVISOR, True)])
    assert all(isinstance(n, HealthRed) for n in notices)
    owner = next(n for n in notices if n.to_rep == OWNER)
    assert isinstance(owner, HealthRed) and owner.owner is None
    assert owner.score < cfg.health.red_below and owner.previous_level in ("yellow", "green")
    sup = next(n for n in notices if n.to_rep == SUPERVISOR)
    assert isinstance(sup, HealthRed) and sup.owner == OWNER and sup.to_supervisor
    from handlers.health_cards import health_red
    card = health_red(cfg, owner)
    assert isinstance(card, Card) and card.level == Level.DANGER and "杭州示例医疗科技有限公司" in card.title
    values = {f.label: f.value for f in card.fields}
    assert values["健康分"].startswith(f"{owner.score:g}")
    assert values["最弱维度"].startswith(hs.LABELS[owner.weakest])
    assert hs.SUGGESTIONS[owner.weakest] in card.text
    with db.uow() as s:
        snaps = s.scalar(select(func.count()).where(HealthSnapshot.customer_id == cid))
    assert snaps == 3


@pytest.mark.parametrize("peak_factor, peak_age_days, expect_drop", [
    (1.3, 10, True), (1.1, 10, False), (1.3, 40, False),
])
def test_drop_against_30_day_peak(cfg, db, clock, peak_factor, peak_age_days, expect_drop):  # noqa: ANN001
    now = clock.now
    no_sup = cfg.model_copy(update={"health": cfg.health.model_copy(update={"notify_supervisor": False})})
    with db.uow() as s:
        cid = _customer(s, now)
        current = hs.score_facts(gather_facts(s, cfg, [cid], now)[cid], cfg.health).score
        s.add(HealthSnapshot(customer_id=cid, score=min(100.0, current * peak_factor), level="green",
                             computed_at=now - timedelta(days=peak_age_days)))
        s.get(Customer, cid).health_level = "green"
        s.flush()
        notices = hs.recompute(s, no_sup, now)
    types = [type(n) for n in notices]
    if expect_drop:
        assert types == [HealthDrop]
        assert isinstance(notices[0], HealthDrop) and notices[0].drop_percent is not None
        assert notices[0].drop_percent > cfg.health.drop_alert_percent
    else:
        assert HealthDrop not in types


def test_refresh_rescores_only_customers_with_news(cfg, runtime, db, clock):  # noqa: ANN001
    from scheduler.jobs import health_refresh
    now = clock.now
    with db.uow() as s:
        quiet, busy = _customer(s, now, "安静客户"), _customer(s, now, "活跃客户")
    assert health_refresh(runtime, now)["customers"] == 0          # first run looks back one day: no news
    clock.advance(minutes=15)
    with db.uow() as s:
        s.add(Activity(customer_id=busy, kind="follow_up", created_at=clock.now - timedelta(minutes=3)))
    assert health_refresh(runtime, clock.now)["customers"] == 1
    with db.uow() as s:
        counts = dict(s.execute(select(HealthSnapshot.customer_id, func.count()).group_by(HealthSnapshot.customer_id)).all())
    assert counts == {busy: 1} and quiet not in counts
