"""Admin commands: `config check`, `db upgrade`."""
from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import config_option, load_or_exit
from bot.cli.reload import config_reload
from bot.runtime import database_url
from crm_core.assignment.lint import lint_rules
from crm_core.clock import local, utcnow
from crm_core.config import AppConfig, resolve_config_path
from crm_core.config.checks import reference_warnings
from crm_core.config.live import override_lines
from crm_core.config.vocabulary import CROSS_TEAM_JOIN
from crm_core.db import Database
from crm_core.db.migrate import upgrade
from crm_core.services.availability import load_overrides


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
    for line in availability_lines(cfg):
        click.echo(f"availability / 在岗状态: {line}")
    join = cfg.dedup.cross_team_join
    click.echo(f"dedup.cross_team_join: {join} / 同一公司跨团队录入:{CROSS_TEAM_JOIN[join]}")
    click.echo(f"{resolve_config_path(config_path)}: OK ({len(cfg.org.reps)} reps, {len(cfg.org.teams)} teams, "
               f"platforms: {', '.join(cfg.platforms.enabled()) or 'none'})")


def config_warnings(cfg: AppConfig) -> list[str]:
    return lint_rules(cfg) + reference_warnings(cfg)


def availability_lines(cfg: AppConfig) -> list[str]:
    """The availability supervisors set in chat, over the YAML (read from the deployment's
    database when it has one; a check never creates or migrates a database)."""
    url = database_url(cfg)
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and (not u.database or not Path(u.database).exists()):
        return []
    db = Database(url)
    try:
        with db.uow() as s:
            overrides = load_overrides(s)
    except SQLAlchemyError as err:
        return [f"not read from the database ({type(err).__name__}) / 未能读取数据库中的在岗状态"]
    finally:
        db.dispose()
    return override_lines(cfg, overrides, local(utcnow(), cfg.app.timezone).date())


config_group.add_command(config_reload)


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
