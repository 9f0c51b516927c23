"""The `crm-bot` command. Each group of subcommands lives in its own module."""
from __future__ import annotations

import logging
import sys

import click

from bot.cli.admin import config_group, db_group
from bot.cli.run import serve, worker_cmd, scheduler_cmd
from bot.cli.outbox import outbox_group
from bot.cli.sandbox import sandbox_cmd
from bot.cli.simulate import simulate_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def cli(verbose: bool) -> None:
    """crm-bot: the CRM that lives in WeCom, DingTalk and Feishu."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in (serve, worker_cmd, scheduler_cmd, config_group, db_group, sandbox_cmd, outbox_group, simulate_cmd):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="crm-bot")
