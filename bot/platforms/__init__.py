"""Inbound side of the chat platforms: framework-free adapters that verify, decrypt and
parse a platform request into the neutral `bot.events.InboundEvent`.

The web layer builds an `InboundRequest`, calls `adapter.handle(req, now)` and answers with
the `InboundResult` (or the `InboundRejected` status and reason).
"""
from bot.platforms.base import (
    MAX_BODY_BYTES,
    Adapter,
    InboundRejected,
    InboundRequest,
    InboundResult,
)

__all__ = ["MAX_BODY_BYTES", "Adapter", "InboundRejected", "InboundRequest", "InboundResult"]
