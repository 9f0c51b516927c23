"""`crm-bot sandbox`: run the loopback fake of the WeCom / DingTalk / Feishu open APIs in the
foreground until Ctrl-C, so a local crm-bot (api_base → this URL) can be exercised end to end."""
from __future__ import annotations

import signal
import threading

import click

from bot.cli.common import config_option, load_or_exit
from sandbox import SandboxCredentials, SandboxServer

_CONFIG_KEYS = {"wecom": ("wecom", "api_base"), "dingtalk": ("dingtalk", "api_base"),
                "dingtalk_oapi": ("dingtalk", "oapi_base"), "feishu": ("feishu", "api_base")}


@click.command("sandbox")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="listen address")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535),
              help="listen port (0 = any free port)")
def sandbox_cmd(config_path: str | None, host: str, port: int) -> None:
    """运行平台沙箱：模拟企业微信、钉钉、飞书的开放接口并记录机器人发出的消息（Ctrl-C 退出）。"""
    cfg = load_or_exit(config_path)
    try:
        srv = SandboxServer(SandboxCredentials.from_config(cfg), host=host, port=port)
    except OSError as err:
        raise click.ClickException(f"无法监听 {host}:{port}（{err.strerror}）") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    srv.start()
    click.echo(f"沙箱已启动 / sandbox running at {srv.url}", color=False)
    for name, url in srv.base_urls().items():
        section, key = _CONFIG_KEYS[name]
        configured = getattr(getattr(cfg.platforms, section), key)
        hint = "" if configured.rstrip("/") == url else f"   (配置里是 {configured})"
        click.echo(f"  {name:<14} {url}{hint}")
    click.echo("按 Ctrl-C 退出 / press Ctrl-C to stop")
    try:
        while not stop.wait(0.5):   # short waits keep Ctrl-C responsive on every platform
            pass
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        click.echo("沙箱已停止 / sandbox stopped")
