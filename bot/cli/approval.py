"""`crm-bot approval flows` (every version of every approval flow: which is current for new
approvals, their nodes, how many approvals still run on each) and `crm-bot approval rollback
FLOW --to N` (make version N current for NEW approvals; running ones keep theirs; the people
with running approvals on the flow are told)."""
from __future__ import annotations

import click

from bot.cli.common import config_option
from bot.cli.workflow import send_pending, with_runtime
from bot.runtime import Runtime
from cards.zh import polish
from crm_core.clock import local
from crm_core.services.approval_rules import ApprovalError
from crm_core.services.approval_versions import list_versions, rollback, sync_flows


@click.group("approval")
def approval_group() -> None:
    """审批流程:查看版本、回退到之前的版本。"""


@approval_group.command("flows")
@config_option
@click.pass_context
def flows_cmd(ctx: click.Context, config_path: str | None) -> None:
    """每个审批流程的所有版本(标 * 的是新审批使用的版本)。"""
    def work(rt: Runtime) -> int:
        now = rt.clock()
        with rt.db.uow() as s:
            notices = sync_flows(s, rt.cfg, now)
            views = list_versions(s, rt.cfg, now)
        rt.deliver(notices)
        send_pending(rt)
        if not views:
            click.echo(polish("还没有配置审批流程(配置文件的 approvals.flows)。"))
            return 0
        for v in views:
            mark = "*" if v.current else " "
            click.echo(polish(f"{mark} {v.flow} 第{v.version}版 {v.name}:{' → '.join(v.nodes)}"
                              f" · {local(v.created_at, rt.cfg.app.timezone):%Y-%m-%d %H:%M} · 进行中 {v.running} 个"))
        return 0
    with_runtime(ctx, config_path, work)


@approval_group.command("rollback")
@click.argument("flow")
@click.option("--to", "to_version", type=int, required=True, help="要恢复的版本号(见 approval flows)")
@config_option
@click.pass_context
def rollback_cmd(ctx: click.Context, flow: str, to_version: int, config_path: str | None) -> None:
    """把审批流程 FLOW 回退到第 N 版:只影响之后提交的审批。"""
    def work(rt: Runtime) -> int:
        try:
            with rt.db.uow() as s:
                version, notices = rollback(s, rt.cfg, flow, to_version, "cli", rt.clock())
                name, number = version.name, version.version
        except ApprovalError as err:
            click.echo(polish(str(err)), err=True)
            return 1
        told = rt.deliver(notices)
        send_pending(rt)
        click.echo(polish(f"「{name}」现在使用第{number}版:之后提交的审批按这个版本走,进行中的审批不变;已通知 {told} 人。"))
        return 0
    with_runtime(ctx, config_path, work)
