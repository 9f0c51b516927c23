"""WeCom (企业微信) as a `Platform`: app messages and template cards to users, group robots
for team chats, the encrypted XML callback, and WeCom's documented limits."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.events import MediaRef
from bot.outbound.http import OutboundError, PermanentError
from bot.outbound.message import Recipient, split_text
from bot.outbound.ratelimit import HOUR, MINUTE, Window
from bot.platforms.interface import Channel, HttpEndpoint, Platform, Refs
from bot.platforms.wecom.client import PLATFORM, WeComClient
from bot.platforms.wecom.inbound import WeComInbound
from cards.model import Card, instance_id
from cards.render.wecom import card_overflow, render_wecom, render_wecom_update
from crm_core.config.schema import AppConfig, WeComConfig
from crm_core.kv.base import KV

log = logging.getLogger("crm_bot.wecom")


class WeComChannel(Channel):
    client: WeComClient

    def __init__(self, platform: Platform, cfg: WeComConfig, client: WeComClient) -> None:
        super().__init__(platform, client)
        self.cfg = cfg

    def route(self, to: Recipient, kind: str, now: float) -> str:
        """"robot" for a team chat with a configured group robot, else "app" (a user)."""
        return "robot" if to.chat_id and to.chat_id in self.cfg.group_webhooks else "app"

    def send_text(self, to: Recipient, route: str, text: str, markdown: bool, uuid: str,
                  resend_window: float = 0.0) -> Refs:
        # WeCom has no idempotency key: app messages rely on its duplicate check (content
        # within a window); group robots have nothing of the kind
        if route == "robot":
            key = self.cfg.group_webhooks[str(to.chat_id)].get_secret_value()
            return (self.client.group_webhook(key, markdown=text) if markdown
                    else self.client.group_webhook(key, text=text))
        _need_user(to)
        return (self.client.send_markdown if markdown else self.client.send_text)(to.user_id, text, resend_window)

    def send_card(self, to: Recipient, route: str, card: Card, uuid: str,
                  resend_window: float = 0.0, image: str | None = None) -> Refs:
        _need_user(to)
        if image:
            # a template card shows pictures only by public URL (news_notice card_image): the
            # chart goes as an image message right before its card. A retry sends it again
            # within the resend window, which WeCom's duplicate check drops.
            self.client.send_image(to.user_id, image, resend_window)
        # task_id must be unique per app; a notice sent again keeps its card id: one per send
        refs = self.client.send_card(to.user_id, card, resend_window, task_id=instance_id(card.card_id, uuid))
        self._send_overflow(to, card, resend_window)
        return {**refs, "image": image} if image else refs

    def upload_image(self, png: bytes) -> str:
        return self.client.upload_image(png)

    def _send_overflow(self, to: Recipient, card: Card, resend_window: float) -> None:
        """A card's text longer than WeCom's sub-title shows: the lines that did not fit
        follow as text, split at line breaks (the card says so). The card is out already, so a
        failure here is logged, not retried (that would send the card twice)."""
        rest = card_overflow(card)
        if not rest:
            return
        try:
            for part in split_text(rest, self.platform.text_limit("app", "text")):
                self.client.send_text(to.user_id, part, resend_window)
        except OutboundError as err:
            log.warning("the rest of card %s did not reach %s: %s", card.card_id, to.user_id, err)

    def update_card(self, to: Recipient, card: Card, ref: Refs, response_code: str | None) -> Refs:
        """The tap's response_code (or the send's, while unused); both are single-use."""
        code = response_code or ref.get("response_code")
        if not code:
            raise PermanentError("no response_code to update this card", platform=PLATFORM,
                                 api="update_template_card")
        task_id = ref.get("task_id")
        self.client.update_card(str(code), card, [to.user_id], task_id=str(task_id) if task_id else None)
        return {"response_code": None}      # used up: forget it

    def render_card(self, card: Card) -> Any:
        return render_wecom(card, agent_id=self.cfg.agent_id or "")

    def render_card_update(self, card: Card) -> Any:
        return render_wecom_update(card, agent_id=self.cfg.agent_id)

    def download_media(self, media: MediaRef) -> bytes:
        data, _ctype = self.client.download_media(media.key)
        return data

    def ops_recipient(self, target: str) -> Recipient:
        """A team id with a group robot is a chat; anything else a user id."""
        if target in self.cfg.group_webhooks:
            return Recipient(PLATFORM, chat_id=target)
        return Recipient(PLATFORM, user_id=target)


def _need_user(to: Recipient) -> None:
    if not to.user_id:
        raise PermanentError(f"no route to chat {to.chat_id!r}: no group robot configured",
                             platform=PLATFORM, api="message/send")


class WeComPlatform(Platform):
    name = PLATFORM
    label = "企业微信"
    card_routes = ("app",)          # a group robot cannot show buttons: cards go there as text
    # WeCom counts bytes: 2048 for app text/markdown and robot text, 4096 for robot markdown
    text_limits = {"app": 2048, "robot": 2048, "robot:markdown": 4096}
    # ≤ 30/min and ≤ 1000/h per recipient per app; group robots 20/min; 10,000/min per API per corp
    recipient_windows = {"app": (Window(30, MINUTE), Window(1000, HOUR)), "robot": (Window(20, MINUTE),)}
    app_windows = (Window(10_000, MINUTE),)
    voice_format = "amr"
    image_id_ttl = 2 * 86400.0      # media_id of a temporary upload: valid 3 days

    def enabled(self, cfg: AppConfig) -> bool:
        return cfg.platforms.wecom.enabled

    def connect(self, cfg: AppConfig, kv: KV, clock: Callable[[], float]) -> WeComChannel:
        p = cfg.platforms.wecom
        return WeComChannel(self, p, WeComClient(p, kv, clock=clock))

    def http_endpoints(self, cfg: AppConfig) -> list[HttpEndpoint]:
        p = cfg.platforms.wecom
        adapter = WeComInbound(p.token.get_secret_value(), p.encoding_aes_key.get_secret_value(),
                               p.corp_id, p.replay_window_seconds)
        return [HttpEndpoint("wecom", PLATFORM, adapter, methods=("GET", "POST"))]
