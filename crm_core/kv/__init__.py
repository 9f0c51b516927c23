"""crm-bot's Redis layer: `connect()` picks the backend behind the one `KV` interface.

A `redis_url` gives `RedisKV` (shared by every process); none gives `EmbeddedKV` (in-process,
zero setup), durable when given a journal `path`. Queues are at-least-once: handlers must
tolerate a message delivered twice.
"""
from __future__ import annotations

import logging
from pathlib import Path

from crm_core.kv.base import KV, Delivery, Lock, QueueStats, WorkQueue
from crm_core.kv.embedded import EmbeddedKV
from crm_core.kv.journal import JournalInUse
from crm_core.kv.redis_backend import RedisKV

__all__ = ["KV", "Delivery", "Lock", "QueueStats", "WorkQueue", "EmbeddedKV", "JournalInUse", "RedisKV",
           "connect"]

log = logging.getLogger("crm_bot.kv")


def connect(redis_url: str | None, prefix: str = "crmbot", *, path: str | Path | None = None) -> KV:
    """The KV for this deployment; every key it writes starts with `prefix:`.

    Without `redis_url`: an `EmbeddedKV` journalled to `path` (None: memory only). While another
    process owns that file (a running `crm-bot serve`, when this is a CLI command), this process
    gets a memory-only store, as before journals existed, with a warning; `kv.durable` and
    `kv.busy` say so (`serve` refuses to start that way). Nothing is contacted here: call
    `ping()` to check Redis (e.g. for /healthz).
    """
    if redis_url:
        return RedisKV.from_url(redis_url, prefix=prefix)
    kv = EmbeddedKV(prefix=prefix, path=path, if_busy="memory")
    if kv.busy:
        # info, not a warning: the commands that read the server's state say so in their own words
        log.info("%s: this process keeps its queue in memory only", kv.busy)
    return kv
