"""What a chat platform is to crm-bot, in one place: `Platform` (the static description —
name, Chinese label, message limits, rate windows — plus factories for its inbound side)
and `Channel` (the platform bound to this deployment's config: its API client and how a
neutral `Recipient` is reached on it). Each platform package implements both once;
`bot.platforms.registry` lists them.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.events import InboundEvent, MediaRef
from bot.outbound.http import ClientBase, PermanentError
from bot.outbound.message import Recipient
from bot.outbound.ratelimit import Window
from bot.platforms.base import Adapter
from cards.model import Card
from crm_core.config.schema import AppConfig
from crm_core.kv.base import KV

Refs = dict[str, Any]          # what a send returned that a later update needs (message ids…)


@dataclass(frozen=True)
class HttpEndpoint:
    """One callback route: `POST /callback/<path>` (and the methods listed)."""
    path: str                   # "wecom", "feishu/card"
    platform: str
    adapter: Adapter
    methods: tuple[str, ...] = ("POST",)


class Connection(Protocol):
    """A long-lived inbound connection (DingTalk Stream, Feishu long connection)."""

    def start(self, stop: threading.Event) -> list[threading.Thread]: ...


Enqueue = Callable[[InboundEvent], bool]


class Channel(ABC):
    """A platform bound to the deployment's config: sends, card updates, media downloads."""

    def __init__(self, platform: "Platform", client: ClientBase) -> None:
        self.platform = platform
        self.client = client

    @property
    def name(self) -> str:
        return self.platform.name

    @abstractmethod
    def route(self, to: Recipient, kind: str, now: float) -> str:
        """Which of the platform's routes (app, robot, session…) a message of `kind` takes."""

    @abstractmethod
    def send_text(self, to: Recipient, route: str, text: str, markdown: bool, uuid: str,
                  resend_window: float = 0.0) -> Refs:
        """Send one text (already cut to `Platform.text_limit`). Idempotency where the platform
        offers it: `uuid` is the same for every call of this message (Feishu's `uuid`);
        `resend_window` > 0 says an earlier call of it, that many seconds back at most, may
        have gone out (a retry after a timeout or crash), for platforms that can only dedupe
        by content (WeCom's duplicate check)."""

    @abstractmethod
    def send_card(self, to: Recipient, route: str, card: Card, uuid: str,
                  resend_window: float = 0.0, image: str | None = None) -> Refs:
        """Send an interactive card over a route in `Platform.card_routes` (`uuid`,
        `resend_window`: as for `send_text`). `image`: what `upload_image` returned for the
        picture of `card.chart`, to show with the card (only passed when there is one)."""

    def upload_image(self, png: bytes) -> str:
        """Upload a chart picture through the platform's image API; the id its cards and
        messages take. A platform without one raises PermanentError (the card goes as text)."""
        raise PermanentError("this platform takes no uploaded images", platform=self.name, api="upload_image")

    @abstractmethod
    def update_card(self, to: Recipient, card: Card, ref: Refs, response_code: str | None) -> Refs:
        """Replace a sent card in place; `ref` is what its send (or the tap) returned."""

    @abstractmethod
    def render_card(self, card: Card) -> Any:
        """The platform's card JSON for `card` (what `send_card` sends)."""

    def render_card_update(self, card: Card) -> Any:
        """The platform's in-place update for `card` (after a tap)."""
        return self.render_card(card)

    @abstractmethod
    def download_media(self, media: MediaRef) -> bytes:
        """The bytes of a voice note or file an inbound event points at."""

    def check_token(self) -> None:
        """Raise an OutboundError when the app's credentials no longer work."""
        tokens = getattr(self.client, "tokens", None)
        if tokens is not None:
            tokens.get()

    def ops_recipient(self, target: str) -> Recipient:
        """A configured ops target (`alerts.ops_chats`, alert routes) as a recipient."""
        return Recipient(self.name, user_id=target)


class Platform(ABC):
    """The static description of one chat platform; `connect` binds it to a config."""
    name: str = ""
    label: str = ""                                  # shown to people: 企业微信, 钉钉, 飞书
    card_routes: tuple[str, ...] = ()                # routes that can show buttons
    text_limits: Mapping[str, int] = {}              # "route" or "route:kind" → UTF-8 bytes
    default_text_limit: int = 2048
    recipient_windows: Mapping[str, tuple[Window, ...]] = {}   # route → per-recipient windows
    app_windows: tuple[Window, ...] = ()             # every API call of the app
    card_update_windows: tuple[Window, ...] = ()     # per sent card (Feishu: 5 QPS per message)
    voice_format: str = "amr"                        # what its clients record voice notes as
    image_id_ttl: float = 0.0                        # how long an uploaded image's id is reused (s)

    @abstractmethod
    def enabled(self, cfg: AppConfig) -> bool:
        """Whether the deployment's config turns this platform on."""

    @abstractmethod
    def connect(self, cfg: AppConfig, kv: KV, clock: Callable[[], float]) -> Channel:
        """The platform's client and routing, bound to `cfg` (no network call yet)."""

    def http_endpoints(self, cfg: AppConfig) -> list[HttpEndpoint]:
        """Callback routes for HTTP mode (none when a connection replaces them)."""
        return []

    def connection(self, cfg: AppConfig, kv: KV, enqueue: Enqueue) -> Connection | None:
        """The inbound connection when the config asks for one instead of HTTP callbacks."""
        return None

    def inbound_mode(self, cfg: AppConfig) -> str:
        return "http"

    def text_limit(self, route: str, kind: str = "text") -> int:
        return self.text_limits.get(f"{route}:{kind}") or self.text_limits.get(route) or self.default_text_limit
