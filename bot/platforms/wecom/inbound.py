"""WeCom self-built-app callback: GET handshake, POST verify → decrypt → neutral event.

`WeComInbound.handle` is the whole inbound path; `wecom_message_to_event` maps an already
decrypted message dict (XML or JSON inner payload) to an `InboundEvent`. Unknown message
and event types become `EventKind.UNKNOWN` and are acknowledged, never errors.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

from bot.events import CardAction, EventKind, InboundEvent, MediaRef
from bot.platforms.base import (
    METHOD_NOT_ALLOWED,
    MISSING_PARAM,
    InboundRejected,
    InboundRequest,
    InboundResult,
    as_int,
    as_str,
    check_body_size,
    check_field_size,
    check_fresh,
    parse_epoch,
    parse_json_object,
    parse_xml,
    received_now,
    utc_from_epoch,
)
from bot.platforms.wecom.crypto import MsgCrypt

PLATFORM = "wecom"
TEXT_PLAIN = "text/plain; charset=utf-8"
_MEDIA_TYPES = {"image", "file", "video"}
_CARD_EVENTS = {"template_card_event", "template_card_menu_event"}
_CONTACT_EVENTS = {"change_contact", "change_external_contact"}
_SYSTEM_EVENTS = {"subscribe", "unsubscribe", "enter_agent"}
MAX_EVENT_KEY_BYTES = 1024        # WeCom's limit for a template card button key


class WeComInbound:
    """Inbound adapter for `GET|POST /callback/wecom`."""

    platform = PLATFORM

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str,
                 replay_window_seconds: float = 3600) -> None:
        self._crypt = MsgCrypt(token, encoding_aes_key, corp_id)
        self.corp_id = corp_id
        self.replay_window_seconds = replay_window_seconds

    def handle(self, req: InboundRequest, now: float) -> InboundResult:
        check_body_size(req.body)
        method = req.method.upper()
        if method == "GET":
            return self._handshake(req, now)
        if method == "POST":
            return self._callback(req, now)
        raise InboundRejected(405, METHOD_NOT_ALLOWED)

    def _handshake(self, req: InboundRequest, now: float) -> InboundResult:
        signature, timestamp, nonce = _signed_params(req)
        # The web layer decodes the query once. Base64 never contains a space, so a space
        # can only be a '+' that some proxy decoded a second time: put it back.
        echostr = req.args.get("echostr", "").replace(" ", "+")
        if not echostr:
            raise InboundRejected(400, MISSING_PARAM)
        self._crypt.verify(signature, timestamp, nonce, echostr)
        check_fresh(parse_epoch(timestamp), now, self.replay_window_seconds)
        return InboundResult([], self._crypt.decrypt(echostr), TEXT_PLAIN)

    def _callback(self, req: InboundRequest, now: float) -> InboundResult:
        signature, timestamp, nonce = _signed_params(req)
        envelope = _parse_payload(req.body)
        encrypt = envelope.get("Encrypt", envelope.get("encrypt"))
        if not isinstance(encrypt, str) or not encrypt:
            raise InboundRejected(400, MISSING_PARAM)
        self._crypt.verify(signature, timestamp, nonce, encrypt)
        check_fresh(parse_epoch(timestamp), now, self.replay_window_seconds)
        message = _parse_payload(self._crypt.decrypt(encrypt))
        # Empty body = "no passive reply"; the answer goes out later through the API.
        return InboundResult([wecom_message_to_event(message, now)], "", TEXT_PLAIN)

    # --- helpers the sandbox and tests use to play the platform's part ---------------
    def encrypt_callback(self, plain_xml: str, nonce: str, timestamp: str,
                         agent_id: str = "", random16: str | bytes | None = None,
                         ) -> tuple[str, dict[str, str]]:
        """(body_xml, query_args) exactly as WeCom would POST `plain_xml`."""
        encrypt, signature = self._crypt.encrypt_and_sign(plain_xml, nonce, timestamp, random16)
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<AgentID><![CDATA[{agent_id}]]></AgentID>"
                f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        return body, {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}

    def encrypt_echostr(self, plain_echo: str, nonce: str, timestamp: str,
                        random16: str | bytes | None = None) -> dict[str, str]:
        """Query args of the GET URL-verification handshake for `plain_echo`."""
        encrypt, signature = self._crypt.encrypt_and_sign(plain_echo, nonce, timestamp, random16)
        return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce,
                "echostr": encrypt}

    def passive_reply(self, plain_xml: str, nonce: str, timestamp: str) -> str:
        """Encrypted passive reply body (e.g. `update_button` right after a card tap)."""
        return self._crypt.passive_reply(plain_xml, nonce, timestamp)


def _signed_params(req: InboundRequest) -> tuple[str, str, str]:
    signature = req.args.get("msg_signature", "")
    timestamp = req.args.get("timestamp", "")
    nonce = req.args.get("nonce", "")
    if not (signature and timestamp and nonce):
        raise InboundRejected(400, MISSING_PARAM)
    return signature, timestamp, nonce


def _parse_payload(data: bytes | str) -> dict[str, Any]:
    """WeCom sends XML; some newer callbacks send JSON with the same crypto."""
    starts_json = data.lstrip()[:1] in ("{", b"{")
    return parse_json_object(data) if starts_json else parse_xml(data)


# --- message → neutral event -----------------------------------------------------------

def wecom_message_to_event(msg: dict[str, Any], now: float) -> InboundEvent:
    """Map one decrypted WeCom message/event dict to an `InboundEvent`."""
    msg_type = as_str(msg.get("MsgType")).lower()
    if msg_type == "event":
        event = as_str(msg.get("Event"))
        mapper = _EVENT_MAPPERS.get(event.lower(), _unknown)
        return mapper(msg, _common(msg, now, event or "event"))
    mapper = _MESSAGE_MAPPERS.get(msg_type, _MEDIA_MAPPER if msg_type in _MEDIA_TYPES else _unknown)
    return mapper(msg, _common(msg, now, msg_type or "unknown"))


def _common(msg: dict[str, Any], now: float, raw_type: str) -> dict[str, Any]:
    sender = as_str(msg.get("FromUserName"))
    if sender == "sys" and msg.get("UserID"):
        sender = as_str(msg.get("UserID"))  # contact events come from "sys"; the rep is UserID
    return {
        "platform": PLATFORM,
        "sender_id": sender,
        "conversation_id": sender,
        "platform_time": utc_from_epoch(as_int(msg.get("CreateTime"))),
        "received_at": received_now(now),
        "raw_type": raw_type,
        "event_id": _message_key(msg) or _event_key(msg),
        "reply_ref": {"agent_id": as_str(msg.get("AgentID")), "user_id": sender,
                      "corp_id": as_str(msg.get("ToUserName"))},
    }


def _message_key(msg: dict[str, Any]) -> str:
    return as_str(msg.get("MsgId"))


def _event_key(msg: dict[str, Any]) -> str:
    """Events carry no MsgId: FromUserName + CreateTime (+ what makes the event distinct)."""
    parts = ("FromUserName", "CreateTime", "Event", "ChangeType", "UserID", "ExternalUserID",
             "TaskId", "EventKey")
    key = "|".join(as_str(msg.get(p)) for p in parts if msg.get(p))
    # The inbound log keeps 200 characters (inbound_messages.event_id): a long button key is
    # folded into a digest of the whole, so two taps still differ and a redelivery still matches.
    if len(key) <= EVENT_ID_CHARS:
        return key
    return f"{key[:EVENT_ID_CHARS - 42]}#{hashlib.sha1(key.encode()).hexdigest()}"


EVENT_ID_CHARS = 200


def _text(msg: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    return InboundEvent(kind=EventKind.TEXT, text=as_str(msg.get("Content")), **common)


def _voice(msg: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    fmt = as_str(msg.get("Format")).lower() or "amr"
    return InboundEvent(kind=EventKind.VOICE,
                        media=MediaRef(key=as_str(msg.get("MediaId")), format=fmt), **common)


def _media(msg: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    # No format: images/files/videos are sniffed from the downloaded bytes.
    return InboundEvent(kind=EventKind.MEDIA, media=MediaRef(key=as_str(msg.get("MediaId"))),
                        text=as_str(msg.get("FileName")) or None, **common)


def _unknown(msg: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    return InboundEvent(kind=EventKind.UNKNOWN, **common)


def _system(msg: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    return InboundEvent(kind=EventKind.SYSTEM, **common)


def _contact(msg: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    # InboundEvent has no payload field; the neutral contact details ride in reply_ref.
    common["reply_ref"]["contact"] = {
        "change_type": as_str(msg.get("ChangeType")),
        "user_id": as_str(msg.get("UserID")),
        "external_user_id": as_str(msg.get("ExternalUserID")),
    }
    return InboundEvent(kind=EventKind.CONTACT, **common)


def _card_action(msg: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    from cards.render import decode_wecom_event_key  # lazy: keeps cards/ off the import path

    event_key, task_id = as_str(msg.get("EventKey")), as_str(msg.get("TaskId"))
    # our key packs the button's values as base64 JSON; WeCom caps a key at 1024 bytes
    check_field_size(event_key, MAX_EVENT_KEY_BYTES, "EventKey")
    common["reply_ref"].update(response_code=as_str(msg.get("ResponseCode")), task_id=task_id,
                               card_type=as_str(msg.get("CardType")), event_key=event_key)
    try:
        decoded = decode_wecom_event_key(event_key, task_id or None)
    except ValueError:
        # Not one of our buttons (or a stale card): acknowledge, but never run an action.
        return InboundEvent(kind=EventKind.UNKNOWN, **common)
    values: dict[str, Any] = dict(decoded.values)
    selected = _selected_items(msg.get("SelectedItems"))
    if selected:
        values["selected"] = selected
    # the TaskId is this send's instance of the card (card id + suffix): the card is the token's
    action = CardAction(key=decoded.action, values=values, card_ref=decoded.card_id)
    return InboundEvent(kind=EventKind.CARD_ACTION, action=action, **common)


def _selected_items(raw: Any) -> dict[str, list[str]]:
    """Vote / dropdown answers: {question_key: [option ids]}."""
    if not isinstance(raw, dict):
        return {}
    items = raw.get("SelectedItem")
    items = items if isinstance(items, list) else [items]
    out: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        options = item.get("OptionIds")
        ids = options.get("OptionId") if isinstance(options, dict) else None
        ids = ids if isinstance(ids, list) else [ids] if ids else []
        out[as_str(item.get("QuestionKey"))] = [as_str(i) for i in ids]
    return out


Mapper = Callable[[dict[str, Any], dict[str, Any]], InboundEvent]
_MEDIA_MAPPER: Mapper = _media
_MESSAGE_MAPPERS: dict[str, Mapper] = {"text": _text, "voice": _voice}
_EVENT_MAPPERS: dict[str, Mapper] = {
    **{name: _card_action for name in _CARD_EVENTS},
    **{name: _contact for name in _CONTACT_EVENTS},
    **{name: _system for name in _SYSTEM_EVENTS},
}
