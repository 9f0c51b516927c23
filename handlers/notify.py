"""Notices → what people see. Each feature module registers one renderer per notice TYPE
(its `register(renderers)`), returning a Card or text; `default_renderers()` is the full set.
Sending is the bot layer's job (`bot/notify.py`, reached through `Runtime.deliver`)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from cards.model import Card
from crm_core.config.schema import AppConfig
from crm_core.notices import Notice
from handlers import dedup_cards, first_contact_cards, health_cards, workflow_cards
from handlers import customer_cards
from handlers import coaching_cards
from handlers import clv_cards
from handlers import approval_cards
from handlers import checkin_cards

log = logging.getLogger("crm_bot.notify")
N = TypeVar("N", bound=Notice)
Renderer = Callable[[AppConfig, N], Card | str | None]      # (config, notice of one type)


class Renderers:
    """Notice type → its renderer. A type is registered once; an unregistered one renders
    as None (logged), so one missing renderer never stops the others from going out."""

    def __init__(self) -> None:
        self._by_type: dict[type[Notice], Callable[[AppConfig, Any], Card | str | None]] = {}

    def register(self, notice_type: type[N], fn: Renderer[N]) -> None:
        if not (isinstance(notice_type, type) and issubclass(notice_type, Notice)):
            raise TypeError(f"not a notice type: {notice_type!r}")
        if notice_type in self._by_type:
            raise ValueError(f"a renderer for {notice_type.__name__} is already registered")
        self._by_type[notice_type] = fn

    def registered(self) -> frozenset[type[Notice]]:
        return frozenset(self._by_type)

    def __contains__(self, notice_type: object) -> bool:
        return notice_type in self._by_type

    def render(self, cfg: AppConfig, notice: Notice) -> Card | str | None:
        fn = self._by_type.get(type(notice))
        if fn is None:
            log.error("no renderer for notice kind %s (%s)", notice.kind, type(notice).__name__)
            return None
        return fn(cfg, notice)


def default_renderers() -> Renderers:
    """Every feature's renderers (cheap: a few dict entries)."""
    renderers = Renderers()
    workflow_cards.register(renderers)
    first_contact_cards.register(renderers)
    health_cards.register(renderers)
    dedup_cards.register(renderers)
    customer_cards.register(renderers)
    clv_cards.register(renderers)
    approval_cards.register(renderers)
    checkin_cards.register(renderers)
    coaching_cards.register(renderers)
    return renderers
