"""Orders and touchpoints coming in (issue 18) through POST /api/v1/orders|touchpoints and
`crm-bot import orders|touchpoints FILE`, on SQLite and PostgreSQL: bad records get Chinese
reasons and nothing is written; the same batch again writes nothing new; a later fraud flag
updates the order; a merged customer's records land on the survivor; the journey API and
「查客户」 show the timeline."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.web import create_app
from crm_core.db.models import Activity, Customer, Order, Touchpoint

AUTH = {"Authorization": "Bearer change-me-local-token"}


@pytest.fixture
def client(runtime):  # noqa: ANN001, ANN201
    return create_app(runtime).test_client()


def _customers(db) -> tuple[int, int]:  # noqa: ANN001
    with db.uow() as s:
        a, b = Customer(name="杭州优品电子商务有限公司"), Customer(name="宁波海运")
        s.add_all([a, b])
        s.flush()
        return a.id, b.id


def _count(db, model) -> int:  # noqa: ANN001
    with db.uow() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def order(cid: int, ext: str, **kw) -> dict:  # noqa: ANN003
    return {"customer_id": cid, "external_id": ext, "amount": 1200, "gross_margin": 400,
            "ordered_at": "2026-11-20 10:00", "channel": "web_form", **kw}


def test_orders_api_validates_stores_and_is_idempotent(client, db):  # noqa: ANN001
    a, b = _customers(db)
    bad = [order(a, "o1"), order(a, "o2", amount="一千", channel="tv", ordered_at="2030-01-01"),
           order(999999, "o3"), order(a, "o1"), order(b, "o4", gross_margin=5000), {"customer_id": a, "color": "red"}]
    res = client.post("/api/v1/orders", json={"source": "shop", "orders": bad}, headers=AUTH)
    assert res.status_code == 400
    problems = {(p["index"], p["field"]): p["reason"] for p in res.get_json()["problems"]}
    assert problems[(1, "amount")].startswith("金额应为数字")
    assert problems[(1, "channel")].startswith("渠道「tv」不是可用的渠道，可用：聊天录入（chat）")
    assert problems[(1, "ordered_at")] == "下单时间在未来"
    assert problems[(3, "external_id")] == "订单号「o1」与第 0 条重复"
    assert problems[(4, "gross_margin")] == "毛利不能大于金额"
    assert problems[(5, "color")] == "不认识的字段" and (5, "external_id") in problems
    assert _count(db, Order) == 0                                  # nothing half-written
    res = client.post("/api/v1/orders", json={"source": "shop", "orders": [order(a, "o3x"), order(999999, "o3")]},
                      headers=AUTH)
    assert res.status_code == 400 and res.get_json()["problems"] == [
        {"index": 1, "field": "customer_id", "reason": "客户C999999 不存在"}]
    good = [order(a, "o1"), order(f"C{b}", "o2", channel="官网表单", fraud="否", ordered_at="2026-11-21T09:00:00+08:00")]
    res = client.post("/api/v1/orders", json={"source": "shop", "orders": good}, headers=AUTH)
    assert res.status_code == 200 and res.get_json()["created"] == 2
    res = client.post("/api/v1/orders", json={"source": "shop", "orders": good}, headers=AUTH)
    assert (res.get_json()["created"], res.get_json()["unchanged"]) == (0, 2)
    flagged = [order(a, "o1", fraud=True)]
    res = client.post("/api/v1/orders", json={"source": "shop", "orders": flagged}, headers=AUTH)
    assert res.get_json()["updated"] == 1
    res = client.post("/api/v1/orders", json={"source": "pos", "orders": [order(a, "o1")]}, headers=AUTH)
    assert res.get_json()["created"] == 1                            # another source: another order
    with db.uow() as s:
        rows = {(o.source, o.external_id): o for o in s.scalars(select(Order))}
    assert rows[("shop", "o1")].is_fraud and not rows[("pos", "o1")].is_fraud
    assert rows[("shop", "o2")].ordered_at == datetime(2026, 11, 21, 1, 0, tzinfo=timezone.utc)
    assert rows[("shop", "o1")].ordered_at == datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)   # Shanghai time
    assert client.post("/api/v1/orders", json=[order(a, "x")]).status_code == 401
    assert client.post("/api/v1/orders", json={"orders": {}}, headers=AUTH).status_code == 400


def test_touchpoints_api_kinds_tickets_and_merged_customers(client, db):  # noqa: ANN001
    a, b = _customers(db)
    with db.uow() as s:
        s.get(Customer, b).status, s.get(Customer, b).merged_into_id = "merged", a
    tp = {"customer_id": a, "external_id": "t1", "kind": "ad_click", "channel": "ads", "at": "2026-11-01 09:00"}
    res = client.post("/api/v1/touchpoints", json={"source": "adx", "touchpoints": [
        tp, {**tp, "external_id": "t2", "kind": "order"},
        {**tp, "external_id": "t3", "clv_impact": True},
        {**tp, "external_id": "t4", "kind": "service_ticket", "winback_probability": "130%"}]}, headers=AUTH)
    assert res.status_code == 400
    reasons = {p["index"]: p["reason"] for p in res.get_json()["problems"]}
    assert "订单请用订单接口" in reasons[1]
    assert reasons[2].startswith("只有客服会话或客服工单")
    assert reasons[3] == "挽回概率应在 0 到 1 之间（或 0% 到 100%）"
    assert _count(db, Touchpoint) == 0
    res = client.post("/api/v1/touchpoints", json={"source": "adx", "touchpoints": [
        tp, {**tp, "external_id": "t4", "kind": "客服工单", "channel": "service", "customer_id": b,
             "clv_impact": "是", "winback_probability": "60%", "note": "投诉物流慢"}]}, headers=AUTH)
    body = res.get_json()
    assert res.status_code == 200 and (body["created"], body["moved_to_survivor"]) == (2, 1)
    with db.uow() as s:
        ticket = s.scalar(select(Touchpoint).where(Touchpoint.external_id == "t4"))
        assert (ticket.customer_id, ticket.kind, ticket.clv_impact, ticket.winback_probability) == \
            (a, "service_ticket", True, 0.6)
        s.add(Activity(customer_id=a, kind="follow_up", text="电话沟通续费", created_at=datetime(2026, 11, 5, tzinfo=timezone.utc)))
        s.add(Activity(customer_id=a, kind="assigned", text="分配", created_at=datetime(2026, 11, 6, tzinfo=timezone.utc)))
    client.post("/api/v1/orders", json={"source": "shop", "orders": [order(a, "o1")]}, headers=AUTH)
    journey = client.get(f"/api/v1/customers/{a}/journey", headers=AUTH).get_json()["items"]
    assert [(i["kind"], i["channel"]) for i in journey] == [
        ("order", "web_form"), ("chat:follow_up", "sales"), ("service_ticket", "service"), ("ad_click", "ads")]
    assert client.get("/api/v1/customers/999999/journey", headers=AUTH).status_code == 404
    assert client.get(f"/api/v1/customers/{a}/journey?limit=0", headers=AUTH).status_code == 400
    mine = client.get(f"/api/v1/clv?customer_id={a}", headers=AUTH).get_json()
    # mix over the ad click, the ticket (same second) and the chat follow-up: 70 % last (sales), 30 % first (ads)
    assert mine["orders"] == 1 and sum(mine["margin_by_channel"].values()) == pytest.approx(400)
    assert mine["margin_by_channel"] == {"sales": 280.0, "ads": 120.0}


def test_find_customer_shows_the_journey(runtime, db):  # noqa: ANN001
    from tests.integration.test_lead_view import say, text_of
    a, _ = _customers(db)
    with db.uow() as s:
        s.add(Order(customer_id=a, source="shop", external_id="o1", amount=12000, gross_margin=3000,
                    ordered_at=datetime(2026, 11, 20, 2, tzinfo=timezone.utc), channel="web_form"))
        s.add(Touchpoint(customer_id=a, kind="ad_click", channel="ads", source="adx", external_id="t1",
                         at=datetime(2026, 11, 1, 1, tzinfo=timezone.utc)))
    text = text_of(say(runtime, "zhang.wei", "查客户 优品"))
    assert "全旅程时间轴" in text
    assert "2026-11-20 下单 1.2 万元(毛利 3,000 元) · 官网表单" in text
    assert "2026-11-01 广告点击 · 广告投放" in text


def test_cli_import_orders_and_touchpoints(runtime, db, tmp_path):  # noqa: ANN001
    from bot.cli import cli
    a, b = _customers(db)
    good = tmp_path / "orders.csv"
    good.write_text("客户编号,订单号,金额,毛利,下单时间,渠道,欺诈\n"
                    f"C{a},A-1,1000,300,2026-10-01 10:00,官网表单,否\n"
                    f"{b},A-2,\"2,000\",500,2026-10-02,direct,是\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("客户编号,订单号,金额,毛利,下单时间,渠道\n"
                   f"C{a},B-1,1000,300,2026-10-01,官网表单\n"
                   f"C{a},B-2,abc,300,2026-10-01,官网表单\n", encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(cli, ["import", "orders", str(bad), "--source", "erp"], obj=runtime)
    assert out.exit_code != 0 and "第 3 行：金额应为数字" in out.output and "没有写入任何记录" in out.output
    assert _count(db, Order) == 0
    out = runner.invoke(cli, ["import", "orders", str(good), "--source", "erp"], obj=runtime)
    assert out.exit_code == 0 and "新增 2 条" in out.output, out.output
    out = runner.invoke(cli, ["import", "orders", str(good), "--source", "erp"], obj=runtime)
    assert "新增 0 条，更新 0 条，未变 2 条" in out.output
    tps = tmp_path / "tp.csv"
    tps.write_text("customer_id,external_id,kind,channel,at,clv_impact,winback_probability\n"
                   f"{a},T1,service_ticket,service,2026-10-03 11:00,true,0.4\n", encoding="utf-8")
    out = runner.invoke(cli, ["import", "touchpoints", str(tps)], obj=runtime)
    assert out.exit_code == 0 and "已导入触点：新增 1 条" in out.output, out.output
    nohead = tmp_path / "x.csv"
    nohead.write_text("客户,金额\n1,2\n", encoding="utf-8")
    out = runner.invoke(cli, ["import", "orders", str(nohead)], obj=runtime)
    assert out.exit_code != 0 and "表头缺少这些列：编号、毛利、下单时间、渠道" in out.output
    with db.uow() as s:
        assert s.scalar(select(Order.is_fraud).where(Order.external_id == "A-2")) is True


def test_a_merge_moves_orders_and_touchpoints_and_undo_puts_them_back(db, cfg, clock):  # noqa: ANN001
    from crm_core.services.merge import merge_customers, undo_merge
    a, b = _customers(db)
    with db.uow() as s:
        s.add(Order(customer_id=b, source="shop", external_id="o1", amount=100, gross_margin=40,
                    ordered_at=datetime(2026, 11, 1, tzinfo=timezone.utc), channel="direct", is_fraud=False))
        s.add(Touchpoint(customer_id=b, kind="call", channel="call", source="cc", external_id="t1",
                         at=datetime(2026, 10, 30, tzinfo=timezone.utc)))
    with db.uow() as s:
        merge_id = merge_customers(s, cfg, a, [b], actor="liu.yang", now=clock()).id
    with db.uow() as s:
        assert {s.scalar(select(Order.customer_id)), s.scalar(select(Touchpoint.customer_id))} == {a}
    with db.uow() as s:
        undo_merge(s, merge_id, "liu.yang", clock())
    with db.uow() as s:
        assert {s.scalar(select(Order.customer_id)), s.scalar(select(Touchpoint.customer_id))} == {b}
        assert s.scalar(select(Order.ordered_at)) == datetime(2026, 11, 1, tzinfo=timezone.utc)
