"""WeCom callback adapter: real round-trips built with the adapter's own encrypt helpers."""
from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.events import EventKind
from bot.platforms.base import MAX_BODY_BYTES, InboundRejected, InboundRequest, InboundResult
from bot.platforms.wecom import WeComInbound
from cards.model import encode_action_token

TOKEN, AES_KEY, CORP = "crmToken2024", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww5e1a7b9c3d"
NOW = 1_732_000_000.0
TS = str(int(NOW))


@pytest.fixture
def wecom() -> WeComInbound:
    return WeComInbound(TOKEN, AES_KEY, CORP)


def inner(msg_type: str, fields: str = "", sender: str = "zhang.wei", created: int = int(NOW)) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
            f"<FromUserName><![CDATA[{sender}]]></FromUserName><CreateTime>{created}</CreateTime>"
            f"<MsgType><![CDATA[{msg_type}]]></MsgType><AgentID>1000002</AgentID>{fields}</xml>")


def post(adapter: WeComInbound, plain: str, ts: str = TS, nonce: str = "n0nce", now: float = NOW,
         signer: WeComInbound | None = None) -> InboundResult:
    body, args = (signer or adapter).encrypt_callback(plain, nonce, ts, agent_id="1000002")
    return adapter.handle(InboundRequest("POST", "/callback/wecom", args, {}, body.encode()), now)


def rejected(call) -> InboundRejected:
    with pytest.raises(InboundRejected) as info:
        call()
    return info.value


# --- handshake -----------------------------------------------------------------------------

@pytest.mark.parametrize("echo", ["1288432023552776189", "5927782489442352469", "回显-0"])
def test_handshake_returns_plaintext_after_one_url_decode(wecom: WeComInbound, echo: str) -> None:
    args = wecom.encrypt_echostr(echo, "nonce1", TS)
    decoded_once = dict(parse_qsl(urlencode(args)))  # what Flask's request.args holds
    result = wecom.handle(InboundRequest("GET", "/callback/wecom", decoded_once, {}, b""), NOW)
    assert (result.response_body, result.status, result.events) == (echo, 200, [])
    assert result.content_type.startswith("text/plain")


def test_handshake_survives_a_plus_decoded_twice(wecom: WeComInbound) -> None:
    for i in range(50):  # find a ciphertext containing '+'
        args = wecom.encrypt_echostr(f"echo{i}", "nonce1", TS)
        if "+" in args["echostr"]:
            break
    mangled = {**args, "echostr": args["echostr"].replace("+", " ")}
    result = wecom.handle(InboundRequest("GET", "/callback/wecom", mangled, {}, b""), NOW)
    assert result.response_body == f"echo{i}"


def test_handshake_with_forged_signature_is_401(wecom: WeComInbound) -> None:
    args = {**wecom.encrypt_echostr("123", "n", TS), "msg_signature": "f" * 40}
    err = rejected(lambda: wecom.handle(InboundRequest("GET", "/", args, {}, b""), NOW))
    assert err.status == 401 and "signature" in err.reason


# --- message mapping -----------------------------------------------------------------------

def test_text_message(wecom: WeComInbound) -> None:
    fields = "<Content><![CDATA[帮我建个线索：华东建材 王总 138****5678]]></Content><MsgId>7311111111111</MsgId>"
    result = post(wecom, inner("text", fields))
    (event,) = result.events
    assert result.response_body == "" and result.status == 200
    assert (event.platform, event.kind, event.event_id) == ("wecom", EventKind.TEXT, "7311111111111")
    assert event.text == "帮我建个线索：华东建材 王总 138****5678"
    assert (event.sender_id, event.conversation_id) == ("zhang.wei", "zhang.wei")
    assert event.platform_time.timestamp() == NOW
    assert event.reply_ref == {"agent_id": "1000002", "user_id": "zhang.wei", "corp_id": CORP}


def test_voice_message_references_amr_media(wecom: WeComInbound) -> None:
    fields = "<MediaId><![CDATA[1J2k3L_media]]></MediaId><Format><![CDATA[amr]]></Format><MsgId>42</MsgId>"
    (event,) = post(wecom, inner("voice", fields)).events
    assert event.kind is EventKind.VOICE
    assert (event.media.key, event.media.format, event.event_id) == ("1J2k3L_media", "amr", "42")


@pytest.mark.parametrize("msg_type, extra", [
    ("image", "<PicUrl><![CDATA[http://p/x.jpg]]></PicUrl>"),
    ("file", "<FileName><![CDATA[报价单.xlsx]]></FileName>"),
    ("video", "<ThumbMediaId><![CDATA[t1]]></ThumbMediaId>"),
])
def test_image_file_video_are_media(wecom: WeComInbound, msg_type: str, extra: str) -> None:
    fields = f"<MediaId><![CDATA[m-{msg_type}]]></MediaId>{extra}<MsgId>9{len(msg_type)}</MsgId>"
    (event,) = post(wecom, inner(msg_type, fields)).events
    assert (event.kind, event.media.key, event.raw_type) == (EventKind.MEDIA, f"m-{msg_type}", msg_type)


def test_card_button_tap(wecom: WeComInbound) -> None:
    key = encode_action_token("lead-42", "lead.confirm", {"lead": "42"})
    fields = (f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
              "<TaskId><![CDATA[lead-42]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
              "<ResponseCode><![CDATA[rc-abc]]></ResponseCode>")
    (event,) = post(wecom, inner("event", fields)).events
    assert event.kind is EventKind.CARD_ACTION
    assert (event.action.key, event.action.values, event.action.card_ref) == \
        ("lead.confirm", {"lead": "42"}, "lead-42")
    assert event.reply_ref["response_code"] == "rc-abc"
    assert event.event_id == f"zhang.wei|{TS}|template_card_event|lead-42|{key}"


def test_vote_card_selected_items_are_kept(wecom: WeComInbound) -> None:
    key = encode_action_token("vote-7", "stage.set", {})
    fields = (f"<Event>template_card_event</Event><EventKey>{key}</EventKey><TaskId>vote-7</TaskId>"
              "<SelectedItems><SelectedItem><QuestionKey>stage</QuestionKey>"
              "<OptionIds><OptionId>won</OptionId><OptionId>paid</OptionId></OptionIds>"
              "</SelectedItem></SelectedItems>")
    (event,) = post(wecom, inner("event", fields)).events
    assert event.action.values == {"selected": {"stage": ["won", "paid"]}}


@pytest.mark.parametrize("fields, kind", [
    ("<Event>change_external_contact</Event><ChangeType>add_external_contact</ChangeType>"
     "<UserID>li.na</UserID><ExternalUserID>wmABC</ExternalUserID>", EventKind.CONTACT),
    ("<Event>change_contact</Event><ChangeType>update_user</ChangeType><UserID>li.na</UserID>",
     EventKind.CONTACT),
    ("<Event>subscribe</Event>", EventKind.SYSTEM),
    ("<Event>enter_agent</Event><EventKey></EventKey>", EventKind.SYSTEM),
    ("<Event>LOCATION</Event><Latitude>31.2</Latitude>", EventKind.UNKNOWN),
    ("<Event>template_card_event</Event><EventKey>not-one-of-ours</EventKey>", EventKind.UNKNOWN),
])
def test_events_map_to_kinds(wecom: WeComInbound, fields: str, kind: EventKind) -> None:
    sender = "sys" if "contact" in fields else "zhang.wei"
    result = post(wecom, inner("event", fields, sender=sender))
    (event,) = result.events
    assert (event.kind, result.status, result.response_body) == (kind, 200, "")
    if kind is EventKind.CONTACT:
        assert event.sender_id == "li.na" and event.reply_ref["contact"]["user_id"] == "li.na"


@pytest.mark.parametrize("msg_type", ["location", "link", "brand_new_type"])
def test_unknown_message_types_are_acknowledged(wecom: WeComInbound, msg_type: str) -> None:
    result = post(wecom, inner(msg_type, "<MsgId>77</MsgId>"))
    assert (result.status, result.events[0].kind, result.events[0].event_id) == (200, EventKind.UNKNOWN, "77")


def test_event_dedupe_key_is_stable_across_redeliveries(wecom: WeComInbound) -> None:
    plain = inner("event", "<Event>enter_agent</Event>")
    first = post(wecom, plain, nonce="a1").events[0]
    retry = post(wecom, plain, nonce="b2", ts=str(int(NOW) + 5)).events[0]  # new nonce, new IV
    later = post(wecom, inner("event", "<Event>enter_agent</Event>", created=int(NOW) + 60)).events[0]
    assert first.event_id == retry.event_id != later.event_id


def test_json_envelope_variant(wecom: WeComInbound) -> None:
    body_xml, args = wecom.encrypt_callback(
        '{"FromUserName":"zhang.wei","MsgType":"text","Content":"hi","MsgId":5,"CreateTime":1}',
        "n", TS)
    encrypt = body_xml.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    body = ('{"encrypt": "%s", "agentid": 1}' % encrypt).encode()
    (event,) = wecom.handle(InboundRequest("POST", "/", args, {}, body), NOW).events
    assert (event.kind, event.text, event.event_id) == (EventKind.TEXT, "hi", "5")


# --- rejections ------------------------------------------------------------------------------

TEXT = inner("text", "<Content>hi</Content><MsgId>1</MsgId>")


def test_forged_signature_is_401(wecom: WeComInbound) -> None:
    body, args = wecom.encrypt_callback(TEXT, "n", TS)
    args["msg_signature"] = "0" * 40
    err = rejected(lambda: wecom.handle(InboundRequest("POST", "/", args, {}, body.encode()), NOW))
    assert err.status == 401


def test_wrong_token_is_401_and_other_corp_is_403(wecom: WeComInbound) -> None:
    other_token = WeComInbound("anotherToken", AES_KEY, CORP)
    assert rejected(lambda: post(wecom, TEXT, signer=other_token)).status == 401
    other_corp = WeComInbound(TOKEN, AES_KEY, "ww_other")
    assert rejected(lambda: post(wecom, TEXT, signer=other_corp)).status == 403


@pytest.mark.parametrize("offset, ok", [(0, True), (-3599, True), (3599, True), (-3601, False),
                                        (3601, False), (-86400 * 30, False)])
def test_replay_window(wecom: WeComInbound, offset: int, ok: bool) -> None:
    call = lambda: post(wecom, TEXT, ts=str(int(NOW) + offset))  # noqa: E731
    if ok:
        assert call().events[0].kind is EventKind.TEXT
    else:
        err = rejected(call)
        assert err.status == 401 and "stale" in err.reason


def test_window_zero_accepts_old_traffic() -> None:
    adapter = WeComInbound(TOKEN, AES_KEY, CORP, replay_window_seconds=0)
    assert post(adapter, TEXT, ts="1411525903").events[0].text == "hi"


@pytest.mark.parametrize("body", [b"", b"<xml><Encrypt>abc", b"not xml at all", b"<xml></xml>",
                                  b"<xml><Encrypt><Nested>x</Nested></Encrypt></xml>"])
def test_malformed_envelope_is_400(wecom: WeComInbound, body: bytes) -> None:
    args = {"msg_signature": "0" * 40, "timestamp": TS, "nonce": "n"}
    assert rejected(lambda: wecom.handle(InboundRequest("POST", "/", args, {}, body), NOW)).status == 400


def test_malformed_inner_xml_is_400(wecom: WeComInbound) -> None:
    assert rejected(lambda: post(wecom, "<xml><MsgType>text</Msg")).status == 400


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">'
                            for i in range(1, 10))
                  + ']><xml><Encrypt>&lol9;</Encrypt></xml>')
EXTERNAL_ENTITY = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   "<xml><Encrypt>&xxe;</Encrypt></xml>")

EXTERNAL_DTD = ('<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">'
                "<xml><Encrypt>abc</Encrypt></xml>")


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_entity_payloads_are_refused_without_expanding(wecom: WeComInbound, payload: str) -> None:
    args = {"msg_signature": "0" * 40, "timestamp": TS, "nonce": "n"}
    started = time.perf_counter()
    err = rejected(lambda: wecom.handle(InboundRequest("POST", "/", args, {}, payload.encode()), NOW))
    assert err.status == 400 and "DTD" in err.reason
    assert time.perf_counter() - started < 0.5  # refused at the DTD, nothing expanded
    # The same payload inside a correctly signed and encrypted envelope is refused too.
    assert rejected(lambda: post(wecom, payload.replace("Encrypt", "Content"))).status == 400


def test_oversized_body_is_413_before_anything_else(wecom: WeComInbound) -> None:
    body = b"<xml>" + b"a" * MAX_BODY_BYTES + b"</xml>"
    err = rejected(lambda: wecom.handle(InboundRequest("POST", "/", {}, {}, body), NOW))
    assert err.status == 413 and "too large" in err.reason


@pytest.mark.parametrize("drop", ["msg_signature", "timestamp", "nonce"])
def test_missing_query_parameter_is_400(wecom: WeComInbound, drop: str) -> None:
    body, args = wecom.encrypt_callback(TEXT, "n", TS)
    del args[drop]
    assert rejected(lambda: wecom.handle(InboundRequest("POST", "/", args, {}, body.encode()), NOW)).status == 400


def test_signed_garbage_ciphertext_is_400(wecom: WeComInbound) -> None:
    from bot.platforms.wecom.crypto import msg_signature

    garbage = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="  # 32 bytes, not our layout
    args = {"msg_signature": msg_signature(TOKEN, TS, "n", garbage), "timestamp": TS, "nonce": "n"}
    body = f"<xml><Encrypt>{garbage}</Encrypt></xml>".encode()
    err = rejected(lambda: wecom.handle(InboundRequest("POST", "/", args, {}, body), NOW))
    assert err.status == 400 and TOKEN not in err.reason and AES_KEY not in err.reason


@pytest.mark.parametrize("token, key", [(TOKEN, "short-key"), (TOKEN, "!" * 43), ("", AES_KEY)])
def test_bad_config_fails_at_construction_without_echoing_it(token: str, key: str) -> None:
    with pytest.raises(ValueError) as info:
        WeComInbound(token, key, CORP)
    assert key not in str(info.value)


# --- depth and size limits -------------------------------------------------------------------

def test_event_key_over_wecoms_limit_is_400(wecom: WeComInbound) -> None:
    key = encode_action_token("lead-42", "lead.confirm", {"x": "y" * 1000})
    fields = f"<Event>template_card_event</Event><EventKey>{key}</EventKey><TaskId>lead-42</TaskId>"
    err = rejected(lambda: post(wecom, inner("event", fields)))
    assert err.status == 400 and "EventKey" in err.reason


def test_xml_nested_too_deep_is_400(wecom: WeComInbound) -> None:
    fields = "<Content>" + "<a>" * 200 + "x" + "</a>" * 200 + "</Content>"
    err = rejected(lambda: post(wecom, inner("text", fields)))
    assert err.status == 400 and "too deep" in err.reason


def test_json_envelope_nested_too_deep_is_400(wecom: WeComInbound) -> None:
    body_xml, args = wecom.encrypt_callback('{"MsgType":"text","Content":' + "[" * 900 + "]" * 900 + "}", "n", TS)
    encrypt = body_xml.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    body = ('{"encrypt": "%s", "agentid": 1}' % encrypt).encode()
    err = rejected(lambda: wecom.handle(InboundRequest("POST", "/", args, {}, body), NOW))
    assert err.status == 400 and "too deep" in err.reason
