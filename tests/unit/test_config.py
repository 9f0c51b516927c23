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
    assert any(p.startswith("org.teams[1].supervisor: unknown rep 'li.lei'") for p in probs)
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
    assert "platforms.wecom.secret: environment variable MY_SECRET is not set / 环境变量 MY_SECRET 没有设置" in probs


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


def test_ten_planted_mistakes_are_all_reported() -> None:
    """The kinds an admin really makes: a gate item the bot can't collect (a typo and an
    invented one), a supervisor without the role, unknown rep / team / channel / stage
    references, an alert route over a disabled platform, a capture field that doesn't exist."""
    raw = example_raw()
    raw["funnel"]["stages"][1]["required"] = ["requirement_file"]                  # 1 typo
    raw["funnel"]["stages"][2]["required"].append("communication_method")          # 2 chat can't supply it
    raw["funnel"]["stages"][3]["key"] = raw["funnel"]["stages"][2]["key"]           # 3 duplicate stage key
    raw["funnel"]["capture_required"] = ["company", "compnay"]                     # 4 unknown capture field
    raw["org"]["teams"][1]["supervisor"] = "chen.jie"                              # 5 a rep, not a supervisor
    raw["org"]["teams"][0]["members"].append("zhang.wie")                          # 6 unknown rep
    raw["assignment"]["rules"][0]["team"] = "east-medic"                           # 7 unknown team
    raw["assignment"]["rules"][1]["match"]["sources"] = ["webform"]                # 8 unknown channel code
    raw["platforms"]["dingtalk"]["enabled"] = False
    raw["alerts"]["ops_chats"] = {"dingtalk": "cid_ops"}                           # 9 platform not enabled
    raw["alerts"]["routes"]["wecom"] = {"type": "platform", "platform": "dingtalk", "chat_id": "cid_ops"}  # 10
    probs = problems_of(raw)
    expected = ["funnel.stages[1].required[0]: 'requirement_file'", "funnel.stages[2].required[1]: 'communication_method'",
                "funnel.stages[3].key: duplicate stage key", "funnel.capture_required[1]: 'compnay'",
                "org.teams[1].supervisor: 'chen.jie' does not have the supervisor role",
                "org.teams[0].members[3]: unknown rep 'zhang.wie'", "assignment.rules[0].team: unknown team 'east-medic'",
                "assignment.rules[1].match.sources[0]: unknown channel code 'webform'",
                "alerts.ops_chats.dingtalk: platform 'dingtalk' is not enabled",
                "alerts.routes.wecom.platform: 'dingtalk' is not enabled"]
    for prefix in expected:
        assert any(p.startswith(prefix) for p in probs), (prefix, probs)
    assert len(probs) == 10, probs
    typo = next(p for p in probs if "requirement_file" in p)
    assert "did you mean 'requirements_file'" in typo and "是不是「requirements_file」" in typo   # both languages
    assert all(" / " in p for p in probs)                                         # English / 中文


def test_heartbeat_probe_to_a_person_is_refused() -> None:
    raw = example_raw()
    raw["alerts"]["ops_chats"]["wecom"] = "wangfang"          # 王芳 herself: 288 test messages a day
    probs = problems_of(raw)
    assert len(probs) == 1 and probs[0].startswith("alerts.ops_chats.wecom: 'wangfang' is wang.fang, a person")


def test_cli_reports_planted_mistakes_and_exits_1(tmp_path) -> None:  # noqa: ANN001
    raw = example_raw()
    raw["funnel"]["stages"][1]["required"] = ["requirement_file"]
    raw["org"]["teams"][1]["supervisor"] = "chen.jie"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    res = run_cli("config", "check", "--config", str(bad))
    assert res.returncode == 1
    assert "requirement_file" in res.stderr and "没有主管角色" in res.stderr


@pytest.mark.parametrize("mode, changes, expected", [
    ("http", {"card_template_id": ""}, ["platforms.dingtalk.card_template_id: missing"]),
    ("stream", {"card_template_id": ""}, ["platforms.dingtalk.card_template_id: missing"]),
    ("http", {"card_callback_secret": ""}, ["platforms.dingtalk.card_callback_secret: missing"]),
    ("http", {"card_callback_secret": "short"}, ["platforms.dingtalk.card_callback_secret: too short"]),
    ("stream", {"card_callback_secret": ""}, []),                    # Stream mode registers nothing
])
def test_dingtalk_card_settings_are_checked(mode, changes, expected) -> None:  # noqa: ANN001
    raw = example_raw()
    raw["platforms"]["dingtalk"].update(mode=mode, **changes)
    if not expected:
        assert parse_config(raw, env={}).platforms.dingtalk.mode == mode
        return
    probs = problems_of(raw)
    assert [p.split(";")[0].split(",")[0] for p in probs] == expected, probs
    assert all(" / " in p for p in probs)


def test_pool_section_is_validated() -> None:
    raw = example_raw()
    assert parse_config(raw, env={}).pool.idle_days == 30
    raw["pool"]["warn_days_before"] = 30
    raw["pool"]["idel_days"] = 10
    raw["pool"]["max_holding"] = 0
    probs = problems_of(raw)
    assert any(p.startswith("pool.idel_days: unknown key") for p in probs), probs
    assert any(p.startswith("pool.max_holding:") for p in probs), probs
    del raw["pool"]["idel_days"], raw["pool"]["max_holding"]
    probs = problems_of(raw)
    assert probs == ["pool: warn_days_before must be shorter than idle_days and max_open_days / 提前提醒天数必须小于回收天数"]


def test_every_problem_is_bilingual_with_its_key_path() -> None:
    """Schema errors (pydantic's English) get their Chinese too, like the product checks."""
    raw = example_raw()
    raw["app"]["port"] = "eighty"                                       # int_parsing
    raw["app"]["prot"] = 1                                              # unknown key
    raw["platforms"]["dingtalk"]["mode"] = "socket"                     # literal
    raw["dedup"]["review_threshold"] = 95                               # our validator
    raw["health"]["red_below"] = 120                                    # le
    raw["org"]["reps"][0]["platform"] = "slack"                         # unknown platform
    raw["schedules"]["heartbeat"] = {"cron": "* * * * *", "every_minutes": 5}
    raw["calendar"]["holidays"] = ["someday"]
    probs = problems_of(raw)
    assert len(probs) == 8, probs
    for p in probs:
        path, _, message = p.partition(": ")
        en, _, zh = message.rpartition(" / ")
        assert path and en and any("\u4e00" <= ch <= "\u9fff" for ch in zh), p
    assert any(p.startswith("app.prot: unknown key (check the spelling) / 未知的配置项") for p in probs)
    assert any(p.startswith("platforms.dingtalk.mode:") and "只能是 'http' or 'stream'" in p for p in probs), probs
    assert any(p.startswith("dedup: thresholds must satisfy") and "阈值必须满足" in p for p in probs)
    assert any(p.startswith("health.red_below:") and "不能大于 100" in p for p in probs)


def test_team_group_robots_must_name_a_team() -> None:
    raw = example_raw()
    raw["platforms"]["wecom"]["group_webhooks"] = {"east-medical": "k1", "east-medic": "k2"}
    raw["platforms"]["dingtalk"]["group_robots"] = {"south": {"access_token": "t"}}
    probs = problems_of(raw)
    assert [p.split(":")[0] for p in probs] == ["platforms.wecom.group_webhooks.east-medic",
                                                "platforms.dingtalk.group_robots.south"], probs
    assert "did you mean 'east-medical'" in probs[0] and "是不是「east-medical」" in probs[0]


def test_warnings_for_what_works_but_not_as_meant() -> None:
    from crm_core.config.checks import reference_warnings
    assert reference_warnings(load_config(EXAMPLE, env={})) == []
    raw = example_raw()
    raw["platforms"]["feishu"]["enabled"] = False
    raw["alerts"]["ops_chats"] = {}
    raw["alerts"]["routes"] = {"wecom": {"type": "webhook", "url": "https://ops.example.com/hook"}}
    raw["funnel"]["stages"][4]["required"] = ["quote_file"]
    warnings = reference_warnings(parse_config(raw, env={}))
    assert [w.split(":")[0] for w in warnings] == [
        "org.reps[2].platform", "org.reps[4].platform", "org.teams[0].supervisor_platform",
        "alerts.routes.dingtalk", "funnel.stages[4].required"], warnings
    assert all(" / " in w for w in warnings)


def test_cli_reports_ten_planted_mistakes_and_exits_1(tmp_path) -> None:  # noqa: ANN001
    raw = example_raw()
    raw["funnel"]["stages"][1]["required"] = ["requirement_file"]                  # typo in a gate item
    raw["funnel"]["stages"][2]["required"].append("communication_method")          # chat can't supply it
    raw["org"]["teams"][1]["supervisor"] = "chen.jie"                              # not a supervisor
    raw["org"]["teams"][0]["members"].append("zhang.wie")                          # unknown rep
    raw["org"]["data_steward"] = "liu.yan"                                         # unknown rep
    raw["assignment"]["rules"][0]["team"] = "east-medic"                           # unknown team
    raw["assignment"]["default_team"] = "south"                                    # unknown team
    raw["assignment"]["rules"][1]["match"]["sources"] = ["webform"]                # unknown channel code
    raw["platforms"]["wecom"]["group_webhooks"] = {"east": "key"}                  # unknown team
    raw["alerts"]["ops_chats"]["wecom"] = "wangfang"                               # a person probed all day
    bad = tmp_path / "ten.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    res = run_cli("config", "check", "--config", str(bad))
    assert res.returncode == 1
    lines = [ln.strip() for ln in res.stderr.splitlines() if ln.startswith("  ")]
    assert len(lines) == 10, res.stderr
    assert all(" / " in ln for ln in lines)
    assert run_cli("config", "check", "--config", str(EXAMPLE)).returncode == 0
