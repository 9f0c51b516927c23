"""`crm-bot approval flows` / `rollback` print Chinese with full-width punctuation (the CLI's
output is polished where it leaves the bot), on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.cli.approval import approval_group
from cards.zh import halfwidth_marks
from crm_core.config import load_config
from tests.conftest import EXAMPLE
from tests.helpers.approval_org import approval_config


@pytest.fixture
def cfg():  # noqa: ANN201
    return approval_config(load_config(EXAMPLE, env={}))


def test_flows_and_rollback_read_in_chinese(runtime) -> None:  # noqa: ANN001
    res = CliRunner().invoke(approval_group, ["flows"], obj=runtime)
    assert res.exit_code == 0, res.output
    assert "合同审批：主管审批 → VP审批（≥50万） → 风控会审（>200万）" in res.output
    res = CliRunner().invoke(approval_group, ["rollback", "contract", "--to", "1"], obj=runtime)
    assert res.exit_code == 0, res.output
    assert "「合同审批」现在使用第1版：" in res.output
    assert [halfwidth_marks(line) for line in res.output.splitlines() if halfwidth_marks(line)] == []
