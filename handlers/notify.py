"""Notices → what people see. Each feature registers a renderer per notice kind
(`@renderer("fuse.reminder")`) returning a Card or text. Sending is the bot layer's job
(`bot/notify.py`, reached through `Runtime.deliver`)."""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from cards.model import Card
from crm_core.notices import Notice

log = logging.getLogger("crm_bot.notify")
Renderer = Callable[[Any, Notice], "Card | str | None"]     # (runtime, notice)
RENDERERS: dict[str, Renderer] = {}
# Modules holding renderers; each feature adds its module name here.
RENDERER_MODULES: list[str] = ["handlers.workflow_cards", "handlers.health_cards", "handlers.dedup_cards"]


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    def deco(fn: Renderer) -> Renderer:
        RENDERERS[kind] = fn
        return fn
    return deco


def render(rt, notice: Notice) -> Card | str | None:  # noqa: ANN001
    for name in RENDERER_MODULES:
        importlib.import_module(name)
    fn = RENDERERS.get(notice.kind)
    if fn is None:
        log.error("no renderer for notice kind %s", notice.kind)
        return None
    return fn(rt, notice)
