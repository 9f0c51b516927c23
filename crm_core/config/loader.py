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
            problems.append(f"{format_path(loc)}: environment variable {name} is not set")
            return ""
        return _ENV_RE.sub(repl, node)
    return node


def _pydantic_problems(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-after"))]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        else:
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] not in ("value_error", "missing") and "input" in e:
                msg += f" (got {e['input']!r})" if not isinstance(e["input"], (dict, list)) else ""
        out.append(f"{format_path(loc)}: {msg}")
    return out


def parse_config(raw: Any, env: dict[str, str] | None = None, path: str | None = None) -> AppConfig:
    """Validate an already-parsed YAML mapping; raises ConfigError listing every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): the config must be a mapping of sections"], path)
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
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError([f"(yaml): syntax error at {where}: {getattr(err, 'problem', err)} / "
                           f"YAML 语法错误(第 {mark.line + 1 if mark else '?'} 行)"], p) from None
    return parse_config(raw, env, p)
