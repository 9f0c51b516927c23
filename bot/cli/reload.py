"""`crm-bot config reload` and the running processes' side of it (SIGHUP, the pid file, the
config poller). With Redis the command publishes the validated file to the shared store and
prints what the first instance to apply it reports; with the embedded store it signals the
`serve` process of this data dir (SIGHUP), which re-reads its file and leaves its answer in
`<data_dir>/config-reload.json`. A file that fails validation is never sent anywhere."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click

from bot.cli.common import config_option
from bot.live_config import (PID_FILE, ReloadResult, applied_result, publish_text, read_result, start_poller,
                             text_sha, write_result)
from bot.runtime import Runtime, connect_kv, data_dir, redis_url
from crm_core.clock import utcnow
from crm_core.config import AppConfig
from crm_core.config.loader import ConfigError, parse_config_text, read_config_text
from crm_core.kv.redis_persistence import RedisNotPersistent

log = logging.getLogger("crm_bot.config")
WAIT_SECONDS = 10.0


def _echo_result(result: ReloadResult) -> None:
    for line in result.lines():
        click.echo(line, err=not result.ok)


@click.command("reload")
@config_option
def config_reload(config_path: str | None) -> None:
    """Validate the config file and apply it to the running deployment (exit 1 if refused)."""
    try:
        path, text = read_config_text(config_path)
        cfg = parse_config_text(text, path=str(path))
    except ConfigError as err:
        _echo_result(ReloadResult(False, str(err.path or config_path), problems=err.problems))
        raise SystemExit(1) from None
    if redis_url(cfg):
        _reload_shared(cfg, text, str(path))
    else:
        _reload_local(data_dir(cfg), text, str(path))


def _reload_shared(cfg: AppConfig, text: str, source: str) -> None:
    try:
        kv = connect_kv(cfg)
    except RedisNotPersistent as err:
        click.echo(str(err), err=True)
        raise SystemExit(1) from None
    try:
        rev = publish_text(kv, text, source, "cli", utcnow().isoformat())
        deadline = time.monotonic() + WAIT_SECONDS
        while (result := applied_result(kv, rev)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        kv.close()
    if result is None:
        click.echo(f"已发布,尚无实例应用 / published (revision {rev}), no running instance applied it within "
                   f"{WAIT_SECONDS:g} s: is crm-bot running? Each instance applies it before its next message.")
        return
    _echo_result(result)


def _reload_local(where: Path, text: str, source: str) -> None:
    pid = running_pid(where)
    if pid is None:
        click.echo(f"配置有效;本机没有运行中的 crm-bot serve,下次启动时生效 / valid; no crm-bot serve runs "
                   f"for {where} ({PID_FILE}), the file is used at the next start")
        return
    sha = text_sha(text)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = read_result(where)
        if result is not None and result.sha == sha and result.source == source:
            _echo_result(result)
            if not result.ok:
                raise SystemExit(1)
            return
        time.sleep(0.2)
    click.echo(f"已发送 SIGHUP 给进程 {pid},但 {WAIT_SECONDS:g} 秒内没有回应 / sent SIGHUP to pid {pid}, "
               f"no answer within {WAIT_SECONDS:g} s: see its log", err=True)
    raise SystemExit(1)


def running_pid(where: Path) -> int | None:
    """The pid in `<data_dir>/crm-bot.pid` if that process is alive and is crm-bot (a stale
    file naming another program must not get a SIGHUP, which would end it)."""
    try:
        pid = int((where / PID_FILE).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ")
        except OSError:
            return None
        if b"crm-bot" not in args and b"bot.cli" not in args and b"crm_bot" not in args:
            return None
    return pid


def on_sighup(rt: Runtime) -> None:
    """SIGHUP: re-read the config file in a thread (not inside the signal handler), apply it to
    every instance if valid, log the outcome and leave it for `config reload` to print."""
    def reload() -> None:
        result = rt.reload_config(actor="sighup")
        for line in result.lines():
            (log.info if result.ok else log.warning)("%s", line)
        try:
            write_result(rt.data_dir, result)
        except OSError:
            log.warning("could not write %s", rt.data_dir, exc_info=True)

    def handler(_sig: int, _frame: FrameType | None) -> None:
        threading.Thread(target=reload, name="config-reload", daemon=True).start()

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, handler)


def start_live_config(rt: Runtime, stop: threading.Event, *, pid_file: bool) -> threading.Thread:
    """For a long-running process: SIGHUP reloads, a poller applies changes made elsewhere, and
    (serve) the pid file that `config reload` signals."""
    on_sighup(rt)
    if pid_file:
        rt.data_dir.mkdir(parents=True, exist_ok=True)
        (rt.data_dir / PID_FILE).write_text(str(os.getpid()))
    return start_poller(rt.live, stop)


def remove_pid_file(rt: Runtime) -> None:
    path = rt.data_dir / PID_FILE
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass
