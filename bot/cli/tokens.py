"""`crm-bot token`: personal API tokens (issue 18). `create <rep>` prints the token once (only its
SHA-256 is stored), `list` shows who has which (never the token), `revoke <id>` ends one at once.
`field-key` prints a new key for `visibility.field_key` (the CRM_BOT_FIELD_KEY environment
variable). The shared `app.api_tokens` stay the explicit admin token."""
from __future__ import annotations

import click

from bot.cli.audit import table
from bot.cli.common import config_option
from bot.cli.workflow import with_runtime
from bot.runtime import Runtime
from cards.zh import polish
from crm_core.audit import record
from crm_core.clock import local
from crm_core.fieldcrypt import new_key
from crm_core.services.api_tokens import TokenError, TokenInfo, create_token, list_tokens, revoke_token

ACTOR = "cli"


@click.group("token")
def token_group() -> None:
    """Personal API tokens (个人接口令牌)."""


@token_group.command("create")
@click.argument("rep")
@click.option("--name", help="what the token is for, e.g. 财务报表同步")
@click.option("--role", "roles", multiple=True, help="narrow the token to these of the rep's roles (repeatable)")
@config_option
@click.pass_context
def create_cmd(ctx: click.Context, rep: str, name: str | None, roles: tuple[str, ...], config_path: str | None) -> None:
    """Make a token that acts as REP (their rights, rows and fields); it is shown only now."""
    def work(rt: Runtime) -> int:
        try:
            with rt.db.uow() as s:
                token, info = create_token(s, rt.cfg, rep, name=name, roles=list(roles), created_by=ACTOR,
                                           now=rt.clock())
                record(s, ACTOR, "token.create", platform="cli", target_type="rep", target_id=info.rep_id,
                       detail={"token_id": info.id, "name": info.name}, now=rt.clock())
        except TokenError as err:
            click.echo(polish(str(err)), err=True)
            return 1
        person = rt.cfg.org.rep(info.rep_id)
        click.echo(polish(f"已为{person.name if person else info.rep_id}创建令牌 {info.id}"
                          f"{f'({info.name})' if info.name else ''}。令牌只显示这一次,请立即保存:"))
        click.echo(token)
        click.echo(polish("使用方法:请求头 Authorization: Bearer <令牌>;作废:crm-bot token revoke "
                          f"{info.id}"))
        return 0
    with_runtime(ctx, config_path, work)


def _row(rt: Runtime, t: TokenInfo) -> tuple[str, ...]:
    tz = rt.cfg.app.timezone
    person = rt.cfg.org.rep(t.rep_id)
    return (str(t.id), person.name if person else f"{t.rep_id}(已不在名单)", t.name or "—",
            "、".join(t.roles) or "全部角色", f"{local(t.created_at, tz):%Y-%m-%d %H:%M}",
            f"{local(t.last_used_at, tz):%Y-%m-%d %H:%M}" if t.last_used_at else "未使用",
            f"已作废 {local(t.revoked_at, tz):%Y-%m-%d}" if t.revoked_at else "有效")


@token_group.command("list")
@click.option("--rep", help="only this rep's tokens")
@click.option("--all", "include_revoked", is_flag=True, help="revoked tokens too")
@config_option
@click.pass_context
def list_cmd(ctx: click.Context, rep: str | None, include_revoked: bool, config_path: str | None) -> None:
    """The tokens (never their text): id, whose, name, roles, created, last used, state."""
    def work(rt: Runtime) -> int:
        with rt.db.uow() as s:
            tokens = list_tokens(s, rep, include_revoked)
        if not tokens:
            click.echo("没有令牌。")
            return 0
        head = ("编号", "使用人", "用途", "角色", "创建时间", "最近使用", "状态")
        click.echo("\n".join(table([head] + [_row(rt, t) for t in tokens])))
        return 0
    with_runtime(ctx, config_path, work)


@token_group.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@config_option
@click.pass_context
def revoke_cmd(ctx: click.Context, token_id: int, config_path: str | None) -> None:
    """End a token now: requests with it get 401 from the next one on."""
    def work(rt: Runtime) -> int:
        try:
            with rt.db.uow() as s:
                info = revoke_token(s, token_id, rt.clock())
                record(s, ACTOR, "token.revoke", platform="cli", target_type="rep", target_id=info.rep_id,
                       detail={"token_id": info.id}, now=rt.clock())
        except TokenError as err:
            click.echo(polish(str(err)), err=True)
            return 1
        click.echo(polish(f"令牌 {info.id} 已作废。"))
        return 0
    with_runtime(ctx, config_path, work)


@token_group.command("field-key")
def field_key_cmd() -> None:
    """Print a new key for encrypted fields: set it as CRM_BOT_FIELD_KEY (keep a copy: without it
    the encrypted fields cannot be read)."""
    click.echo(new_key())
