"""Admin commands: `config check`, `db upgrade`."""
from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from bot.cli.common import config_option, load_or_exit
from bot.runtime import database_url
from crm_core.assignment.lint import lint_rules
from crm_core.config import AppConfig, resolve_config_path
from crm_core.db.migrate import upgrade


@click.group("config")
def config_group() -> None:
    """Configuration tools."""


@config_group.command("check")
@config_option
def config_check(config_path: str | None) -> None:
    """Validate the config and print every problem with its key path (exit 1 on error)."""
    cfg = load_or_exit(config_path)
    warnings = config_warnings(cfg)
    for w in warnings:
        click.echo(f"warning: {w}")
    click.echo(f"{resolve_config_path(config_path)}: OK ({len(cfg.org.reps)} reps, {len(cfg.org.teams)} teams, "
               f"platforms: {', '.join(cfg.platforms.enabled()) or 'none'})")


def config_warnings(cfg: AppConfig) -> list[str]:
    return lint_rules(cfg)


@click.group("db")
def db_group() -> None:
    """Database tools."""


@db_group.command("upgrade")
@config_option
def db_upgrade(config_path: str | None) -> None:
    """Create or migrate the database schema to the latest version."""
    url = database_url(load_or_exit(config_path))
    upgrade(url)
    click.echo(f"database at {make_url(url).render_as_string(hide_password=True)} is up to date")
