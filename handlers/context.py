"""The handler's view of one event: who sent it (as a configured rep), when, and the
services it may use. Handlers return `Reply` objects instead of sending."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.events import InboundEvent
from cards.model import Card
from crm_core.config.schema import AppConfig, Rep


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


@dataclass
class Context:
    rt: Any                    # bot.runtime.Runtime (kept loose: handlers must not import bot.web)
    event: InboundEvent
    rep: Rep | None
    now: datetime
    data: dict[str, Any] = field(default_factory=dict)
    emit: Callable[[Reply], None] | None = None           # send right away (e.g. "正在识别语音…")
    fetch_media: Callable[[InboundEvent], bytes] | None = None

    def send_now(self, reply: Reply) -> None:
        if self.emit is not None:
            self.emit(reply)

    @property
    def cfg(self) -> AppConfig:
        return self.rt.cfg

    @property
    def actor(self) -> str:
        return self.rep.id if self.rep else f"{self.event.platform}:{self.event.sender_id}"

    def english(self) -> bool:
        """Answer in English when the user wrote English (no CJK characters)."""
        text = self.event.text or ""
        return bool(text.strip()) and not any("\u4e00" <= ch <= "\u9fff" for ch in text)
