"""Intake exemption: a lead from a web form / expo scan is saved without asking anyone; the
rep it is routed to gets one card and only confirms its tags."""
from __future__ import annotations

import requests
from sqlalchemy import select

from crm_core.db.models import Lead

FORM = {"channel": "expo", "company": "宁波海星医疗器械有限公司", "contact_name": "周主任",
        "phone": "13812345678", "product": "CT设备", "tags": ["2026医博会", "高意向"]}


def test_form_lead_saved_and_owner_confirms_tags(stack, db):
    res = requests.post(f"{stack.url}/api/v1/leads", json=FORM, timeout=10,
                        headers={"Authorization": "Bearer change-me-local-token"})
    assert res.status_code == 201
    assert stack.settle()
    with db.uow() as s:
        lead = s.scalar(select(Lead))
        owner = stack.cfg.org.rep(lead.owner_rep_id)
    assert owner is not None and lead.team_id == "east-medical"     # rule 华东医疗 (浙江 + 医疗)
    calls = stack.sandbox.sent(owner.platform)
    card = next(c for c in calls if "确认标签" in stack.sim.sent_as_text([c]))
    assert "高意向" in stack.sim.sent_as_text([card])
    stack.sim.tap(owner.platform, owner.platform_ids[owner.platform], card, "确认标签")
    assert stack.settle()
    with db.uow() as s:
        assert s.get(Lead, lead.id).details["tags_confirmed_by"] == owner.id
    assert "标签已由" in "\n".join(stack.sim.sent_as_text([c]) for c in stack.sandbox.sent(owner.platform))
