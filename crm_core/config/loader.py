"""Load the admin YAML: resolve the path, substitute ${ENV} values, validate into
`AppConfig`, and collect every problem as `key.path[i]: message`."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crm_core.config.checks import cross_reference_problems
from crm_core.config.schema import AppConfig

# libyaml's safe loader when the wheel has it (10× faster, same documents), else PyYAML's own
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
EXAMPLE_PATH = "config/crm-bot.example.yaml"
DEFAULT_PATH = "config/crm-bot.yaml"
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config is invalid; `problems` lists each one as 'key.path: message'."""

    def __init__(self, problems: list[str], path: str | None = None):
        self.problems = problems
        self.path = path
        super().__init__(f"{path or 'config'}: {len(problems)} problem(s):\n" + "\n".join(problems))


def resolve_config_path(explicit: str | None = None) -> Path:
    """--config, then $CRM_BOT_CONFIG, then config/crm-bot.yaml, then the example."""
    for cand in (explicit, os.environ.get("CRM_BOT_CONFIG")):
        if cand:
            return Path(cand)
    default = Path(DEFAULT_PATH)
    return default if default.exists() else Path(EXAMPLE_PATH)


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def substitute_env(node: Any, env: dict[str, str], loc: tuple = (), problems: list[str] | None = None) -> Any:
    """Replace ${NAME} / ${NAME:-default} in every string; unknown names are problems."""
    problems = problems if problems is not None else []
    if isinstance(node, dict):
        return {k: substitute_env(v, env, loc + (k,), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, env, loc + (i,), problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def repl(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(f"{format_path(loc)}: environment variable {name} is not set / 环境变量 {name} 没有设置")
            return ""
        return _ENV_RE.sub(repl, node)
    return node


# Chinese for the messages our validators raise in English (crm_core/config/schema.py), by prefix.
_VALIDATOR_ZH: tuple[tuple[str, str], ...] = (
    ("required when enabled", "启用时必须填写这些项"),
    ("encoding_aes_key must be exactly 43", "EncodingAESKey 必须正好 43 个字符"),
    ("thresholds must satisfy", "阈值必须满足 review_threshold ≤ prompt_threshold ≤ merge_threshold"),
    ("weights must add up to 100", "各项权重合计必须为 100"),
    ("give exactly one of cron / every_minutes", "cron 和 every_minutes 必须且只能填一个"),
    ("type ", "这种告警方式缺少必填项"),
    ("alerts about", "某平台的告警必须走另一个平台或方式"),
    ("unknown platform", "没有这个平台"),
    ("platform_ids has no id for its platform", "platform_ids 里没有他主平台的账号"),
    ("not a host or host:port", "不是主机名或「主机:端口」"),
)


def _chinese(e: Any) -> str:
    """The Chinese half of one pydantic error: by error type, else our validator's message."""
    kind, ctx = e["type"], e.get("ctx") or {}
    by_type = {
        "extra_forbidden": "未知的配置项(请检查拼写)", "missing": "缺少必填项",
        "literal_error": f"只能是 {ctx.get('expected', '列出的取值之一')}",
        "enum": f"只能是 {ctx.get('expected', '列出的取值之一')}",
        "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
        "float_parsing": "应为数字", "float_type": "应为数字",
        "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
        "string_type": "应为文字", "dict_type": "应为键值映射", "list_type": "应为列表", "model_type": "应为一组配置项",
        "tuple_type": "应为列表", "date_parsing": "应为日期(如 2027-01-01)", "date_type": "应为日期(如 2027-01-01)",
        "date_from_datetime_parsing": "应为日期(如 2027-01-01)",
        "greater_than": f"必须大于 {ctx.get('gt')}", "greater_than_equal": f"不能小于 {ctx.get('ge')}",
        "less_than": f"必须小于 {ctx.get('lt')}", "less_than_equal": f"不能大于 {ctx.get('le')}",
        "string_pattern_mismatch": "格式不对(只能用字母、数字和 . _ -)", "string_too_short": "不能为空",
        "too_short": f"至少需要 {ctx.get('min_length', 1)} 项", "too_long": f"最多 {ctx.get('max_length')} 项",
    }
    if kind in by_type:
        return by_type[kind]
    msg = str(e.get("msg", "")).removeprefix("Value error, ")
    return next((zh for prefix, zh in _VALIDATOR_ZH if msg.startswith(prefix)), "取值无效")


def _pydantic_problems(err: ValidationError) -> list[str]:
    """Each error as "key.path: English / 中文" (a validator's message that is already
    bilingual is kept as it is)."""
    out = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-after"))]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        else:
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] not in ("value_error", "missing") and "input" in e:
                msg += f" (got {e['input']!r})" if not isinstance(e["input"], (dict, list)) else ""
        if not any("\u4e00" <= ch <= "\u9fff" for ch in msg):
            msg = f"{msg} / {_chinese(e)}"
        out.append(f"{format_path(loc)}: {msg}")
    return out


def parse_config(raw: Any, env: dict[str, str] | None = None, path: str | None = None) -> AppConfig:
    """Validate an already-parsed YAML mapping; raises ConfigError listing every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): the config must be a mapping of sections / 配置文件的顶层必须是各个配置段"], path)
    problems: list[str] = []
    data = substitute_env(raw, dict(os.environ) if env is None else env, (), problems)
    problems += cross_reference_problems(data)
    cfg = None
    try:
        cfg = AppConfig.model_validate(data)
    except ValidationError as err:
        problems = _pydantic_problems(err) + problems
    if problems:
        raise ConfigError(problems, path)
    assert cfg is not None
    return cfg


def read_config_text(path: str | Path | None = None) -> tuple[Path, str]:
    """The config file's path and text (ConfigError when it can't be read)."""
    p = resolve_config_path(str(path) if path else None)
    try:
        return p, p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"(file): {p} not found / 找不到配置文件"], str(p)) from None
    except UnicodeDecodeError:
        raise ConfigError([f"(file): {p} is not UTF-8 text / 配置文件不是 UTF-8 文本"], str(p)) from None


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> AppConfig:
    p, text = read_config_text(path)
    return parse_config_text(text, env, str(p))


def parse_config_text(text: str, env: dict[str, str] | None = None, path: str | None = None) -> AppConfig:
    """Validate a config file's text (YAML); raises ConfigError listing every problem."""
    p = path
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError([f"(yaml): syntax error at {where}: {getattr(err, 'problem', err)} / "
                           f"YAML 语法错误(第 {mark.line + 1 if mark else '?'} 行)"], p) from None
    return parse_config(raw, env, p)
