"""The fast-ack path, framework-free: adapter (verify, decrypt, parse) → dedupe by the
platform's event id → enqueue → the immediate HTTP answer. No CRM work happens here, so
platforms get their answer in milliseconds even when workers are slow or down."""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable

from bot.events import InboundEvent
from bot.platforms.base import (
    METHOD_NOT_ALLOWED,
    REPLAYED_SIGNATURE,
    InboundRejected,
    InboundRequest,
    InboundResult,
)
from bot.platforms.interface import HttpEndpoint
from crm_core.kv.base import KV
from crm_core.kv.keys import INBOUND_QUEUE, LAST_CALLBACK_KEY

log = logging.getLogger("crm_bot.gateway")

DEDUPE_TTL = 24 * 3600          # ≥ the longest platform retry window (Feishu ≈ 7 h)
# The last-callback time feeds a silence alert counted in minutes: writing it once a second
# per platform, not on every callback, saves a KV round trip on nearly every ack under load.
LAST_CALLBACK_EVERY = 1.0


class UnknownEndpoint(Exception):
    pass


class Gateway:
    def __init__(self, endpoints: Iterable[HttpEndpoint], kv: KV, clock: Callable[[], float] = time.time):
        self.kv = kv
        self.endpoints = {e.path: e for e in endpoints}
        self.queue = kv.queue(INBOUND_QUEUE)
        self.clock = clock
        self._noted: dict[str, float] = {}   # platform -> last written LAST_CALLBACK_KEY time
        self.last_accept = float("-inf")      # monotonic time of the last callback taken
        self.accepted = 0                     # callbacks taken (both read by bot/worker.py)

    def accept(self, path: str, req: InboundRequest) -> InboundResult:
        """Verify and enqueue; raises InboundRejected (4xx) or UnknownEndpoint (404)."""
        endpoint = self.endpoints.get(path)
        if endpoint is None:
            raise UnknownEndpoint(path)
        if req.method.upper() not in endpoint.methods:
            raise InboundRejected(405, METHOD_NOT_ALLOWED)
        self.last_accept = time.monotonic()     # read by in-process workers (bot/worker.py)
        self.accepted += 1                      # a lost update under a race is harmless there
        now = self.clock()
        result = endpoint.adapter.handle(req, now)
        claimed = self._claim_replay_key(endpoint.platform, result, req.body)
        try:
            for event in result.events:
                self.enqueue(event)
        except Exception:
            self._release(claimed)      # nothing taken: the platform's retry must get through
            raise
        self._note_callback(endpoint.platform, now)
        return result

    def _claim_replay_key(self, platform: str, result: InboundResult, body: bytes) -> list[str]:
        """A request whose signature does not cover its body (its result has a `replay_key`)
        is taken with one body only, claimed before anything is enqueued. The first request
        claims the key and records its body's digest; a later one with that key is the very
        same request again (a platform retry: deduplicated as usual by its event id) when its
        digest is the recorded one, and a replay otherwise (401, nothing enqueued). Returns
        the keys written, for `_release`."""
        if result.replay_key is None:
            return []
        ttl = max(1.0, result.replay_ttl)
        key = f"inbound:replay:{platform}:{result.replay_key}"
        with_body = f"{key}:{hashlib.sha256(body).hexdigest()[:32]}"
        if self.kv.claim(key, ttl):
            try:
                self.kv.set(with_body, "1", ttl)
            except Exception:
                self._release([key])
                raise
            return [key, with_body]
        if self.kv.get(with_body) is None:     # read only: a refused body leaves nothing behind
            raise InboundRejected(401, REPLAYED_SIGNATURE)
        return []

    def _release(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.kv.delete(key)
            except Exception:  # noqa: BLE001 - the KV is failing already; the original error is raised
                log.warning("could not release replay key %s", key)

    def _note_callback(self, platform: str, now: float) -> None:
        """Record that `platform` reached us, at most every LAST_CALLBACK_EVERY seconds."""
        last = self._noted.get(platform)
        if last is not None and 0 <= now - last < LAST_CALLBACK_EVERY:
            return
        self.kv.set(LAST_CALLBACK_KEY.format(platform=platform), f"{now:.3f}")
        self._noted[platform] = now

    def enqueue(self, event: InboundEvent) -> bool:
        """Enqueue once per platform event id; False for a duplicate delivery."""
        key = f"inbound:seen:{event.platform}:{event.event_id}"
        # claim + enqueue in one atomic step (one Redis round trip): if it fails, neither
        # happened, and the platform's retry gets through
        if self.queue.put_once({"event": event.to_dict()}, key, DEDUPE_TTL) is None:
            log.info("duplicate delivery of %s %s acknowledged", event.platform, event.event_id)
            return False
        return True


__all__ = ["Gateway", "InboundRejected", "InboundRequest", "UnknownEndpoint"]
