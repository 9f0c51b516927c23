"""The example config with two more people (孙丽, finance; 周琦, service), everyone reachable on
WeCom, and a `visibility:` section (issue 18 tests)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from crm_core.config.loader import parse_config
from crm_core.config.schema import AppConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "crm-bot.example.yaml"
USERS = {"zhang.wei": "zhangwei", "li.na": "lina", "chen.jie": "chenjie", "wang.fang": "wangfang",
         "sun.li": "sunli", "zhou.qi": "zhouqi"}


def config_with(visibility: dict[str, Any], env: dict[str, str]) -> AppConfig:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["org"]["reps"] += [
        {"id": "sun.li", "name": "孙丽", "platform": "wecom", "platform_ids": {"wecom": "sunli"}, "roles": ["finance"]},
        {"id": "zhou.qi", "name": "周琦", "platform": "wecom", "platform_ids": {"wecom": "zhouqi"}, "roles": ["service"]},
    ]
    for rep in raw["org"]["reps"]:
        rep["platform_ids"].setdefault("wecom", USERS.get(rep["id"], rep["id"]))
    raw["visibility"] = visibility
    return parse_config(raw, env)
