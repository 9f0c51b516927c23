"""DingTalk HMAC signatures: the robot callback `sign` header and custom-robot webhooks.

Both are Base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}")); the custom
robot puts it in the URL, so it is URL-encoded exactly once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus


def robot_sign(secret: str, ts_ms: int | str) -> str:
    """The `sign` header DingTalk sends with an HTTP robot callback (timestamp in ms)."""
    message = f"{ts_ms}\n{secret}".encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def custom_robot_sign(secret: str, ts_ms: int | str) -> str:
    """The `sign` query value for a custom group robot webhook, URL-encoded once."""
    return quote_plus(robot_sign(secret, ts_ms))


def robot_headers(secret: str, ts_ms: int | str) -> dict[str, str]:
    """Headers a signed robot callback carries (the sandbox plays DingTalk with these)."""
    return {"timestamp": str(ts_ms), "sign": robot_sign(secret, ts_ms)}


def verify_robot_sign(secret: str, ts_ms: str, sign: str) -> bool:
    """Constant-time check of a callback's `sign` header."""
    expected = robot_sign(secret, ts_ms).encode("ascii")
    return hmac.compare_digest(expected, sign.strip().encode("utf-8"))


CARD_CALLBACK_PATH = "/callback/dingtalk/card"
_CARD_TOKEN_CONTEXT = b"crm-bot dingtalk card callback v1"


def card_callback_token(secret: str) -> str:
    """The `token` query value of the card callback URL crm-bot registers (HTTP mode): derived
    from `card_callback_secret`, so only DingTalk (which holds the registered URL) and crm-bot
    know it. DingTalk's card-callback docs describe no request signature to check instead."""
    if not secret:
        raise ValueError("DingTalk card_callback_secret is required in HTTP mode")
    return hmac.new(secret.encode("utf-8"), _CARD_TOKEN_CONTEXT, hashlib.sha256).hexdigest()[:40]


def card_callback_url(public_base_url: str, secret: str) -> str:
    """The URL registered for card taps: {public_base_url}/callback/dingtalk/card?token=…"""
    return f"{public_base_url.rstrip('/')}{CARD_CALLBACK_PATH}?token={card_callback_token(secret)}"
