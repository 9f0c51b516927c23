"""DingTalk inbound: HTTP robot callbacks, HTTP card callbacks, encrypted event subscription
and Stream-mode frames, all mapped to the same neutral `InboundEvent`.

Card taps come from instances of crm-bot's card-platform template: over Stream (topic
`/v1.0/card/instances/callback`) for cards created with `callbackType` STREAM, or POSTed to the
URL crm-bot registered for its route key (`DingTalkCardInbound`, `/callback/dingtalk/card`) for
`callbackType` HTTP. The card-callback docs describe no signature headers, so that route is
authenticated by the secret token in the registered URL, not by the robot `sign`.

HTTP robot/card callbacks are authenticated by the `timestamp` + `sign` headers. The sign
covers the timestamp only, not the body, so what the protocol allows is done around it: a
short window (`robot_callback_window_seconds`), each (timestamp, sign) pair accepted once (the
result's `replay_key`, claimed by the gateway), and replies through `sessionWebhook` only to
DingTalk's own hosts (`session_webhook_allowed`). Stream mode has none of this weakness.

The optional encrypted event subscription reuses WeCom's WXBizMsgCrypt with receive-id = appKey
(its signature covers the body; `replay_window_seconds` bounds it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Collection, Iterable
from typing import Any, Callable
from urllib.parse import urlsplit

from bot.events import CardAction, EventKind, InboundEvent, MediaRef
from bot.platforms.base import (
    BAD_SIGNATURE,
    BAD_TOKEN,
    MALFORMED_JSON,
    METHOD_NOT_ALLOWED,
    MISSING_PARAM,
    MISSING_SIGNATURE,
    InboundRejected,
    InboundRequest,
    InboundResult,
    as_dict,
    as_int,
    as_str,
    check_body_size,
    check_fresh,
    json_field_object,
    parse_epoch,
    parse_json_object,
    received_now,
    utc_from_epoch,
)
from bot.platforms.dingtalk.signing import card_callback_token, verify_robot_sign
from bot.platforms.wecom.crypto import MsgCrypt, new_nonce

log = logging.getLogger("crm_bot.dingtalk")

PLATFORM = "dingtalk"
JSON_CT = "application/json; charset=utf-8"
ROBOT_CALLBACK_WINDOW = 300.0     # seconds; DingTalk itself allows an hour
DEFAULT_SESSION_WEBHOOK_HOSTS = ("oapi.dingtalk.com", "api.dingtalk.com")
UNBOUNDED_REPLAY_TTL = 24 * 3600  # a window of 0 (tests with fixed vectors): remember a day
_SESSION_KEYS = ("sessionWebhook", "sessionWebhookExpiredTime")
_CONTACT_EVENT_PREFIXES = ("user_", "org_admin_", "org_dept_", "label_user_")


class DingTalkInbound:
    """Inbound adapter for `POST /callback/dingtalk`."""

    platform = PLATFORM

    def __init__(self, app_secret: str, replay_window_seconds: float = 3600,
                 app_key: str | None = None, event_token: str | None = None,
                 event_aes_key: str | None = None, *,
                 robot_callback_window_seconds: float = ROBOT_CALLBACK_WINDOW,
                 session_webhook_hosts: Iterable[str] = DEFAULT_SESSION_WEBHOOK_HOSTS) -> None:
        """`replay_window_seconds` bounds the encrypted event subscription, and
        `robot_callback_window_seconds` the robot callbacks (0 turns either check off)."""
        if not app_secret:  # an empty secret would make every signature forgeable
            raise ValueError("DingTalk app_secret is required")
        self._secret = app_secret
        self.replay_window_seconds = replay_window_seconds
        self.robot_callback_window_seconds = robot_callback_window_seconds
        self.session_webhook_hosts = frozenset(h.lower() for h in session_webhook_hosts)
        self._event_crypt = (MsgCrypt(event_token, event_aes_key, app_key)
                             if app_key and event_token and event_aes_key else None)

    def handle(self, req: InboundRequest, now: float) -> InboundResult:
        check_body_size(req.body)
        if req.method.upper() != "POST":
            raise InboundRejected(405, METHOD_NOT_ALLOWED)
        if self._event_crypt and ("msg_signature" in req.args or "signature" in req.args):
            return self._event_subscription(self._event_crypt, req, now)
        timestamp, sent_at = self._verify_robot_sign(req, now)
        event = self._reply_on_our_hosts(dingtalk_payload_to_event(parse_json_object(req.body), now))
        # "{}" = acknowledged; a card callback's "{}" leaves the card as it is.
        # The sign is HMAC(timestamp) and nothing else: one pair per timestamp string, so the
        # timestamp is the key that makes the pair single-use, for as long as it is fresh.
        return InboundResult([event], "{}", JSON_CT, replay_key=f"robot-sign:{timestamp}",
                             replay_ttl=self._replay_ttl(sent_at, now))

    def _verify_robot_sign(self, req: InboundRequest, now: float) -> tuple[str, float]:
        """(timestamp as signed, its epoch seconds) of a valid, fresh robot callback."""
        timestamp, sign = req.header("timestamp").strip(), req.header("sign")
        if not timestamp or not sign:
            raise InboundRejected(401, MISSING_SIGNATURE)
        sent_at = parse_epoch(timestamp, millis=True)
        if not verify_robot_sign(self._secret, timestamp, sign):
            raise InboundRejected(401, BAD_SIGNATURE)
        check_fresh(sent_at, now, self.robot_callback_window_seconds)
        return timestamp, sent_at

    def _replay_ttl(self, sent_at: float, now: float) -> float:
        """How long the pair stays acceptable: until its timestamp leaves the window."""
        window = self.robot_callback_window_seconds
        if window <= 0:
            return UNBOUNDED_REPLAY_TTL
        return max(1.0, sent_at + window - now + 1.0)

    def _reply_on_our_hosts(self, event: InboundEvent) -> InboundEvent:
        """Drop a `sessionWebhook` off DingTalk's hosts (one warning): the message is still
        handled, and its answer goes through the robot API to the sender the body names."""
        url = event.reply_ref.get("sessionWebhook")
        if url is None or session_webhook_allowed(url, self.session_webhook_hosts):
            return event
        if url != "":                   # an empty one is no address: dropped without a word
            log.warning("dingtalk callback %s: sessionWebhook host %s is not in "
                        "dingtalk.session_webhook_hosts; dropped, the reply goes through the robot API",
                        event.event_id, _host_of(url))
        ref = {k: v for k, v in event.reply_ref.items() if k not in _SESSION_KEYS}
        return dataclasses.replace(event, reply_ref=ref)

    def _event_subscription(self, crypt: MsgCrypt, req: InboundRequest,
                            now: float) -> InboundResult:
        signature = req.args.get("msg_signature") or req.args.get("signature") or ""
        timestamp = req.args.get("timeStamp") or req.args.get("timestamp") or ""
        nonce = req.args.get("nonce", "")
        encrypt = parse_json_object(req.body).get("encrypt")
        if not (timestamp and nonce and isinstance(encrypt, str) and encrypt):
            raise InboundRejected(400, MISSING_PARAM)
        crypt.verify(signature, timestamp, nonce, encrypt)
        check_fresh(_epoch_auto(timestamp), now, self.replay_window_seconds)
        plain = crypt.decrypt(encrypt)
        payload = parse_json_object(plain)
        events = [] if payload.get("EventType") == "check_url" else [
            subscription_event_to_event(payload, now, _digest(plain))]
        return InboundResult(events, json.dumps(self.encrypt_success(now)), JSON_CT)

    def encrypt_success(self, now: float, nonce: str | None = None,
                        random16: str | bytes | None = None) -> dict[str, str]:
        """The encrypted `success` every event-subscription push must be answered with."""
        if self._event_crypt is None:
            raise ValueError("event subscription crypto is not configured")
        ts, nonce = str(int(now * 1000)), nonce or new_nonce(16)
        encrypt, signature = self._event_crypt.encrypt_and_sign("success", nonce, ts, random16)
        return {"msg_signature": signature, "timeStamp": ts, "nonce": nonce, "encrypt": encrypt}

    def encrypt_event(self, plain_json: str, nonce: str, timestamp: str,
                      ) -> tuple[str, dict[str, str]]:
        """(body, query_args) as DingTalk would push `plain_json` (sandbox/tests)."""
        if self._event_crypt is None:
            raise ValueError("event subscription crypto is not configured")
        encrypt, signature = self._event_crypt.encrypt_and_sign(plain_json, nonce, timestamp)
        return (json.dumps({"encrypt": encrypt}),
                {"msg_signature": signature, "timeStamp": timestamp, "nonce": nonce})


class DingTalkCardInbound:
    """Inbound adapter for `POST /callback/dingtalk/card`: taps on cards created with
    `callbackType` HTTP, which DingTalk POSTs to the URL registered for the route key (crm-bot
    registers `…/callback/dingtalk/card?token=<derived from card_callback_secret>`). The token
    is checked in constant time; the body must be a card callback. Answers `{}` (the card is
    updated by the worker through `PUT /v1.0/card/instances`)."""

    platform = PLATFORM

    def __init__(self, card_callback_secret: str) -> None:
        self._token = card_callback_token(card_callback_secret)   # refuses an empty secret

    def handle(self, req: InboundRequest, now: float) -> InboundResult:
        check_body_size(req.body)
        if req.method.upper() != "POST":
            raise InboundRejected(405, METHOD_NOT_ALLOWED)
        token = req.args.get("token", "")
        if not token:
            raise InboundRejected(401, MISSING_SIGNATURE)
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self._token.encode("ascii")):
            raise InboundRejected(401, BAD_TOKEN)
        data = parse_json_object(req.body)
        if not _is_card_callback(data):
            raise InboundRejected(400, MALFORMED_JSON)
        return InboundResult([_card_callback(data, now)], "{}", JSON_CT)


def session_webhook_allowed(url: Any, hosts: Collection[str]) -> bool:
    """True for a sessionWebhook URL crm-bot may POST a reply to: https on a host in `hosts`
    (an entry "host" allows any port, "host:port" that port), or http on a loopback address
    listed with its port (the sandbox). No user info, backslashes, spaces or control
    characters, which URL parsers read differently."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        return False
    if any(c == "\\" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return False
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:              # a port that is not a number or out of range
        return False
    if not host or parts.username is not None or parts.password is not None:
        return False
    with_port = f"{host}:{port}" if port is not None else host
    if parts.scheme == "https":
        return host in hosts or with_port in hosts
    return parts.scheme == "http" and port is not None and with_port in hosts and _loopback(host)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(url: Any) -> str:
    """The host of a rejected URL for the log: short, repr-quoted, never the whole URL."""
    try:
        host = urlsplit(url).hostname if isinstance(url, str) else None
    except ValueError:
        host = None
    return repr((host or "?")[:100])


def _epoch_auto(text: str) -> float:
    """Event-subscription timestamps are ms; older pushes used seconds. 1e11 s is year 5138."""
    value = parse_epoch(text)
    return value / 1000.0 if value > 1e11 else value


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --- Stream mode -----------------------------------------------------------------------

def stream_frame_to_event(frame: dict[str, Any], now: float | None = None) -> InboundEvent | None:
    """Map a Stream-mode frame to the event its HTTP twin produces (None: nothing to handle).

    CALLBACK frames carry the robot message / card callback JSON in `data`; EVENT frames
    carry an event-subscription payload with the type in `headers.eventType`.
    """
    now = time.time() if now is None else now
    headers = as_dict(frame.get("headers"))
    data = frame.get("data")
    if frame.get("type") not in ("CALLBACK", "EVENT"):
        return None
    payload = data if isinstance(data, dict) else parse_json_object(as_str(data))
    if frame["type"] == "CALLBACK":
        return dingtalk_payload_to_event(payload, now)
    payload = {**payload, "EventType": as_str(headers.get("eventType"))}
    event_id = as_str(headers.get("eventId")) or _digest(json.dumps(payload, sort_keys=True))
    return subscription_event_to_event(payload, now, event_id)


# --- payload → neutral event -----------------------------------------------------------

def dingtalk_payload_to_event(data: dict[str, Any], now: float) -> InboundEvent:
    """A robot message or card callback body (HTTP body or Stream `data`) → event."""
    if _is_card_callback(data):
        return _card_callback(data, now)
    msg_type = as_str(data.get("msgtype"))
    return _MESSAGE_MAPPERS.get(msg_type, _unknown)(data, _common(data, now, msg_type))


def _is_card_callback(data: dict[str, Any]) -> bool:
    has_card = "outTrackId" in data or "cardBizId" in data
    return data.get("type") == "actionCallback" or (has_card and ("content" in data or "value" in data))


def _common(data: dict[str, Any], now: float, raw_type: str) -> dict[str, Any]:
    sender = as_str(data.get("senderStaffId") or data.get("senderId"))
    created = as_int(data.get("createAt"))
    return {
        "platform": PLATFORM,
        "event_id": as_str(data.get("msgId")) or _digest(json.dumps(data, sort_keys=True)),
        "sender_id": sender,
        "conversation_id": as_str(data.get("conversationId")) or sender,
        "conversation_type": "group" if as_str(data.get("conversationType")) == "2" else "p2p",
        "platform_time": utc_from_epoch(created / 1000.0 if created else None),
        "received_at": received_now(now),
        "raw_type": raw_type or "unknown",
        "reply_ref": {k: _scalar(data.get(k)) for k in ("sessionWebhook", "sessionWebhookExpiredTime",
                                                         "conversationId", "senderStaffId", "robotCode")},
    }


def _scalar(value: Any) -> str | int | float | bool | None:
    """A reply_ref value as sent when it is a plain value; None for an object or list (nothing
    nested rides along to the worker)."""
    return value if isinstance(value, (str, int, float, bool)) else None


def _content(data: dict[str, Any], field: str = "content") -> dict[str, Any]:
    """`content` is an object on the wire, but some relays pass it as a JSON string (depth
    and size limited: a 400 when over)."""
    return json_field_object(data.get(field), field)


def _text(data: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    text = as_dict(data.get("text"))
    # DingTalk removes the @bot mention but leaves the space after it.
    return InboundEvent(kind=EventKind.TEXT, text=as_str(text.get("content")).strip(), **common)


def _audio(data: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    content = _content(data)
    media = MediaRef(key=as_str(content.get("downloadCode")),
                     duration_ms=as_int(content.get("duration")),
                     recognition=as_str(content.get("recognition")).strip() or None)
    return InboundEvent(kind=EventKind.VOICE, media=media, **common)


def _picture(data: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    content = _content(data)
    key = as_str(content.get("downloadCode") or content.get("pictureDownloadCode"))
    return InboundEvent(kind=EventKind.MEDIA, media=MediaRef(key=key), **common)


def _file(data: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    content = _content(data)
    media = MediaRef(key=as_str(content.get("downloadCode")),
                     duration_ms=as_int(content.get("duration")))
    return InboundEvent(kind=EventKind.MEDIA, media=media,
                        text=as_str(content.get("fileName")) or None, **common)


def _rich_text(data: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    items = _content(data).get("richText")
    items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    text = "".join(as_str(i.get("text")) for i in items if "text" in i).strip()
    codes = [as_str(i.get("downloadCode")) for i in items if i.get("downloadCode")]
    if not codes:  # rich text without a picture is just text
        return InboundEvent(kind=EventKind.TEXT, text=text, **common)
    return InboundEvent(kind=EventKind.MEDIA, media=MediaRef(key=codes[0]), text=text or None,
                        **common)


def _unknown(data: dict[str, Any], common: dict[str, Any]) -> InboundEvent:
    return InboundEvent(kind=EventKind.UNKNOWN, **common)


def _card_callback(data: dict[str, Any], now: float) -> InboundEvent:
    from cards.model import instance_of  # lazy: cards is a sibling layer
    from cards.render import decode_dingtalk_callback_params

    fields = _card_fields(data)
    private = _card_private_data(fields)
    out_track_id = as_str(data.get("outTrackId") or data.get("cardBizId"))
    user_id = as_str(data.get("userId"))
    space_type = as_str(data.get("spaceType"))
    common: dict[str, Any] = {
        "platform": PLATFORM,
        # A retried tap repeats the same action ids and params, so the same id; another
        # button (or another choice) changes the digest.
        "event_id": "|".join([out_track_id, user_id,
                              _digest(json.dumps(private, sort_keys=True, ensure_ascii=False))]),
        "sender_id": user_id,
        "conversation_id": as_str(data.get("spaceId")) or user_id,
        "conversation_type": "group" if space_type.upper() == "IM_GROUP" else "p2p",
        "received_at": received_now(now),
        "raw_type": as_str(data.get("type")) or "actionCallback",
        "reply_ref": {k: _scalar(data.get(k)) for k in ("outTrackId", "userId", "userIdType",
                                                         "spaceType", "spaceId", "corpId")},
    }
    try:
        # the JSON strings already decoded (and limited) here: the decoder sees objects only
        decoded = decode_dingtalk_callback_params({**data, **fields})
    except ValueError:
        return InboundEvent(kind=EventKind.UNKNOWN, **common)
    if out_track_id and not instance_of(out_track_id, decoded.card_id):
        # the button belongs to another card than the instance tapped: not ours to obey
        return InboundEvent(kind=EventKind.UNKNOWN, **common)
    action = CardAction(key=decoded.action, values=dict(decoded.values),
                        card_ref=decoded.card_id or out_track_id)
    return InboundEvent(kind=EventKind.CARD_ACTION, action=action, **common)


def _card_fields(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`content` and legacy `value` (JSON strings on the wire), decoded with their
    `cardPrivateData` (a JSON string again), each through the limited decoder."""
    fields: dict[str, dict[str, Any]] = {}
    for field in ("content", "value"):
        if field not in data:
            continue
        inner = _content(data, field)
        private = inner.get("cardPrivateData")
        if isinstance(private, str):
            inner = {**inner, "cardPrivateData": json_field_object(private, "cardPrivateData")}
        fields[field] = inner
    return fields


def _card_private_data(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`cardPrivateData` (tapped action ids + params), from `content` or legacy `value`."""
    for field in ("content", "value"):
        private = fields.get(field, {}).get("cardPrivateData")
        if isinstance(private, dict):
            return private
    return {}


def subscription_event_to_event(payload: dict[str, Any], now: float,
                                event_id: str) -> InboundEvent:
    """An event-subscription payload (`EventType` + fields) → CONTACT / UNKNOWN event."""
    event_type = as_str(payload.get("EventType"))
    users = payload.get("UserId") or payload.get("userId") or []
    users = [as_str(u) for u in (users if isinstance(users, list) else [users])]
    is_contact = event_type.startswith(_CONTACT_EVENT_PREFIXES)
    ts = as_int(payload.get("TimeStamp"))
    return InboundEvent(
        platform=PLATFORM, kind=EventKind.CONTACT if is_contact else EventKind.UNKNOWN,
        event_id=event_id, sender_id=users[0] if users else "", conversation_id="",
        platform_time=utc_from_epoch(_epoch_auto(str(ts)) if ts else None),
        received_at=received_now(now), raw_type=event_type or "event",
        reply_ref={"contact": {"change_type": event_type, "user_id": users[0] if users else "",
                               "user_ids": users}} if is_contact else {},
    )


Mapper = Callable[[dict[str, Any], dict[str, Any]], InboundEvent]
_MESSAGE_MAPPERS: dict[str, Mapper] = {
    "text": _text, "audio": _audio, "picture": _picture, "file": _file, "video": _file,
    "richText": _rich_text,
}
