"""Outbound side: the one delivery path (`bot.outbound.delivery.Outbox`) with retries, rate
limits, an outbound log and dead letters, plus what the platform clients share (HTTP plumbing
and error classes, the token cache). The clients themselves live in each platform's package.
This package's own names stay free of the outbox so platform modules can import them."""
from bot.outbound.http import OutboundError, PermanentError, RateLimited, TokenError, TransientError
from bot.outbound.message import Recipient
from bot.outbound.tokens import TokenCache
from crm_core.kv.keys import LATER_QUEUE, OUTBOUND_QUEUE

__all__ = [
    "LATER_QUEUE", "OUTBOUND_QUEUE", "OutboundError", "PermanentError",
    "RateLimited", "Recipient", "TokenCache", "TokenError", "TransientError",
]
