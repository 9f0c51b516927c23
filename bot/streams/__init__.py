"""Inbound connections for companies without a public IP (DingTalk Stream mode, Feishu long
connection): each platform's `connection()` builds its own when the config asks for one. They
feed the same gateway (dedupe → `inbound` queue) as the HTTP callbacks.

Ownership: every `serve` and `worker` process opens one connection per stream-mode platform
(`--no-streams` opts a process out). Both platforms deliver each event to ONE of an app's
connections, so extra processes add redundancy, not duplicates; the shared Redis dedupe key
absorbs the platforms' own redeliveries. Feishu caps connections per app, so keep the number
of stream-owning processes small (two or three is plenty)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from bot.platforms.interface import Enqueue, Platform
from bot.streams.watchdog import STATUS_KEY, LivenessWatchdog, read_status
from crm_core.config.schema import AppConfig
from crm_core.kv.base import KV

log = logging.getLogger("crm_bot.streams")


def start_streams(platforms: Iterable[Platform], cfg: AppConfig, kv: KV, enqueue: Enqueue,
                  stop: threading.Event, only: tuple[str, ...] | None = None) -> list[threading.Thread]:
    """Open the connections the config asks for (of `only` these platforms, if given);
    threads end once `stop` is set."""
    threads: list[threading.Thread] = []
    for platform in platforms:
        if not platform.enabled(cfg) or (only is not None and platform.name not in only):
            continue
        conn = platform.connection(cfg, kv, enqueue)
        if conn is not None:
            threads += conn.start(stop)
            log.info("%s inbound: %s mode started", platform.name, platform.inbound_mode(cfg))
    return threads


__all__ = ["STATUS_KEY", "LivenessWatchdog", "read_status", "start_streams"]
