"""The composition root: everything one process needs, built once at start-up from the
config and handed on as typed attributes — database, KV, clock, the enabled platforms'
channels, gateway, outbox, notifier, handler services, the scheduler's channel view.
Nothing here runs at import time; nothing is built lazily later."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from bot.channel_ops import PlatformChannelOps
from bot.gateway import Gateway
from bot.live_config import LiveConfig, ReloadResult
from bot.notify import Notifier
from bot.outbound.delivery import Outbox
from bot.outbound.images import ChartImages
from bot.platforms.interface import Channel
from bot.platforms.registry import PlatformRegistry, default_registry
from bot.streams import start_streams
from crm_core.clock import utcnow
from crm_core.config import AppConfig, load_config, resolve_config_path
from crm_core.db import Database
from crm_core.db.migrate import upgrade
from crm_core.db.session import default_sqlite_url
from crm_core.kv import RedisKV, connect
from crm_core.kv.base import KV
from crm_core.kv.redis_persistence import require_persistence
from crm_core.notices import Notice
from crm_core.services.approval_versions import sync_flows
from crm_core.voice import build_transcriber
from handlers.context import Services
from handlers.notify import default_renderers

log = logging.getLogger("crm_bot")

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
    config_path: Path | None = None                # the file SIGHUP re-reads
    channels: dict[str, Channel] = field(init=False)
    gateway: Gateway = field(init=False)
    outbox: Outbox = field(init=False)
    notifier: Notifier = field(init=False)
    services: Services = field(init=False)
    channel_ops: PlatformChannelOps = field(init=False)
    live: LiveConfig = field(init=False)

    def __post_init__(self) -> None:
        cfg, kv = self.cfg, self.kv
        enabled = [p for p in self.platforms if p.enabled(cfg)]
        self.channels = {p.name: p.connect(cfg, kv, self.now) for p in enabled}
        self.gateway = Gateway([e for p in enabled for e in p.http_endpoints(cfg)], kv, clock=self.now)
        self.outbox = Outbox(self.db, kv, self.channels, self._clock,
                             images=ChartImages(kv, lambda: self.cfg.reports),    # live: read per send
                             retry_window=cfg.app.outbound_retry_minutes * 60.0)
        self.notifier = Notifier(cfg, default_renderers(), self.outbox, self.channels)
        v = cfg.voice
        transcriber = build_transcriber(backend=v.backend, model_path=v.model_path, compute_type=v.compute_type,
                                        language=v.language, data_dir=str(self.data_dir), threads=v.threads,
                                        initial_prompt=v.initial_prompt, beam_size=v.beam_size,
                                        languages=tuple(v.languages), switch_probability=v.switch_probability)
        self.services = Services(cfg=cfg, db=self.db, kv=kv, deliver=self.deliver, transcriber=transcriber,
                                 platform_label=self.platforms.label, config_changed=self.config_changed)
        self.channel_ops = PlatformChannelOps(self.platforms, self.channels, self.now)
        self.live = LiveConfig(self, cfg)
        try:
            self.live.sync()            # the availability overrides kept in the database
        except Exception:  # noqa: BLE001 - e.g. a CLI runtime on a database not migrated yet: next sync
            log.debug("config sync at start-up failed", exc_info=True)
        self.sync_approval_flows()

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
        rt = cls.build(load_config(path), **kw)
        rt.config_path = resolve_config_path(path)
        return rt

    # ---- live configuration (bot/live_config.py) ----
    def apply_config(self, cfg: AppConfig) -> None:
        """Swap in a rebuilt config: one object, read by handlers, jobs, the notifier and the
        API from here on (channels and connections keep theirs until a restart)."""
        self.cfg = cfg
        self.services = replace(self.services, cfg=cfg)
        self.notifier.cfg = cfg
        self.sync_approval_flows()

    def sync_approval_flows(self) -> None:
        """A changed approval flow becomes a new version at once (start-up, config reload), the
        people with running approvals on it told; the `approval_timeouts` job catches the rest."""
        if not self.cfg.approvals.flows:
            return
        try:
            with self.db.uow() as s:
                notices = sync_flows(s, self.cfg, self.clock())
            self.deliver(notices)
        except Exception:  # noqa: BLE001 - e.g. a database not migrated yet: the job syncs later
            log.debug("approval flow sync failed", exc_info=True)

    def sync_config(self) -> bool:
        """Pick up a reload or availability change made anywhere in the deployment."""
        return self.live.sync()

    def reload_config(self, path: str | Path | None = None, actor: str = "sighup") -> ReloadResult:
        """Validate the config file and, if valid, apply it to every instance."""
        return self.live.reload_file(path, actor)

    def config_changed(self) -> None:
        self.live.changed()

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
