"""The /api/v1 intake and read API over real WSGI requests, on SQLite and PostgreSQL:
good leads are stored through the capture pipeline; bad requests get a clear 4xx and
write nothing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.web import create_app
from crm_core.db.models import Activity, Contact, Customer, Lead, Task

TOKEN = "change-me-local-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(runtime):  # noqa: ANN001, ANN201
    return create_app(runtime).test_client()


def row_counts(db) -> tuple[int, ...]:  # noqa: ANN001
    with db.uow() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Customer, Contact, Lead, Activity, Task))


GOOD = {"channel": "expo", "company": "杭州优品电子商务有限公司", "contact_name": "李经理",
        "phone": "+86 139-1234 5678", "product": "CRM", "budget_cny": 500000, "timeline": "2027-03",
        "next_action": "演示"}


def test_post_lead_stores_everything(client, db):
    res = client.post("/api/v1/leads", json=GOOD, headers=AUTH)
    assert res.status_code == 201, res.get_json()
    lead = res.get_json()["lead"]
    assert lead["contact"]["phone"] == "139****5678"      # masked in the response
    assert lead["source"] == "expo" and lead["stage"] == "qualify"
    with db.uow() as s:
        contact = s.scalar(select(Contact))
        assert contact.phone == "13912345678"               # stored normalized
        task = s.scalar(select(Task))
        assert task.due_date.isoformat() == "2027-02-22"     # a week before March
    detail = client.get(f"/api/v1/leads/{lead['id']}", headers=AUTH).get_json()
    assert [a["kind"] for a in detail["activities"]] == ["created", "assigned"]
    assert detail["customer"]["name"] == GOOD["company"]
    # saved without asking, then routed by the rules (no rule matches a CRM buyer → default team)
    assert detail["owner"] in ("zhang.wei", "li.na") and detail["team"] == "east-medical"
    assert "轮流分配" in detail["assignments"][0]["reason"]


@pytest.mark.parametrize("body, field", [
    ({k: v for k, v in GOOD.items() if k != "company"}, "company"),       # missing required
    ({**GOOD, "budget_cny": "lots"}, "budget_cny"),                       # wrong type
    ({**GOOD, "phone": "12345"}, "phone"),                                # not a phone
    ({**GOOD, "timeline": "next spring"}, "timeline"),
    ({**GOOD, "colour": "red"}, "colour"),                                # unknown field
    ({k: v for k, v in GOOD.items() if k != "channel"}, "source"),
    ({**GOOD, "channel": "partner_x"}, "source"),                         # not a known channel code
])
def test_invalid_fields_are_400_and_write_nothing(client, db, body, field):
    before = row_counts(db)
    res = client.post("/api/v1/leads", json=body, headers=AUTH)
    assert res.status_code == 400
    data = res.get_json()
    assert data["error"] == "validation_failed" and field in data["fields"]
    assert row_counts(db) == before


def test_body_too_large_is_413(client, db):
    big = json.dumps({**GOOD, "note": "x" * (2 * 1024 * 1024)})
    res = client.post("/api/v1/leads", data=big, content_type="application/json", headers=AUTH)
    assert res.status_code == 413
    assert res.get_json()["message"] == "request body too large"
    assert row_counts(db) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_bad_token_is_401(client, db, headers):
    res = client.post("/api/v1/leads", json=GOOD, headers=headers)
    assert res.status_code == 401 and res.get_json()["error"] == "unauthorized"
    assert client.get("/api/v1/leads", headers=headers).status_code == 401
    assert row_counts(db) == (0, 0, 0, 0, 0)


def test_non_json_and_non_object_bodies(client, db):
    assert client.post("/api/v1/leads", data="company=x", headers=AUTH).status_code == 415
    res = client.post("/api/v1/leads", data="[1,2]", content_type="application/json", headers=AUTH)
    assert res.status_code == 400 and res.get_json()["error"] == "invalid_json"
    res = client.post("/api/v1/leads", data="{bad", content_type="application/json", headers=AUTH)
    assert res.status_code == 400
    assert row_counts(db) == (0, 0, 0, 0, 0)


def test_list_and_paging(client):
    for i in range(3):
        assert client.post("/api/v1/leads", json={**GOOD, "company": f"公司{i}", "phone": None},
                           headers=AUTH).status_code == 201
    page = client.get("/api/v1/leads?limit=2", headers=AUTH).get_json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert page["items"][0]["fuse"]["state"] == "ok"
    assert client.get("/api/v1/leads?limit=0", headers=AUTH).status_code == 400
    assert client.get("/api/v1/leads?limit=x", headers=AUTH).status_code == 400
    customers = client.get("/api/v1/customers", headers=AUTH).get_json()
    assert customers["total"] == 3
    assert client.get("/api/v1/leads/999999", headers=AUTH).status_code == 404


def test_errors_are_json_everywhere(client):
    res = client.get("/nope")
    assert res.status_code == 404 and res.is_json
    res = client.delete("/api/v1/leads")
    assert res.status_code == 405 and res.is_json


def test_healthz_reports_components(client):
    res = client.get("/healthz")
    data = res.get_json()
    assert res.status_code == 200 and data["status"] == "ok"
    assert data["components"]["database"]["ok"] is True
    assert data["components"]["redis"] == {"ok": True, "backend": "embedded"}
    platforms = data["components"]["platforms"]
    assert set(platforms) == {"wecom", "dingtalk", "feishu"}
    assert platforms["wecom"] == {"ok": True, "mode": "http", "last_inbound_seconds_ago": None}
    assert "enabled" in data["components"]["voice"]


def test_no_static_route_serves_files_from_the_working_directory(runtime, tmp_path, monkeypatch):
    # Flask's default static folder is `<root_path>/static`, and the root path of the app
    # "crm_bot" is the working directory: a file there must not be served to anyone.
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "README.md").write_text("secret notes", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    app = create_app(runtime)
    res = app.test_client().get("/static/README.md")
    assert res.status_code == 404 and res.is_json
    assert "static" not in {rule.endpoint for rule in app.url_map.iter_rules()}


def _health_of(runtime) -> tuple[int, dict]:  # noqa: ANN001
    res = create_app(runtime).test_client().get("/healthz")
    return res.status_code, res.get_json()


def test_healthz_is_503_naming_redis_when_redis_is_down(cfg, db, clock):  # noqa: ANN001
    from bot.runtime import Runtime
    from crm_core.kv import connect
    # nothing listens on port 1: every Redis call fails at once
    rt = Runtime(cfg=cfg, db=db, kv=connect("redis://127.0.0.1:1/0", "healthz"), clock=clock)
    status, data = _health_of(rt)
    assert status == 503, data
    assert data["status"] == "degraded" and data["failing"] == ["redis"]
    assert data["components"]["redis"]["ok"] is False and data["components"]["database"]["ok"] is True
    assert all(p["ok"] is False for p in data["components"]["platforms"].values())


def test_healthz_is_503_naming_the_database_when_it_is_down(cfg, clock):  # noqa: ANN001
    from bot.runtime import Runtime
    from crm_core.db import Database
    from crm_core.kv import connect
    down = Database("postgresql+psycopg://crm@127.0.0.1:1/crm?connect_timeout=2")
    rt = Runtime(cfg=cfg, db=down, kv=connect(None, "healthz-db"), clock=clock)
    try:
        status, data = _health_of(rt)
    finally:
        down.dispose()
    assert status == 503, data
    assert data["failing"] == ["database"] and data["components"]["database"]["ok"] is False
    assert data["components"]["redis"]["ok"] is True
