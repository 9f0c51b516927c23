"""Shared CLI plumbing: the --config option and loading the runtime with readable errors."""
from __future__ import annotations

import click

from bot.logsetup import apply_config, config_secrets
from bot.runtime import Runtime
from crm_core.config import AppConfig, ConfigError, load_config, resolve_config_path
from crm_core.kv.redis_persistence import RedisNotPersistent

config_option = click.option("--config", "config_path", metavar="PATH", default=None,
                             help="config file (default: $CRM_BOT_CONFIG, config/crm-bot.yaml, then the example)")


def load_or_exit(path: str | None) -> AppConfig:
    try:
        cfg = load_config(path)
    except ConfigError as err:
        click.echo(f"配置有误 / config error in {err.path}:", err=True)
        for p in err.problems:
            click.echo(f"  {p}", err=True)
        raise SystemExit(1) from None
    apply_config(cfg.logging.format, config_secrets(cfg), cfg.logging.level)   # format, level; secrets never logged
    return cfg


def build_runtime(path: str | None, migrate: bool = True) -> Runtime:
    try:
        rt = Runtime.build(load_or_exit(path), migrate=migrate)
        rt.config_path = resolve_config_path(path)
        return rt
    except RedisNotPersistent as err:      # the message says what to change
        click.echo(str(err), err=True)
        raise SystemExit(1) from None
