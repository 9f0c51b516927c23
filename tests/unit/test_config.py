"""Config loading: the example is valid; mistakes are reported with key paths; ${ENV}."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from crm_core.config.loader import ConfigError, load_config, parse_config, resolve_config_path
from tests.conftest import EXAMPLE, ROOT


def example_raw() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def problems_of(raw: dict, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env=env or {})
    return info.value.problems


def test_example_is_valid():
    cfg = load_config(EXAMPLE, env={})
    assert cfg.platforms.enabled() == ["wecom", "dingtalk", "feishu"]
    assert cfg.org.team("east-medical").supervisor == "wang.fang"
    assert cfg.funnel.stages[0].key == "qualify"


def test_three_mistakes_all_reported_with_paths():
    raw = example_raw()
    raw["org"]["teams"][1]["supervisor"] = "li.lei"
    raw["org"]["reps"][0]["wieght"] = 2
    raw["dedup"]["merge_threshold"] = "high"
    probs = problems_of(raw)
    assert "org.teams[1].supervisor: unknown rep 'li.lei'" in probs
    assert any(p.startswith("org.reps[0].wieght: unknown key") for p in probs)
    assert any(p.startswith("dedup.merge_threshold:") for p in probs)
    assert len(probs) == 3


@pytest.mark.parametrize("mutate, expected_prefix", [
    (lambda r: r["assignment"].__setitem__("default_team", "nope"), "assignment.default_team: unknown team"),
    (lambda r: r["assignment"]["rules"][1].__setitem__("team", "x"), "assignment.rules[1].team: unknown team"),
    (lambda r: r["org"]["teams"][0]["members"].append("ghost"), "org.teams[0].members[3]: unknown rep 'ghost'"),
    (lambda r: r["org"].__setitem__("data_steward", "ghost"), "org.data_steward: unknown rep"),
    (lambda r: r["org"]["reps"][1].__setitem__("id", "zhang.wei"), "org.reps[1].id: duplicate rep id"),
    (lambda r: r["health"]["weights"].__setitem__("risk", 50), "health.weights: weights must add up to 100"),
    (lambda r: r["dedup"].__setitem__("review_threshold", 95), "dedup: thresholds must satisfy"),
    (lambda r: r["platforms"]["wecom"].__setitem__("encoding_aes_key", "short"), "platforms.wecom: encoding_aes_key"),
    (lambda r: r["platforms"]["dingtalk"].__setitem__("mode", "socket"), "platforms.dingtalk.mode:"),
    (lambda r: r["org"]["reps"][2].__setitem__("availability", "away"), "org.reps[2].availability:"),
    (lambda r: r["schedules"].__setitem__("heartbeat", {"cron": "* * * * *", "every_minutes": 5}),
     "schedules.heartbeat: give exactly one"),
])
def test_each_mistake_names_its_key(mutate, expected_prefix):
    raw = example_raw()
    mutate(raw)
    probs = problems_of(raw)
    assert any(p.startswith(expected_prefix) for p in probs), probs


def test_env_substitution_and_missing_variable():
    raw = example_raw()
    raw["platforms"]["wecom"]["secret"] = "${MY_SECRET}"
    cfg = parse_config(raw, env={"MY_SECRET": "s3cret"})
    assert cfg.platforms.wecom.secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(cfg.platforms.wecom)       # secrets never print
    probs = problems_of(raw, env={})
    assert "platforms.wecom.secret: environment variable MY_SECRET is not set" in probs


def test_env_default_value():
    cfg = parse_config({"app": {"port": "${PORT:-9090}"}}, env={})
    assert cfg.app.port == 9090


def test_yaml_syntax_error_has_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("app:\n  port: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    assert "line" in info.value.problems[0]


def test_path_resolution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRM_BOT_CONFIG", raising=False)
    assert str(resolve_config_path()) == "config/crm-bot.example.yaml"
    monkeypatch.setenv("CRM_BOT_CONFIG", "/x.yaml")
    assert str(resolve_config_path()) == "/x.yaml"
    assert str(resolve_config_path("/y.yaml")) == "/y.yaml"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_config_check_exit_codes(tmp_path):
    ok = run_cli("config", "check", "--config", str(EXAMPLE))
    assert ok.returncode == 0, ok.stderr
    raw = example_raw()
    raw["org"]["teams"][1]["supervisor"] = "li.lei"
    raw["app"]["port"] = "eighty"
    raw["voice"]["backnd"] = "x"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    res = run_cli("config", "check", "--config", str(bad))
    assert res.returncode == 1
    for needle in ("org.teams[1].supervisor: unknown rep 'li.lei'", "app.port:", "voice.backnd: unknown key"):
        assert needle in res.stderr
