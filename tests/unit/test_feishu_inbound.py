"""Feishu adapters: encrypted + signed and plain + token event pushes, card callbacks (new and
legacy) and long-connection payloads, built with the adapters' own encrypt/sign helpers."""
from __future__ import annotations

import json
from typing import Any

import pytest

from bot.events import EventKind, InboundEvent
from bot.platforms.base import MAX_BODY_BYTES, InboundRejected, InboundRequest, InboundResult
from bot.platforms.feishu import FeishuCardInbound, FeishuInbound, long_connection_event_to_inbound
from bot.platforms.feishu.inbound import clean_mentions

VTOKEN, EKEY = "v-token-123", "encrypt-key-456"
NOW = 1_732_000_000.0
TS = str(int(NOW))


@pytest.fixture
def secure() -> FeishuInbound:
    return FeishuInbound(VTOKEN, encrypt_key=EKEY)


@pytest.fixture
def plain() -> FeishuInbound:
    return FeishuInbound(VTOKEN)


def v2(event_type: str, event: dict[str, Any], event_id: str = "ev-1", token: str = VTOKEN) -> dict:
    return {"schema": "2.0", "header": {"event_id": event_id, "event_type": event_type,
                                        "create_time": str(int(NOW * 1000)), "token": token,
                                        "app_id": "cli_a1", "tenant_key": "tk"}, "event": event}


def message(msg_type: str, content: dict, chat_type: str = "p2p", mentions: list | None = None) -> dict:
    return v2("im.message.receive_v1", {
        "sender": {"sender_id": {"open_id": "ou_zhang", "user_id": "zhangwei01", "union_id": "on_1"},
                   "sender_type": "user", "tenant_key": "tk"},
        "message": {"message_id": "om_1", "create_time": str(int(NOW * 1000) - 2000), "chat_id": "oc_1",
                    "chat_type": chat_type, "message_type": msg_type,
                    "content": json.dumps(content, ensure_ascii=False), "mentions": mentions or []}})


def send(adapter: FeishuInbound, payload: dict | bytes, ts: str = TS, nonce: str = "n1",
         sign: bool = True, encrypt: bool | None = None) -> InboundResult:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False)
    encrypt = adapter.encrypted if encrypt is None else encrypt
    body = adapter.encrypt_body(raw) if encrypt and not isinstance(raw, bytes) else raw
    body_bytes = body if isinstance(body, bytes) else body.encode()
    headers = adapter.signed_headers(body_bytes, ts, nonce) if sign else {}
    return adapter.handle(InboundRequest("POST", "/callback/feishu", {}, headers, body_bytes), NOW)


def rejected(call) -> InboundRejected:
    with pytest.raises(InboundRejected) as info:
        call()
    return info.value


# --- url verification --------------------------------------------------------------------------

@pytest.mark.parametrize("fixture, sign", [("plain", False), ("secure", False), ("secure", True)])
def test_challenge_answered_in_plain_json(request, fixture: str, sign: bool) -> None:
    adapter = request.getfixturevalue(fixture)
    payload = {"challenge": "c-7f3a", "token": VTOKEN, "type": "url_verification"}
    result = send(adapter, payload, sign=sign)
    assert (json.loads(result.response_body), result.events) == ({"challenge": "c-7f3a"}, [])


@pytest.mark.parametrize("token", ["wrong", "", None])
def test_challenge_with_wrong_or_missing_token_is_403(plain: FeishuInbound, token: str | None) -> None:
    payload = {"challenge": "c", "type": "url_verification", **({"token": token} if token is not None else {})}
    assert rejected(lambda: send(plain, payload, sign=False)).status == 403


# --- messages --------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["plain", "secure"])
def test_text_message(request, fixture: str) -> None:
    adapter = request.getfixturevalue(fixture)
    mentions = [{"key": "@_user_1", "name": "CRM助手", "id": {"open_id": "ou_bot"}},
                {"key": "@_user_2", "name": "李娜", "id": {"open_id": "ou_li", "user_id": "lina"}}]
    payload = message("text", {"text": "@_user_1 把华东建材转给 @_user_2 跟进"}, "group", mentions)
    result = send(adapter, payload)
    (event,) = result.events
    assert (result.status, result.response_body) == (200, "{}")
    assert (event.kind, event.text, event.event_id) == (EventKind.TEXT, "把华东建材转给 @李娜 跟进", "ev-1")
    assert (event.sender_id, event.conversation_id, event.conversation_type) == ("ou_zhang", "oc_1", "group")
    assert event.reply_ref["user_id"] == "zhangwei01" and event.reply_ref["message_id"] == "om_1"
    assert event.reply_ref["mentions"][1] == {"name": "李娜", "open_id": "ou_li", "user_id": "lina"}
    assert event.platform_time.timestamp() == NOW - 2


@pytest.mark.parametrize("text, expected", [
    ("@_user_1 你好", "你好"), ("@_user_1@_user_2 hi", "hi"), ("无提及", "无提及"),
    ("问下 @_user_9 在吗", "问下 在吗"), ("  @_user_1  ", ""),
])
def test_clean_mentions(text: str, expected: str) -> None:
    assert clean_mentions(text, [{"key": "@_user_1", "name": "bot"}]) == expected


def test_audio_is_voice_with_opus_and_message_id(secure: FeishuInbound) -> None:
    (event,) = send(secure, message("audio", {"file_key": "file_v3_abc", "duration": 2300})).events
    assert event.kind is EventKind.VOICE
    assert (event.media.key, event.media.format, event.media.message_id, event.media.duration_ms) == \
        ("file_v3_abc", "opus", "om_1", 2300)


@pytest.mark.parametrize("msg_type, content, kind, key", [
    ("image", {"image_key": "img_v3_1"}, EventKind.MEDIA, "img_v3_1"),
    ("file", {"file_key": "file_v3_2", "file_name": "报价.pdf"}, EventKind.MEDIA, "file_v3_2"),
    ("sticker", {"file_key": "s"}, EventKind.UNKNOWN, None),
    ("post", {"title": "周报", "content": [[{"tag": "text", "text": "拜访 3 家"}]]}, EventKind.TEXT, None),
])
def test_other_message_types(plain: FeishuInbound, msg_type: str, content: dict, kind: EventKind,
                             key: str | None) -> None:
    (event,) = send(plain, message(msg_type, content)).events
    assert (event.kind, event.media.key if event.media else None) == (kind, key)
    if msg_type == "post":
        assert event.text == "周报\n拜访 3 家"


@pytest.mark.parametrize("event_type, kind", [
    ("im.chat.access_event.bot_p2p_chat_entered_v1", EventKind.SYSTEM),
    ("contact.user.created_v3", EventKind.CONTACT),
    ("im.message.reaction.created_v1", EventKind.UNKNOWN),
    ("brand.new.event_v9", EventKind.UNKNOWN),
])
def test_event_types_map_to_kinds(secure: FeishuInbound, event_type: str, kind: EventKind) -> None:
    result = send(secure, v2(event_type, {"operator_id": {"open_id": "ou_x"}, "object": {"user_id": "u"}}))
    assert (result.status, result.events[0].kind, result.events[0].event_id) == (200, kind, "ev-1")


def test_v1_text_event(plain: FeishuInbound) -> None:
    payload = {"uuid": "uuid-1", "token": VTOKEN, "ts": "1732000000.12", "type": "event_callback",
               "event": {"type": "message", "msg_type": "text", "open_id": "ou_zhang",
                         "open_chat_id": "oc_9", "chat_type": "private",
                         "text": "<at open_id=\"ou_bot\">@bot</at> 你好", "text_without_at_bot": " 你好"}}
    (event,) = send(plain, payload).events
    assert (event.kind, event.text, event.event_id, event.sender_id) == (EventKind.TEXT, "你好", "uuid-1", "ou_zhang")
    assert event.platform_time.timestamp() == pytest.approx(1732000000.12)


# --- card actions -------------------------------------------------------------------------------

def card_trigger(value: Any, event_id: str = "ev-card", **action: Any) -> dict:
    return v2("card.action.trigger", {
        "operator": {"open_id": "ou_zhang", "user_id": "zhangwei01", "tenant_key": "tk"},
        "token": "c-delayed-token", "host": "im_message",
        "action": {"value": value, "tag": "button", **action},
        "context": {"open_message_id": "om_card", "open_chat_id": "oc_1"}}, event_id)


@pytest.mark.parametrize("as_string", [False, True])
def test_card_action_value_dict_or_string(secure: FeishuInbound, as_string: bool) -> None:
    value = {"card_id": "lead-42", "action": "lead.assign", "to": "li.na"}
    result = send(secure, card_trigger(json.dumps(value) if as_string else value))
    (event,) = result.events
    assert event.kind is EventKind.CARD_ACTION
    assert (event.action.key, event.action.values, event.action.card_ref) == \
        ("lead.assign", {"to": "li.na"}, "lead-42")
    assert (event.sender_id, event.reply_ref["token"], event.reply_ref["open_message_id"]) == \
        ("ou_zhang", "c-delayed-token", "om_card")
    assert "toast" in json.loads(result.response_body)


def test_card_action_keeps_the_users_choice(plain: FeishuInbound) -> None:
    payload = card_trigger({"card_id": "lead-42", "action": "stage.set"}, option="won")
    assert send(plain, payload).events[0].action.values == {"option": "won"}


def test_card_action_not_ours_is_unknown(plain: FeishuInbound) -> None:
    assert send(plain, card_trigger({"foo": "bar"})).events[0].kind is EventKind.UNKNOWN


def test_long_connection_payload_maps_like_http(secure: FeishuInbound) -> None:
    def comparable(e: InboundEvent) -> dict:
        return {k: v for k, v in e.to_dict().items() if k != "received_at"}

    for payload in (message("text", {"text": "hi"}), card_trigger({"card_id": "c1", "action": "a.b"})):
        http_event = send(secure, payload).events[0]
        assert comparable(long_connection_event_to_inbound(payload, NOW)) == comparable(http_event)
        assert comparable(long_connection_event_to_inbound(json.dumps(payload), NOW)) == comparable(http_event)


# --- rejections ----------------------------------------------------------------------------------

TEXT = message("text", {"text": "hi"})


def test_forged_signature_is_401(secure: FeishuInbound) -> None:
    body = secure.encrypt_body(json.dumps(TEXT)).encode()
    headers = {**secure.signed_headers(body, TS, "n"), "X-Lark-Signature": "0" * 64}
    err = rejected(lambda: secure.handle(InboundRequest("POST", "/", {}, headers, body), NOW))
    assert err.status == 401 and EKEY not in err.reason


def test_signature_over_a_different_body_is_401(secure: FeishuInbound) -> None:
    body = secure.encrypt_body(json.dumps(TEXT)).encode()
    headers = secure.signed_headers(body, TS, "n")
    tampered = body.replace(b'{"encrypt": ', b'{"encrypt":')  # same JSON, different bytes
    assert rejected(lambda: secure.handle(InboundRequest("POST", "/", {}, headers, tampered), NOW)).status == 401


def test_encrypted_event_without_signature_is_401(secure: FeishuInbound) -> None:
    assert rejected(lambda: send(secure, TEXT, sign=False)).status == 401


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_wrong_or_missing_token_is_403(plain: FeishuInbound, token: str) -> None:
    assert rejected(lambda: send(plain, message("text", {"text": "x"}) | {"header": {
        **TEXT["header"], "token": token}})).status == 403


def test_wrong_token_rejected_even_when_signed(secure: FeishuInbound) -> None:
    assert rejected(lambda: send(secure, v2("im.message.receive_v1", {}, token="bad"))).status == 403


@pytest.mark.parametrize("offset, ok", [(-3599, True), (3599, True), (-3601, False), (7200, False)])
def test_replay_window(secure: FeishuInbound, offset: int, ok: bool) -> None:
    call = lambda: send(secure, TEXT, ts=str(int(NOW) + offset))  # noqa: E731
    if ok:
        assert call().events[0].kind is EventKind.TEXT
    else:
        assert rejected(call).status == 401


def test_window_zero_accepts_old_traffic() -> None:
    adapter = FeishuInbound(VTOKEN, encrypt_key=EKEY, replay_window_seconds=0)
    assert send(adapter, TEXT, ts="1677254849").events[0].kind is EventKind.TEXT


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'{"encrypt": 5}'])
def test_malformed_json_is_400(plain: FeishuInbound, body: bytes) -> None:
    assert rejected(lambda: send(plain, body, sign=False)).status == 400


def test_signed_but_undecryptable_body_is_400(secure: FeishuInbound) -> None:
    body = b'{"encrypt": "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbCE="}'
    headers = secure.signed_headers(body, TS, "n")
    assert rejected(lambda: secure.handle(InboundRequest("POST", "/", {}, headers, body), NOW)).status == 400


def test_oversized_body_is_413(secure: FeishuInbound) -> None:
    body = b'{"x": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert rejected(lambda: secure.handle(InboundRequest("POST", "/", {}, {}, body), NOW)).status == 413


def test_needs_a_token_or_a_key() -> None:
    with pytest.raises(ValueError):
        FeishuInbound("")


# --- legacy card callback endpoint -----------------------------------------------------------------

@pytest.fixture
def card() -> FeishuCardInbound:
    return FeishuCardInbound(VTOKEN, encrypt_key=EKEY)


def legacy(value: Any, user: str = "ou_zhang") -> bytes:
    return json.dumps({"open_id": user, "user_id": "zhangwei01", "open_message_id": "om_card",
                       "open_chat_id": "oc_1", "tenant_key": "tk", "token": "c-upd",
                       "action": {"value": value, "tag": "button"}}).encode()


def post_card(adapter: FeishuCardInbound, body: bytes, ts: str = TS) -> InboundResult:
    headers = adapter.signed_headers(body, ts, "nonce")
    return adapter.handle(InboundRequest("POST", "/callback/feishu/card", {}, headers, body), NOW)


def test_legacy_card_callback(card: FeishuCardInbound) -> None:
    body = legacy({"card_id": "lead-42", "action": "lead.confirm"})
    result = post_card(card, body)
    (event,) = result.events
    assert result.response_body == "{}"  # a legacy body would be read as the new card
    assert (event.kind, event.action.key, event.action.card_ref, event.sender_id) == \
        (EventKind.CARD_ACTION, "lead.confirm", "lead-42", "ou_zhang")
    again = post_card(card, body, ts=str(int(NOW) + 2)).events[0]
    other = post_card(card, legacy({"card_id": "lead-42", "action": "lead.reject"})).events[0]
    assert again.event_id == event.event_id != other.event_id


def test_legacy_card_rejections(card: FeishuCardInbound) -> None:
    body = legacy({"card_id": "lead-42", "action": "lead.confirm"})
    forged = {**card.signed_headers(body, TS, "nonce"), "X-Lark-Signature": "0" * 40}
    assert rejected(lambda: card.handle(InboundRequest("POST", "/", {}, forged, body), NOW)).status == 401
    assert rejected(lambda: card.handle(InboundRequest("POST", "/", {}, {}, body), NOW)).status == 401
    assert rejected(lambda: post_card(card, body, ts=str(int(NOW) - 3601))).status == 401
    # the sha256/encrypt-key signature of the event endpoint is not accepted here
    events_sig = FeishuInbound(VTOKEN, EKEY).signed_headers(body, TS, "nonce")
    assert rejected(lambda: card.handle(InboundRequest("POST", "/", {}, events_sig, body), NOW)).status == 401
    # without a configured token the sha1 "signature" would be forgeable: refuse
    tokenless = FeishuCardInbound("", encrypt_key=EKEY)
    assert rejected(lambda: post_card(tokenless, body)).status == 401


def test_legacy_card_challenge_and_v2_delegation(card: FeishuCardInbound, secure: FeishuInbound) -> None:
    challenge = json.dumps({"challenge": "cc", "token": VTOKEN, "type": "url_verification"}).encode()
    result = card.handle(InboundRequest("POST", "/", {}, {}, challenge), NOW)
    assert json.loads(result.response_body) == {"challenge": "cc"}
    payload = card_trigger({"card_id": "lead-42", "action": "lead.confirm"})
    body = secure.encrypt_body(json.dumps(payload)).encode()
    headers = secure.signed_headers(body, TS, "n")
    (event,) = card.handle(InboundRequest("POST", "/", {}, headers, body), NOW).events
    assert (event.kind, event.event_id) == (EventKind.CARD_ACTION, "ev-card")


# --- JSON depth and size limits -------------------------------------------------------------------

DEEP = "[" * 900 + "]" * 900


@pytest.mark.parametrize("payload, what", [
    (card_trigger(DEEP), "action.value"),                                           # value as a string
    (card_trigger({"value": DEEP}), "action.value.value"),                          # nested once more
    (v2("im.message.receive_v1", {"message": {"message_id": "om_1", "message_type": "text",
                                              "content": DEEP}}), "message.content"),
])
def test_json_nested_too_deep_in_a_field_is_400(secure: FeishuInbound, payload: dict, what: str) -> None:
    err = rejected(lambda: send(secure, payload))
    assert err.status == 400 and "too deep" in err.reason and err.reason.endswith(what)


def test_json_nested_too_deep_in_the_body_is_400(plain: FeishuInbound) -> None:
    body = json.dumps(card_trigger("@@")).replace('"@@"', DEEP).encode()
    err = rejected(lambda: send(plain, body, sign=False))
    assert err.status == 400 and "too deep" in err.reason


def test_message_content_too_large_is_400(plain: FeishuInbound) -> None:
    err = rejected(lambda: send(plain, message("text", {"text": "字" * 100_000})))
    assert err.status == 400 and "too large" in err.reason


def test_long_connection_payload_nested_too_deep_is_400() -> None:
    payload = card_trigger({"card_id": "c1", "action": "a.b"})
    payload["event"]["action"]["form_value"] = json.loads(DEEP)
    assert rejected(lambda: long_connection_event_to_inbound(payload, NOW)).status == 400
