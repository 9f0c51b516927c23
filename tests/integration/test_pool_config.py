"""The `pool:` config section drives the public pool (issue 15: the 30/90/3/7 days were
hard-coded and `pool:` was refused): the return after `idle_days`, the warning
`warn_days_before`, the former owner's `cooldown_days` and the `max_holding` claim limit, as the
scheduler's pool_scan job runs them (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm_core.config.schema import Pool
from crm_core.db.models import Lead
from crm_core.notices import PoolReturned, PoolWarning
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput
from crm_core.services.pool import PoolError, claim_from_pool
from scheduler.jobs import pool_scan


def new_lead(rt, owner: str, name: str) -> int:  # noqa: ANN001
    now = rt.clock()
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, LeadInput(source="chat", company=f"杭州{name}医疗器械有限公司", contact_name="王总"),
                         actor=owner, platform="wecom", now=now).lead
        give_lead(s, lead, rt.cfg.org.rep(owner), "east-medical", "测试", "system", now)
        return lead.id


def test_pool_section_sets_return_warning_cooldown_and_limit(runtime, clock) -> None:  # noqa: ANN001
    rt = runtime
    rt.apply_config(rt.cfg.model_copy(update={"pool": Pool(idle_days=10, max_open_days=40, warn_days_before=2,
                                                           cooldown_days=1, max_holding=1)}))
    sent: list = []
    rt.deliver = lambda notices: sent.extend(notices) or len(list(notices))  # type: ignore[method-assign]
    start = clock.now
    lead_id = new_lead(rt, "zhang.wei", "甲")
    clock.advance(days=9)
    new_lead(rt, "li.na", "乙")                                  # li.na holds one open lead: her limit
    for day, expected in ((7.9, []), (8, [PoolWarning]), (9.9, []), (10, [PoolReturned])):
        sent.clear()
        pool_scan(rt, start + timedelta(days=day))
        assert [type(n) for n in sent if n.lead_id == lead_id] == expected, day
    with rt.db.uow() as s:
        lead = s.get(Lead, lead_id)
        assert (lead.status, lead.owner_rep_id) == ("pool", None)
        back = start + timedelta(days=10, hours=12)
        with pytest.raises(PoolError, match="重新领取"):
            claim_from_pool(s, rt.cfg, lead, "zhang.wei", back)          # within the 1-day cool-down
        with pytest.raises(PoolError, match="已达上限 1 条"):
            claim_from_pool(s, rt.cfg, lead, "li.na", back)              # max_holding: 1
        claim_from_pool(s, rt.cfg, lead, "zhang.wei", start + timedelta(days=11, minutes=1))
        assert lead.owner_rep_id == "zhang.wei"
