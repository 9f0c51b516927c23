"""Feishu long connection: lark's typed event objects and raw frames map to the same neutral
events as HTTP mode and are enqueued once; the catch-all acks what nobody registered. The last
tests run lark's real `ws.Client` against a small loopback fake of Feishu's endpoint + socket
(protobuf frames), including the watchdog replacing a silent connection."""
from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lark_oapi as lark
import pytest
from lark_oapi.api.im.v1 import P2ImMessageReceiveV1
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTrigger

from bot.events import EventKind, InboundEvent
from bot.gateway import Gateway
from bot.platforms.base import InboundRequest
from bot.platforms.feishu import FeishuInbound
from bot.platforms.feishu.inbound import CARD_ACK
from bot.streams.dingtalk_stream import Backoff
from bot.streams.feishu_ws import FeishuEventHandlers, FeishuLongConnection, build_dispatcher
from bot.streams.intake import Intake
from bot.streams.watchdog import LivenessWatchdog, read_status
from crm_core.kv import EmbeddedKV
from sandbox.feishu_ws_server import FakeFeishuLongConnection
from sandbox.stream_server import wait_until

VTOKEN = "v-token-ws"


def v2(event_type: str, event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"schema": "2.0", "header": {"event_id": event_id, "event_type": event_type,
                                        "create_time": str(int(time.time() * 1000)), "token": VTOKEN,
                                        "app_id": "cli_ws", "tenant_key": "tk"}, "event": event}


def message(msg_type: str, content: dict, event_id: str = "ev-msg", chat_type: str = "group") -> dict:
    mentions = [{"key": "@_user_1", "id": {"open_id": "ou_bot", "user_id": ""}, "name": "CRM助手", "tenant_key": "tk"},
                {"key": "@_user_2", "id": {"open_id": "ou_lina", "user_id": "lina"}, "name": "李娜", "tenant_key": "tk"}]
    return v2("im.message.receive_v1", {
        "sender": {"sender_id": {"open_id": "ou_chen", "user_id": "chenjie", "union_id": "on_c"},
                   "sender_type": "user", "tenant_key": "tk"},
        "message": {"message_id": f"om_{event_id}", "create_time": str(int(time.time() * 1000) - 900),
                    "chat_id": "oc_team", "chat_type": chat_type, "message_type": msg_type,
                    "content": json.dumps(content, ensure_ascii=False), "mentions": mentions}}, event_id)


def card_action(value: Any, event_id: str = "ev-card") -> dict:
    return v2("card.action.trigger", {
        "operator": {"open_id": "ou_chen", "user_id": "chenjie", "tenant_key": "tk"},
        "token": "c-delayed", "host": "im_message",
        "action": {"value": value, "tag": "select_static", "option": "won"},
        "context": {"open_message_id": "om_card", "open_chat_id": "oc_team"}}, event_id)


TEXT = message("text", {"text": "@_user_1 华东建材 王总 预算 50 万,转给 @_user_2"}, "ev-text")
AUDIO = message("audio", {"file_key": "file_v3_voice", "duration": 3100}, "ev-voice", chat_type="p2p")
CARD = card_action({"card_id": "lead-42", "action": "stage.set", "lead": "42"})
CARD_STRING_VALUE = card_action(json.dumps({"card_id": "lead-42", "action": "stage.set"}), "ev-card-str")


def http_event(payload: dict) -> InboundEvent:
    body = json.dumps(payload, ensure_ascii=False).encode()
    (event,) = FeishuInbound(VTOKEN).handle(InboundRequest("POST", "/callback/feishu", {}, {}, body),
                                           time.time()).events
    return event


def comparable(event: InboundEvent) -> dict[str, Any]:
    d = event.to_dict()
    d.pop("received_at")
    return d


@pytest.fixture
def kv() -> EmbeddedKV:
    return EmbeddedKV(prefix="feishu-ws-test")


@pytest.fixture
def handlers(kv: EmbeddedKV, cfg: Any) -> Iterator[FeishuEventHandlers]:
    intake = Intake(Gateway([], kv).enqueue, platform="feishu")
    yield FeishuEventHandlers(intake)
    intake.close()


def drain(kv: EmbeddedKV, handlers: FeishuEventHandlers) -> list[InboundEvent]:
    assert handlers.intake.flush()
    queue, events = kv.queue("inbound"), []
    while (delivery := queue.take(visibility_timeout=60)) is not None:
        events.append(InboundEvent.from_dict(delivery.payload["event"]))
    return events


# --- typed lark objects (what the registered handlers receive) -------------------------------

@pytest.mark.parametrize("payload", [TEXT, AUDIO], ids=["text", "audio"])
def test_message_object_maps_like_http(kv: EmbeddedKV, handlers: FeishuEventHandlers, payload: dict) -> None:
    handlers.on_message(lark.JSON.unmarshal(json.dumps(payload), P2ImMessageReceiveV1))
    handlers.on_message(lark.JSON.unmarshal(json.dumps(payload), P2ImMessageReceiveV1))   # redelivery
    assert [comparable(e) for e in drain(kv, handlers)] == [comparable(http_event(payload))]


def test_card_action_object_maps_like_http_and_answers_the_toast(kv: EmbeddedKV,
                                                                 handlers: FeishuEventHandlers) -> None:
    response = handlers.on_card_action(lark.JSON.unmarshal(json.dumps(CARD), P2CardActionTrigger))
    (event,) = drain(kv, handlers)
    assert comparable(event) == comparable(http_event(CARD))
    assert (event.kind, event.action.key, event.action.values["option"]) == (EventKind.CARD_ACTION, "stage.set", "won")
    assert json.loads(lark.JSON.marshal(response)) == json.loads(CARD_ACK)


# --- the dispatcher, fed raw frames as lark's ws client does --------------------------------

@pytest.mark.parametrize("payload, kind, answer", [
    (TEXT, EventKind.TEXT, None),
    (CARD, EventKind.CARD_ACTION, json.loads(CARD_ACK)),
    # lark's typed model rejects a string `value`; the catch-all still maps and answers it
    (CARD_STRING_VALUE, EventKind.CARD_ACTION, json.loads(CARD_ACK)),
    (v2("contact.user.created_v3", {"object": {"user_id": "u9", "open_id": "ou_9"}}, "ev-contact"),
     EventKind.CONTACT, None),
    (v2("im.chat.member.bot.added_v1", {"chat_id": "oc_new", "operator_id": {"open_id": "ou_chen"}}, "ev-added"),
     EventKind.SYSTEM, None),
    (v2("totally.unknown_v9", {"anything": 1}, "ev-unknown"), EventKind.UNKNOWN, None),
    ({"uuid": "uuid-v1", "token": VTOKEN, "ts": "1732000000.1", "type": "event_callback",
      "event": {"type": "message", "msg_type": "text", "text_without_at_bot": "你好", "open_id": "ou_chen",
                "open_chat_id": "oc_1", "open_message_id": "om_v1", "chat_type": "p2p"}}, EventKind.TEXT, None),
], ids=["text", "card", "card-string-value", "contact", "bot-added", "unknown", "v1-text"])
def test_dispatcher_acks_and_enqueues_every_type(kv: EmbeddedKV, handlers: FeishuEventHandlers,
                                                 payload: dict, kind: EventKind, answer: Any) -> None:
    dispatcher = build_dispatcher(handlers)
    raw = json.dumps(payload, ensure_ascii=False).encode()
    results = [dispatcher._do_without_validation(raw) for _ in range(2)]   # second = redelivery
    events = drain(kv, handlers)
    assert [json.loads(lark.JSON.marshal(r)) if r is not None else None for r in results] == [answer, answer]
    assert [comparable(e) for e in events] == [comparable(http_event(payload))]
    assert events[0].kind is kind


def test_unparseable_payload_is_acked_without_an_event(kv: EmbeddedKV, handlers: FeishuEventHandlers) -> None:
    assert build_dispatcher(handlers)._do_without_validation(b"{not json") is None
    assert drain(kv, handlers) == []


# --- lark's real ws.Client against a loopback Feishu -----------------------------------------

FakeFeishu = FakeFeishuLongConnection


@pytest.fixture
def fake_feishu() -> Iterator[FakeFeishu]:
    fake = FakeFeishu("cli_ws", "lark-secret")
    yield fake
    fake.close()


@contextmanager
def lark_client(fake: FakeFeishu, kv: EmbeddedKV, handlers: FeishuEventHandlers, secret: str,
                silence: float) -> Iterator[list[threading.Thread]]:
    """lark's real ws.Client (through FeishuLongConnection) against the fake, stopped and
    joined on exit; yields its threads."""
    connection = FeishuLongConnection(app_id="cli_ws", app_secret=secret, domain=fake.domain, handlers=handlers,
                                      watchdog=LivenessWatchdog("feishu", kv, silence), backoff=Backoff(0.05, 0.2))
    stop = threading.Event()
    threads = connection.start(stop)
    try:
        yield threads
    finally:
        stop.set()
        for t in threads:
            t.join(5)


def test_real_lark_client_delivers_acks_and_survives_silence(fake_feishu: FakeFeishu, kv: EmbeddedKV,
                                                             handlers: FeishuEventHandlers) -> None:
    with lark_client(fake_feishu, kv, handlers, "lark-secret", 1.5) as threads:
        assert wait_until(lambda: fake_feishu.sockets, 5)
        fake_feishu.push_event(CARD, "m-card")
        assert wait_until(lambda: fake_feishu.replies, 3)
        fake_feishu.go_silent()
        assert wait_until(lambda: len(fake_feishu.sockets) == 2, 4)
        fake_feishu.push_event(TEXT, "m-text")
        assert wait_until(lambda: len(fake_feishu.replies) == 2, 3)
        status = wait_until(lambda: (read_status(kv, "feishu") or {}).get("reconnects") == 1
                            and read_status(kv, "feishu"), 2)
    assert not any(t.is_alive() for t in threads)
    (headers, reply), _ = fake_feishu.replies
    assert (headers["message_id"], reply["code"]) == ("m-card", 200)
    assert json.loads(base64.b64decode(reply["data"])) == json.loads(CARD_ACK)
    assert [e.event_id for e in drain(kv, handlers)] == ["ev-card", "ev-text"]
    assert (status["connected"], status["reconnects"]) == (True, 1)
    assert "no frame or pong" in status["last_error"]


def test_refused_credentials_are_reported(fake_feishu: FakeFeishu, kv: EmbeddedKV,
                                          handlers: FeishuEventHandlers) -> None:
    with lark_client(fake_feishu, kv, handlers, "wrong", 1.0) as threads:
        status = wait_until(lambda: (read_status(kv, "feishu") or {}).get("last_error") and read_status(kv, "feishu"), 3)
    assert not any(t.is_alive() for t in threads) and fake_feishu.sockets == []
    assert status["connected"] is False and "403" in status["last_error"] and "wrong" not in json.dumps(status)


# --- the lark-oapi internals bot/streams/feishu_ws.py builds on ---------------------------------

def test_lark_internals_that_feishu_ws_relies_on_are_unchanged() -> None:
    """feishu_ws.py subclasses and steers private parts of lark-oapi (there is no public way to
    run its ws.Client on a loop of our own, watch its frames or stop it). If an upgrade moves
    any of them this test fails by name, before the long connection breaks in production. The
    version pin in pyproject.toml (lark-oapi >=1.7,<1.8) stays; re-check these on every bump."""
    import asyncio
    import importlib.metadata
    import inspect
    import re
    from pathlib import Path

    from lark_oapi.core.exception import UnmarshalException
    from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse
    from lark_oapi.event.dispatcher_handler import EventDispatcherHandler
    from lark_oapi.ws import client as lark_ws
    from lark_oapi.ws.exception import ClientException

    version = importlib.metadata.version("lark-oapi")
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"lark-oapi>=1.7,<1.8"' in pyproject and re.fullmatch(r"1\.7\.\d+", version), version
    # the SDK schedules everything on this module global, which run_forever swaps per thread
    assert isinstance(lark_ws.loop, asyncio.AbstractEventLoop)
    for fn in (lark_ws.Client.start, lark_ws.Client._connect, lark_ws.Client._receive_message_loop):
        assert "loop" in fn.__code__.co_names, fn.__qualname__
    # _WatchedClient overrides these two coroutines and calls them through super()
    for name, params in (("_connect", ["self"]), ("_handle_message", ["self", "msg"]), ("_disconnect", ["self"])):
        method = getattr(lark_ws.Client, name)
        assert inspect.iscoroutinefunction(method), name
        assert list(inspect.signature(method).parameters) == params, name
    client = lark_ws.Client("cli_x", "secret")
    assert client._conn is None and client._auto_reconnect is True        # read / cleared by feishu_ws
    assert callable(client.on_reconnecting)
    assert "_conn" in inspect.getsource(lark_ws.Client._connect)           # set there once connected
    # CatchAllDispatcher copies the built handler's maps and wraps this method
    built = (EventDispatcherHandler.builder("", "").register_p2_im_message_receive_v1(lambda data: None)
             .register_p2_card_action_trigger(lambda data: None).build())
    assert "p2.im.message.receive_v1" in built._processorMap
    assert "p2.card.action.trigger" in built._callback_processor_map
    assert list(inspect.signature(EventDispatcherHandler._do_without_validation).parameters) == ["self", "payload"]
    assert "_do_without_validation" in inspect.getsource(lark_ws.Client._handle_data_frame)
    assert ClientException(1000040350, "limit").code == 1000040350 and issubclass(UnmarshalException, Exception)
    assert P2CardActionTriggerResponse({"toast": {"type": "info", "content": "x"}}).toast.content == "x"
