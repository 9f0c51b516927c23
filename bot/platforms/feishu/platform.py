"""Feishu (飞书) as a `Platform`: messages and interactive cards to users and chats, quoted
replies in groups; HTTP event callbacks (and the legacy card URL) or the long connection."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.events import MediaRef
from bot.outbound.http import PermanentError
from bot.outbound.message import Recipient
from bot.outbound.ratelimit import MINUTE, Window
from bot.platforms.feishu.client import PLATFORM, FeishuClient
from bot.platforms.feishu.inbound import FeishuCardInbound, FeishuInbound
from bot.platforms.interface import Channel, Connection, Enqueue, HttpEndpoint, Platform, Refs
from bot.streams.intake import Intake
from bot.streams.watchdog import LivenessWatchdog
from cards.model import Card
from cards.render.feishu import render_feishu
from crm_core.config.schema import AppConfig
from crm_core.kv.base import KV


class FeishuChannel(Channel):
    client: FeishuClient

    def route(self, to: Recipient, kind: str, now: float) -> str:
        """"reply" (quote the user's message: group texts), "chat" or "user"."""
        if to.chat_id and kind in ("text", "markdown") and to.reply_ref.get("message_id"):
            return "reply"
        return "chat" if to.chat_id else "user"

    def send_text(self, to: Recipient, route: str, text: str, markdown: bool, uuid: str,
                  resend_window: float = 0.0) -> Refs:
        # `uuid` makes every retry within an hour a no-op at Feishu: no window needed
        if route == "reply":
            return self.client.reply(str(to.reply_ref["message_id"]), text, uuid, markdown)
        target = to.chat_id or to.user_id
        return (self.client.send_markdown if markdown else self.client.send_text)(target, text, uuid)

    def send_card(self, to: Recipient, route: str, card: Card, uuid: str,
                  resend_window: float = 0.0, image: str | None = None) -> Refs:
        refs = self.client.send_card(to.chat_id or to.user_id, card, uuid, image_key=image)
        return {**refs, "image": image} if image else refs

    def update_card(self, to: Recipient, card: Card, ref: Refs, response_code: str | None) -> Refs:
        message_id = ref.get("message_id")
        if not message_id:
            raise PermanentError("no message_id to update this card", platform=PLATFORM, api="im/patch")
        image = ref.get("image")                 # the chart stays on the updated card
        return self.client.update_card(str(message_id), card, image_key=str(image) if image else None)

    def upload_image(self, png: bytes) -> str:
        return self.client.upload_image(png)

    def render_card(self, card: Card) -> Any:
        return render_feishu(card)

    def download_media(self, media: MediaRef) -> bytes:
        return self.client.download_resource(media.message_id or "", media.key)

    def ops_recipient(self, target: str) -> Recipient:
        """Chat ids (oc_…) are chats; anything else a user id."""
        if target.startswith("oc_"):
            return Recipient(PLATFORM, chat_id=target)
        return Recipient(PLATFORM, user_id=target)


class FeishuPlatform(Platform):
    name = PLATFORM
    label = "飞书"
    card_routes = ("user", "chat")
    # 150 KB per text, but a custom bot body ≤ 20 KB: 100 KB leaves room for the envelope
    text_limits = {"user": 100_000, "chat": 100_000, "reply": 100_000}
    # 5 QPS per user or chat; 50/s and 1,000/min per app; 5 QPS of PATCHes per message
    recipient_windows = {route: (Window(5, 1.0, 5),) for route in ("user", "chat", "reply")}
    app_windows = (Window(50, 1.0, 5), Window(1000, MINUTE))
    card_update_windows = (Window(5, 1.0, 5),)
    voice_format = "opus"
    image_id_ttl = 30 * 86400.0     # an image_key does not expire; re-uploaded monthly anyway

    def enabled(self, cfg: AppConfig) -> bool:
        return cfg.platforms.feishu.enabled

    def connect(self, cfg: AppConfig, kv: KV, clock: Callable[[], float]) -> FeishuChannel:
        return FeishuChannel(self, FeishuClient(cfg.platforms.feishu, kv, clock=clock))

    def inbound_mode(self, cfg: AppConfig) -> str:
        return cfg.platforms.feishu.mode

    def http_endpoints(self, cfg: AppConfig) -> list[HttpEndpoint]:
        p = cfg.platforms.feishu
        if p.mode != "http":
            return []
        args = (p.verification_token.get_secret_value(), p.encrypt_key.get_secret_value() or None,
                p.replay_window_seconds)
        return [HttpEndpoint("feishu", PLATFORM, FeishuInbound(*args)),
                HttpEndpoint("feishu/card", PLATFORM, FeishuCardInbound(*args))]

    def connection(self, cfg: AppConfig, kv: KV, enqueue: Enqueue) -> Connection | None:
        p = cfg.platforms.feishu
        if p.mode != "long_connection":
            return None
        from bot.streams.feishu_ws import SILENCE_SECONDS, FeishuLongConnection  # lark: slow import
        watchdog = LivenessWatchdog(PLATFORM, kv, SILENCE_SECONDS)
        return FeishuLongConnection.from_config(p, Intake(enqueue, platform=PLATFORM), watchdog)
