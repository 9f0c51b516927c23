"""crm-bot's Redis layer: `connect()` picks the backend behind the one `KV` interface.

A `redis_url` gives `RedisKV` (shared by every process); none gives `EmbeddedKV` (in-process,
zero setup). Queues are at-least-once: handlers must tolerate a message delivered twice.
"""
from __future__ import annotations

from crm_core.kv.base import KV, Delivery, Lock, QueueStats, WorkQueue
from crm_core.kv.embedded import EmbeddedKV
from crm_core.kv.redis_backend import RedisKV

__all__ = ["KV", "Delivery", "Lock", "QueueStats", "WorkQueue", "EmbeddedKV", "RedisKV", "connect"]


def connect(redis_url: str | None, prefix: str = "crmbot") -> KV:
    """The KV for this deployment; every key it writes starts with `prefix:`.

    Nothing is contacted here: call `ping()` to check the server (e.g. for /healthz).
    """
    if redis_url:
        return RedisKV.from_url(redis_url, prefix=prefix)
    return EmbeddedKV(prefix=prefix)
