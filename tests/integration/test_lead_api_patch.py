"""`PATCH /api/v1/leads/<id>` over the real Flask app on SQLite and PostgreSQL: the same edit
service as chat (validated, audited, gate re-evaluated); 400 naming each bad field, 404, 403 from
the policy for a rep acting through `X-CRM-Rep`; nothing written on any error. Phones in the API
follow the policy: full for the token (admin) and the owner, masked for other reps."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.web import create_app
from crm_core.db.models import AuditLog, Contact, Lead
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput

AUTH = {"Authorization": "Bearer change-me-local-token"}


@pytest.fixture
def client(runtime):  # noqa: ANN001, ANN201
    return create_app(runtime).test_client()


@pytest.fixture
def lead_id(runtime) -> int:  # noqa: ANN001
    data = LeadInput(source="web_form", company="杭州优品电子商务有限公司", contact_name="李经理", budget_cny=500_000)
    with runtime.db.uow() as s:
        lead = save_lead(s, runtime.cfg, data, actor="api", platform="api", now=runtime.clock()).lead
        give_lead(s, lead, runtime.cfg.org.rep("zhang.wei"), "east-medical", "测试分配", "system", runtime.clock())
        return lead.id


def stored(runtime, lead_id: int) -> tuple:  # noqa: ANN001
    with runtime.db.uow() as s:
        lead = s.get_one(Lead, lead_id)
        contact = s.get(Contact, lead.contact_id)
        edits = len(list(s.scalars(select(AuditLog).where(AuditLog.action == "lead.edit"))))
        return contact.phone if contact else None, lead.budget_cny, lead.product, edits


def test_patch_edits_audits_and_reevaluates_the_gate(client, runtime, lead_id) -> None:  # noqa: ANN001
    res = client.patch(f"/api/v1/leads/{lead_id}", json={"phone": "+86 139-0000-1111", "budget_cny": 800000},
                       headers=AUTH)
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert sorted(body["changed"]) == ["budget_cny", "phone"]
    assert body["lead"]["contact"]["phone"] == "13900001111"          # the token is an admin: in full
    assert body["gate"] == {"stage": "需求确认", "next_stage": "定制方案发送", "missing": [], "ready": True}
    assert stored(runtime, lead_id) == ("13900001111", 800_000, None, 1)
    with runtime.db.uow() as s:
        row = s.scalar(select(AuditLog).where(AuditLog.action == "lead.edit"))
        assert row.actor == "api" and row.platform == "api" and row.detail["phone"]["to"] == "139****1111"
    # clearing an optional field with null; the gate says what is missing again
    res = client.patch(f"/api/v1/leads/{lead_id}", json={"budget_cny": None}, headers=AUTH)
    assert res.status_code == 200 and res.get_json()["gate"]["missing"] == ["预算"]


@pytest.mark.parametrize("body, field", [
    ({"phone": "12345"}, "phone"), ({"budget_cny": "lots"}, "budget_cny"), ({"budget_cny": -1}, "budget_cny"),
    ({"timeline": "next spring"}, "timeline"), ({"stage": "won"}, "stage"), ({"owner": "li.na"}, "owner"),
    ({"company": None}, "company"), ({"phone": "13900001111", "email": "nope"}, "email"), ({}, "body"),
])
def test_bad_fields_are_400_and_write_nothing(client, runtime, lead_id, body, field) -> None:  # noqa: ANN001
    before = stored(runtime, lead_id)
    res = client.patch(f"/api/v1/leads/{lead_id}", json=body, headers=AUTH)
    assert res.status_code == 400, res.get_json()
    assert res.get_json()["error"] == "validation_failed" and field in res.get_json()["fields"]
    assert "phone" in res.get_json()["editable"]
    assert stored(runtime, lead_id) == before


def test_not_found_forbidden_unauthorized_and_not_json(client, runtime, lead_id) -> None:  # noqa: ANN001
    before = stored(runtime, lead_id)
    assert client.patch("/api/v1/leads/99999", json={"product": "CRM"}, headers=AUTH).status_code == 404
    other = client.patch(f"/api/v1/leads/{lead_id}", json={"product": "CRM"}, headers={**AUTH, "X-CRM-Rep": "chen.jie"})
    assert other.status_code == 403 and "不是你负责的" in other.get_json()["message"]
    unknown = client.patch(f"/api/v1/leads/{lead_id}", json={"product": "CRM"}, headers={**AUTH, "X-CRM-Rep": "nobody"})
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "unknown_rep"
    assert client.patch(f"/api/v1/leads/{lead_id}", json={"product": "CRM"}).status_code == 401
    assert client.patch(f"/api/v1/leads/{lead_id}", data="product=CRM", headers=AUTH).status_code == 415
    assert client.patch(f"/api/v1/leads/{lead_id}", data="[1]", headers={**AUTH, "Content-Type": "application/json"}
                        ).status_code == 400
    assert stored(runtime, lead_id) == before
    # the owner, acting through the integration, may; and sees the phone in full
    own = client.patch(f"/api/v1/leads/{lead_id}", json={"product": "CRM", "phone": "13900001111"},
                       headers={**AUTH, "X-CRM-Rep": "zhang.wei"})
    assert own.status_code == 200 and own.get_json()["lead"]["contact"]["phone"] == "13900001111"
    with runtime.db.uow() as s:
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "lead.edit")) == "zhang.wei"


def test_get_shows_phones_by_the_policy(client, runtime, lead_id) -> None:  # noqa: ANN001
    client.patch(f"/api/v1/leads/{lead_id}", json={"phone": "13900001111"}, headers=AUTH)
    assert client.get(f"/api/v1/leads/{lead_id}", headers=AUTH).get_json()["contact"]["phone"] == "13900001111"
    mine = client.get(f"/api/v1/leads/{lead_id}", headers={**AUTH, "X-CRM-Rep": "zhang.wei"}).get_json()
    assert mine["contact"]["phone"] == "13900001111"
    theirs = client.get(f"/api/v1/leads/{lead_id}", headers={**AUTH, "X-CRM-Rep": "chen.jie"}).get_json()
    assert theirs["contact"]["phone"] == "139****1111"
    listed = client.get("/api/v1/leads", headers={**AUTH, "X-CRM-Rep": "li.na"}).get_json()["items"]
    assert [i["contact"]["phone"] for i in listed] == ["139****1111"]
    assert client.get("/api/v1/leads", headers=AUTH).get_json()["items"][0]["contact"]["phone"] == "13900001111"
