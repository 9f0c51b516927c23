"""The handler's view of one event: who sent it (as a configured rep), when, and the narrow
set of services it may use (`Services`, built once by the composition root). Handlers
return `Reply` objects instead of sending; the pipeline sends them. Permissions: a handler asks
the one policy (crm_core/authz.py) through `ctx.require(action, facts)`; a card tap reaches its
handler only after handlers/taps.py checked it against the stored card (`ctx.verified_tap`)."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.events import CardAction, InboundEvent
from cards.model import Card
from crm_core.authz import Action, CardButton, Decision, Principal, Target, decide
from crm_core.config.schema import AppConfig, Rep
from crm_core.db import Database
from crm_core.kv.base import KV
from crm_core.notices import Notice
from crm_core.services.tap_cards import TapCard
from crm_core.voice import Transcriber
from crm_core.visibility import Viewer


class UserError(Exception):
    """A problem the user should read (polite Chinese); never a stack trace."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Reply:
    """Text or a card; `to_rep` None = answer the sender where they wrote. `update=True`
    replaces the card with the same card_id in place (after a tap)."""
    item: str | Card
    to_rep: str | None = None
    dedupe_key: str | None = None
    update: bool = False


@dataclass(frozen=True)
class VerifiedTap:
    """A tap checked against the stored card (handlers/taps.py): the card as sent, what the
    tap does, and the values of the tapped button as they were sent (never the payload's)."""
    card: TapCard
    action: Action
    button: CardButton

    @property
    def key(self) -> str:
        return self.button.action

    @property
    def values(self) -> dict[str, str]:
        return dict(self.button.values)

    @property
    def card_id(self) -> str:
        return self.card.id

    @property
    def lead_id(self) -> int | None:
        return self.card.lead_id


@dataclass(frozen=True)
class Services:
    """What handlers may use besides their event: configuration, storage, the KV, notice
    delivery (after a commit), the speech model (loaded on first use) and the platforms' names
for people."""
    cfg: AppConfig
    db: Database
    kv: KV
    deliver: Callable[[Iterable[Notice]], int]
    transcriber: Transcriber
    platform_label: Callable[[str], str] = str     # "wecom" → 企业微信
    # after a commit that changed what the config is built from (availability set in chat):
    # every instance rebuilds its config before its next message
    config_changed: Callable[[], None] = lambda: None


@dataclass
class Context:
    services: Services
    event: InboundEvent
    rep: Rep | None
    now: datetime
    data: dict[str, Any] = field(default_factory=dict)
    emit: Callable[[Reply], None] | None = None           # send right away (e.g. "正在识别语音…")
    fetch_media: Callable[[InboundEvent], bytes] | None = None
    tap: VerifiedTap | None = None                         # set by handlers/taps.py before a tap handler runs

    def send_now(self, reply: Reply) -> None:
        if self.emit is not None:
            self.emit(reply)

    @property
    def me(self) -> Rep:
        """The sender as a configured rep. dispatch() answers unknown senders itself and runs
        handlers only for configured ones, so a handler always has one."""
        if self.rep is None:
            raise RuntimeError(f"no configured rep for {self.event.platform}:{self.event.sender_id}")
        return self.rep

    @property
    def action(self) -> CardAction:
        """The tapped button. Action handlers are routed only for card taps that carry one."""
        if self.event.action is None:
            raise RuntimeError(f"{self.event.kind.value} event {self.event.event_id} carries no card action")
        return self.event.action

    @property
    def verified_tap(self) -> VerifiedTap:
        """The tap as checked against its stored card; dispatch() runs action handlers only
        after that check passed."""
        if self.tap is None:
            raise RuntimeError(f"{self.event.kind.value} event {self.event.event_id} has no verified card tap")
        return self.tap

    @property
    def principal(self) -> Principal:
        return Principal.of(self.me)

    @property
    def viewer(self) -> Viewer:
        """What the sender sees of fields and rows (crm_core/visibility.py, issue 18)."""
        return Viewer.of(self.cfg, self.principal)

    def decide(self, action: Action, target: Target = None) -> Decision:
        """Ask the policy (crm_core/authz.py) whether the sender may do `action`."""
        return decide(self.cfg, self.principal, action, target)

    def require(self, action: Action, target: Target = None) -> None:
        """Ask the policy; a refusal becomes a UserError with its Chinese reason."""
        verdict = self.decide(action, target)
        if not verdict:
            raise UserError(verdict.reason)

    @property
    def cfg(self) -> AppConfig:
        return self.services.cfg

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def kv(self) -> KV:
        return self.services.kv

    def deliver(self, notices: Iterable[Notice]) -> int:
        """Send domain notices returned by a service, once its unit of work has committed."""
        return self.services.deliver(notices)

    @property
    def actor(self) -> str:
        return self.rep.id if self.rep else f"{self.event.platform}:{self.event.sender_id}"

    def english(self) -> bool:
        """Answer in English only when the user wrote whole English sentences (three words or
        more, no Chinese); 「hello」, 「/help」, 「#6」 or an emoji get Chinese."""
        text = self.event.text or ""
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            return False
        return len(re.findall(r"[A-Za-z]{2,}", text)) >= 3
