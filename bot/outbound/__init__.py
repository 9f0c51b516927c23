"""Outbound side of the three platforms: API clients with a shared token cache, and the one
delivery path (`Outbox.send`) with retries, rate limits, an outbound log and dead letters.

Handlers call `outbox_for(rt).send(text_or_card, Recipient(...))`; the worker runs
`outbound_processors(rt)`; media downloads use `client_for(rt, platform)`.
"""
from bot.outbound.delivery import (
    MAX_ATTEMPTS, OUTBOUND_QUEUE, Outbox, client_for, outbound_processors, outbox_for,
)
from bot.outbound.dingtalk import DingTalkClient
from bot.outbound.feishu import FeishuClient
from bot.outbound.http import OutboundError, PermanentError, RateLimited, TokenError, TransientError
from bot.outbound.message import Recipient, card_from_dict, card_to_dict
from bot.outbound.ratelimit import LATER_QUEUE
from bot.outbound.tokens import TokenCache
from bot.outbound.wecom import WeComClient

__all__ = [
    "DingTalkClient", "FeishuClient", "LATER_QUEUE", "MAX_ATTEMPTS", "OUTBOUND_QUEUE", "OutboundError",
    "Outbox", "PermanentError", "RateLimited", "Recipient", "TokenCache", "TokenError",
    "TransientError", "WeComClient", "card_from_dict", "card_to_dict", "client_for",
    "outbound_processors", "outbox_for",
]
