"""`crm-bot scheduler run JOB [--at TIME] [--dry-run]` (bot/job_runs.py), and the one line
the state commands (`scheduler jobs`, `queue stats`) print instead of a wrong picture when the
running server keeps its state in its own process (embedded store, no Redis)."""
from __future__ import annotations

import json

import click

from bot.cli.common import config_option
from bot.cli.workflow import with_runtime
from bot.job_runs import UnknownJob, run_job_now
from bot.runtime import Runtime
from cards.zh import polish
from crm_core.clock import local
from crm_core.kv.base import KV
from crm_core.services.audit_trail import parse_time
from scheduler.jobs import registered_jobs

EMBEDDED_BUSY = ("无法显示:crm-bot serve 正在运行且未配置 Redis,{what}只在它的进程里;请配置 Redis(app.redis_url)"
                 "或先停止服务。/ Can't show {what_en}: crm-bot serve is running without Redis and keeps it in its "
                 "own process; configure Redis (app.redis_url) or stop the server first.")
EMBEDDED_BUSY_RUN = ("无法运行:crm-bot serve 正在运行且未配置 Redis,任务锁和发件队列只在它的进程里,从这里发出的消息会丢失;"
                     "请配置 Redis(app.redis_url),或先停止服务,或加 --dry-run 演练。/ Can't run: crm-bot serve is "
                     "running without Redis, so job locks and the send queue live in its process and messages queued "
                     "here would be lost; configure Redis (app.redis_url), stop the server, or use --dry-run.")
QUEUED_FOR_START = ("消息已放入发件队列,服务启动后发出。/ Messages are queued; the server sends them when it starts.")


def say(text: str, err: bool = False) -> None:
    """Echo Chinese as people read it (full-width marks in Chinese sentences: cards.zh.polish)."""
    click.echo(polish(text), err=err)


def server_state_hidden(kv: KV, what: str, what_en: str) -> str | None:
    """The one line to print instead of this process's empty view of the server's state."""
    if kv.backend == "embedded" and getattr(kv, "busy", None):
        return polish(EMBEDDED_BUSY.format(what=what, what_en=what_en))
    return None


@click.command("run")
@click.argument("job", type=click.Choice(list(registered_jobs())), metavar="JOB")
@click.option("--at", "at_text", metavar="TIME",
              help="run as if it were this time (2026-12-05T09:00, local time; default: now)")
@click.option("--dry-run", is_flag=True, help="show what it would send; change and send nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@config_option
@click.pass_context
def run_job_cmd(ctx: click.Context, job: str, at_text: str | None, dry_run: bool, as_json: bool,
                config_path: str | None) -> None:
    """Run one scheduler job now (JOB: one of `crm-bot scheduler jobs`)."""
    def work(rt: Runtime) -> int:
        tz = rt.cfg.app.timezone
        try:
            at = parse_time(at_text, tz) if at_text else rt.clock()
        except ValueError as err:
            raise click.UsageError(f"--at: {err}") from None
        if not dry_run and server_state_hidden(rt.kv, "", ""):
            click.echo(polish(EMBEDDED_BUSY_RUN), err=True)
            return 1
        try:
            run = run_job_now(rt, job, at, dry_run=dry_run)
        except UnknownJob as err:
            raise click.UsageError(str(err)) from None
        if as_json:
            click.echo(json.dumps({"job": run.name, "at": run.at.isoformat(), "dry_run": run.dry_run, "ok": run.ok,
                                   "result": run.result, "error": run.error, "seconds": run.seconds,
                                   "would_send": run.would_send}, ensure_ascii=False, default=str))
            return 0 if run.ok else 1
        when = f"{local(run.at, tz):%Y-%m-%d %H:%M}"
        head = "演练(不发送、不改数据)" if dry_run else "已运行"
        say(f"{head}:{job},按 {when} 的时间({tz})")
        if dry_run:
            say(f"将发送 {len(run.would_send)} 条" + (":" if run.would_send else "。"))
            for line in run.would_send:
                say(f"  {line}")
        if run.ok:
            say(f"结果:{json.dumps(run.result, ensure_ascii=False, default=str)}(用时 {run.seconds:g} 秒)")
        else:
            say(f"失败:{run.error}", err=True)
        if dry_run:
            say("数据库和队列的改动已全部撤销。")
        elif rt.kv.backend == "embedded" and getattr(rt.kv, "durable", False):     # a stopped server's journal
            say(QUEUED_FOR_START)
        return 0 if run.ok else 1
    with_runtime(ctx, config_path, work)
