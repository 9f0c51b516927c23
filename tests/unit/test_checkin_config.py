"""The checkin config section: defaults, bounds, unknown keys refused, and `config check`
naming an unknown checkin.copy_to rep next to the schema's own problems."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_core.config.checkin import Checkin
from crm_core.config.checks import cross_reference_problems
from crm_core.config.schema import AppConfig


def test_defaults_and_bounds() -> None:
    cfg = AppConfig()
    assert (cfg.checkin.picks, cfg.checkin.offered, cfg.checkin.copy_to) == (3, 10, None)
    assert cfg.schedules.morning_checkin.cron == "45 8 * * 1-5"
    for bad in ({"picks": 0}, {"picks": 6}, {"offered": 2}, {"pick": 3}):
        with pytest.raises(ValidationError):
            Checkin(**bad)


def test_copy_to_must_be_a_configured_rep() -> None:
    org = {"reps": [{"id": "zhang.wei", "name": "张伟", "platform": "wecom", "platform_ids": {"wecom": "zw"}}]}
    assert cross_reference_problems({"org": org, "checkin": {"copy_to": "zhang.wei"}}) == []
    [problem] = cross_reference_problems({"org": org, "checkin": {"copy_to": "kefu.li"}})
    assert problem.startswith("checkin.copy_to:") and "kefu.li" in problem and "没有这位销售人员" in problem
