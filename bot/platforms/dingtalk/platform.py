"""DingTalk (钉钉) as a `Platform`: robot one-to-one and group messages, interactive cards
(card-platform template instances that call back over Stream, or in HTTP mode to
`/callback/dingtalk/card`), session-webhook replies and custom group robots; HTTP callbacks or
Stream mode."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.events import MediaRef
from bot.outbound.message import Recipient
from bot.outbound.ratelimit import MINUTE, Window
from bot.platforms.dingtalk.client import PLATFORM, DingTalkClient
from bot.platforms.dingtalk.inbound import DingTalkCardInbound, DingTalkInbound, session_webhook_allowed
from bot.platforms.dingtalk.signing import CARD_CALLBACK_PATH, card_callback_url
from bot.platforms.interface import Channel, Connection, Enqueue, HttpEndpoint, Platform, Refs
from bot.streams.intake import Intake
from bot.streams.watchdog import LivenessWatchdog
from cards.model import Card
from cards.render.dingtalk import render_dingtalk, render_dingtalk_update
from crm_core.config.schema import AppConfig, DingTalkConfig
from crm_core.kv.base import KV

SESSION_MARGIN_MS = 60_000        # don't start a reply on a webhook about to expire


class DingTalkChannel(Channel):
    client: DingTalkClient

    def __init__(self, platform: Platform, cfg: DingTalkConfig, client: DingTalkClient) -> None:
        super().__init__(platform, client)
        self.cfg = cfg

    def route(self, to: Recipient, kind: str, now: float) -> str:
        """"robot" (team custom robot), "session" (answer through the message's sessionWebhook
        while it is valid, on one of `session_webhook_hosts`; texts only), "group" (robot in a
        chat) or "user" (one-to-one)."""
        if to.chat_id and to.chat_id in self.cfg.group_robots:
            return "robot"
        expires = to.reply_ref.get("sessionWebhookExpiredTime")
        if (kind in ("text", "markdown") and to.reply_ref.get("sessionWebhook")
                and isinstance(expires, (int, float)) and expires - SESSION_MARGIN_MS > now * 1000
                # the adapter drops other hosts already; Stream frames and queued events too
                and session_webhook_allowed(to.reply_ref["sessionWebhook"], self.cfg.session_webhook_hosts)):
            return "session"
        return "group" if to.chat_id else "user"

    def send_text(self, to: Recipient, route: str, text: str, markdown: bool, uuid: str,
                  resend_window: float = 0.0) -> Refs:
        # DingTalk's robot messages (batchSend, groupMessages/send, session webhooks, custom
        # robots) take no idempotency key and have no duplicate check: a retry after a call
        # that timed out but went through is sent twice. Nothing to pass `uuid` to.
        if route == "robot":
            robot = self.cfg.group_robots[str(to.chat_id)]
            secret = robot.secret.get_secret_value() if robot.secret else None
            return self.client.custom_robot_send(robot.access_token.get_secret_value(), secret, text, markdown)
        if route == "session":
            return self.client.reply_session(str(to.reply_ref["sessionWebhook"]), text, markdown)
        if route == "group":
            return self.client.send_group(str(to.chat_id), text, markdown)
        return (self.client.send_markdown if markdown else self.client.send_text)(to.user_id, text)

    def send_card(self, to: Recipient, route: str, card: Card, uuid: str,
                  resend_window: float = 0.0, image: str | None = None) -> Refs:
        # outTrackId (the instance id, unique per app) = card id + this send's key: the same on
        # every retry of the send, another when the notice is sent again
        group = to.chat_id if route == "group" else None
        refs = self.client.send_card(to.user_id, card, open_conversation_id=group, send_key=uuid, image=image)
        return {**refs, "image": image} if image else refs

    def update_card(self, to: Recipient, card: Card, ref: Refs, response_code: str | None) -> Refs:
        out_track_id = ref.get("outTrackId")     # what the send returned (the card record keeps it)
        image = ref.get("image")                 # the chart stays on the updated card
        return self.client.update_card(card, str(out_track_id) if out_track_id else None,
                                       image=str(image) if image else None)

    def upload_image(self, png: bytes) -> str:
        return self.client.upload_image(png)

    def render_card(self, card: Card) -> Any:
        return render_dingtalk(card)

    def render_card_update(self, card: Card) -> Any:
        return render_dingtalk_update(card)

    def download_media(self, media: MediaRef) -> bytes:
        return self.client.download(media.key)

    def ops_recipient(self, target: str) -> Recipient:
        """Open conversation ids (cid…) are chats; anything else a user id."""
        if target.startswith("cid"):
            return Recipient(PLATFORM, chat_id=target)
        return Recipient(PLATFORM, user_id=target)


class DingTalkPlatform(Platform):
    name = PLATFORM
    label = "钉钉"
    card_routes = ("user", "group")   # custom robots and session webhooks get cards as text
    # msgParam ≤ 15,000 bytes once JSON-escaped
    text_limits = {"user": 12_000, "group": 12_000, "session": 12_000, "robot": 12_000}
    # robots 20/min (no per-user robot limit is published [verify]: 20/min, and
    # flowControlledStaffIdList answers are held like our own denials); app QPS edition-dependent: 20/s
    recipient_windows = {route: (Window(20, MINUTE),) for route in ("user", "session", "group", "robot")}
    app_windows = (Window(20, 1.0, 5),)
    voice_format = "amr"
    image_id_ttl = 2 * 86400.0      # [verify] how long a media/upload mediaId stays usable

    def enabled(self, cfg: AppConfig) -> bool:
        return cfg.platforms.dingtalk.enabled

    def connect(self, cfg: AppConfig, kv: KV, clock: Callable[[], float]) -> DingTalkChannel:
        p = cfg.platforms.dingtalk
        secret = p.card_callback_secret.get_secret_value()
        url = card_callback_url(cfg.app.public_base_url, secret) if p.mode == "http" and secret else ""
        return DingTalkChannel(self, p, DingTalkClient(p, kv, clock=clock, card_callback_url=url))

    def inbound_mode(self, cfg: AppConfig) -> str:
        return cfg.platforms.dingtalk.mode

    def http_endpoints(self, cfg: AppConfig) -> list[HttpEndpoint]:
        p = cfg.platforms.dingtalk
        if p.mode != "http":
            return []
        adapter = DingTalkInbound(p.app_secret.get_secret_value(), p.replay_window_seconds, app_key=p.app_key,
                                  robot_callback_window_seconds=p.robot_callback_window_seconds,
                                  session_webhook_hosts=p.session_webhook_hosts)
        endpoints = [HttpEndpoint("dingtalk", PLATFORM, adapter)]
        secret = p.card_callback_secret.get_secret_value()
        if secret:   # taps on cards created with callbackType HTTP (config check requires it)
            endpoints.append(HttpEndpoint(CARD_CALLBACK_PATH.removeprefix("/callback/"), PLATFORM,
                                          DingTalkCardInbound(secret)))
        return endpoints

    def connection(self, cfg: AppConfig, kv: KV, enqueue: Enqueue) -> Connection | None:
        p = cfg.platforms.dingtalk
        if p.mode != "stream":
            return None
        from bot.streams.dingtalk_stream import DingTalkStreamClient  # websockets: only for Stream mode
        watchdog = LivenessWatchdog(PLATFORM, kv, p.stream_silence_seconds)
        return DingTalkStreamClient.from_config(p, Intake(enqueue, platform=PLATFORM), watchdog)
