"""The fast-ack path, framework-free: adapter (verify, decrypt, parse) → dedupe by the
platform's event id → enqueue → the immediate HTTP answer. No CRM work happens here, so
platforms get their answer in milliseconds even when workers are slow or down."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from bot.events import InboundEvent
from bot.platforms.base import METHOD_NOT_ALLOWED, InboundRejected, InboundRequest, InboundResult
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
        for event in result.events:
            self.enqueue(event)
        self._note_callback(endpoint.platform, now)
        return result

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
