"""`POST /api/v1/approvals` and `GET /api/v1/approvals` on SQLite and PostgreSQL: a rep (the admin
token acting for her with X-CRM-Rep) submits a lead with the amount in 万, the approver's card is
queued and the approval listed as waiting for him; bad fields are 400 naming the field, a missing
lead 404, someone else's lead 403, the admin token alone 400 (an approval needs a rep)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.web import create_app
from crm_core.config import load_config
from crm_core.db.models import Approval, CardRecord
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from tests.conftest import EXAMPLE
from tests.helpers.approval_org import approval_config

AUTH = {"Authorization": "Bearer change-me-local-token"}


@pytest.fixture
def cfg():  # noqa: ANN201
    return approval_config(load_config(EXAMPLE, env={}), "wecom")


@pytest.fixture
def client(runtime):  # noqa: ANN001, ANN201
    return create_app(runtime).test_client()


def seed(rt) -> int:  # noqa: ANN001
    with rt.db.uow() as s:
        return intake_lead(s, rt.cfg, LeadInput(source="chat", company="杭州优品医疗科技有限公司", contact_name="李经理",
                                                budget_cny=1_000_000), actor="sun.li", platform="wecom",
                           now=rt.clock(), owner_rep_id="sun.li").lead.id


def test_submit_and_list_over_the_api(client, runtime, db) -> None:  # noqa: ANN001
    lead_id = seed(runtime)
    as_sun = {**AUTH, "X-CRM-Rep": "sun.li"}
    res = client.post("/api/v1/approvals", json={"lead_id": lead_id, "flow": "合同", "amount": "180万"}, headers=as_sun)
    assert res.status_code == 201, res.json
    body = res.json["approval"]
    assert body["amount_cny"] == 1_800_000 and [n["name"] for n in body["nodes"]] == ["主管审批", "VP审批"]
    with runtime.db.uow() as s:
        a = s.get_one(Approval, body["id"])
        assert a.platform == "api" and a.submitter == "sun.li"
        assert s.scalar(select(CardRecord.id).where(CardRecord.id.startswith(f"apv{a.id}n0"))) is not None
    waiting = client.get("/api/v1/approvals?box=waiting", headers={**AUTH, "X-CRM-Rep": "zhou.ming"}).json
    assert [x["id"] for x in waiting["approvals"]] == [body["id"]] and waiting["approvals"][0]["node"] == "主管审批"
    mine = client.get("/api/v1/approvals?box=submitted", headers=as_sun).json
    assert mine["approvals"][0]["ref"] == f"审批A{body['id']}"
    assert client.get("/api/v1/approvals", headers=AUTH).json["box"] == "all"


def test_api_refusals(client, runtime, db) -> None:  # noqa: ANN001
    lead_id = seed(runtime)
    as_sun = {**AUTH, "X-CRM-Rep": "sun.li"}
    res = client.post("/api/v1/approvals", json={"lead_id": lead_id, "flow": "请假"}, headers=as_sun)
    assert res.status_code == 400 and "flow" in res.json["fields"]
    res = client.post("/api/v1/approvals", json={"lead_id": lead_id, "flow": "contract", "amount_cny": -5}, headers=as_sun)
    assert res.status_code == 400 and "amount_cny" in res.json["fields"]
    assert client.post("/api/v1/approvals", json={"lead_id": 999, "flow": "contract"}, headers=as_sun).status_code == 404
    res = client.post("/api/v1/approvals", json={"lead_id": lead_id, "flow": "contract"},
                      headers={**AUTH, "X-CRM-Rep": "feng.gong"})
    assert res.status_code == 403
    assert client.post("/api/v1/approvals", json={"lead_id": lead_id, "flow": "contract"},
                       headers=AUTH).status_code == 400
    assert client.post("/api/v1/approvals", json={"lead_id": lead_id, "flow": "contract"}).status_code == 401
    assert client.get("/api/v1/approvals?box=other", headers=as_sun).status_code == 400
    with runtime.db.uow() as s:
        assert s.scalar(select(Approval.id)) is None


def test_flow_versions_and_rollback_over_the_api(client, runtime, db) -> None:  # noqa: ANN001
    versions = client.get("/api/v1/approval-flows", headers=AUTH).json["versions"]
    assert {(v["flow"], v["version"], v["current"]) for v in versions} == {("contract", 1, True), ("quote", 1, True)}
    assert client.get("/api/v1/approval-flows", headers={**AUTH, "X-CRM-Rep": "sun.li"}).status_code == 403
    assert client.post("/api/v1/approval-flows/contract/rollback", json={"to": 1},
                       headers={**AUTH, "X-CRM-Rep": "zhou.ming"}).status_code == 403
    res = client.post("/api/v1/approval-flows/contract/rollback", json={"to": 7}, headers=AUTH)
    assert res.status_code == 404 and "第7版" in res.json["message"]
    assert client.post("/api/v1/approval-flows/contract/rollback", json={"to": "1"}, headers=AUTH).status_code == 400
    res = client.post("/api/v1/approval-flows/contract/rollback", json={"to": 1}, headers=AUTH)
    assert res.status_code == 200 and res.json["version"] == 1
