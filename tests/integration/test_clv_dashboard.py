"""The nightly CLV job and the monthly dashboard job with a frozen clock (issue 18), SQLite and
PostgreSQL: a high-value customer who stopped buying is at risk a month later; November's
channels ranked by attributed margin (mix model, fraud excluded); a service ticket followed by
an order is a win-back; the dashboard goes once to each recipient (a rerun sends nothing);
`crm-bot report clv` and GET /api/v1/clv show the same."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from crm_core.db.models import ClvSnapshot, Customer, Order, OutboundMessage, Touchpoint
from crm_core.services.clv_dashboard import build_dashboard, recipients
from scheduler.jobs import clv_dashboard, clv_nightly

UTC = timezone.utc


def _order(cid: int, ext: str, at: datetime, margin: float, channel: str = "web_form", fraud: bool = False) -> Order:
    return Order(customer_id=cid, source="shop", external_id=ext, amount=margin * 3, gross_margin=margin,
                 ordered_at=at, channel=channel, is_fraud=fraud)


def _seed(db) -> dict[str, int]:  # noqa: ANN001
    with db.uow() as s:
        a, b, c = Customer(name="华东医疗集团"), Customer(name="杭州优品电子商务有限公司"), Customer(name="宁波海运")
        s.add_all([a, b, c])
        s.flush()
        for i in range(12):        # A: monthly 2025-10 … 2026-09, then nothing
            y, m = (2025, 10 + i) if i < 3 else (2026, i - 2)
            s.add(_order(a.id, f"a{i}", datetime(y, m, 15, 2, tzinfo=UTC), 1000))
        for i in range(14):        # B: monthly 2025-10 … 2026-11
            y, m = (2025, 10 + i) if i < 3 else (2026, i - 2)
            s.add(_order(b.id, f"b{i}", datetime(y, m, 15, 2, tzinfo=UTC), 300))
        s.add(_order(b.id, "b-fraud", datetime(2026, 11, 20, 2, tzinfo=UTC), 50000, fraud=True))
        s.add(Touchpoint(customer_id=b.id, kind="ad_click", channel="ads", at=datetime(2026, 11, 1, tzinfo=UTC),
                         source="adx", external_id="b-ad"))
        s.add(Touchpoint(customer_id=b.id, kind="ad_click", channel="search", at=datetime(2026, 11, 10, tzinfo=UTC),
                         source="adx", external_id="b-search"))
        s.add(_order(c.id, "c0", datetime(2025, 6, 1, 2, tzinfo=UTC), 2000, "store"))
        s.add(Touchpoint(customer_id=c.id, kind="service_ticket", channel="service", at=datetime(2026, 11, 3, tzinfo=UTC),
                         source="desk", external_id="c-ticket", clv_impact=True, winback_probability=0.7))
        s.add(_order(c.id, "c1", datetime(2026, 11, 10, 2, tzinfo=UTC), 800, "store"))
        return {"a": a.id, "b": b.id, "c": c.id}


@pytest.fixture
def seeded(runtime, db, clock):  # noqa: ANN001, ANN201
    ids = _seed(db)
    clock.now = datetime(2026, 11, 4, 18, 30, tzinfo=UTC)        # 02:30 on 11-05 in Shanghai
    clv_nightly(runtime, clock())
    clock.now = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)        # 02:30 on 12-05
    result = clv_nightly(runtime, clock())
    clock.now = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)          # 09:00 on the 5th
    return ids, result


def test_nightly_snapshots_compare_with_a_month_before(seeded, db):  # noqa: ANN001
    ids, result = seeded
    assert result["orders"] == 28 and result["customers"] == 3     # 12 + 14 + 2: the fraud order is not counted
    with db.uow() as s:
        snaps = {(r.customer_id, r.as_of.isoformat()): r for r in s.scalars(select(ClvSnapshot))}
    a_now, a_then = snaps[(ids["a"], "2026-12-05")], snaps[(ids["a"], "2026-11-05")]
    assert a_now.previous == a_then.clv and a_now.clv < 0.85 * a_then.clv
    assert snaps[(ids["b"], "2026-12-05")].alive == 1.0
    assert snaps[(ids["c"], "2026-12-05")].previous == snaps[(ids["c"], "2026-11-05")].clv


def test_dashboard_lists_at_risk_channels_and_winbacks(seeded, runtime, db, clock):  # noqa: ANN001
    ids, _ = seeded
    with db.uow() as s:
        board = build_dashboard(s, runtime.cfg, "2026-11", clock())
    assert [c.customer_id for c in board.at_risk] == [ids["a"]] and board.at_risk[0].idle_days >= 30
    assert board.month_margin == 1100                            # 300 + 800, not the fraud order
    # C's order: the ticket only → service 800; B's: last touch search 70 %, first touch the order of
    # 2026-05-15 (an earlier order is a touchpoint; 180 days back reaches it) 30 %
    assert [(c.channel, c.margin) for c in board.channels] == [("service", 800), ("search", 210), ("web_form", 90)]
    assert [(w.customer_id, w.margin, w.probability) for w in board.winbacks] == [(ids["c"], 800, 0.7)]


def test_dashboard_job_sends_once_to_each_recipient(seeded, runtime, db, clock):  # noqa: ANN001
    people = recipients(runtime.cfg)
    assert people
    first = clv_dashboard(runtime, clock())
    assert first == {"month": "2026-11", "sent": len(people)}
    assert clv_dashboard(runtime, clock())["sent"] == 0
    with db.uow() as s:
        bodies = [m.body for m in s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "card"))]
    assert len(bodies) == len(people)
    assert "2026-11 客户价值月报" in str(bodies[0]) and "华东医疗集团" in str(bodies[0])


def test_report_cli_and_api_show_the_dashboard(seeded, runtime):  # noqa: ANN001
    from bot.cli import cli
    from bot.web import create_app
    out = CliRunner().invoke(cli, ["report", "clv", "--month", "2026-11"], obj=runtime)
    assert out.exit_code == 0, out.output
    assert "【高价值客户流失风险】1 位" in out.output and "1. 客户服务：800 元" in out.output
    assert "宁波海运：工单后 1 单，毛利 800 元，预估挽回概率 70%" in out.output
    bad = CliRunner().invoke(cli, ["report", "clv", "--month", "2026/11"], obj=runtime)
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output
    client = create_app(runtime).test_client()
    auth = {"Authorization": "Bearer change-me-local-token"}
    body = client.get("/api/v1/clv", headers=auth).get_json()         # default: last month
    assert body["month"] == "2026-11" and body["channels"][0]["channel"] == "service"
    assert client.get("/api/v1/clv?month=11-2026", headers=auth).status_code == 400
