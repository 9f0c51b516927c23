"""Inbound connections for companies without a public IP: DingTalk Stream mode
(`platforms.dingtalk.mode: stream`) and Feishu long connection (`platforms.feishu.mode:
long_connection`). They feed the same gateway (dedupe → `inbound` queue) as the HTTP callbacks.

Ownership: every `serve` and `worker` process opens one connection per stream-mode platform
(`--no-streams` opts a process out). Both platforms deliver each event to ONE of an app's
connections, so extra processes add redundancy, not duplicates; the shared Redis dedupe key
absorbs the platforms' own redeliveries. Feishu caps connections per app, so keep the number
of stream-owning processes small (two or three is plenty)."""
from __future__ import annotations

import logging
import threading
from typing import Any

from bot.streams.watchdog import STATUS_KEY, LivenessWatchdog, read_status

log = logging.getLogger("crm_bot.streams")

STREAM_MODES = {"dingtalk": "stream", "feishu": "long_connection"}


def stream_platforms(cfg: Any) -> list[str]:
    """Enabled platforms whose config asks for a connection instead of HTTP callbacks."""
    p = cfg.platforms
    return [name for name, mode in STREAM_MODES.items()
            if getattr(p, name).enabled and getattr(p, name).mode == mode]


def start_streams(rt: Any, stop: threading.Event, only: tuple[str, ...] | None = None) -> list[threading.Thread]:
    """Open the connections the config asks for (of `only` these platforms, if given);
    threads end once `stop` is set."""
    platforms = [p for p in stream_platforms(rt.cfg) if only is None or p in only]
    if not platforms:
        return []
    from bot.gateway import Gateway
    from bot.streams.intake import Intake
    gateway = Gateway(rt.cfg, rt.kv)
    threads: list[threading.Thread] = []
    for name in platforms:
        intake = Intake(gateway.enqueue, platform=name)
        threads += _CONNECTORS[name](rt, intake).start(stop)
        log.info("%s inbound: %s mode started", name, STREAM_MODES[name])
    return threads


def _dingtalk(rt: Any, intake: Any) -> Any:
    from bot.streams.dingtalk_stream import DingTalkStreamClient
    cfg = rt.cfg.platforms.dingtalk
    watchdog = LivenessWatchdog("dingtalk", rt.kv, cfg.stream_silence_seconds)
    return DingTalkStreamClient.from_config(cfg, intake, watchdog)


def _feishu(rt: Any, intake: Any) -> Any:
    from bot.streams.feishu_ws import SILENCE_SECONDS, FeishuLongConnection
    watchdog = LivenessWatchdog("feishu", rt.kv, SILENCE_SECONDS)
    return FeishuLongConnection.from_config(rt.cfg.platforms.feishu, intake, watchdog)


_CONNECTORS = {"dingtalk": _dingtalk, "feishu": _feishu}

__all__ = ["STATUS_KEY", "LivenessWatchdog", "read_status", "start_streams", "stream_platforms"]
