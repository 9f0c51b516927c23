"""End-to-end fixtures: the real crm-bot server + workers + sandbox platforms on loopback."""
from __future__ import annotations

import pytest

from sandbox.stack import LocalStack

REPS = {"wecom": "zhangwei", "dingtalk": "manager7002", "feishu": "ou_chenjie"}   # one rep per platform


@pytest.fixture
def stack(cfg, db, db_url, clock):  # noqa: ANN001, ANN201
    # `db` is requested so its tables are emptied after the test.
    with LocalStack(cfg, db_url) as s:
        yield s


@pytest.fixture(params=["wecom", "dingtalk", "feishu"])
def platform(request) -> str:  # noqa: ANN001
    return request.param
