"""`crm-bot simulate`: talk to crm-bot as a rep on a platform, through the sandbox and the
real server, and print what the bot answered (texts and cards as text)."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from bot.cli.common import config_option, load_or_exit
from bot.platforms.registry import default_registry
from bot.runtime import database_url
from crm_core.config import AppConfig
from crm_core.db.migrate import upgrade
from sandbox import SentCall
from sandbox.cardjson import card_of_call
from sandbox.stack import LocalStack


def user_id_for(cfg: AppConfig, platform: str, user: str) -> str:
    rep = cfg.org.rep(user)
    if rep is None:
        return user                      # a raw platform id (e.g. a stranger)
    if platform not in rep.platform_ids:
        raise click.UsageError(f"{user} has no {platform} id in org.reps (platform_ids)")
    return rep.platform_ids[platform]


def last_card(stack: LocalStack, platform: str) -> SentCall:
    for call in reversed(stack.sandbox.sent(platform)):
        if card_of_call(call) is not None:
            return call
    raise click.ClickException("no card to tap yet")


def run_step(stack: LocalStack, platform: str, uid: str, step: str) -> None:
    if step.startswith("tap:"):
        res = stack.sim.tap(platform, uid, last_card(stack, platform), step[4:])
    elif step.startswith("voice:"):
        audio = Path(step[6:]).read_bytes()
        res = stack.sim.send_voice(platform, uid, audio, fmt=default_registry().get(platform).voice_format, duration_ms=5000)
    else:
        res = stack.sim.send_text(platform, uid, step)
    click.echo(click.style(f"> {step}", fg="cyan") + f"   [HTTP {res.status_code}]")


@click.command("simulate")
@config_option
@click.option("--platform", type=click.Choice(default_registry().names()), default="wecom", show_default=True)
@click.option("--user", required=True, help="rep id from org.reps (e.g. zhang.wei) or a raw platform user id")
@click.argument("steps", nargs=-1, required=True)
def simulate_cmd(config_path: str | None, platform: str, user: str, steps: tuple[str, ...]) -> None:
    """Send messages as USER and print the bot's replies. Each STEP is a message, `tap:确认`
    (tap a button on the last card, by text or action key) or `voice:FILE`.

    Example: crm-bot simulate --user zhang.wei "记录张总要采购CT设备,预算300万,3月招标" "杭州优品" "tap:确认"
    """
    logging.getLogger().setLevel(logging.WARNING)    # the conversation is the output
    cfg = load_or_exit(config_path)
    url = database_url(cfg)
    upgrade(url)
    uid = user_id_for(cfg, platform, user)
    with LocalStack(cfg, url) as stack:
        for step in steps:
            mark = stack.sandbox.last_seq()
            run_step(stack, platform, uid, step)
            stack.settle(timeout=60)
            calls = stack.sandbox.sent(after=mark)
            click.echo(stack.sim.sent_as_text(calls) if calls else "(no reply)")
            click.echo()
