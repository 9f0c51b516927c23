"""The bulk attribution engine (numpy, chunked by customer) agrees with the pure module on
random data, month by month, channel by channel, for every model; fraud orders are left out;
chat activities count as touchpoints once. SQLite and PostgreSQL."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm_core.clv.attribution import MODELS, OrderFact, Params, Touch, credit_customer
from crm_core.config.clv import Clv
from crm_core.db.models import Activity, AttributionCredit, Customer, Order, Touchpoint
from crm_core.services.clv_attribution import run_attribution

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
CHANNELS = ["ads", "search", "email", "service", "web_form"]
TZ = "Asia/Shanghai"


def _random_world(db, seed: int = 3):  # noqa: ANN001, ANN202
    rnd = random.Random(seed)
    orders: dict[int, list[OrderFact]] = defaultdict(list)
    touches: dict[int, list[Touch]] = defaultdict(list)
    with db.uow() as s:
        custs = [Customer(name=f"客户{i}") for i in range(12)]
        s.add_all(custs)
        s.flush()
        n = 0
        for c in custs:
            for _ in range(rnd.randint(0, 25)):
                at = START + timedelta(seconds=rnd.randint(0, 500 * 86400))
                ch = rnd.choice(CHANNELS)
                n += 1
                s.add(Touchpoint(customer_id=c.id, kind="ad_click", channel=ch, at=at, source="t", external_id=f"t{n}"))
                touches[c.id].append(Touch(at, ch))
            for _ in range(rnd.randint(0, 4)):      # chat activities: touchpoints on channel "sales"
                at = START + timedelta(seconds=rnd.randint(0, 500 * 86400))
                s.add(Activity(customer_id=c.id, kind=rnd.choice(["follow_up", "call", "stage"]), created_at=at))
            for k in range(rnd.randint(0, 8)):
                at = START + timedelta(seconds=rnd.randint(0, 500 * 86400))
                fraud = rnd.random() < 0.15
                margin = float(rnd.randint(10, 5000))
                o = Order(customer_id=c.id, source="t", external_id=f"o{c.id}-{k}", amount=margin * 3,
                          gross_margin=margin, ordered_at=at, channel=rnd.choice(CHANNELS), is_fraud=fraud)
                s.add(o)
                s.flush()
                orders[c.id].append(OrderFact(o.id, at, margin, o.channel, fraud))
        for a in s.scalars(select(Activity)).all():
            if a.kind in ("follow_up", "call"):
                touches[a.customer_id].append(Touch(a.created_at, "sales"))
    return orders, touches


@pytest.mark.parametrize("chunk,piece", [(1, 2_000_000), (10_000, 5)])
def test_engine_agrees_with_the_pure_module(db, chunk, piece, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr("crm_core.services.clv_attribution.LINEAR_PIECE", piece)   # linear credits in pieces
    orders, touches = _random_world(db)
    clv = Clv()
    run = run_attribution(db, clv, TZ, START, chunk_orders=chunk)
    expected: dict[tuple[str, str, str], float] = defaultdict(float)
    shares: dict[tuple[str, str, str], float] = defaultdict(float)
    n_orders = 0
    for cid, os_ in orders.items():
        ts = sorted(touches[cid], key=lambda t: t.at)
        by_id = {o.id: o for o in os_}
        for model in MODELS:
            for oid, credits in credit_customer(os_, ts, model, Params(180, 0.7, 0.3)).items():
                month = by_id[oid].at.astimezone(ZoneInfo(TZ)).strftime("%Y-%m")
                for c in credits:
                    expected[(model, month, c.channel)] += c.margin
                    shares[(model, month, c.channel)] += c.share
        n_orders += sum(1 for o in os_ if not o.fraud)
    with db.uow() as s:
        rows = s.scalars(select(AttributionCredit)).all()
    got = {(r.model, r.month.strftime("%Y-%m"), r.channel): r.margin for r in rows}
    got_shares = {(r.model, r.month.strftime("%Y-%m"), r.channel): r.orders for r in rows}
    assert run.orders == n_orders > 10
    assert set(got) == {k for k, v in expected.items() if v}
    for k, v in expected.items():
        assert got[k] == pytest.approx(v), k
        assert got_shares[k] == pytest.approx(shares[k]), k
    for model in MODELS:                      # every model credits the same total: all non-fraud margin
        assert sum(v for (m, _, _), v in got.items() if m == model) == pytest.approx(run.margin)


def test_fraud_orders_are_left_out_and_a_rerun_replaces_the_rows(db):  # noqa: ANN001
    with db.uow() as s:
        c = Customer(name="优品")
        s.add(c)
        s.flush()
        s.add(Touchpoint(customer_id=c.id, kind="ad_click", channel="ads", at=START, source="t", external_id="1"))
        s.add(Order(customer_id=c.id, source="t", external_id="a", amount=300, gross_margin=100,
                    ordered_at=START + timedelta(days=3), channel="direct", is_fraud=False))
        s.add(Order(customer_id=c.id, source="t", external_id="b", amount=9000, gross_margin=5000,
                    ordered_at=START + timedelta(days=4), channel="direct", is_fraud=True))
    for _ in range(2):
        run = run_attribution(db, Clv(), TZ, START)
    assert run.orders == 1 and run.margin == 100
    with db.uow() as s:
        rows = s.scalars(select(AttributionCredit).order_by(AttributionCredit.model)).all()
    assert [(r.model, r.channel, r.margin, r.orders) for r in rows] == [
        ("first_touch", "ads", 100, 1), ("last_touch", "ads", 100, 1), ("linear", "ads", 100, 1), ("mix", "ads", 100, 1)]


def test_engine_window_edges_match_the_hand_computed_case(db):  # noqa: ANN001
    """The unit test's case through the engine: in at exactly 180 days and at the order's second,
    out at 180 days + 1 s and a second after; an order in the same second is no touchpoint."""
    t = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
    day, sec = timedelta(days=1), timedelta(seconds=1)
    with db.uow() as s:
        c = Customer(name="边界")
        s.add(c)
        s.flush()
        for i, (at, ch) in enumerate([(t - 180 * day - sec, "ads"), (t - 180 * day, "search"), (t - 10 * day, "email"),
                                      (t, "service"), (t + sec, "social")]):
            s.add(Touchpoint(customer_id=c.id, kind="ad_click", channel=ch, at=at, source="t", external_id=str(i)))
        s.add(Order(customer_id=c.id, source="t", external_id="a", amount=3000, gross_margin=1000, ordered_at=t,
                    channel="direct", is_fraud=False))
        s.add(Order(customer_id=c.id, source="t", external_id="b", amount=300, gross_margin=30, ordered_at=t,
                    channel="sms", is_fraud=False))
    run_attribution(db, Clv(), TZ, START)
    with db.uow() as s:
        got = {(r.model, r.channel): round(r.margin, 6) for r in s.scalars(select(AttributionCredit))}
    # both orders see search, email, service (not each other: same second); margins 1000 + 30
    assert {k: v for k, v in got.items() if k[0] == "first_touch"} == {("first_touch", "search"): 1030}
    assert {k: v for k, v in got.items() if k[0] == "last_touch"} == {("last_touch", "service"): 1030}
    assert {k: v for k, v in got.items() if k[0] == "mix"} == {("mix", "service"): 721, ("mix", "search"): 309}
    assert {k: v for k, v in got.items() if k[0] == "linear"} == {
        ("linear", "search"): round(1030 / 3, 6), ("linear", "email"): round(1030 / 3, 6),
        ("linear", "service"): round(1030 / 3, 6)}
