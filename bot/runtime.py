"""The composition root: everything one process needs, built once at start-up from the
config and handed on as typed attributes — database, KV, clock, the enabled platforms'
channels, gateway, outbox, notifier, handler services, the scheduler's channel view.
Nothing here runs at import time; nothing is built lazily later."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.channel_ops import PlatformChannelOps
from bot.gateway import Gateway
from bot.notify import Notifier
from bot.outbound.delivery import Outbox
from bot.platforms.interface import Channel
from bot.platforms.registry import PlatformRegistry, default_registry
from bot.streams import start_streams
from crm_core.clock import utcnow
from crm_core.config import AppConfig, load_config
from crm_core.db import Database
from crm_core.db.migrate import upgrade
from crm_core.db.session import default_sqlite_url
from crm_core.kv import RedisKV, connect
from crm_core.kv.base import KV
from crm_core.kv.redis_persistence import require_persistence
from crm_core.notices import Notice
from crm_core.voice import build_transcriber
from handlers.context import Services
from handlers.notify import default_renderers


def data_dir(cfg: AppConfig) -> Path:
    return Path(os.environ.get("CRM_BOT_DATA_DIR") or cfg.app.data_dir)


def database_url(cfg: AppConfig) -> str:
    return os.environ.get("CRM_BOT_DATABASE_URL") or cfg.app.database_url or default_sqlite_url(data_dir(cfg))


def redis_url(cfg: AppConfig) -> str | None:
    return os.environ.get("CRM_BOT_REDIS_URL") or cfg.app.redis_url


def connect_kv(cfg: AppConfig) -> KV:
    """The deployment's KV: Redis, refused (RedisNotPersistent) when it would lose the queues on
    a restart unless the config accepts that; else the embedded store, journalled in the data dir."""
    url = redis_url(cfg)
    kv = connect(url, cfg.app.key_prefix, path=data_dir(cfg) / "kv.sqlite3")
    if url and isinstance(kv, RedisKV):
        try:
            require_persistence(kv.client, url, allow_none=cfg.app.redis_allow_no_persistence)
        except BaseException:
            kv.close()
            raise
    return kv


@dataclass
class Runtime:
    cfg: AppConfig
    db: Database
    kv: KV
    clock: Callable[[], datetime] = utcnow
    platforms: PlatformRegistry = field(default_factory=default_registry)
    channels: dict[str, Channel] = field(init=False)
    gateway: Gateway = field(init=False)
    outbox: Outbox = field(init=False)
    notifier: Notifier = field(init=False)
    services: Services = field(init=False)
    channel_ops: PlatformChannelOps = field(init=False)

    def __post_init__(self) -> None:
        cfg, kv = self.cfg, self.kv
        enabled = [p for p in self.platforms if p.enabled(cfg)]
        self.channels = {p.name: p.connect(cfg, kv, self.now) for p in enabled}
        self.gateway = Gateway([e for p in enabled for e in p.http_endpoints(cfg)], kv, clock=self.now)
        self.outbox = Outbox(self.db, kv, self.channels, self._clock)
        self.notifier = Notifier(cfg, default_renderers(), self.outbox, self.channels)
        v = cfg.voice
        transcriber = build_transcriber(backend=v.backend, model_path=v.model_path, compute_type=v.compute_type,
                                        language=v.language, data_dir=str(self.data_dir))
        self.services = Services(cfg=cfg, db=self.db, kv=kv, deliver=self.deliver, transcriber=transcriber,
                                 platform_label=self.platforms.label)
        self.channel_ops = PlatformChannelOps(self.platforms, self.channels, self.now)

    @classmethod
    def build(cls, cfg: AppConfig, *, db_url: str | None = None, kv: KV | None = None,
              clock: Callable[[], datetime] = utcnow, migrate: bool = True,
              platforms: PlatformRegistry | None = None) -> "Runtime":
        """Connect to the configured database (migrated first) and KV, and build the rest."""
        url = db_url or database_url(cfg)
        if migrate:
            upgrade(url)
        kv = kv or connect_kv(cfg)
        return cls(cfg=cfg, db=Database(url), kv=kv, clock=clock, platforms=platforms or default_registry())

    @classmethod
    def from_path(cls, path: str | None = None, **kw) -> "Runtime":  # noqa: ANN003
        return cls.build(load_config(path), **kw)

    # the clock may be swapped by a test after start-up: components read it through these
    def _clock(self) -> datetime:
        return self.clock()

    def now(self) -> float:
        return self.clock().timestamp()

    @property
    def data_dir(self) -> Path:
        return data_dir(self.cfg)

    def deliver(self, notices: Iterable[Notice]) -> int:
        """Send domain notices (cards/texts) to the people they name."""
        return self.notifier.deliver(notices)

    def start_streams(self, stop: threading.Event, only: tuple[str, ...] | None = None) -> list[threading.Thread]:
        """The inbound connections the config asks for (DingTalk Stream, Feishu long connection)."""
        return start_streams(self.platforms, self.cfg, self.kv, self.gateway.enqueue, stop, only)

    def close_clients(self) -> None:
        for channel in self.channels.values():
            channel.client.close()

    def close(self) -> None:
        self.close_clients()
        self.db.dispose()
        self.kv.close()
