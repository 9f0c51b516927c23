"""The `crm-bot` command. Each group of subcommands lives in its own module."""
from __future__ import annotations

import click

from bot.cli.admin import config_group, db_group
from bot.cli.approval import approval_group
from bot.cli.audit import audit_cmd
from bot.cli.clv import import_group, report_clv_cmd
from bot.cli.jobs import run_job_cmd
from bot.cli.data import dedup_group, import_cmd, merge_group, report_group
from bot.cli.export import export_cmd
from bot.cli.run import serve, worker_cmd, scheduler_cmd
from bot.cli.outbox import outbox_group
from bot.cli.queue import queue_group
from bot.cli.sandbox import sandbox_cmd
from bot.cli.simulate import simulate_cmd
from bot.cli.tokens import token_group
from bot.cli.voice import voice_group
from bot.cli.workflow import assign_group, handover_cmd, report_funnel_cmd
from bot.logsetup import install


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="debug logging (commands print only their output otherwise)")
def cli(verbose: bool) -> None:
    """crm-bot: the CRM that lives in WeCom, DingTalk and Feishu."""
    install(verbose)      # quiet commands; serve / worker / scheduler raise it to INFO (bot/logsetup.py)


for command in (serve, worker_cmd, scheduler_cmd, config_group, db_group, sandbox_cmd, outbox_group, simulate_cmd,
                assign_group, handover_cmd, report_group, import_cmd, dedup_group, merge_group, queue_group, audit_cmd,
                voice_group, token_group):
    cli.add_command(command)
report_group.add_command(report_funnel_cmd)
scheduler_cmd.add_command(run_job_cmd)
cli.add_command(import_group)          # replaces import_cmd: import FILE | import orders|touchpoints FILE
report_group.add_command(report_clv_cmd)
cli.add_command(approval_group)        # approval flows / approval rollback FLOW --to N
cli.add_command(export_cmd)            # export customers|leads --as REP


def main() -> None:
    cli(prog_name="crm-bot")
