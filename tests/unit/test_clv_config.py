"""The `clv:` config section: the example's commented block is valid once uncommented; the mix
shares must add up to 1; spend only for known channels; recipients must be configured reps."""
from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from crm_core.config.checks import cross_reference_problems
from crm_core.config.clv import Clv
from crm_core.config import load_config
from tests.conftest import EXAMPLE


def _example_with_clv() -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    block = re.search(r"^# clv:.*?\n(?=\n)", text, re.S | re.M)
    assert block, "the example config has a commented clv block"
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in block.group(0).splitlines())
    return text.replace(block.group(0), uncommented + "\n")


def test_the_example_block_is_valid(tmp_path):  # noqa: ANN001
    path = tmp_path / "crm-bot.yaml"
    path.write_text(_example_with_clv(), encoding="utf-8")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    clv = load_config(path, env={}).clv
    assert (clv.window_days, clv.mix_last, clv.channel_spend_cny["ads"]) == (180, 0.7, 50000)
    assert not [p for p in cross_reference_problems(data) if p.startswith("clv")]


def test_bad_values_are_refused_with_the_key():
    with pytest.raises(ValidationError, match="mix_last"):
        Clv(mix_last=0.6, mix_first=0.3)
    with pytest.raises(ValidationError, match="unknown channel tv"):
        Clv(channel_spend_cny={"tv": 1000})
    with pytest.raises(ValidationError):
        Clv(model="u_shaped")
    problems = cross_reference_problems({"clv": {"recipients": ["nobody"]}})
    assert problems == ["clv.recipients[0]: unknown rep 'nobody' / 没有这位销售人员「nobody」"]
