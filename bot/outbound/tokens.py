"""Access-token cache shared by every process through the KV: one entry per platform app,
refreshed a few minutes before it expires, with a single-flight KV lock so concurrent
workers don't all call gettoken (which is itself rate-limited) and invalidate each other.

Tokens and secrets are never logged.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from crm_core.kv.base import KV

from bot.outbound.http import OutboundError, TokenError

log = logging.getLogger("crm_bot.outbound.tokens")

REFRESH_MARGIN = 300.0      # refresh 5 min before expiry (platforms advise 5-30 min)
LOCK_TTL = 20.0             # longer than one gettoken call with its timeouts
PEER_WAIT = 8.0             # how long a worker waits for a peer that is refreshing
Fetch = Callable[[], tuple[str, int]]


@dataclass(frozen=True)
class _Cached:
    token: str
    refresh_at: float       # epoch seconds: start refreshing from here on
    expires_at: float       # epoch seconds: unusable from here on


class TokenCache:
    """`get()` returns a valid token; `invalidate(bad)` after the platform rejected `bad`.

    `fetch()` calls the platform's token API and returns (token, expires_in seconds).
    `scope` separates several apps of one platform (e.g. corp id + agent id).
    """

    def __init__(self, kv: KV, platform: str, fetch: Fetch, *, scope: str = "",
                 clock: Callable[[], float] = time.time, margin: float = REFRESH_MARGIN) -> None:
        self.kv, self.platform, self.fetch = kv, platform, fetch
        self.key = f"token:{platform}:{scope}" if scope else f"token:{platform}"
        self.clock, self.margin = clock, margin

    def get(self) -> str:
        cached = self._read()
        now = self.clock()
        if cached and now < cached.refresh_at:
            return cached.token
        if cached and now < cached.expires_at:
            # still usable: refresh only if nobody else is already doing it, and keep using
            # the old token if the platform is briefly unreachable
            try:
                return self._refresh(blocking=False) or cached.token
            except OutboundError as err:
                log.warning("%s early token refresh failed (%s); old token still valid",
                            self.platform, type(err).__name__)
                return cached.token
        token = self._refresh(blocking=True)
        if token is None:
            raise TokenError("token refresh by another worker did not finish", platform=self.platform)
        return token

    def invalidate(self, bad_token: str) -> None:
        """Drop the cache only if it still holds `bad_token`: when two workers hit the same
        expired token, the second one must not throw away the first one's fresh token."""
        lock = self.kv.lock(f"{self.key}:refresh", ttl=LOCK_TTL)
        if not lock.acquire(blocking=True, timeout=PEER_WAIT):
            return      # a peer holds the lock, so it is refreshing right now
        try:
            cached = self._read()
            if cached is not None and cached.token == bad_token:
                self.kv.delete(self.key)
                log.info("%s access token rejected by the platform; cache dropped", self.platform)
        finally:
            lock.release()

    def _refresh(self, *, blocking: bool) -> str | None:
        """Fetch under the lock; None if the lock could not be had (non-blocking, or timeout)."""
        lock = self.kv.lock(f"{self.key}:refresh", ttl=LOCK_TTL)
        if not lock.acquire(blocking=blocking, timeout=PEER_WAIT if blocking else None):
            cached = self._read() if blocking else None
            return cached.token if cached and self.clock() < cached.expires_at else None
        try:
            cached = self._read()     # a peer may have refreshed while we waited for the lock
            if cached and self.clock() < cached.refresh_at:
                return cached.token
            token, expires_in = self.fetch()
            self._write(token, expires_in)
            log.info("%s access token refreshed (valid %ss)", self.platform, expires_in)
            return token
        finally:
            lock.release()

    def _read(self) -> _Cached | None:
        raw = self.kv.get(self.key)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return _Cached(str(data["token"]), float(data["refresh_at"]), float(data["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None     # unreadable entry: treat as missing, the next write replaces it

    def _write(self, token: str, expires_in: int) -> None:
        now = self.clock()
        life = max(1.0, float(expires_in))
        # a short-lived token must still be used for a while before it is refreshed
        margin = min(self.margin, life / 2)
        value = {"token": token, "refresh_at": now + life - margin, "expires_at": now + life}
        self.kv.set(self.key, json.dumps(value), ttl=life)
