"""CLV end to end over real HTTP (issue 18): an integration posts a customer's orders and
touchpoints to the running server (one bad record refuses the batch), the nightly job and the
monthly dashboard run, a supervisor gets the dashboard card on their platform, and a rep's
「查客户」 shows the customer's full-journey timeline. SQLite; the conversation is scanned for
English, raw keys and half-width marks like every e2e conversation."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from crm_core.db.models import Customer
from scheduler.jobs import clv_dashboard, clv_nightly
from tests.e2e.conftest import REPS

AUTH = {"Authorization": "Bearer change-me-local-token"}


def test_orders_in_dashboard_out_and_the_journey_in_find_customer(stack, db, db_url, clock):  # noqa: ANN001
    if not db_url.startswith("sqlite"):
        pytest.skip("one database is enough for the HTTP path (the services run on both in tests/integration)")
    with db.uow() as s:
        c = Customer(name="杭州优品电子商务有限公司")
        s.add(c)
        s.flush()
        cid = c.id
    orders = [{"customer_id": f"C{cid}", "external_id": "SO-1", "amount": 36000, "gross_margin": 12000,
               "ordered_at": "2026-11-03 10:00", "channel": "web_form"},
              {"customer_id": cid, "external_id": "SO-2", "amount": 9000, "gross_margin": 3000,
               "ordered_at": "2026-11-18 15:30", "channel": "direct", "fraud": True}]
    bad = requests.post(f"{stack.url}/api/v1/orders", json={"source": "shop", "orders": [*orders, {"customer_id": cid}]},
                        headers=AUTH, timeout=30)
    assert bad.status_code == 400 and {p["field"] for p in bad.json()["problems"]} >= {"external_id", "amount"}
    ok = requests.post(f"{stack.url}/api/v1/orders", json={"source": "shop", "orders": orders}, headers=AUTH, timeout=30)
    assert ok.status_code == 200 and ok.json()["created"] == 2
    touches = [{"customer_id": cid, "external_id": "ad-1", "kind": "ad_click", "channel": "search",
                "at": "2026-10-20 09:00"},
               {"customer_id": cid, "external_id": "ticket-9", "kind": "service_ticket", "channel": "service",
                "at": "2026-11-10 11:00", "clv_impact": True, "winback_probability": 0.6}]
    ok = requests.post(f"{stack.url}/api/v1/touchpoints", json={"source": "crm", "touchpoints": touches},
                       headers=AUTH, timeout=30)
    assert ok.status_code == 200 and ok.json()["created"] == 2
    clock.now = datetime(2026, 12, 4, 18, 30, tzinfo=timezone.utc)
    assert clv_nightly(stack.rt, clock())["orders"] == 1
    clock.now = datetime(2026, 12, 5, 1, 0, tzinfo=timezone.utc)
    assert clv_dashboard(stack.rt, clock())["sent"] >= 1
    board = requests.get(f"{stack.url}/api/v1/clv?month=2026-11", headers=AUTH, timeout=30).json()
    assert [(c["channel"], c["margin"]) for c in board["channels"]] == [("search", 12000.0)]
    stack.sim.send_text("wecom", REPS["wecom"], "查客户 优品")
    assert stack.settle()
    sent = [stack.sim.sent_as_text([c]) for c in stack.sandbox.sent("wecom")]
    journey = next(t for t in sent if "全旅程时间轴" in t)
    assert "2026-11-18 下单" in journey and "欺诈" in journey and "2026-11-10 客服工单" in journey
    assert "2026-10-20 广告点击" in journey and "客户终身价值" in journey
    everywhere = "\n".join(stack.sim.sent_as_text([c]) for p in ("wecom", "dingtalk", "feishu")
                           for c in stack.sandbox.sent(p))
    assert "客户价值月报" in everywhere
