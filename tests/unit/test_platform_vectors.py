"""Known-answer tests: the published vectors of docs/platform-protocols.md §4.

Each vector is checked in both directions where the algorithm allows it (verify/decrypt
and deterministic re-encryption), and WeCom crypto is cross-checked against wechatpy.
"""
from __future__ import annotations

import base64
import json

import pytest

from bot.events import EventKind
from bot.platforms.base import InboundRejected, InboundRequest
from bot.platforms.dingtalk import DingTalkInbound
from bot.platforms.dingtalk.signing import custom_robot_sign, robot_sign
from bot.platforms.feishu import FeishuInbound
from bot.platforms.feishu import crypto as feishu_crypto
from bot.platforms.wecom import MsgCrypt, WeComInbound

# --- V2: WeCom, wechatpy's test suite ---------------------------------------------------
V2_TOKEN, V2_KEY, V2_CORP = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
V2A = dict(signature="dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", timestamp="1411443780",
           nonce="437374425",
           echostr="4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
           plain="5927782489442352469")
V2B = dict(signature="74d92dfeb87ba7c714f89d98870ae5eb62dff26d", timestamp="1411525903",
           nonce="461056294",
           encrypt="RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=")
V2C_PLAIN = ("<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
             "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
             "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
             "<CreateTime>1411525903</CreateTime>\n</xml>")
V2C_ENCRYPT = ("9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8Gqx"
               "lhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUC"
               "Uld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf"
               "1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3")
V2C_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"


@pytest.fixture
def v2() -> MsgCrypt:
    return MsgCrypt(V2_TOKEN, V2_KEY, V2_CORP)


def test_v2a_echostr_signature_and_plaintext(v2: MsgCrypt) -> None:
    v2.verify(V2A["signature"], V2A["timestamp"], V2A["nonce"], V2A["echostr"])
    assert v2.decrypt(V2A["echostr"]) == V2A["plain"]


def test_v2a_handshake_through_the_adapter() -> None:
    adapter = WeComInbound(V2_TOKEN, V2_KEY, V2_CORP, replay_window_seconds=0)
    args = {"msg_signature": V2A["signature"], "timestamp": V2A["timestamp"],
            "nonce": V2A["nonce"], "echostr": V2A["echostr"]}
    result = adapter.handle(InboundRequest("GET", "/callback/wecom", args, {}, b""), now=2e9)
    assert (result.response_body, result.events) == (V2A["plain"], [])


def test_v2b_message_decrypts_to_a_text_event() -> None:
    adapter = WeComInbound(V2_TOKEN, V2_KEY, V2_CORP, replay_window_seconds=0)
    body = (f"<xml><ToUserName><![CDATA[{V2_CORP}]]></ToUserName><AgentID>1</AgentID>"
            f"<Encrypt><![CDATA[{V2B['encrypt']}]]></Encrypt></xml>").encode()
    args = {"msg_signature": V2B["signature"], "timestamp": V2B["timestamp"], "nonce": V2B["nonce"]}
    result = adapter.handle(InboundRequest("POST", "/callback/wecom", args, {}, body), now=2e9)
    (event,) = result.events
    # The doc's prose swaps From/To; the ciphertext itself says From=messense.
    assert (event.kind, event.text, event.sender_id) == (EventKind.TEXT, "test", "messense")
    assert event.event_id == "4363689963896700987"
    assert event.platform_time is not None and event.platform_time.timestamp() == 1411525903
    assert result.response_body == ""


def test_v2c_deterministic_reencryption(v2: MsgCrypt) -> None:
    encrypt, signature = v2.encrypt_and_sign(V2C_PLAIN, "461056294", "1411525903",
                                             random16="1234567890123456")
    assert (encrypt, signature) == (V2C_ENCRYPT, V2C_SIGNATURE)
    assert v2.decrypt(encrypt) == V2C_PLAIN


def test_v2_signature_mismatch_is_rejected(v2: MsgCrypt) -> None:
    forged = "0" * 40
    with pytest.raises(InboundRejected) as info:
        v2.verify(forged, V2A["timestamp"], V2A["nonce"], V2A["echostr"])
    assert info.value.status == 401


@pytest.mark.parametrize("text", ["", "x", "a" * 31, "b" * 32, "c" * 33, "客户 张伟 138****5678" * 9])
def test_wecom_crypto_interoperates_with_wechatpy(v2: MsgCrypt, text: str) -> None:
    from wechatpy.work.crypto import PrpCrypto, WeChatCrypto

    ours = v2.encrypt(text)
    assert PrpCrypto(WeChatCrypto(V2_TOKEN, V2_KEY, V2_CORP).key).decrypt(ours, V2_CORP) == text
    theirs = PrpCrypto(WeChatCrypto(V2_TOKEN, V2_KEY, V2_CORP).key).encrypt(text, V2_CORP)
    assert v2.decrypt(theirs.decode()) == text


def test_receive_id_mismatch_is_rejected(v2: MsgCrypt) -> None:
    other = MsgCrypt(V2_TOKEN, V2_KEY, "ww_other_corp")
    with pytest.raises(InboundRejected) as info:
        other.decrypt(V2A["echostr"])
    assert info.value.status == 403


# --- V3c/V3d: WeChat doc worked example (receive-id = appid, JSON payload) -----------------
V3_ENCRYPT = ("+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzD"
              "pVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2Iu"
              "QrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mF"
              "UPAJGj04=")
V3_MSG = ('{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY",'
          '"CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}')


def test_v3c_json_variant_signature_and_decryption() -> None:
    crypt = MsgCrypt("AAAAA", "A" * 43, "wxba5fad812f8e6fb9")
    assert crypt.sign("1714112445", "415670741", V3_ENCRYPT) == "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
    assert crypt.decrypt(V3_ENCRYPT) == V3_MSG


def test_v3d_reply_pads_63_bytes_to_64() -> None:
    crypt = MsgCrypt("AAAAA", "A" * 43, "wxba5fad812f8e6fb9")
    encrypt, signature = crypt.encrypt_and_sign('{"demo_resp":"good luck"}', "415670741",
                                                "1713424427", random16="707722b803182950")
    assert encrypt == ("ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L"
                       "32tmxSQ==")
    assert signature == "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"


# --- V4b: DingTalk encrypted event subscription, reply "success" ------------------------------
V4B_ENCRYPT = "X1VSe9cTJUMZu60d3kyLYTrBq5578ZRJtteU94wG0Q4Uk6E/wQYeJRIC0/UFW5Wkya1Ihz9oXAdLlyC9TRaqsQ=="


def test_v4b_dingtalk_success_envelope() -> None:
    crypt = MsgCrypt("tokenxxxx", "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus", "dingxxxxxx")
    assert crypt.sign("1605695694141", "WelUQl6bCqcBa2fM", V4B_ENCRYPT) == \
        "f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc"
    assert crypt.decrypt(V4B_ENCRYPT) == "success"
    assert crypt.encrypt("success", random16="WelUQl6bCqcBa2fM") == V4B_ENCRYPT


def test_v4b_adapter_reply_encoder_reproduces_the_vector() -> None:
    adapter = DingTalkInbound("secret", app_key="dingxxxxxx", event_token="tokenxxxx",
                              event_aes_key="o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus")
    reply = adapter.encrypt_success(1605695694.141, nonce="WelUQl6bCqcBa2fM",
                                    random16="WelUQl6bCqcBa2fM")
    assert reply == {"msg_signature": "f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc",
                     "timeStamp": "1605695694141", "nonce": "WelUQl6bCqcBa2fM",
                     "encrypt": V4B_ENCRYPT}


# --- V5 / V5b: Feishu decryption and the challenge --------------------------------------------
V5B_PLAIN = '{"challenge":"ajls384kdjx98XX","token":"xxxxxx","type":"url_verification"}'
V5B_BLOB = ("MDEyMzQ1Njc4OWFiY2RlZtWk+9FBVdzQ4TLkjfEv5NOLlzViGk4gi/gsOhMmdXMDa7MfB2yEBfcwGUBEBowCONFLNfB2+a"
            "d6U5hror7Zb20tcf1tFSBqr+9T9YTHJjK8")


def test_v5_decrypt_and_reencrypt_with_the_same_iv() -> None:
    blob = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="
    assert feishu_crypto.decrypt("test key", blob) == "hello world"
    iv = base64.b64decode(blob)[:16]
    assert feishu_crypto.encrypt_blob("test key", "hello world", iv) == blob


def test_v5b_encrypted_challenge_is_answered_in_plain_json() -> None:
    assert feishu_crypto.encrypt_blob("test key", V5B_PLAIN, "0123456789abcdef") == V5B_BLOB
    adapter = FeishuInbound("xxxxxx", encrypt_key="test key")
    body = json.dumps({"encrypt": V5B_BLOB}).encode()
    result = adapter.handle(InboundRequest("POST", "/callback/feishu", {}, {}, body), now=2e9)
    assert json.loads(result.response_body) == {"challenge": "ajls384kdjx98XX"}
    assert result.events == [] and result.content_type.startswith("application/json")


# --- V6: Feishu request signatures --------------------------------------------------------------
V6_BODY = '{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}'


def test_v6_event_and_legacy_card_signatures() -> None:
    assert feishu_crypto.sign("1677254849", "533226633", "test key", V6_BODY.encode()) == \
        "a5163a8efd9f7e4429d43fc314329ace7013c1fd8e7237b68a5c6b469d695004"
    assert feishu_crypto.card_sign("1677254849", "533226633", "vtoken", V6_BODY) == \
        "e7a7101e020d58ea38f7b3bbfcaaa7816de5049c"


def test_v6_signature_is_over_raw_bytes_not_reserialised_json() -> None:
    reserialised = json.dumps(json.loads(V6_BODY))  # adds a space after the colon
    assert feishu_crypto.sign("1677254849", "533226633", "test key", reserialised) != \
        "a5163a8efd9f7e4429d43fc314329ace7013c1fd8e7237b68a5c6b469d695004"


# --- V7 / V8 / V9: HMAC signs ---------------------------------------------------------------------
@pytest.mark.parametrize("secret, expected", [
    ("demo-secret", "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="),
    ("demo", "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="),
])
def test_v7_feishu_custom_bot_sign(secret: str, expected: str) -> None:
    assert feishu_crypto.custom_bot_sign(secret, 1599360473) == expected
    assert feishu_crypto.custom_bot_sign(secret, "1599360473") == expected


def test_v8_dingtalk_robot_inbound_sign() -> None:
    assert robot_sign("this is a secret", 1577262236757) == "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="


def test_v8_adapter_accepts_the_vector_headers() -> None:
    adapter = DingTalkInbound("this is a secret", robot_callback_window_seconds=0)   # a 2019 vector
    headers = {"Timestamp": "1577262236757", "Sign": "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="}
    body = json.dumps({"msgtype": "text", "msgId": "m1", "text": {"content": " 你好"}}).encode()
    result = adapter.handle(InboundRequest("POST", "/callback/dingtalk", {}, headers, body), now=2e9)
    assert result.events[0].text == "你好"


def test_v9_dingtalk_custom_robot_sign_is_url_encoded_once() -> None:
    assert custom_robot_sign("this is secret", 1577262236757) == \
        "hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"
    assert robot_sign("this is secret", "1577262236757") == "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="
