"""The fast-ack path, framework-free: adapter (verify, decrypt, parse) → dedupe by the
platform's event id → enqueue → the immediate HTTP answer. No CRM work happens here, so
platforms get their answer in milliseconds even when workers are slow or down."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.events import InboundEvent
from bot.platforms.base import Adapter, InboundRejected, InboundRequest, InboundResult
from crm_core.config.schema import AppConfig
from crm_core.kv.base import KV

log = logging.getLogger("crm_bot.gateway")

INBOUND_QUEUE = "inbound"
DEDUPE_TTL = 24 * 3600          # ≥ the longest platform retry window (Feishu ≈ 7 h)
LAST_CALLBACK_KEY = "inbound:last:{platform}"
# The last-callback time feeds a silence alert counted in minutes: writing it once a second
# per platform, not on every callback, saves a KV round trip on nearly every ack under load.
LAST_CALLBACK_EVERY = 1.0


def build_adapters(cfg: AppConfig) -> dict[str, Adapter]:
    """One adapter per enabled HTTP-mode platform (stream/long-connection modes have none)."""
    p = cfg.platforms
    adapters: dict[str, Adapter] = {}
    if p.wecom.enabled:
        from bot.platforms.wecom.inbound import WeComInbound
        adapters["wecom"] = WeComInbound(p.wecom.token.get_secret_value(), p.wecom.encoding_aes_key.get_secret_value(),
                                         p.wecom.corp_id, p.wecom.replay_window_seconds)
    if p.dingtalk.enabled and p.dingtalk.mode == "http":
        from bot.platforms.dingtalk.inbound import DingTalkInbound
        adapters["dingtalk"] = DingTalkInbound(p.dingtalk.app_secret.get_secret_value(),
                                               p.dingtalk.replay_window_seconds, app_key=p.dingtalk.app_key)
    if p.feishu.enabled and p.feishu.mode == "http":
        from bot.platforms.feishu.inbound import FeishuCardInbound, FeishuInbound
        args = (p.feishu.verification_token.get_secret_value(), p.feishu.encrypt_key.get_secret_value() or None,
                p.feishu.replay_window_seconds)
        adapters["feishu"] = FeishuInbound(*args)
        adapters["feishu_card"] = FeishuCardInbound(*args)
    return adapters


class UnknownEndpoint(Exception):
    pass


class Gateway:
    def __init__(self, cfg: AppConfig, kv: KV, clock: Callable[[], float] = time.time):
        self.kv = kv
        self.adapters = build_adapters(cfg)
        self.queue = kv.queue(INBOUND_QUEUE)
        self.clock = clock
        self._noted: dict[str, float] = {}   # platform -> last written LAST_CALLBACK_KEY time
        self.last_accept = float("-inf")      # monotonic time of the last callback taken
        self.accepted = 0                     # callbacks taken (both read by bot/worker.py)

    def accept(self, endpoint: str, req: InboundRequest) -> InboundResult:
        """Verify and enqueue; raises InboundRejected (4xx) or UnknownEndpoint (404)."""
        adapter = self.adapters.get(endpoint)
        if adapter is None:
            raise UnknownEndpoint(endpoint)
        self.last_accept = time.monotonic()     # read by in-process workers (bot/worker.py)
        self.accepted += 1                      # a lost update under a race is harmless there
        now = self.clock()
        result = adapter.handle(req, now)
        for event in result.events:
            self.enqueue(event)
        self._note_callback(endpoint.split("_")[0], now)
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


__all__ = ["Gateway", "InboundRejected", "InboundRequest", "UnknownEndpoint", "build_adapters"]
