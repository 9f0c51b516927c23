"""`crm-bot simulate`: talk to crm-bot as a rep on a platform, through the sandbox and the
real server, and print what the bot answered (texts and cards as text). One conversation per
call: the steps given, or (`--interactive`) lines typed until /quit; both go through
`bot/cli/sim_session.py` (switch user or platform, tap any card, move the clock, run a job)."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import click

from bot.cli.common import config_option, load_or_exit
from bot.cli.sim_session import HELP, Quit, SimClock, SimError, SimSession, user_id_for
from bot.platforms.registry import default_registry
from bot.runtime import database_url
from cards.zh import polish
from crm_core.db.migrate import upgrade
from sandbox.stack import LocalStack


def as_line(step: str) -> str:
    """The older script forms `tap:确认` and `voice:FILE` as session commands."""
    for old, new in (("tap:", "/tap "), ("voice:", "/voice ")):
        if step.startswith(old):
            return new + step[len(old):]
    return step


def typed_lines(session: SimSession) -> Iterator[str]:
    while True:
        try:
            yield click.prompt(session.prompt(), prompt_suffix="", default="", show_default=False)
        except (EOFError, click.Abort):
            return


def converse(session: SimSession, lines: Iterable[str], *, keep_going: bool) -> int:
    """Each line through the session; an error is one line (the script stops, typing goes on)."""
    for line in lines:
        try:
            said = session.do(as_line(line))
            if not keep_going:        # a script shows each step and what the platform answered
                http = f"   [HTTP {session.last_status}]" if session.last_status is not None else ""
                click.echo(click.style(f"> {line}", fg="cyan") + http)
            for out in said:
                click.echo(polish(out))
        except Quit:
            return 0
        except Exception as err:  # noqa: BLE001 - the simulator never shows a traceback
            if not keep_going:
                click.echo(click.style(f"> {line}", fg="cyan"))
            why = str(err) if isinstance(err, SimError) else f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
            click.echo(polish(f"出错:{why}"), err=True)
            if not keep_going:
                return 1
        click.echo()
    return 0


@click.command("simulate")
@config_option
@click.option("--platform", type=click.Choice(default_registry().names()), default="wecom", show_default=True)
@click.option("--user", required=True, help="rep id or name from org.reps (e.g. zhang.wei) or a raw platform user id")
@click.option("-i", "--interactive", is_flag=True, help="type the conversation line by line (/help lists commands)")
@click.argument("steps", nargs=-1)
def simulate_cmd(config_path: str | None, platform: str, user: str, interactive: bool,
                 steps: tuple[str, ...]) -> None:
    """Send messages as USER and print the bot's replies. Each STEP is a message or a command:
    /tap 确认 (or tap:确认), /tap #3 转派, /user 王芳, /platform feishu, /voice FILE, /asr 文本,
    /clock +3d, /run fuse_scan, /audit #12, /cards.

    Example: crm-bot simulate --user zhang.wei "记录张总要采购CT设备,预算300万,3月招标" "杭州优品" "/tap 确认"
    """
    if not steps and not interactive:
        raise click.UsageError("give STEPS, or --interactive to type them")
    logging.getLogger().setLevel(logging.WARNING)    # the conversation is the output
    cfg = load_or_exit(config_path)
    url = database_url(cfg)
    upgrade(url)
    try:
        user_id_for(cfg, platform, user)
    except SimError as err:
        raise click.UsageError(str(err)) from None
    clock = SimClock()
    with LocalStack(cfg, url, clock=clock.now) as stack:
        stack.sim.clock = clock.epoch           # callbacks are stamped with the bot's (movable) time
        session = SimSession(stack, platform, user, clock)
        code = converse(session, steps, keep_going=False)
        if interactive and code == 0:
            click.echo(polish("输入消息与机器人对话;/help 列出命令,/quit 退出。"))
            code = converse(session, typed_lines(session), keep_going=True)
    if code:
        raise SystemExit(code)


__all__ = ["HELP", "simulate_cmd"]
