"""KV fixtures: `kv_store` / `kv` run a test on the embedded backend and on a real Redis
(tests/integration/test_kv.py also on the embedded backend with a journal file).

Redis comes from CRM_BOT_TEST_REDIS_URL, else redis://127.0.0.1:6379/0 when it answers; each
test gets its own random key prefix and its keys are deleted afterwards.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest
import redis

from crm_core.kv import KV, EmbeddedKV, RedisKV

T = TypeVar("T")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SkewClock:
    """Real time plus an offset a test can jump forward (the embedded backend's clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class KVStore:
    """One backing store, as many clients on it as a test wants, and a way to let time pass."""

    def __init__(self, backend: str, redis_url: str | None, journal: Path | None = None) -> None:
        self.backend = backend
        self.prefix = f"crmbot-test-{uuid.uuid4().hex[:12]}"
        self.clock = SkewClock() if backend == "embedded" else None
        self._redis_url = redis_url
        self._clients: list[KV] = []
        self.journal = journal
        # One process shares one EmbeddedKV, so every "client" of it is the same object.
        self._embedded = EmbeddedKV(prefix=self.prefix, clock=self.clock, path=journal) if self.clock else None

    def restart(self) -> KV:
        """The embedded store as the next process finds it: the old one closed, a new object on
        the same journal (a process killed without closing: test_kv_journal.py)."""
        assert self._embedded is not None and self.journal is not None
        self._embedded.close()
        self._embedded = EmbeddedKV(prefix=self.prefix, clock=self.clock, path=self.journal)
        return self._embedded

    def client(self) -> KV:
        """Another client on this store (a new connection for Redis)."""
        if self._embedded is not None:
            return self._embedded
        kv = RedisKV.from_url(self._redis_url or DEFAULT_REDIS_URL, prefix=self.prefix)
        self._clients.append(kv)
        return kv

    def wait_for(self, condition: Callable[[], T], seconds: float, slack: float = 2.0) -> T:
        """Let `seconds` pass, then return `condition()` as soon as it is truthy (or its last
        value after `slack` more seconds). The embedded clock jumps; Redis time is real, so poll."""
        if self.clock is not None:
            self.clock.advance(seconds)
        give_up = time.monotonic() + (0 if self.clock else seconds) + slack
        while True:
            result = condition()
            if result or time.monotonic() > give_up:
                return result
            time.sleep(0.01)

    def cleanup(self) -> None:
        for kv in self._clients:
            kv.close()
        if self._embedded is not None:
            self._embedded.close()
        if self._redis_url:
            raw = redis.Redis.from_url(self._redis_url)
            keys = list(raw.scan_iter(match=f"{self.prefix}:*", count=500))
            if keys:
                raw.delete(*keys)
            raw.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis URL, or skip saying why."""
    url = os.environ.get("CRM_BOT_TEST_REDIS_URL") or DEFAULT_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {url} ({exc}); set CRM_BOT_TEST_REDIS_URL "
                    "or start redis-server to run the Redis-backed tests")
    finally:
        client.close()
    return url


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def kv_store(request: Any) -> Iterator[KVStore]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    store = KVStore(request.param, url)
    yield store
    store.cleanup()


@pytest.fixture
def kv(kv_store: KVStore) -> KV:
    """A KV client; runs the test once per backend."""
    return kv_store.client()
