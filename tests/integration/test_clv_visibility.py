"""The CLV endpoints with personal tokens (issue 18): role × endpoint × scope, on SQLite and
PostgreSQL. A customer's journey and CLV (GET /api/v1/customers/<id>/journey, GET
/api/v1/clv?customer_id=) only for a customer in the token's rows (403 otherwise), amounts and
margins as the person's money level (the figure, a size band, nothing), follow-up texts as their
notes level; the monthly dashboard (GET /api/v1/clv?month=) for admins, supervisors, finance and
`clv.recipients`, cut to the person's rows (the channels stay the company's), refused when their
money level is hidden. The POSTs stay the admin token's.

Two customers: 甲 is 张伟's (east-medical, supervised by 王芳), 乙 is 陈杰's (south-industry,
supervised by 刘洋). Both at risk, 乙 won back after a service ticket."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import pytest

from bot.web import create_app
from crm_core.db.models import Activity, AttributionCredit, ClvSnapshot, Customer, Order, Touchpoint
from crm_core.services.api_tokens import create_token
from tests.helpers.visibility_config import config_with

UTC = timezone.utc
ADMIN = {"Authorization": "Bearer change-me-local-token"}
NOTE = "客户说下周三前给答复"
# sales: own rows and the pool, amounts as size bands; service: amounts hidden, notes visible;
# supervisor, admin: everything; finance: the defaults (every row, amounts, no notes).
ROLES: dict[str, Any] = {"sales": {"scope": ["own", "pool"], "fields": {"budget": "masked"}},
                         "service": {"scope": ["all"], "default": "hidden",
                                     "fields": {"owner": "masked", "notes": "visible", "phone": "masked"}}}
# a supervisor who sees their team's rows only (刘洋 is also the steward: that role narrowed too)
TEAM_SCOPED = {**ROLES, "supervisor": {"scope": ["team"]}, "steward": {"scope": ["team"]}}

# 甲's order: 80万, margin 30万; 乙's: 9万, margin 4万. CLVs: 甲 60万 → 20万, 乙 45万 → 15万.
FIGURES = {"甲": {"amount": 800_000.0, "gross_margin": 300_000.0, "clv": 200_000.0, "previous": 600_000.0},
           "乙": {"amount": 90_000.0, "gross_margin": 40_000.0, "clv": 150_000.0, "previous": 450_000.0}}
BANDS = {800_000.0: "50万–100万", 300_000.0: "10万–50万", 90_000.0: "10万以下", 40_000.0: "10万以下",
         200_000.0: "10万–50万", 600_000.0: "50万–100万", 150_000.0: "10万–50万", 450_000.0: "10万–50万",
         210_000.0: "10万–50万", 340_000.0: "10万–50万"}
# each customer's own credits (mix: 70 % the last touch, 30 % the first): 甲's follow-up in chat is
# the last (销售跟进), the ad click the first; 乙's service ticket is its only touchpoint
CREDITS = {"甲": {"sales": 210_000.0, "search": 90_000.0}, "乙": {"service": 40_000.0}}
CHANNELS = [("search", 300_000.0), ("service", 40_000.0)]      # the company's November


def make_config(roles: dict[str, Any] = ROLES, recipients: tuple[str, ...] = ()):  # noqa: ANN201
    cfg = config_with({"roles": roles}, {})
    clv = cfg.clv.model_copy(update={"high_value_top_percent": 100.0, "recipients": list(recipients)})
    return cfg.model_copy(update={"clv": clv})


@pytest.fixture
def cfg():  # noqa: ANN201
    return make_config()


@pytest.fixture
def world(runtime, clock) -> dict[str, int]:  # noqa: ANN001
    clock.now = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)             # 09:00 on the 5th in Shanghai
    runtime.sync_config()           # the new day adopted now, so a test's apply_config is not rebuilt away
    with runtime.db.uow() as s:
        a = Customer(name="杭州优品电子商务有限公司", owner_rep_id="zhang.wei")
        b = Customer(name="宁波海运集团", owner_rep_id="chen.jie")
        s.add_all([a, b])
        s.flush()
        for c, label, at in ((a, "甲", datetime(2026, 11, 12, 2, tzinfo=UTC)),
                             (b, "乙", datetime(2026, 11, 20, 2, tzinfo=UTC))):
            f = FIGURES[label]
            s.add(Order(customer_id=c.id, source="shop", external_id=f"SO-{c.id}", amount=f["amount"],
                        gross_margin=f["gross_margin"], ordered_at=at, channel="web_form"))
            s.add(ClvSnapshot(customer_id=c.id, as_of=date(2026, 12, 5), clv=f["clv"], previous=f["previous"],
                              monthly_margin=f["gross_margin"] / 12, alive=0.4,
                              last_interaction=datetime(2026, 10, 1, tzinfo=UTC)))
        s.add(Touchpoint(customer_id=a.id, kind="ad_click", channel="search", at=datetime(2026, 11, 1, tzinfo=UTC),
                         source="adx", external_id="ad-a", note="搜索广告:医疗软件"))
        s.add(Touchpoint(customer_id=b.id, kind="service_ticket", channel="service", source="desk",
                         external_id="t-b", at=datetime(2026, 11, 5, tzinfo=UTC), clv_impact=True,
                         winback_probability=0.6))
        s.add(Activity(customer_id=a.id, kind="follow_up", actor="zhang.wei", platform="wecom",
                       created_at=datetime(2026, 11, 10, 3, tzinfo=UTC), text=NOTE))
        for channel, margin in CHANNELS:
            s.add(AttributionCredit(month=date(2026, 11, 1), channel=channel, model=runtime.cfg.clv.model,
                                    margin=margin, orders=1.0))
        return {"甲": a.id, "乙": b.id}


def token(runtime, rep_id: str) -> dict[str, str]:  # noqa: ANN001
    with runtime.db.uow() as s:
        secret, _ = create_token(s, runtime.cfg, rep_id, now=runtime.clock())
    return {"Authorization": f"Bearer {secret}"}


def get(runtime, who: str, path: str):  # noqa: ANN001, ANN201
    auth = ADMIN if who == "admin token" else token(runtime, who)
    return create_app(runtime).test_client().get(path, headers=auth)


def shown(value: float, level: str) -> Any:
    """What a reader at money `level` gets for `value`: the figure, its size band, or no key."""
    return {"visible": value, "masked": BANDS.get(value), "hidden": KeyError}[level]


# ---- one customer: the journey and ?customer_id= ---------------------------------------------
# (who, config, customer, status, money level, notes level), each on both endpoints
CUSTOMER_CASES: list[tuple[str, dict[str, Any], str, int, Any, Any]] = [
    ("admin token", ROLES, "甲", 200, "visible", "visible"),
    ("zhang.wei", ROLES, "甲", 200, "masked", "visible"),          # a rep's own customer: bands
    ("zhang.wei", ROLES, "乙", 403, None, None),                    # another rep's customer
    ("chen.jie", ROLES, "甲", 403, None, None),
    ("chen.jie", ROLES, "乙", 200, "masked", "visible"),
    ("sun.li", ROLES, "甲", 200, "visible", "hidden"),              # finance: margins, no notes
    ("sun.li", ROLES, "乙", 200, "visible", "hidden"),
    ("zhou.qi", ROLES, "甲", 200, "hidden", "visible"),             # service: no amount keys at all
    ("liu.yang", ROLES, "甲", 200, "visible", "visible"),           # the default supervisor: every row
    ("liu.yang", TEAM_SCOPED, "甲", 403, None, None),               # team-scoped: not his team's
    ("liu.yang", TEAM_SCOPED, "乙", 200, "visible", "visible"),
    ("wang.fang", TEAM_SCOPED, "乙", 200, "visible", "visible"),    # an admin too: every row
]


def journey_as_seen(body: dict[str, Any], customer: str, money: str, notes: str) -> None:
    items = {i["kind"]: i for i in body["items"]}
    order, f = items["order"], FIGURES[customer]
    assert order.get("amount", KeyError) == shown(f["amount"], money), order
    assert order.get("gross_margin", KeyError) == shown(f["gross_margin"], money), order
    assert order["text"].startswith("订单 SO-"), order                  # the order's own line, not a note
    if money == "hidden":
        assert all("amount" not in i and "gross_margin" not in i for i in body["items"]), body
    if customer == "甲":
        chat, ad = items["chat:follow_up"], items["ad_click"]
        assert chat.get("text", KeyError) == {"visible": NOTE, "hidden": KeyError}[notes], chat
        assert ad.get("text", KeyError) == {"visible": "搜索广告:医疗软件", "hidden": KeyError}[notes], ad
        if notes == "hidden":
            assert NOTE not in json.dumps(body, ensure_ascii=False)


def clv_as_seen(body: dict[str, Any], customer: str, money: str, notes: str) -> None:
    f = FIGURES[customer]
    assert body["orders"] == 1
    if money == "hidden":
        assert "margin_by_channel" not in body, body
    else:
        assert body["margin_by_channel"] == {ch: shown(m, money) for ch, m in CREDITS[customer].items()}, body
    for key in ("clv", "previous"):
        assert body["clv"].get(key, KeyError) == shown(f[key], money), body["clv"]
    assert body["clv"]["alive"] == 0.4 and ("monthly_margin" in body["clv"]) == (money != "hidden")


ONE_CUSTOMER = {"journey": ("/api/v1/customers/{id}/journey", journey_as_seen),
                "clv": ("/api/v1/clv?customer_id={id}", clv_as_seen)}


@pytest.mark.parametrize("endpoint", list(ONE_CUSTOMER))
@pytest.mark.parametrize("who, roles, customer, status, money, notes", CUSTOMER_CASES,
                         ids=[f"{c[0]}-{'team' if c[1] is TEAM_SCOPED else 'default'}-{c[2]}" for c in CUSTOMER_CASES])
def test_one_customer(runtime, world, endpoint: str, who: str, roles: dict[str, Any], customer: str,  # noqa: ANN001
                      status: int, money: str, notes: str) -> None:
    runtime.apply_config(make_config(roles))
    path, as_seen = ONE_CUSTOMER[endpoint]
    res = get(runtime, who, path.format(id=world[customer]))
    assert res.status_code == status, res.get_json()
    body = res.get_json()
    if status == 403:
        assert body["error"] == "forbidden" and "不在你的查看范围内" in body["message"], body
        text = json.dumps(body, ensure_ascii=False)
        assert "优品" not in text and "海运" not in text and "amount" not in text and "clv" not in body
        return
    assert body["customer_id"] == world[customer]
    as_seen(body, customer, money, notes)


# ---- the monthly dashboard ---------------------------------------------------------------------
# (who, config, clv.recipients, status, customers in it, money level, scoped)
DASHBOARD_CASES = [
    ("admin token", ROLES, (), 200, {"甲", "乙"}, "visible", False),
    ("wang.fang", ROLES, (), 200, {"甲", "乙"}, "visible", False),           # supervisor + admin
    ("sun.li", ROLES, (), 200, {"甲", "乙"}, "visible", False),              # finance: every row's amounts
    ("liu.yang", ROLES, (), 200, {"甲", "乙"}, "visible", False),            # the default supervisor: all rows
    ("liu.yang", TEAM_SCOPED, (), 200, {"乙"}, "visible", True),             # his team's customers only
    ("zhang.wei", ROLES, (), 403, None, None, None),                        # a rep: not management
    ("zhang.wei", ROLES, ("zhang.wei",), 200, {"甲"}, "masked", True),       # named a recipient: own rows, bands
    ("zhou.qi", ROLES, (), 403, None, None, None),                          # service: not management
    ("zhou.qi", ROLES, ("zhou.qi",), 403, None, None, None),                # a recipient whose money is hidden
]


@pytest.mark.parametrize("who, roles, named, status, customers, money, scoped", DASHBOARD_CASES,
                         ids=[f"{c[0]}-{'team' if c[1] is TEAM_SCOPED else 'default'}-{len(c[2])}"
                              for c in DASHBOARD_CASES])
def test_dashboard(runtime, world, who: str, roles: dict[str, Any], named: tuple[str, ...], status: int,  # noqa: ANN001
                   customers: set[str] | None, money: str | None, scoped: bool | None) -> None:
    runtime.apply_config(make_config(roles, named))
    res = get(runtime, who, "/api/v1/clv?month=2026-11")
    assert res.status_code == status, res.get_json()
    body = res.get_json()
    if status == 403:
        assert body["error"] == "forbidden" and ("月报" in body["message"]), body
        assert "channels" not in body and "优品" not in json.dumps(body, ensure_ascii=False)
        return
    ids = {world[c]: c for c in customers or ()}
    assert {x["customer_id"] for x in body["at_risk"]} == set(ids), body["at_risk"]
    assert body["at_risk_total"] == len(ids) and body["customers"] == len(ids)
    for x in body["at_risk"]:
        f = FIGURES[ids[x["customer_id"]]]
        assert (x["clv"], x["previous"]) == (shown(f["clv"], money), shown(f["previous"], money)), x
        assert x["owner_rep_id"] == ("zhang.wei" if ids[x["customer_id"]] == "甲" else "chen.jie")
    margin = sum(FIGURES[c]["gross_margin"] for c in ids.values())
    assert body["month_margin"] == shown(margin, money), body
    assert [w["customer_id"] for w in body["winbacks"]] == [world["乙"]] * ("乙" in customers)
    assert [w["margin"] for w in body["winbacks"]] == [shown(40_000.0, money)] * ("乙" in customers)
    # the channel ranking is the company's, whoever reads it (figures as their money level)
    assert [(c["channel"], c["margin"]) for c in body["channels"]] == [(ch, shown(m, money)) for ch, m in CHANNELS]
    assert ("scope" in body) == scoped and (body.get("company_wide") == ["channels", "high_value_from"]) == scoped


def test_the_admin_tokens_dashboard_keeps_its_shape(runtime, world) -> None:  # noqa: ANN001
    """The admin token reads what it read before: the builder's dictionary, unchanged."""
    from crm_core.services.clv_dashboard import build_dashboard
    body = get(runtime, "admin token", "/api/v1/clv?month=2026-11").get_json()
    with runtime.db.uow() as s:
        board = build_dashboard(s, runtime.cfg, "2026-11", runtime.clock())
    assert body == json.loads(json.dumps(board.to_dict(), ensure_ascii=False))


@pytest.mark.parametrize("who", ["zhang.wei", "sun.li", "liu.yang"])
def test_posting_orders_and_touchpoints_stays_the_admin_tokens(runtime, world, who: str) -> None:  # noqa: ANN001
    """Action.API_WRITE: the admin token (or an admin's own token); a rep, finance, a supervisor: 403."""
    client, auth = create_app(runtime).test_client(), token(runtime, who)
    order = {"customer_id": world["甲"], "external_id": "SO-X", "amount": 100, "gross_margin": 10,
             "ordered_at": "2026-11-30 10:00", "channel": "web_form"}
    touch = {"customer_id": world["甲"], "external_id": "tp-x", "kind": "call", "channel": "sales",
             "at": "2026-11-30 10:00"}
    for path, body in (("/api/v1/orders", {"orders": [order]}), ("/api/v1/touchpoints", {"touchpoints": [touch]})):
        res = client.post(path, json=body, headers=auth)
        assert res.status_code == 403 and "需要管理员权限" in res.get_json()["message"], (path, res.get_json())
    assert client.post("/api/v1/orders", json={"orders": [order]}, headers=ADMIN).get_json()["created"] == 1


def test_acting_for_a_rep_with_the_admin_token(runtime, world) -> None:  # noqa: ANN001
    """`X-CRM-Rep` makes the admin token read as that rep: their rows, their money level."""
    client = create_app(runtime).test_client()
    as_zhang = {**ADMIN, "X-CRM-Rep": "zhang.wei"}
    assert client.get(f"/api/v1/customers/{world['乙']}/journey", headers=as_zhang).status_code == 403
    mine = client.get(f"/api/v1/customers/{world['甲']}/journey", headers=as_zhang).get_json()
    assert next(i for i in mine["items"] if i["kind"] == "order")["amount"] == "50万–100万"
    assert client.get("/api/v1/clv?month=2026-11", headers=as_zhang).status_code == 403



def test_the_monthly_card_is_cut_like_the_api(runtime, world) -> None:  # noqa: ANN001
    """The `clv_dashboard` job's card per recipient: their rows (as the API answers them), the footer
    saying so; a recipient who sees every row gets the company's."""
    from crm_core.services.clv_dashboard import dashboard_notices
    from handlers.clv_cards import clv_dashboard_card
    runtime.apply_config(make_config(TEAM_SCOPED, ("liu.yang", "wang.fang", "zhang.wei")))
    with runtime.db.uow() as s:
        notices = {n.to_rep: n for n in dashboard_notices(s, runtime.cfg, "2026-11", runtime.clock())}
    at_risk = {rep: ({c.name for c in n.dashboard.at_risk}, n.scoped) for rep, n in notices.items()}
    assert at_risk == {"liu.yang": ({"宁波海运集团"}, True), "zhang.wei": ({"杭州优品电子商务有限公司"}, True),
                       "wang.fang": ({"宁波海运集团", "杭州优品电子商务有限公司"}, False)}
    card = clv_dashboard_card(runtime.cfg, notices["liu.yang"])
    assert "优品" not in (card.text or "") and "只含你查看范围内的客户" in (card.footer or "")
    assert "只含" not in (clv_dashboard_card(runtime.cfg, notices["wang.fang"]).footer or "")
