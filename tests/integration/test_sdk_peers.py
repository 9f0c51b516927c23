"""The platforms' official SDKs as peers, so crm-bot and its sandbox cannot agree on a wrong
protocol between themselves:

* the `dingtalk-stream` SDK's client connects to the sandbox's Stream gateway and receives and
  acks a robot message and a card callback (in a process of its own, tests/helpers/sdk_peers.py);
* lark-oapi's stock `lark.ws.Client` does the same with the sandbox's long-connection endpoint;
* wechatpy's crypto encrypts WeCom callbacks crm-bot accepts and decrypts what crm-bot signs;
* lark-oapi's event dispatcher accepts the Feishu callbacks the sandbox simulator signs;
* every JSON body crm-bot's DingTalk and Feishu clients send fits the SDKs' typed request
  models (`alibabacloud_dingtalk`, lark-oapi): field names, nesting, types, required fields.
"""
from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.platforms.base import InboundRequest
from bot.platforms.dingtalk.client import DingTalkClient
from bot.platforms.dingtalk.signing import card_callback_url
from bot.platforms.feishu.client import FeishuClient
from bot.platforms.wecom import WeComInbound
from cards.model import Button, Card, Field, Level, encode_action_token
from crm_core.kv import EmbeddedKV
from sandbox import PlatformSimulator, SandboxCredentials, SandboxServer
from sandbox.stack import point_at_sandbox
from sandbox.stream_server import NotSubscribed

ROOT = Path(__file__).resolve().parents[2]
CARD = Card(card_id="fuse-s-12-abc", title="线索超时未跟进", level=Level.DANGER,
            fields=(Field("负责人", "陈杰"), Field("已超时", "73 小时")), text="请决定 **转派** 或催办",
            buttons=(Button("转派给李娜", "lead.reassign", {"lead": "12", "to": "li.na"}, style="primary"),
                     Button("催办", "fuse.nudge", {"lead": "12"}, style="danger")))


@pytest.fixture
def srv(cfg) -> Iterator[SandboxServer]:  # noqa: ANN001
    server = SandboxServer(SandboxCredentials.from_config(cfg)).start()
    yield server
    server.stop()


# ---- official SDK clients on the sandbox's connection modes -------------------------------------

class Peer:
    """An SDK client in a child process; `next()` is its next printed event."""

    def __init__(self, *args: str) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.sdk_peers", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next(timeout=90)["kind"] == "started"      # importing lark-oapi takes a while

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def next(self, timeout: float = 15.0) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stderr.seek(0)
            raise AssertionError(f"the SDK peer printed nothing within {timeout} s; its stderr:\n"
                                 f"{self.stderr.read()[-3000:]}") from None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=10)
        self.stderr.close()


def sim_for(cfg: Any, srv: SandboxServer) -> PlatformSimulator:  # noqa: ANN401
    return PlatformSimulator(point_at_sandbox(cfg, srv.base_urls()), "http://127.0.0.1:9", srv)


@pytest.mark.slow
def test_dingtalk_stream_sdk_receives_and_acks_a_message_and_a_card_callback(cfg, srv) -> None:  # noqa: ANN001
    d = cfg.platforms.dingtalk
    peer = Peer("dingtalk", f"{srv.url}/dingtalk/v1.0/gateway/connections/open", d.app_key,
                d.app_secret.get_secret_value(), "robot,card")
    try:
        gateway = srv.stream_gateway()
        assert gateway.wait_until(lambda: gateway.connections, 10), "the SDK never connected"
        assert {(s["type"], s["topic"]) for s in gateway.opened[0]["subscriptions"]} == {
            ("CALLBACK", "/v1.0/im/bot/messages/get"), ("CALLBACK", "/v1.0/card/instances/callback")}
        sim = sim_for(cfg, srv)
        message = sim.dingtalk.message("manager7002", "text", {"text": {"content": " 帮助"}}, msg_id="msg-sdk-1",
                                       chat_id=None, session_url=f"{srv.url}/dingtalk/session/s1", now=time.time())
        got = srv.push_stream("dingtalk", "message", message)
        assert got["acked"] and json.loads(got["ack"]["data"]) == {"response": "OK"}
        seen = peer.next()
        assert (seen["kind"], seen["msg_id"], seen["staff"], seen["text"]) == ("robot", "msg-sdk-1", "manager7002", " 帮助")
        assert seen["conversation_type"] == "1" and seen["robot_code"] == d.robot_code

        token = encode_action_token(CARD.card_id, "lead.reassign", {"lead": "12", "to": "li.na"})
        tap = sim.dingtalk.card_callback("manager7003", f"{CARD.card_id}@crm-1", token, None, slot=1)
        got = srv.push_stream("dingtalk", "card", tap)
        assert got["acked"] and json.loads(got["ack"]["data"])["response"]["cardData"] == {
            "cardParamMap": {"resolved": "true"}}
        seen = peer.next()
        assert (seen["kind"], seen["out_track_id"], seen["user"]) == ("card", f"{CARD.card_id}@crm-1", "manager7003")
        assert seen["action_ids"] == ["btn1"] and seen["params"] == {"token": token}
        assert gateway.rejected_acks == []
    finally:
        peer.stop()


@pytest.mark.slow
def test_dingtalk_sdk_without_the_card_topic_gets_no_card_frames(cfg, srv) -> None:  # noqa: ANN001
    d = cfg.platforms.dingtalk
    peer = Peer("dingtalk", f"{srv.url}/dingtalk/v1.0/gateway/connections/open", d.app_key,
                d.app_secret.get_secret_value(), "robot")
    try:
        gateway = srv.stream_gateway()
        assert gateway.wait_until(lambda: gateway.connections, 10)
        tap = sim_for(cfg, srv).dingtalk.card_callback("manager7003", "x@1", "t", None, slot=1)
        with pytest.raises(NotSubscribed):
            srv.push_stream("dingtalk", "card", tap)
    finally:
        peer.stop()


@pytest.mark.slow
def test_lark_ws_client_receives_and_acks_events_from_the_sandbox(cfg, srv) -> None:  # noqa: ANN001
    f = cfg.platforms.feishu
    peer = Peer("lark", f"{srv.url}/feishu", f.app_id, f.app_secret.get_secret_value())
    try:
        gateway = srv.feishu_ws_gateway()
        assert gateway.wait_until(gateway.connected, 10), "lark's client never connected"
        sim = sim_for(cfg, srv)
        message = sim.feishu.message("ou_chenjie", "om_sdk_1", "oc_p2p_1", False, "text", {"text": "帮助"}, time.time())
        got = srv.push_stream("feishu", "message", message)
        assert got["acked"] and got["ack"]["code"] == 200
        seen = peer.next()
        assert (seen["kind"], seen["message_id"], seen["content"], seen["sender"]) == \
            ("message", "om_sdk_1", {"text": "帮助"}, "ou_chenjie")

        value = {"card_id": CARD.card_id, "action": "lead.reassign", "lead": "12", "to": "li.na"}
        tap = sim.feishu.card_action("ou_wangfang", value, "om_card_1", "oc_p2p_1", "c-token", time.time())
        got = srv.push_stream("feishu", "card", tap)
        assert got["acked"]
        import base64
        assert json.loads(base64.b64decode(got["ack"]["data"]))["toast"]["content"] == "收到"
        seen = peer.next()
        assert (seen["kind"], seen["value"], seen["operator"]) == ("card", value, "ou_wangfang")
    finally:
        peer.stop()


# ---- wechatpy's crypto against crm-bot's WeCom adapter -----------------------------------------

def wecom(cfg: Any) -> tuple[Any, WeComInbound]:  # noqa: ANN401
    from wechatpy.work.crypto import WeChatCrypto
    w = cfg.platforms.wecom
    token, key = w.token.get_secret_value(), w.encoding_aes_key.get_secret_value()
    return WeChatCrypto(token, key, w.corp_id), WeComInbound(token, key, w.corp_id)


def test_wechatpy_encrypted_callbacks_are_accepted_by_crm_bot(cfg) -> None:  # noqa: ANN001
    theirs, ours = wecom(cfg)
    w = cfg.platforms.wecom
    token = encode_action_token(CARD.card_id, "lead.reassign", {"lead": "12"})
    for inner, kind in [
        (f"<xml><ToUserName><![CDATA[{w.corp_id}]]></ToUserName><FromUserName><![CDATA[zhangwei]]></FromUserName>"
         f"<CreateTime>1790000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content>"
         f"<MsgId>7001</MsgId><AgentID>{w.agent_id}</AgentID></xml>", "text"),
        (f"<xml><ToUserName><![CDATA[{w.corp_id}]]></ToUserName><FromUserName><![CDATA[zhangwei]]></FromUserName>"
         f"<CreateTime>1790000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
         f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{token}]]></EventKey>"
         f"<TaskId><![CDATA[{CARD.card_id}@crm-3]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
         f"<ResponseCode><![CDATA[rc-1]]></ResponseCode><AgentID>{w.agent_id}</AgentID></xml>", "card_action"),
    ]:
        encrypted = theirs.encrypt_message(inner, "nonce123", "1790000000")
        fields = dict(re.findall(r"<(\w+)><!\[CDATA\[(.*?)\]\]></\1>", encrypted))
        fields.update(re.findall(r"<(TimeStamp)>(\d+)</TimeStamp>", encrypted))
        body = f"<xml><ToUserName><![CDATA[{w.corp_id}]]></ToUserName><Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>"
        req = InboundRequest("POST", "/callback/wecom", {"msg_signature": fields["MsgSignature"],
                                                          "timestamp": fields["TimeStamp"], "nonce": fields["Nonce"]},
                             {}, body.encode())
        (event,) = ours.handle(req, 1790000000.0).events
        assert event.kind.value == kind and event.sender_id == "zhangwei"
        if kind == "card_action":
            assert (event.action.key, event.action.card_ref) == ("lead.reassign", CARD.card_id)


def test_wechatpy_decrypts_what_crm_bot_and_the_sandbox_sign(cfg) -> None:  # noqa: ANN001
    from wechatpy.crypto import _get_signature
    from wechatpy.utils import to_text
    from wechatpy.work.crypto import PrpCrypto
    theirs, ours = wecom(cfg)
    w = cfg.platforms.wecom
    reply = "<xml><MsgType><![CDATA[update_button]]></MsgType><Button><ReplaceName><![CDATA[已处理]]></ReplaceName></Button></xml>"
    passive = ours.passive_reply(reply, "n-1", "1790000001")
    signature = re.search(r"<MsgSignature><!\[CDATA\[(\w+)\]\]></MsgSignature>", passive)
    assert signature is not None and theirs.decrypt_message(passive, signature.group(1), "1790000001", "n-1") == reply
    body, params = ours.encrypt_callback("<xml><MsgType>text</MsgType></xml>", "n-2", "1790000002", str(w.agent_id))
    assert theirs.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"]) == \
        "<xml><MsgType>text</MsgType></xml>"
    # the URL handshake: wechatpy's echostr, crm-bot's plain answer
    echo = to_text(PrpCrypto(theirs.key).encrypt("echo-12345", w.corp_id))
    signature = _get_signature(w.token.get_secret_value(), "1790000003", "n-3", echo)
    result = ours.handle(InboundRequest("GET", "/callback/wecom", {"msg_signature": signature, "timestamp": "1790000003",
                                                                   "nonce": "n-3", "echostr": echo}), 1790000003.0)
    assert result.response_body == "echo-12345"


# ---- lark-oapi's dispatcher accepts what the simulator signs -------------------------------------

def test_lark_dispatcher_accepts_the_simulators_feishu_callbacks(cfg, srv) -> None:  # noqa: ANN001
    import lark_oapi as lark
    from lark_oapi.core.model import RawRequest
    from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

    f = cfg.platforms.feishu
    got: list[Any] = []
    handler = (lark.EventDispatcherHandler.builder(f.encrypt_key.get_secret_value(), f.verification_token.get_secret_value())
               .register_p2_im_message_receive_v1(got.append)
               .register_p2_card_action_trigger(lambda data: got.append(data) or P2CardActionTriggerResponse({}))
               .build())
    sim = sim_for(cfg, srv)
    now = time.time()

    def deliver(payload: dict[str, Any]) -> Any:  # noqa: ANN401
        from sandbox.callbacks import Tamper
        built = sim.feishu.request(payload, now, Tamper())
        raw = RawRequest()
        raw.uri, raw.body = built.path, built.body
        names = {"x-lark-request-timestamp": "X-Lark-Request-Timestamp", "x-lark-request-nonce": "X-Lark-Request-Nonce",
                 "x-lark-signature": "X-Lark-Signature"}
        raw.headers = {names.get(k.lower(), k): v for k, v in built.headers.items()}
        return handler.do(raw)

    assert deliver(sim.feishu.message("ou_chenjie", "om_1", "oc_1", True, "text", {"text": "帮助"}, now)).status_code == 200
    value = {"card_id": CARD.card_id, "action": "fuse.nudge", "lead": "12"}
    assert deliver(sim.feishu.card_action("ou_wangfang", value, "om_2", "oc_1", "c-t", now)).status_code == 200
    challenge = deliver(sim.feishu.challenge("ch-1"))
    assert json.loads(challenge.content) == {"challenge": "ch-1"}
    assert [type(g).__name__ for g in got] == ["P2ImMessageReceiveV1", "P2CardActionTrigger"]
    assert json.loads(got[0].event.message.content)["text"] == "@_user_1 帮助" and got[1].event.action.value == value


# ---- the JSON crm-bot sends fits the SDKs' typed request models ----------------------------------

def _tea_keys(cls: type) -> dict[str, str]:
    """JSON key → attribute of a TeaModel, read from its from_map (the generated mapping)."""
    import inspect
    src = inspect.getsource(cls.from_map)
    keys: dict[str, str] = {}
    for match in re.finditer(r"m\.get\('(\w+)'\)", src):
        attr = re.search(r"self\.(\w+)", src[match.end():])
        if attr and match.group(1) not in keys:
            keys[match.group(1)] = attr.group(1)
    return keys


def _tea_required(cls: type) -> set[str]:
    import inspect
    return set(re.findall(r"# This parameter is required\.\s+self\.(\w+) =", inspect.getsource(cls.__init__)))


def model_problems(cls: type, data: Any, path: str = "") -> list[str]:  # noqa: ANN401
    """Where `data` does not fit the SDK model `cls`: unknown fields, wrong types, missing
    required fields (TeaModel: alibabacloud_dingtalk; `_types`: lark-oapi)."""
    if not isinstance(data, dict):
        return [f"{path or '.'}: not an object"]
    if hasattr(cls, "_types"):                                  # lark-oapi
        fields = {k: (k, t) for k, t in cls._types.items()}
        required: set[str] = set()
    else:
        hints = typing.get_type_hints(cls.__init__)
        fields = {k: (a, hints[a]) for k, a in _tea_keys(cls).items()}
        required = _tea_required(cls)
    out = []
    for key, value in data.items():
        if key not in fields:
            out.append(f"{path}{key}: not a field of {cls.__name__}")
            continue
        out += _type_problems(fields[key][1], value, f"{path}{key}")
    present = {fields[k][0] for k, v in data.items() if k in fields and v not in (None, "")}
    out += [f"{path}{attr}: required by {cls.__name__}" for attr in sorted(required - present)]
    return out


def _type_problems(hint: Any, value: Any, path: str) -> list[str]:  # noqa: ANN401
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (str, int, bool, float):
        ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
        return [] if ok else [f"{path}: {type(value).__name__}, the model says {hint.__name__}"]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        return [p for k, v in value.items() for p in _type_problems(args[1], v, f"{path}.{k}")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, v in enumerate(value) for p in _type_problems(args[0], v, f"{path}[{i}]")]
    if isinstance(hint, type):
        return model_problems(hint, value, f"{path}.")
    return []


def capture(client: Any) -> list[tuple[str, Any]]:  # noqa: ANN401
    """Every (api, JSON body) the client sends from now on."""
    sent: list[tuple[str, Any]] = []
    original = client._send

    def recording(method: str, url: str, api: str, **kw: Any) -> Any:  # noqa: ANN401
        sent.append((api, kw.get("json")))
        return original(method, url, api, **kw)

    client._send = recording
    return sent


def dingtalk_models() -> dict[str, type]:
    from alibabacloud_dingtalk.card_1_0 import models as card
    from alibabacloud_dingtalk.oauth2_1_0 import models as oauth
    from alibabacloud_dingtalk.robot_1_0 import models as robot
    return {"accessToken": oauth.GetAccessTokenRequest, "batchSend": robot.BatchSendOTORequest,
            "groupMessages/send": robot.OrgGroupSendRequest, "messageFiles/download": robot.RobotMessageFileDownloadRequest,
            "card/createAndDeliver": card.CreateAndDeliverRequest, "card/update": card.UpdateCardRequest,
            "card/callbacks/register": card.RegisterCallbackRequest}


@pytest.mark.parametrize("mode", ["http", "stream"])
def test_dingtalk_requests_fit_alibabacloud_dingtalk_models(cfg, srv, mode) -> None:  # noqa: ANN001
    d = point_at_sandbox(cfg, srv.base_urls()).platforms.dingtalk.model_copy(update={"mode": mode})
    url = card_callback_url("https://crm.example.com", d.card_callback_secret.get_secret_value())
    client = DingTalkClient(d, EmbeddedKV(prefix=f"peer-{mode}"), card_callback_url=url)
    sent = capture(client)
    client.send_text("manager7002", "你好")
    client.send_markdown(["manager7002", "manager7003"], "**新线索** 已分配")
    client.send_group("cid-sales-1", "今日新增 3 条", markdown=True)
    refs = client.send_card("manager7003", CARD, send_key="crm-11")
    client.send_card("manager7003", CARD, open_conversation_id="cid-sales-1", send_key="crm-12")
    client.update_card(CARD.resolved("已由 刘洋 转派给 李娜"), refs["outTrackId"])
    srv.put_media("dingtalk", "dl-code-1", b"#!AMR\n", "audio/amr")
    assert client.download("dl-code-1") == b"#!AMR\n"

    models = dingtalk_models()
    checked = [(api, body) for api, body in sent if api in models]
    assert {api for api, _ in checked} == set(models) - ({"card/callbacks/register"} if mode == "stream" else set())
    for api, body in checked:
        assert model_problems(models[api], body) == [], api
        assert models[api]().from_map(json.loads(json.dumps(body))).to_map() == {**body, **(
            {"privateData": {}} if api in ("card/createAndDeliver", "card/update") else {})}, api
    deliver = next(b for a, b in checked if a == "card/createAndDeliver")
    assert deliver["callbackType"] == mode.upper()
    assert all(isinstance(v, str) for v in deliver["cardData"]["cardParamMap"].values())


def test_feishu_requests_fit_lark_oapi_models(cfg, srv) -> None:  # noqa: ANN001
    from lark_oapi.api.auth.v3 import InternalTenantAccessTokenRequestBody
    from lark_oapi.api.im.v1 import (
        CreateMessageRequestBody, PatchMessageRequestBody, ReplyMessageRequestBody,
    )

    f = point_at_sandbox(cfg, srv.base_urls()).platforms.feishu
    client = FeishuClient(f, EmbeddedKV(prefix="peer-feishu"))
    sent = capture(client)
    client.send_text("ou_chenjie", "你好", uuid="crm-1")
    client.send_markdown("oc_sales_1", "**新线索**", uuid="crm-2")
    card = client.send_card("ou_wangfang", CARD, uuid="crm-3")
    client.update_card(card["message_id"], CARD.resolved("已处理"))
    srv.register_message("feishu", "om_in_1", {"recipient": "ou_chenjie", "chat_id": "oc_p2p_1", "msg_type": "text",
                                               "inbound": True})
    client.reply("om_in_1", "收到", uuid="crm-4")
    models = {"tenant_access_token": InternalTenantAccessTokenRequestBody, "im/messages": CreateMessageRequestBody,
              "im/reply": ReplyMessageRequestBody, "im/patch": PatchMessageRequestBody}
    checked = [(api, body) for api, body in sent if api in models]
    assert {api for api, _ in checked} == set(models)
    for api, body in checked:
        assert model_problems(models[api], body) == [], api
        assert {"msg_type", "content"} <= set(body) or api in ("tenant_access_token", "im/patch")


def test_model_check_catches_what_the_sdks_would_not_send() -> None:
    models = dingtalk_models()
    good = {"cardTemplateId": "t.schema", "outTrackId": "c@1", "openSpaceId": "dtv1.card//IM_ROBOT.u1",
            "cardData": {"cardParamMap": {"title": "x"}}, "callbackType": "STREAM"}
    assert model_problems(models["card/createAndDeliver"], good) == []
    assert model_problems(models["card/createAndDeliver"], {**good, "callBackType": "STREAM"}) == \
        ["callBackType: not a field of CreateAndDeliverRequest"]
    assert model_problems(models["card/createAndDeliver"], {**good, "cardData": {"cardParamMap": {"resolved": True}}}) == \
        ["cardData.cardParamMap.resolved: bool, the model says str"]
    assert model_problems(models["card/createAndDeliver"], {k: v for k, v in good.items() if k != "openSpaceId"}) == \
        ["open_space_id: required by CreateAndDeliverRequest"]
    assert model_problems(models["card/update"], {"outTrackId": "c@1", "cardData": {"params": {}}}) == \
        ["cardData.params: not a field of UpdateCardRequestCardData"]
