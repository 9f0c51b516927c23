"""Feishu/Lark (飞书) inbound: event and card callbacks, long-connection payloads, crypto."""
from bot.platforms.feishu.crypto import card_sign, custom_bot_sign, encrypt_blob, sign
from bot.platforms.feishu.inbound import (
    FeishuCardInbound,
    FeishuInbound,
    feishu_payload_to_event,
    long_connection_event_to_inbound,
)

__all__ = ["FeishuCardInbound", "FeishuInbound", "card_sign", "custom_bot_sign", "encrypt_blob",
           "feishu_payload_to_event", "long_connection_event_to_inbound", "sign"]
