"""Composition root: builds config, database and KV once and hands them to the web app,
the worker and the scheduler. Nothing here runs at import time."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from crm_core.clock import utcnow
from crm_core.config import AppConfig, load_config
from crm_core.db import Database
from crm_core.db.session import default_sqlite_url
from crm_core.kv import connect
from crm_core.kv.base import KV


def data_dir(cfg: AppConfig) -> Path:
    return Path(os.environ.get("CRM_BOT_DATA_DIR") or cfg.app.data_dir)


def database_url(cfg: AppConfig) -> str:
    return os.environ.get("CRM_BOT_DATABASE_URL") or cfg.app.database_url or default_sqlite_url(data_dir(cfg))


def redis_url(cfg: AppConfig) -> str | None:
    return os.environ.get("CRM_BOT_REDIS_URL") or cfg.app.redis_url


@dataclass
class Runtime:
    cfg: AppConfig
    db: Database
    kv: KV
    clock: Callable[[], datetime] = utcnow
    extras: dict = field(default_factory=dict)   # lazily built services (clients, transcriber)

    @classmethod
    def build(cls, cfg: AppConfig, *, db_url: str | None = None, kv: KV | None = None,
              clock: Callable[[], datetime] = utcnow, migrate: bool = True) -> "Runtime":
        url = db_url or database_url(cfg)
        if migrate:
            from crm_core.db.migrate import upgrade
            upgrade(url)
        return cls(cfg=cfg, db=Database(url), kv=kv or connect(redis_url(cfg), cfg.app.key_prefix), clock=clock)

    @classmethod
    def from_path(cls, path: str | None = None, **kw) -> "Runtime":
        return cls.build(load_config(path), **kw)

    @property
    def data_dir(self) -> Path:
        return data_dir(self.cfg)

    @property
    def services(self) -> "Services":
        """The narrow set handlers may use (built once)."""
        from crm_core.voice import build_transcriber
        from handlers.context import Services
        svc = self.extras.get("services")
        if svc is None:
            v = self.cfg.voice
            svc = self.extras["services"] = Services(
                cfg=self.cfg, db=self.db, kv=self.kv, deliver=self.deliver,
                transcriber=build_transcriber(backend=v.backend, model_path=v.model_path,
                                              compute_type=v.compute_type, language=v.language,
                                              data_dir=str(self.data_dir)))
        return svc

    def deliver(self, notices) -> int:  # noqa: ANN001
        """Send domain notices (cards/texts) to the people they name."""
        from bot.notify import deliver
        return deliver(self, notices)

    def close(self) -> None:
        self.db.dispose()
        self.kv.close()
