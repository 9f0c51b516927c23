"""Process commands: `serve` (web + worker + scheduler in one process), `worker`, `scheduler`
(and `scheduler jobs`).

SIGTERM / SIGINT: `serve` stops taking callbacks (waitress answers the requests in progress),
the workers take nothing new and the messages they hold get `app.shutdown_grace_seconds` to
finish; then the process exits 0. Whatever is unfinished or still queued stays in the queue
(the embedded store's journal, or Redis) and is processed after the next start."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import click

from bot.cli.common import build_runtime, config_option
from bot.cli.jobs import server_state_hidden
from bot.cli.reload import remove_pid_file, start_live_config
from bot.logfilters import limit_tracebacks, limit_waitress_queue_warnings
from bot.logsetup import for_daemon
from bot.runtime import Runtime
from bot.web import create_app
from bot.worker import run_workers
from crm_core.extract import warm_up
from crm_core.kv import EmbeddedKV
from scheduler.runner import job_lines, run_scheduler

log = logging.getLogger("crm_bot")


@click.command("serve")
@config_option
@click.option("--host", default=None, help="bind address (default from config: app.host)")
@click.option("--port", default=None, type=int, help="port (default from config: app.port)")
@click.option("--streams/--no-streams", default=True, show_default=True,
              help="open the DingTalk Stream / Feishu long connections the config asks for")
@click.option("--workers/--no-workers", default=True, show_default=True,
              help="run queue workers in this process (--no-workers: web-only, needs Redis and `crm-bot worker`)")
@click.option("--scheduler/--no-scheduler", "with_scheduler", default=True, show_default=True,
              help="run the scheduler in this process")
def serve(config_path: str | None, host: str | None, port: int | None, streams: bool, workers: bool,
          with_scheduler: bool) -> None:
    """Run the webhook server, a worker and the scheduler in one process (or the web part only)."""
    from waitress.server import MultiSocketServer, create_server  # only `serve` needs the web server

    for_daemon()          # a server's INFO lines are worth keeping; commands stay quiet
    limit_waitress_queue_warnings()
    limit_tracebacks()
    rt = build_runtime(config_path)
    if not workers and rt.kv.backend != "redis":
        rt.close()
        raise click.UsageError("--no-workers needs Redis (app.redis_url / CRM_BOT_REDIS_URL): with the "
                               "embedded queue no other process can take this server's messages")
    if isinstance(rt.kv, EmbeddedKV) and rt.kv.busy:     # its callbacks would be acked into memory only
        rt.close()
        raise click.ClickException(f"{rt.kv.busy}. 同一数据目录只能运行一个 crm-bot serve / one `crm-bot serve` "
                                   "per data dir: stop the other one, or give this one its own "
                                   "(CRM_BOT_DATA_DIR), or use Redis")
    stop = threading.Event()
    background = start_background(rt, stop, worker=workers, scheduler=with_scheduler, streams=streams)
    background.append(start_live_config(rt, stop, pid_file=True))     # SIGHUP, `config reload`
    server = create_server(create_app(rt), host=host or rt.cfg.app.host, port=port or rt.cfg.app.port,
                           threads=8, connection_limit=512, channel_timeout=30)
    # One socket unless the host name resolves to several addresses (e.g. IPv4 and IPv6).
    listening = server.effective_listen if isinstance(server, MultiSocketServer) else [server.getsockname()]
    for bound_host, bound_port in listening:
        log.info("crm-bot listening on http://%s:%s", bound_host, bound_port)
    _on_signal(_first_raises(stop))
    try:
        server.run()       # returns on SIGTERM/SIGINT once the requests being answered are done
    finally:
        stop.set()         # workers take nothing new; the messages they hold may finish
        busy = join_within(background, rt.cfg.app.shutdown_grace_seconds)
        server.close()
        remove_pid_file(rt)
        if busy:
            exit_leaving(busy, rt.cfg.app.shutdown_grace_seconds)
        rt.close()
    log.info("crm-bot stopped")


def join_within(threads: list[threading.Thread], seconds: float) -> list[threading.Thread]:
    """Wait for `threads` to end, all within `seconds`; returns those still running."""
    deadline = time.monotonic() + seconds
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def exit_leaving(busy: list[threading.Thread], grace: float) -> None:
    """Exit 0 now, with threads still processing past the grace period. Their messages are still
    in flight in the queue (the journal, or Redis), so the next start delivers them again; the
    runtime is not closed under their feet (that would only turn them into errors)."""
    log.warning("%d thread(s) still busy after the %g s shutdown grace (%s): their messages are processed "
                "again after the next start", len(busy), grace, ", ".join(t.name for t in busy))
    log.info("crm-bot stopped")
    logging.shutdown()          # flush the log before leaving without the interpreter's clean-up
    os._exit(0)


def _first_raises(stop: threading.Event) -> Callable[[], None]:
    """Signal handler for `serve`: the first signal ends waitress's loop the way it expects
    (SystemExit inside `run()`: it stops taking requests and lets its threads finish theirs);
    a later one, during the shutdown, only makes sure the background threads stop too."""
    def on_signal() -> None:
        if stop.is_set():
            return
        stop.set()
        raise SystemExit(0)
    return on_signal


@click.command("worker")
@config_option
@click.option("--streams/--no-streams", default=True, show_default=True,
              help="open the DingTalk Stream / Feishu long connections the config asks for")
def worker_cmd(config_path: str | None, streams: bool) -> None:
    """Run queue workers only (multi-instance deployments share PostgreSQL + Redis)."""
    _run_until_signal(config_path, worker=True, scheduler=False, streams=streams)


@click.group("scheduler", invoke_without_command=True)
@config_option
@click.pass_context
def scheduler_cmd(ctx: click.Context, config_path: str | None) -> None:
    """Run the scheduler only (several instances run each job run once); `jobs` lists jobs."""
    ctx.meta["scheduler.config"] = config_path
    if ctx.invoked_subcommand is None:
        _run_until_signal(config_path, worker=False, scheduler=True)


@scheduler_cmd.command("jobs")
@config_option
@click.pass_context
def scheduler_jobs(ctx: click.Context, config_path: str | None) -> None:
    """List the scheduled jobs with their next run and last result."""
    root = ctx.find_root().obj
    owned = not (root is not None and hasattr(root, "kv"))
    rt: Runtime = build_runtime(config_path or ctx.meta.get("scheduler.config")) if owned else root
    try:
        if hidden := server_state_hidden(rt.kv, "任务状态", "the jobs' state"):
            click.echo(hidden, err=True)
            raise SystemExit(1)
        for line in job_lines(rt):
            click.echo(line)
    finally:
        if owned:
            rt.close()


def _run_until_signal(config_path: str | None, worker: bool, scheduler: bool, streams: bool = False) -> None:
    for_daemon()
    limit_tracebacks()
    rt = build_runtime(config_path)
    stop = threading.Event()
    _on_signal(stop.set)
    threads = start_background(rt, stop, worker=worker, scheduler=scheduler, streams=streams)
    threads.append(start_live_config(rt, stop, pid_file=False))        # SIGHUP, changes made elsewhere
    stop.wait()
    busy = join_within(threads, rt.cfg.app.shutdown_grace_seconds)
    if busy:
        exit_leaving(busy, rt.cfg.app.shutdown_grace_seconds)
    rt.close()


def start_background(rt: Runtime, stop: threading.Event, *, worker: bool, scheduler: bool,
                     streams: bool = False) -> list[threading.Thread]:
    """Background threads of one process. `streams`: the platform connections that replace
    HTTP callbacks (DingTalk Stream, Feishu long connection) when the config selects them;
    `serve` and `worker` own them, see bot/streams/__init__.py for several instances."""
    threads: list[threading.Thread] = []
    if streams:
        threads += rt.start_streams(stop)
    if worker:
        # the segmenter's dictionary loads in seconds: pay it now, not on a rep's first message
        warm = threading.Thread(target=warm_up, name="extract-warm-up", daemon=True)
        warm.start()
        threads += [warm, *run_workers(rt, stop)]
    if scheduler:
        t = threading.Thread(target=run_scheduler, args=(rt, stop), name="scheduler", daemon=True)
        t.start()
        threads.append(t)
    return threads


def _on_signal(fn: Callable[[], None]) -> None:
    def handler(_sig: int, _frame: FrameType | None) -> None:
        fn()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
