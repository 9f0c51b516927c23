"""DingTalk adapter: signed robot callbacks, card callbacks, Stream frames and the
encrypted event subscription, each built with the same sign/encrypt helpers the sandbox uses."""
from __future__ import annotations

import json
from typing import Any

import pytest

from bot.events import EventKind, InboundEvent
from bot.platforms.base import MAX_BODY_BYTES, InboundRejected, InboundRequest, InboundResult
from bot.platforms.dingtalk import DingTalkInbound, robot_headers, stream_frame_to_event
from bot.platforms.dingtalk.inbound import DEFAULT_SESSION_WEBHOOK_HOSTS, session_webhook_allowed
from bot.platforms.wecom.crypto import MsgCrypt
from cards.model import encode_action_token

SECRET = "SEC-app-secret-0f9e8d7c"
NOW = 1_732_000_000.0
NOW_MS = int(NOW * 1000)
APP_KEY, EVENT_TOKEN, EVENT_AES = "dingappkey123", "evtToken", "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus"


@pytest.fixture
def dingtalk() -> DingTalkInbound:
    return DingTalkInbound(SECRET, app_key=APP_KEY, event_token=EVENT_TOKEN, event_aes_key=EVENT_AES)


def robot_msg(msgtype: str, **fields: Any) -> dict[str, Any]:
    base = {"msgtype": msgtype, "msgId": f"msg-{msgtype}", "createAt": NOW_MS - 1000,
            "conversationType": "1", "conversationId": "cid-p2p-1", "senderId": "$:LWCP_v1:$abc",
            "senderStaffId": "zhangwei01", "senderNick": "张伟", "chatbotUserId": "bot",
            "robotCode": "dingrobot", "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=s1",
            "sessionWebhookExpiredTime": NOW_MS + 5_400_000}
    return {**base, **fields}


def post(adapter: DingTalkInbound, payload: dict[str, Any] | bytes, ts_ms: int = NOW_MS,
         secret: str = SECRET) -> InboundResult:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    headers = robot_headers(secret, ts_ms)
    return adapter.handle(InboundRequest("POST", "/callback/dingtalk", {}, headers, body), NOW)


def rejected(call) -> InboundRejected:
    with pytest.raises(InboundRejected) as info:
        call()
    return info.value


def comparable(event: InboundEvent) -> dict[str, Any]:
    d = event.to_dict()
    d.pop("received_at")
    return d


# --- robot messages --------------------------------------------------------------------------

def test_text_strips_the_space_left_by_the_mention(dingtalk: DingTalkInbound) -> None:
    result = post(dingtalk, robot_msg("text", text={"content": " 帮我建个线索 华东建材"}))
    (event,) = result.events
    assert (result.status, result.response_body) == (200, "{}")
    assert (event.kind, event.text, event.event_id) == (EventKind.TEXT, "帮我建个线索 华东建材", "msg-text")
    assert (event.sender_id, event.conversation_id, event.conversation_type) == \
        ("zhangwei01", "cid-p2p-1", "p2p")
    assert event.platform_time.timestamp() == NOW - 1
    assert event.reply_ref["sessionWebhook"].startswith("https://")
    assert set(event.reply_ref) == {"sessionWebhook", "sessionWebhookExpiredTime", "conversationId",
                                    "senderStaffId", "robotCode"}


def test_group_message_and_sender_fallback(dingtalk: DingTalkInbound) -> None:
    msg = robot_msg("text", text={"content": "hi"}, conversationType="2", conversationId="cid-g")
    del msg["senderStaffId"]  # users outside the org have no staff id
    (event,) = post(dingtalk, msg).events
    assert (event.conversation_type, event.sender_id) == ("group", "$:LWCP_v1:$abc")


@pytest.mark.parametrize("content, recognition", [
    ({"duration": 4000, "downloadCode": "dc-audio", "recognition": "明天上午拜访王总"}, "明天上午拜访王总"),
    ({"duration": 4000, "downloadCode": "dc-audio", "recognition": ""}, None),
    (json.dumps({"duration": 4000, "downloadCode": "dc-audio"}), None),  # content as a JSON string
])
def test_audio_uses_platform_recognition_when_present(dingtalk: DingTalkInbound, content: Any,
                                                      recognition: str | None) -> None:
    (event,) = post(dingtalk, robot_msg("audio", content=content)).events
    assert event.kind is EventKind.VOICE
    assert (event.media.key, event.media.duration_ms, event.media.recognition) == \
        ("dc-audio", 4000, recognition)


@pytest.mark.parametrize("msgtype, content, kind, key, text", [
    ("picture", {"downloadCode": "dc-pic", "pictureDownloadCode": "pdc"}, EventKind.MEDIA, "dc-pic", None),
    ("file", {"downloadCode": "dc-file", "fileName": "合同.pdf", "fileId": "f1"}, EventKind.MEDIA,
     "dc-file", "合同.pdf"),
    ("richText", {"richText": [{"text": "现场照片"}, {"type": "picture", "downloadCode": "dc-rt"}]},
     EventKind.MEDIA, "dc-rt", "现场照片"),
    ("richText", {"richText": [{"text": "只有"}, {"text": "文字"}]}, EventKind.TEXT, None, "只有文字"),
])
def test_media_messages(dingtalk: DingTalkInbound, msgtype: str, content: dict, kind: EventKind,
                        key: str | None, text: str | None) -> None:
    (event,) = post(dingtalk, robot_msg(msgtype, content=content)).events
    assert (event.kind, event.media.key if event.media else None, event.text) == (kind, key, text)


@pytest.mark.parametrize("msgtype", ["markdown", "interactiveCard", "totally_new"])
def test_unknown_types_are_acknowledged(dingtalk: DingTalkInbound, msgtype: str) -> None:
    result = post(dingtalk, robot_msg(msgtype))
    assert (result.status, result.events[0].kind) == (200, EventKind.UNKNOWN)


# --- card callbacks ----------------------------------------------------------------------------

def card_callback(action: str, values: dict[str, str], user: str = "zhangwei01",
                  params: dict | None = None) -> dict[str, Any]:
    token = encode_action_token("lead-42", action, values)
    content = {"cardPrivateData": {"actionIds": [token], "params": params or {}}}
    return {"type": "actionCallback", "outTrackId": "lead-42", "corpId": "dingcorp", "userId": user,
            "userIdType": 1, "spaceType": "IM_ROBOT", "spaceId": "sp-1",
            "extension": "{}", "content": json.dumps(content)}


def test_card_callback_is_a_card_action(dingtalk: DingTalkInbound) -> None:
    (event,) = post(dingtalk, card_callback("lead.assign", {"to": "li.na"})).events
    assert event.kind is EventKind.CARD_ACTION
    assert (event.action.key, event.action.values, event.action.card_ref) == \
        ("lead.assign", {"to": "li.na"}, "lead-42")
    assert (event.sender_id, event.reply_ref["outTrackId"]) == ("zhangwei01", "lead-42")


def test_card_tap_ids_dedupe_retries_but_not_other_buttons(dingtalk: DingTalkInbound) -> None:
    tap = post(dingtalk, card_callback("lead.confirm", {})).events[0].event_id
    retry = post(dingtalk, card_callback("lead.confirm", {}), ts_ms=NOW_MS + 3000).events[0].event_id
    other = post(dingtalk, card_callback("lead.reject", {})).events[0].event_id
    choice = post(dingtalk, card_callback("lead.confirm", {}, params={"stage": "won"})).events[0].event_id
    colleague = post(dingtalk, card_callback("lead.confirm", {}, user="li.na")).events[0].event_id
    assert tap == retry
    assert len({tap, other, choice, colleague}) == 4


def test_foreign_card_callback_is_unknown(dingtalk: DingTalkInbound) -> None:
    payload = {**card_callback("x", {}), "content": json.dumps({"cardPrivateData": {"actionIds": ["btn_ok"]}})}
    assert post(dingtalk, payload).events[0].kind is EventKind.UNKNOWN


# --- Stream mode gives identical events ----------------------------------------------------------

@pytest.mark.parametrize("payload", [
    robot_msg("text", text={"content": " 你好"}),
    robot_msg("audio", content={"downloadCode": "dc", "duration": 1200, "recognition": "好的"}),
    card_callback("lead.confirm", {"lead": "42"}),
])
def test_stream_frames_map_like_http(dingtalk: DingTalkInbound, payload: dict[str, Any]) -> None:
    http_event = post(dingtalk, payload).events[0]
    topic = "/v1.0/card/instances/callback" if "outTrackId" in payload else "/v1.0/im/bot/messages/get"
    frame = {"specVersion": "1.0", "type": "CALLBACK",
             "headers": {"topic": topic, "messageId": "stream-m1", "contentType": "application/json"},
             "data": json.dumps(payload, ensure_ascii=False)}
    assert comparable(stream_frame_to_event(frame, NOW)) == comparable(http_event)
    assert comparable(stream_frame_to_event({**frame, "data": payload}, NOW)) == comparable(http_event)


def test_stream_system_frames_carry_no_event() -> None:
    assert stream_frame_to_event({"type": "SYSTEM", "headers": {"topic": "ping"}, "data": "{}"}) is None


def test_stream_event_frame_and_malformed_data() -> None:
    frame = {"type": "EVENT", "headers": {"eventType": "user_add_org", "eventId": "ev-1"},
             "data": json.dumps({"UserId": ["li.na"]})}
    event = stream_frame_to_event(frame, NOW)
    assert (event.kind, event.event_id, event.sender_id) == (EventKind.CONTACT, "ev-1", "li.na")
    assert rejected(lambda: stream_frame_to_event({**frame, "data": "{oops"}, NOW)).status == 400


# --- rejections --------------------------------------------------------------------------------

TEXT = robot_msg("text", text={"content": "hi"})


def test_forged_sign_and_wrong_secret_are_401(dingtalk: DingTalkInbound) -> None:
    assert rejected(lambda: post(dingtalk, TEXT, secret="SEC-guess")).status == 401
    body = json.dumps(TEXT).encode()
    forged = {"timestamp": str(NOW_MS), "sign": "AAAA" + robot_headers(SECRET, NOW_MS)["sign"][4:]}
    err = rejected(lambda: dingtalk.handle(InboundRequest("POST", "/", {}, forged, body), NOW))
    assert err.status == 401 and SECRET not in err.reason


@pytest.mark.parametrize("headers", [{}, {"timestamp": str(NOW_MS)}, {"sign": "x"}])
def test_missing_sign_headers_are_401(dingtalk: DingTalkInbound, headers: dict) -> None:
    err = rejected(lambda: dingtalk.handle(InboundRequest("POST", "/", {}, headers, b"{}"), NOW))
    assert err.status == 401


@pytest.mark.parametrize("offset_s, ok", [(-299, True), (299, True), (-301, False), (301, False),
                                         (-3599, False)])
def test_robot_callback_window_is_five_minutes(dingtalk: DingTalkInbound, offset_s: int, ok: bool) -> None:
    call = lambda: post(dingtalk, TEXT, ts_ms=NOW_MS + offset_s * 1000)  # noqa: E731
    if ok:
        assert call().events[0].kind is EventKind.TEXT
    else:
        assert rejected(call).status == 401


@pytest.mark.parametrize("offset_s, ok", [(-3599, True), (3599, True), (-3601, False)])
def test_robot_callback_window_is_configurable(offset_s: int, ok: bool) -> None:
    adapter = DingTalkInbound(SECRET, robot_callback_window_seconds=3600)
    call = lambda: post(adapter, TEXT, ts_ms=NOW_MS + offset_s * 1000)  # noqa: E731
    assert (call().status == 200) if ok else (rejected(call).status == 401)


def test_empty_secret_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        DingTalkInbound("")


def test_window_zero_accepts_old_traffic() -> None:
    adapter = DingTalkInbound(SECRET, robot_callback_window_seconds=0)
    assert post(adapter, TEXT, ts_ms=1577262236757).events[0].text == "hi"


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_malformed_json_is_400(dingtalk: DingTalkInbound, body: bytes) -> None:
    assert rejected(lambda: post(dingtalk, body)).status == 400


def test_oversized_body_is_413(dingtalk: DingTalkInbound) -> None:
    body = json.dumps({"msgtype": "text", "text": {"content": "x" * MAX_BODY_BYTES}}).encode()
    assert rejected(lambda: post(dingtalk, body)).status == 413


# --- encrypted event subscription (WeCom-identical crypto, receive-id = appKey) -----------------

def push(adapter: DingTalkInbound, plain: dict[str, Any], ts_ms: int = NOW_MS) -> InboundResult:
    body, args = adapter.encrypt_event(json.dumps(plain), "nonceA", str(ts_ms))
    return adapter.handle(InboundRequest("POST", "/callback/dingtalk", args, {}, body.encode()), NOW)


def test_check_url_is_answered_with_encrypted_success(dingtalk: DingTalkInbound) -> None:
    result = push(dingtalk, {"EventType": "check_url"})
    reply = json.loads(result.response_body)
    crypt = MsgCrypt(EVENT_TOKEN, EVENT_AES, APP_KEY)
    crypt.verify(reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"])
    assert (result.events, crypt.decrypt(reply["encrypt"])) == ([], "success")


def test_contact_event_and_redelivery_id(dingtalk: DingTalkInbound) -> None:
    plain = {"EventType": "user_add_org", "UserId": ["li.na"], "CorpId": "dingcorp", "TimeStamp": NOW_MS}
    first, again = push(dingtalk, plain).events[0], push(dingtalk, plain, NOW_MS + 10).events[0]
    assert (first.kind, first.sender_id, first.reply_ref["contact"]["change_type"]) == \
        (EventKind.CONTACT, "li.na", "user_add_org")
    assert first.event_id == again.event_id


def test_event_subscription_rejections(dingtalk: DingTalkInbound) -> None:
    body, args = dingtalk.encrypt_event('{"EventType":"check_url"}', "n", str(NOW_MS))
    forged = {**args, "msg_signature": "0" * 40}
    assert rejected(lambda: dingtalk.handle(InboundRequest("POST", "/", forged, {}, body.encode()), NOW)).status == 401
    assert rejected(lambda: push(dingtalk, {"EventType": "x"}, NOW_MS - 7_200_000)).status == 401
    stranger = DingTalkInbound(SECRET, app_key="other-app", event_token=EVENT_TOKEN, event_aes_key=EVENT_AES)
    assert rejected(lambda: push_from(stranger, dingtalk)).status == 403


def push_from(sender: DingTalkInbound, receiver: DingTalkInbound) -> InboundResult:
    body, args = sender.encrypt_event('{"EventType":"user_add_org"}', "n", str(NOW_MS))
    return receiver.handle(InboundRequest("POST", "/", args, {}, body.encode()), NOW)


# --- JSON depth and size limits (an attack: 2.5 KB nested 900 deep made the worker recurse) -----

DEEP = "[" * 900 + "]" * 900


def raw_body(payload: dict[str, Any], field: str, raw_json: str) -> bytes:
    """`payload` with `field` set to `raw_json` inline (not as a string)."""
    return json.dumps({**payload, field: "@@"}).replace('"@@"', raw_json).encode()


@pytest.mark.parametrize("body, what", [
    (raw_body(TEXT, "robotCode", DEEP), ""),                                       # inline, in the body
    (json.dumps(robot_msg("audio", content=DEEP)).encode(), "content"),            # a JSON string field
    (json.dumps(robot_msg("audio", content='{"downloadCode":' + DEEP + "}")).encode(), "content"),
    (json.dumps({**card_callback("lead.confirm", {}),
                 "content": json.dumps({"cardPrivateData": DEEP})}).encode(), "cardPrivateData"),
    (json.dumps({**card_callback("lead.confirm", {}), "content": "{}", "value": DEEP}).encode(), "value"),
])
def test_json_nested_too_deep_is_400_with_a_reason(dingtalk: DingTalkInbound, body: bytes, what: str) -> None:
    assert len(body) < 3000
    err = rejected(lambda: post(dingtalk, body))
    assert err.status == 400 and "too deep" in err.reason and err.reason.endswith(what)


def test_json_field_too_large_is_400(dingtalk: DingTalkInbound) -> None:
    content = json.dumps({"downloadCode": "x" * 300_000})
    err = rejected(lambda: post(dingtalk, robot_msg("audio", content=content)))
    assert err.status == 400 and "too large" in err.reason and "content" in err.reason


def test_nesting_within_the_limits_is_accepted(dingtalk: DingTalkInbound) -> None:
    content = json.dumps({"downloadCode": "dc", "extra": [[[[[[[[["ok"]]]]]]]]]})
    (event,) = post(dingtalk, robot_msg("audio", content=content)).events
    assert event.media is not None and event.media.key == "dc"


def test_reply_ref_keeps_plain_values_only(dingtalk: DingTalkInbound) -> None:
    (event,) = post(dingtalk, {**TEXT, "robotCode": {"a": [1]}, "conversationId": ["x"]}).events
    assert (event.reply_ref["robotCode"], event.reply_ref["conversationId"]) == (None, None)


def test_stream_frame_nested_too_deep_is_400() -> None:
    frame = {"type": "CALLBACK", "headers": {"messageId": "m"},
             "data": json.dumps(robot_msg("audio", content=DEEP))}
    assert rejected(lambda: stream_frame_to_event(frame, NOW)).status == 400


# --- the sign covers the timestamp only: single use, short window, our hosts only --------------

def test_robot_callback_carries_a_replay_key_for_its_timestamp(dingtalk: DingTalkInbound) -> None:
    first = post(dingtalk, TEXT, ts_ms=NOW_MS - 60_000)
    forged = post(dingtalk, robot_msg("text", text={"content": "查客户 医疗"}, senderStaffId="li.na"),
                  ts_ms=NOW_MS - 60_000)
    other = post(dingtalk, TEXT, ts_ms=NOW_MS - 59_999)
    assert first.replay_key == forged.replay_key == f"robot-sign:{NOW_MS - 60_000}" != other.replay_key
    assert first.replay_ttl == pytest.approx(300 - 60 + 1)         # until the timestamp leaves the window
    assert post(dingtalk, TEXT, ts_ms=NOW_MS + 200_000).replay_ttl == pytest.approx(300 + 200 + 1)


def test_event_subscription_needs_no_replay_key(dingtalk: DingTalkInbound) -> None:
    body, args = dingtalk.encrypt_event('{"EventType":"user_add_org","UserId":["a"]}', "n", str(NOW_MS))
    result = dingtalk.handle(InboundRequest("POST", "/", args, {}, body.encode()), NOW)
    assert result.replay_key is None          # its signature covers the body and the nonce


@pytest.mark.parametrize("url", [
    "https://evil.example.com/robot/sendBySession?session=s1",
    "http://oapi.dingtalk.com/robot/sendBySession?session=s1",                   # not https
    "https://oapi.dingtalk.com.evil.example.com/robot/sendBySession",
    "https://oapi.dingtalk.com@evil.example.com/robot/sendBySession",
    "https://evil.example.com\\@oapi.dingtalk.com/robot/sendBySession",
    "https://evil.example.com#@oapi.dingtalk.com/",
    "http://127.0.0.1:6379/",                                                    # loopback, not listed
    "https://oapi.dingtalk.com:99999/",
    "ftp://oapi.dingtalk.com/", " https://oapi.dingtalk.com/", "", 42,
])
def test_foreign_session_webhook_is_dropped_with_one_warning(dingtalk: DingTalkInbound, url: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="crm_bot.dingtalk"):
        result = post(dingtalk, {**TEXT, "sessionWebhook": url})
    (event,) = result.events
    assert (result.status, event.kind, event.text, event.sender_id) == (200, EventKind.TEXT, "hi", "zhangwei01")
    assert "sessionWebhook" not in event.reply_ref and "sessionWebhookExpiredTime" not in event.reply_ref
    assert event.reply_ref["conversationId"] == "cid-p2p-1"     # the robot API answers instead
    assert len([r for r in caplog.records if "sessionWebhook" in r.getMessage()]) == (1 if url else 0)


@pytest.mark.parametrize("url, hosts", [
    ("https://oapi.dingtalk.com/robot/sendBySession?session=s1", DEFAULT_SESSION_WEBHOOK_HOSTS),
    ("https://api.dingtalk.com:443/v1.0/x", DEFAULT_SESSION_WEBHOOK_HOSTS),
    ("https://OAPI.DingTalk.com./robot/sendBySession?session=s1", DEFAULT_SESSION_WEBHOOK_HOSTS),
    ("http://127.0.0.1:8090/dingtalk/session/s1", ("oapi.dingtalk.com", "127.0.0.1:8090")),
])
def test_session_webhook_on_allowed_hosts_is_kept(url: str, hosts: tuple[str, ...]) -> None:
    assert session_webhook_allowed(url, hosts)
    (event,) = post(DingTalkInbound(SECRET, session_webhook_hosts=hosts), {**TEXT, "sessionWebhook": url}).events
    assert event.reply_ref["sessionWebhook"] == url


@pytest.mark.parametrize("url, hosts", [
    ("http://127.0.0.1:8091/dingtalk/session/s1", ("127.0.0.1:8090",)),          # another port
    ("http://127.0.0.1/dingtalk/session/s1", ("127.0.0.1",)),                     # http needs host:port
    ("http://10.0.0.5:8090/x", ("10.0.0.5:8090",)),                              # http off loopback
    ("https://oapi.dingtalk.com:8443/x", ("oapi.dingtalk.com:443",)),
])
def test_session_webhook_host_rules(url: str, hosts: tuple[str, ...]) -> None:
    assert not session_webhook_allowed(url, hosts)


def test_config_keys_reach_the_adapter() -> None:
    from pydantic import ValidationError

    from bot.platforms.dingtalk.platform import DingTalkPlatform
    from crm_core.config.schema import AppConfig, DingTalkConfig, Platforms

    default = DingTalkConfig()
    assert (default.robot_callback_window_seconds, default.session_webhook_hosts) == \
        (300, ["oapi.dingtalk.com", "api.dingtalk.com"])
    for bad in ({"robot_callback_window_seconds": 0}, {"robot_callback_window_seconds": 3601},
                {"session_webhook_hosts": ["https://oapi.dingtalk.com"]}, {"session_webhook_hosts": ["a/b"]}):
        with pytest.raises(ValidationError):
            DingTalkConfig(**bad)
    d = DingTalkConfig(enabled=True, app_key="k", app_secret=SECRET, robot_code="r", replay_window_seconds=900,
                       robot_callback_window_seconds=120, session_webhook_hosts=["OAPI.dingtalk.com", "127.0.0.1:8090"])
    cfg = AppConfig.model_construct(platforms=Platforms.model_construct(dingtalk=d))
    (endpoint,) = DingTalkPlatform().http_endpoints(cfg)
    adapter = endpoint.adapter
    assert isinstance(adapter, DingTalkInbound)
    assert (adapter.robot_callback_window_seconds, adapter.replay_window_seconds) == (120, 900)
    assert adapter.session_webhook_hosts == {"oapi.dingtalk.com", "127.0.0.1:8090"}


# --- HTTP card callbacks on their own route (cards created with callbackType HTTP) --------------

CARD_SECRET = "card-callback-secret-0123456789"


def template_tap(action: str, values: dict[str, str], out_track_id: str = "lead-42@crm-7") -> dict[str, Any]:
    """A tap on a template instance: the slot's token comes back as the callback parameter."""
    content = {"cardPrivateData": {"actionIds": ["btn1"],
                                   "params": {"token": encode_action_token("lead-42", action, values)}}}
    return {"type": "actionCallback", "outTrackId": out_track_id, "corpId": "dingcorp", "userId": "manager7003",
            "userIdType": 1, "spaceType": "IM_ROBOT", "spaceId": "manager7003", "extension": "{}",
            "content": json.dumps(content)}


def card_post(payload: dict[str, Any] | bytes, token: str | None = None, method: str = "POST") -> InboundResult:
    from bot.platforms.dingtalk.inbound import DingTalkCardInbound
    from bot.platforms.dingtalk.signing import card_callback_token

    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    args = {"token": card_callback_token(CARD_SECRET) if token is None else token}
    return DingTalkCardInbound(CARD_SECRET).handle(
        InboundRequest(method, "/callback/dingtalk/card", args, {"Content-Type": "application/json"}, body), NOW)


def test_card_route_maps_a_template_tap_without_robot_sign_headers() -> None:
    result = card_post(template_tap("lead.reassign", {"to": "li.na"}))
    (event,) = result.events
    assert (result.status, result.response_body, result.replay_key) == (200, "{}", None)
    assert (event.kind, event.action.key, event.action.values, event.action.card_ref) == \
        (EventKind.CARD_ACTION, "lead.reassign", {"to": "li.na"}, "lead-42")
    assert event.sender_id == "manager7003" and event.reply_ref["outTrackId"] == "lead-42@crm-7"


@pytest.mark.parametrize("token, status", [("", 401), ("0" * 40, 401), ("wrong", 401)])
def test_card_route_needs_the_registered_token(token: str, status: int) -> None:
    assert rejected(lambda: card_post(template_tap("lead.confirm", {}), token=token)).status == status


def test_card_route_refuses_other_bodies_and_methods() -> None:
    assert rejected(lambda: card_post(robot_msg("text", text={"content": "hi"}))).status == 400
    assert rejected(lambda: card_post(b"{not json")).status == 400
    assert rejected(lambda: card_post(template_tap("lead.confirm", {}), method="GET")).status == 405


def test_card_route_needs_a_secret() -> None:
    from bot.platforms.dingtalk.inbound import DingTalkCardInbound
    with pytest.raises(ValueError):
        DingTalkCardInbound("")


def test_a_button_of_another_card_is_not_obeyed() -> None:
    (event,) = card_post(template_tap("lead.confirm", {}, out_track_id="other-card@crm-1")).events
    assert event.kind is EventKind.UNKNOWN


def test_template_taps_map_alike_over_stream_and_http() -> None:
    payload = template_tap("lead.followed", {"lead": "12"})
    frame = {"specVersion": "1.0", "type": "CALLBACK", "data": json.dumps(payload),
             "headers": {"topic": "/v1.0/card/instances/callback", "messageId": "m-1"}}
    assert comparable(stream_frame_to_event(frame, NOW)) == comparable(card_post(payload).events[0])


def test_http_mode_declares_the_card_route_with_the_secret() -> None:
    from bot.platforms.dingtalk.inbound import DingTalkCardInbound
    from bot.platforms.dingtalk.platform import DingTalkPlatform
    from crm_core.config.schema import AppConfig, DingTalkConfig, Platforms

    d = DingTalkConfig(enabled=True, app_key="k", app_secret=SECRET, robot_code="r",
                       card_template_id="t.schema", card_callback_secret=CARD_SECRET)
    cfg = AppConfig.model_construct(platforms=Platforms.model_construct(dingtalk=d))
    paths = {e.path: e.adapter for e in DingTalkPlatform().http_endpoints(cfg)}
    assert set(paths) == {"dingtalk", "dingtalk/card"} and isinstance(paths["dingtalk/card"], DingTalkCardInbound)
    stream = d.model_copy(update={"mode": "stream"})
    assert DingTalkPlatform().http_endpoints(
        AppConfig.model_construct(platforms=Platforms.model_construct(dingtalk=stream))) == []
