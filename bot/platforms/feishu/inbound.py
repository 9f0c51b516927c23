"""Feishu/Lark inbound: event subscription (v2 and v1), card.action.trigger, the legacy
card callback, and long-connection payloads, all mapped to the neutral `InboundEvent`.

Order per request: size → signature over the RAW body (when an Encrypt Key is set) →
decrypt → verification token → url_verification challenge or event mapping.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any, Callable

from bot.events import CardAction, EventKind, InboundEvent, MediaRef
from bot.platforms.base import (
    BAD_SIGNATURE, BAD_TOKEN, METHOD_NOT_ALLOWED, MISSING_PARAM, MISSING_SIGNATURE,
    InboundRejected, InboundRequest, InboundResult, as_dict, as_float, as_int, as_list, as_str,
    check_body_size, check_fresh, check_json_depth, decode_json_field, json_field_object, parse_epoch,
    parse_json_object, received_now, secure_equals, utc_from_epoch,
)
from bot.platforms.feishu import crypto

PLATFORM = "feishu"
JSON_CT = "application/json; charset=utf-8"
TS_HEADER, NONCE_HEADER, SIG_HEADER = ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce",
                                       "X-Lark-Signature")
# Answer to a tap: the real card update follows through the API once the handler ran.
CARD_ACK = json.dumps({"toast": {"type": "info", "content": "已收到，正在处理…"}},
                      ensure_ascii=False)


class _FeishuBase:
    def __init__(self, verification_token: str, encrypt_key: str | None,
                 replay_window_seconds: float) -> None:
        if not verification_token and not encrypt_key:
            raise ValueError("Feishu needs a verification token or an encrypt key")
        self._token = verification_token
        self._encrypt_key = encrypt_key or None
        self.replay_window_seconds = replay_window_seconds

    @property
    def encrypted(self) -> bool:
        """Whether Feishu encrypts and signs pushes to this endpoint (an Encrypt Key is set)."""
        return self._encrypt_key is not None

    def _open(self, body: bytes) -> dict[str, Any]:
        """Parse the body, decrypting `{"encrypt": ...}` first."""
        outer = parse_json_object(body)
        blob = outer.get("encrypt")
        if blob is None:
            return outer
        if not self._encrypt_key or not isinstance(blob, str):
            raise InboundRejected(400, MISSING_PARAM)
        return parse_json_object(crypto.decrypt(self._encrypt_key, blob))

    def _signature_headers(self, req: InboundRequest, now: float) -> tuple[str, str, str] | None:
        """(ts, nonce, signature) when the request is signed; checks the timestamp."""
        ts, nonce, sig = req.header(TS_HEADER), req.header(NONCE_HEADER), req.header(SIG_HEADER)
        if ts:
            check_fresh(parse_epoch(ts), now, self.replay_window_seconds)
        if not sig:
            return None
        if not ts or not nonce:
            raise InboundRejected(401, MISSING_SIGNATURE)
        return ts, nonce, sig

    def _check_token(self, token: Any, signed: bool, is_challenge: bool) -> None:
        """The verification token must match whenever present; without it, only a signed
        (non-challenge) request is authentic."""
        if isinstance(token, str) and token:
            if not self._token or not secure_equals(self._token, token):
                raise InboundRejected(403, BAD_TOKEN)
        elif is_challenge or not signed:
            raise InboundRejected(403, BAD_TOKEN)

    @staticmethod
    def _challenge(payload: dict[str, Any]) -> InboundResult:
        body = json.dumps({"challenge": as_str(payload.get("challenge"))}, ensure_ascii=False)
        return InboundResult([], body, JSON_CT)


class FeishuInbound(_FeishuBase):
    """Inbound adapter for `POST /callback/feishu` (events; card actions may arrive too)."""

    platform = PLATFORM

    def __init__(self, verification_token: str, encrypt_key: str | None = None,
                 replay_window_seconds: float = 3600) -> None:
        super().__init__(verification_token, encrypt_key, replay_window_seconds)

    def handle(self, req: InboundRequest, now: float) -> InboundResult:
        check_body_size(req.body)
        if req.method.upper() != "POST":
            raise InboundRejected(405, METHOD_NOT_ALLOWED)
        signed = self._verify_signature(req, now)
        payload = self._open(req.body)
        is_challenge = payload.get("type") == "url_verification"
        header = as_dict(payload.get("header"))
        self._check_token(header.get("token", payload.get("token")), signed, is_challenge)
        if is_challenge:  # answered in plain JSON even when the request was encrypted
            return self._challenge(payload)
        if self._encrypt_key and not signed:
            raise InboundRejected(401, MISSING_SIGNATURE)
        event = feishu_payload_to_event(payload, now)
        body = CARD_ACK if event.kind is EventKind.CARD_ACTION else "{}"
        return InboundResult([event], body, JSON_CT)

    def _verify_signature(self, req: InboundRequest, now: float) -> bool:
        headers = self._signature_headers(req, now)
        if headers is None or not self._encrypt_key:
            return False
        ts, nonce, sig = headers
        if not crypto.signatures_match(crypto.sign(ts, nonce, self._encrypt_key, req.body), sig):
            raise InboundRejected(401, BAD_SIGNATURE)
        return True

    def encrypt_body(self, plain_json_str: str, iv: bytes | str | None = None) -> str:
        """`{"encrypt": ...}` body as Feishu would post it (sandbox/tests)."""
        if not self._encrypt_key:
            raise ValueError("no encrypt key configured")
        return crypto.encrypt_body(self._encrypt_key, plain_json_str, iv)

    def signed_headers(self, body: bytes | str, ts: str, nonce: str) -> dict[str, str]:
        """The three X-Lark-* headers for `body` (sandbox/tests)."""
        if not self._encrypt_key:
            return {TS_HEADER: ts, NONCE_HEADER: nonce}
        sig = crypto.sign(ts, nonce, self._encrypt_key, body)
        return {TS_HEADER: ts, NONCE_HEADER: nonce, SIG_HEADER: sig}


class FeishuCardInbound(_FeishuBase):
    """`POST /callback/feishu/card`: the legacy "消息卡片请求网址" callback (sha1 signature
    with the verification token). New-style v2 callbacks sent here are delegated."""

    platform = PLATFORM

    def __init__(self, verification_token: str, encrypt_key: str | None = None,
                 replay_window_seconds: float = 3600) -> None:
        super().__init__(verification_token, encrypt_key, replay_window_seconds)
        self._events = FeishuInbound(verification_token, encrypt_key, replay_window_seconds)

    def handle(self, req: InboundRequest, now: float) -> InboundResult:
        check_body_size(req.body)
        if req.method.upper() != "POST":
            raise InboundRejected(405, METHOD_NOT_ALLOWED)
        headers = self._signature_headers(req, now)
        payload = self._open(req.body)
        if payload.get("schema") or isinstance(payload.get("header"), dict):
            return self._events.handle(req, now)
        if payload.get("type") == "url_verification":
            self._check_token(payload.get("token"), False, True)
            return self._challenge(payload)
        if headers is None or not self._token:  # no token configured: nothing to check against
            raise InboundRejected(401, MISSING_SIGNATURE)
        ts, nonce, sig = headers
        if not crypto.signatures_match(crypto.card_sign(ts, nonce, self._token, req.body), sig):
            raise InboundRejected(401, BAD_SIGNATURE)
        # "{}" keeps the card: a legacy callback's body would be read as the replacement card.
        return InboundResult([legacy_card_to_event(payload, now)], "{}", JSON_CT)

    def signed_headers(self, body: bytes | str, ts: str, nonce: str) -> dict[str, str]:
        """X-Lark-* headers of a legacy card callback (sandbox/tests)."""
        return {TS_HEADER: ts, NONCE_HEADER: nonce,
                SIG_HEADER: crypto.card_sign(ts, nonce, self._token, body)}


def long_connection_event_to_inbound(payload: dict[str, Any] | bytes | str,
                                     now: float | None = None) -> InboundEvent:
    """A lark-oapi WebSocket event (same JSON as the HTTP push, already authenticated)."""
    if isinstance(payload, dict):
        check_json_depth(payload)     # decoded by the SDK: the same limit as an HTTP body
        data = payload
    else:
        data = parse_json_object(payload)
    return feishu_payload_to_event(data, time.time() if now is None else now)


# --- payload → neutral event -----------------------------------------------------------

def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _digest(obj: Any) -> str:
    raw = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def feishu_payload_to_event(payload: dict[str, Any], now: float) -> InboundEvent:
    """A decrypted event body (v2 or v1) → `InboundEvent`; unknown types → UNKNOWN."""
    if isinstance(payload.get("header"), dict):
        header, event = payload["header"], _dig(payload, "event") or {}
        event_type = as_str(header.get("event_type"))
        created = as_int(header.get("create_time"))
        common = _base(as_str(header.get("event_id")) or _digest(payload), event_type, now,
                       created / 1000.0 if created else None)
        mapper = _V2_MAPPERS.get(event_type) or _by_prefix(event_type)
        return mapper(event if isinstance(event, dict) else {}, common)
    event = as_dict(payload.get("event"))
    common = _base(as_str(payload.get("uuid")) or _digest(payload),
                   as_str(event.get("type")) or "event_callback", now, as_float(payload.get("ts")))
    return _v1_message(event, common) if event.get("type") == "message" else _unknown(event, common)


def _base(event_id: str, raw_type: str, now: float, seconds: float | None) -> dict[str, Any]:
    return {"platform": PLATFORM, "event_id": event_id, "raw_type": raw_type or "unknown",
            "received_at": received_now(now), "platform_time": utc_from_epoch(seconds),
            "sender_id": "", "conversation_id": "", "reply_ref": {}}


def _by_prefix(event_type: str) -> Callable[[dict[str, Any], dict[str, Any]], InboundEvent]:
    if event_type.startswith("contact."):
        return _contact
    if event_type.startswith(("im.chat.access_event.", "im.chat.member.bot.")):
        return _system
    return _unknown


def _with_user(common: dict[str, Any], ids: Any, chat_id: str = "") -> dict[str, Any]:
    ids = ids if isinstance(ids, dict) else {}
    open_id = as_str(ids.get("open_id"))
    common.update(sender_id=open_id, conversation_id=chat_id or open_id)
    common["reply_ref"].update(open_id=open_id, user_id=as_str(ids.get("user_id")),
                               union_id=as_str(ids.get("union_id")))
    return common


def _unknown(event: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    return InboundEvent(kind=EventKind.UNKNOWN, **common)


def _system(event: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    chat_id = as_str(event.get("chat_id"))
    _with_user(common, event.get("operator_id"), chat_id)
    return InboundEvent(kind=EventKind.SYSTEM, **common)


def _contact(event: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    user = as_dict(event.get("object"))
    common["reply_ref"]["contact"] = {"change_type": common["raw_type"],
                                      "user_id": as_str(user.get("user_id")),
                                      "open_id": as_str(user.get("open_id"))}
    return InboundEvent(kind=EventKind.CONTACT, **common)


_MENTION = re.compile(r"@_user_\d+")
_LEADING_MENTIONS = re.compile(r"^\s*(?:@_user_\d+\s*)+")


def clean_mentions(text: str, mentions: Any) -> str:
    """Drop the leading @bot placeholder(s); later ones become "@name" (as DingTalk shows
    them) so "转给 @李娜" keeps its meaning. Ids stay in reply_ref["mentions"]."""
    names = {as_str(m.get("key")): as_str(m.get("name"))
             for m in mentions or [] if isinstance(m, dict)}
    text = _LEADING_MENTIONS.sub("", text)
    text = _MENTION.sub(lambda m: f"@{names[m.group(0)]}" if names.get(m.group(0)) else "", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _post_text(content: dict[str, Any], mentions: Any) -> str:
    """Flatten a rich-text `post` (optionally keyed by language) to plain text."""
    if "content" not in content:
        content = next((v for v in content.values() if isinstance(v, dict)), {})
    lines = [as_str(content.get("title"))]
    for para in content.get("content") or []:
        parts = [as_str(el.get("text")) if el.get("tag") in ("text", "a")
                 else as_str(el.get("user_id")) if el.get("tag") == "at" else ""
                 for el in para if isinstance(el, dict)] if isinstance(para, list) else []
        lines.append("".join(parts))
    return clean_mentions("\n".join(line for line in lines if line), mentions)


def _message(event: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    msg = as_dict(event.get("message"))
    msg_type, message_id = as_str(msg.get("message_type")), as_str(msg.get("message_id"))
    _with_user(common, _dig(event, "sender", "sender_id"), as_str(msg.get("chat_id")))
    created = as_int(msg.get("create_time"))
    common.update(raw_type=msg_type or "message",
                  conversation_type="group" if msg.get("chat_type") == "group" else "p2p",
                  platform_time=utc_from_epoch(created / 1000.0) if created else common["platform_time"])
    mentions = as_list(msg.get("mentions"))
    common["reply_ref"].update(
        message_id=message_id, chat_id=as_str(msg.get("chat_id")),
        chat_type=as_str(msg.get("chat_type")), tenant_key=as_str(_dig(event, "sender", "tenant_key")),
        mentions=[{"name": as_str(m.get("name")), "open_id": as_str(_dig(m, "id", "open_id")),
                   "user_id": as_str(_dig(m, "id", "user_id"))} for m in mentions if isinstance(m, dict)])
    content = json_field_object(msg.get("content"), "message.content")
    return _content_event(msg_type, content, message_id, mentions, common)


def _content_event(msg_type: str, content: dict[str, Any], message_id: str, mentions: Any,
                   common: dict[str, Any]) -> InboundEvent:
    if msg_type == "text":
        return InboundEvent(kind=EventKind.TEXT,
                            text=clean_mentions(as_str(content.get("text")), mentions), **common)
    if msg_type == "post":
        return InboundEvent(kind=EventKind.TEXT, text=_post_text(content, mentions), **common)
    duration = as_int(content.get("duration"))
    if msg_type == "audio":  # Opus in an Ogg container; no server-side ASR text
        media = MediaRef(key=as_str(content.get("file_key")), format="opus",
                         message_id=message_id, duration_ms=duration)
        return InboundEvent(kind=EventKind.VOICE, media=media, **common)
    if msg_type in ("image", "file", "media"):
        key = as_str(content.get("image_key" if msg_type == "image" else "file_key"))
        media = MediaRef(key=key, message_id=message_id, duration_ms=duration)
        return InboundEvent(kind=EventKind.MEDIA, media=media,
                            text=as_str(content.get("file_name")) or None, **common)
    return InboundEvent(kind=EventKind.UNKNOWN, **common)


def _v1_message(event: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    """Legacy v1 `message` event: only text is mapped, the rest is acknowledged."""
    _with_user(common, event, as_str(event.get("open_chat_id")))
    common.update(raw_type=as_str(event.get("msg_type")) or "message",
                  conversation_type="group" if event.get("chat_type") == "group" else "p2p")
    common["reply_ref"].update(message_id=as_str(event.get("open_message_id")),
                               chat_id=as_str(event.get("open_chat_id")))
    if event.get("msg_type") != "text":
        return InboundEvent(kind=EventKind.UNKNOWN, **common)
    text = as_str(event.get("text_without_at_bot") or event.get("text"))
    return InboundEvent(kind=EventKind.TEXT, text=text.strip(), **common)


def _card_event(action: Any, ids: Any, chat_id: str, message_id: str, token: str,
                common: dict[str, Any]) -> InboundEvent:
    from cards.render import decode_feishu_action_value  # lazy: cards is a sibling layer

    _with_user(common, ids, chat_id)
    common["reply_ref"].update(open_message_id=message_id, open_chat_id=chat_id, token=token)
    action = action if isinstance(action, dict) else {}
    try:
        decoded = decode_feishu_action_value(_action_value(action.get("value")))
    except ValueError:
        return InboundEvent(kind=EventKind.UNKNOWN, **common)
    values: dict[str, Any] = dict(decoded.values)
    for extra in ("option", "form_value", "input_value", "checked"):  # what the user chose
        if action.get(extra) not in (None, "", {}):
            values[extra] = action[extra]
    card = CardAction(key=decoded.action, values=values, card_ref=decoded.card_id or message_id)
    return InboundEvent(kind=EventKind.CARD_ACTION, action=card, **common)


def _action_value(raw: Any) -> Any:
    """`action.value` (an object, or a JSON string on some SDKs; a whole `action` may nest it
    once more) decoded through the limited decoder: the card decoder sees objects only."""
    value = decode_json_field(raw or {}, "action.value")
    if isinstance(value, dict) and "card_id" not in value and isinstance(value.get("value"), str):
        value = {**value, "value": decode_json_field(value["value"], "action.value.value")}
    return {} if value is None else value


def _card_trigger(event: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    ctx = as_dict(event.get("context"))
    return _card_event(event.get("action"), event.get("operator"),
                       as_str(ctx.get("open_chat_id")), as_str(ctx.get("open_message_id")),
                       as_str(event.get("token")), common)


def legacy_card_to_event(payload: dict[str, Any], now: float) -> InboundEvent:
    """Legacy card callback body → CARD_ACTION. It carries no event id: the same tap
    retried hashes to the same id, another button or choice to another one."""
    action = payload.get("action")
    event_id = "|".join([as_str(payload.get("open_message_id")), as_str(payload.get("open_id")),
                         _digest(action)])
    common = _base(event_id, "card.action.trigger_v1", now, None)
    return _card_event(action, payload, as_str(payload.get("open_chat_id")),
                       as_str(payload.get("open_message_id")), as_str(payload.get("token")), common)


_V2_MAPPERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], InboundEvent]] = {
    "im.message.receive_v1": _message,
    "card.action.trigger": _card_trigger,
}
