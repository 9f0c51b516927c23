"""DingTalk Stream mode against the loopback fake gateway (real HTTP + WebSocket): frames become
the same queued events as HTTP callbacks, every frame is acked before it is processed, and the
watchdog replaces a silent connection; `disconnect` gets a fresh ticket."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import SecretStr

from bot.events import EventKind, InboundEvent
from bot.gateway import Gateway
from bot.platforms.registry import default_registry
from crm_core.kv.keys import LAST_CALLBACK_KEY
from bot.platforms.base import InboundRequest
from bot.platforms.dingtalk import DingTalkInbound, robot_headers
from bot.streams.dingtalk_stream import Backoff, DingTalkStreamClient, ack_for
from bot.streams.intake import Intake
from bot.streams.watchdog import LivenessWatchdog, read_status
from cards.model import encode_action_token
from crm_core.kv import EmbeddedKV
from crm_core.kv.base import KV
from sandbox.stream_server import FakeStreamGateway

APP_KEY, SECRET = "ding-stream-app", "stream-app-secret-7c1e"
SUBS = [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]


@pytest.fixture
def fake() -> Iterator[FakeStreamGateway]:
    with FakeStreamGateway(APP_KEY, SECRET, disconnect_grace=10.0) as gateway:
        yield gateway


@contextmanager
def streaming(fake: FakeStreamGateway, kv: KV, cfg: Any, *, silence: float = 5.0, secret: str = SECRET,
              wrap: Callable[[Callable], Callable] = lambda sink: sink) -> Iterator[DingTalkStreamClient]:
    """A connected client feeding the real gateway (dedupe + inbound queue) of `kv`."""
    gateway = Gateway([], kv)
    intake = Intake(wrap(gateway.enqueue), platform="dingtalk")
    watchdog = LivenessWatchdog("dingtalk", kv, silence)
    client = DingTalkStreamClient(api_base=fake.api_base, client_id=APP_KEY, client_secret=secret,
                                  intake=intake, watchdog=watchdog, backoff=Backoff(0.05, 0.4))
    stop = threading.Event()
    threads = client.start(stop)
    try:
        if secret == SECRET:
            assert fake.wait_until(lambda: fake.connections, 5), "client never connected"
        yield client
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        intake.close()
        assert not any(t.is_alive() for t in threads), "stream threads did not stop"


def queued(kv: KV, count: int, timeout: float = 5.0) -> list[InboundEvent]:
    """Wait until the inbound queue holds `count` ready events, then take them all."""
    queue = kv.queue("inbound")
    deadline = time.monotonic() + timeout
    while queue.stats().ready < count and time.monotonic() < deadline:
        time.sleep(0.01)
    events = []
    while (delivery := queue.take(visibility_timeout=60)) is not None:
        events.append(InboundEvent.from_dict(delivery.payload["event"]))
    return events


def robot_text(msg_id: str = "msg-stream-1", content: str = " 帮我建个线索 华东建材 王总") -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {"msgtype": "text", "text": {"content": content}, "msgId": msg_id, "createAt": now_ms - 800,
            "conversationType": "1", "conversationId": "cid-p2p-7", "senderId": "$:LWCP_v1:$x9",
            "senderStaffId": "manager7002", "senderNick": "李娜", "chatbotUserId": "bot", "robotCode": APP_KEY,
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=s7",
            "sessionWebhookExpiredTime": now_ms + 5_400_000}


def robot_audio() -> dict[str, Any]:
    return {**robot_text("msg-stream-voice"), "msgtype": "audio",
            "content": {"downloadCode": "dc-77", "duration": 4200, "recognition": "明天下午去拜访华东建材"}}


def card_tap() -> dict[str, Any]:
    token = encode_action_token("lead-42", "lead.assign", {"to": "li.na"})
    content = {"cardPrivateData": {"actionIds": [token], "params": {}}}
    return {"type": "actionCallback", "outTrackId": "lead-42", "corpId": "dingcorp", "userId": "manager7002",
            "userIdType": 1, "spaceType": "IM_ROBOT", "spaceId": "sp-1", "extension": "{}",
            "content": json.dumps(content)}


def http_event(payload: dict[str, Any]) -> InboundEvent:
    """What HTTP mode makes of the same payload: a signed POST through the real adapter."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    now = time.time()
    req = InboundRequest("POST", "/callback/dingtalk", {}, robot_headers(SECRET, int(now * 1000)), body)
    (event,) = DingTalkInbound(SECRET).handle(req, now).events
    return event


def comparable(event: InboundEvent) -> dict[str, Any]:
    d = event.to_dict()
    d.pop("received_at")
    return d


def ack_data(fake: FakeStreamGateway, message_id: str) -> Any:
    acks = fake.wait_until(lambda: fake.acks_for(message_id), 3)
    assert acks, f"frame {message_id} was never acked"
    return json.loads(acks[0]["data"])


# --- frames → the same events as HTTP ------------------------------------------------------

@pytest.mark.parametrize("payload, push, expected_ack", [
    (robot_text(), "push_robot_message", {"response": None}),
    (robot_audio(), "push_robot_message", {"response": None}),
    (card_tap(), "push_card_callback", {"response": {}}),
])
def test_frame_becomes_exactly_the_http_event(fake: FakeStreamGateway, kv: KV, cfg: Any,
                                               payload: dict, push: str, expected_ack: dict) -> None:
    with streaming(fake, kv, cfg):
        message_id = getattr(fake, push)(payload)
        assert ack_data(fake, message_id) == expected_ack
        events = queued(kv, 1)
    assert [comparable(e) for e in events] == [comparable(http_event(payload))]
    assert kv.get(LAST_CALLBACK_KEY.format(platform="dingtalk")) is not None


@pytest.mark.parametrize("same_stream_message_id", [True, False])
def test_duplicate_frame_is_acked_and_enqueued_once(fake: FakeStreamGateway, kv: KV, cfg: Any,
                                                    same_stream_message_id: bool) -> None:
    with streaming(fake, kv, cfg) as client:
        first = fake.push_robot_message(robot_text("msg-dup"))
        again = fake.push_robot_message(robot_text("msg-dup"), first if same_stream_message_id else None)
        assert fake.wait_until(lambda: len(fake.acks_for(first)) + len(fake.acks_for(again)) >= 2, 3)
        assert client.intake.flush()
        events = queued(kv, 1)
    assert [e.event_id for e in events] == ["msg-dup"]


def test_frame_is_acked_before_it_is_processed(fake: FakeStreamGateway, kv: KV, cfg: Any) -> None:
    """No worker runs and the enqueue itself is held: the ack must not wait for either."""
    release, entered = threading.Event(), threading.Event()

    def held(sink: Callable) -> Callable:
        def enqueue(event: InboundEvent) -> bool:
            entered.set()
            release.wait(5)
            return sink(event)
        return enqueue

    with streaming(fake, kv, cfg, wrap=held):
        message_id = fake.push_robot_message(robot_text("msg-slow"))
        assert ack_data(fake, message_id) == {"response": None}
        assert entered.wait(3)
        assert kv.queue("inbound").stats().ready == 0       # acked while still unprocessed
        release.set()
        assert [e.event_id for e in queued(kv, 1)] == ["msg-slow"]


@pytest.mark.parametrize("push, check", [
    ("ping", lambda frame, ack: ack["data"] == frame["data"]),
    ("event", lambda frame, ack: json.loads(ack["data"])["status"] == "SUCCESS"),
])
def test_system_and_event_frames_are_acked(fake: FakeStreamGateway, kv: KV, cfg: Any, push: str,
                                           check: Callable) -> None:
    with streaming(fake, kv, cfg):
        if push == "ping":
            frame = fake.frame("SYSTEM", "ping", {"opaque": "p-1"})
        else:
            frame = fake.frame("EVENT", "*", {"userId": ["u7"]}, eventId="ev-1", eventType="user_add_org")
        fake.push(frame)
        ack = fake.wait_until(lambda: fake.acks_for(frame["headers"]["messageId"]), 3)
        assert ack and check(frame, ack[0])
        events = queued(kv, 1 if push == "event" else 0)
    assert [e.kind for e in events] == ([EventKind.CONTACT] if push == "event" else [])


@pytest.mark.parametrize("frame, expected", [
    ({"type": "CALLBACK", "headers": {"messageId": "m", "topic": "/v1.0/im/bot/messages/get"}},
     {"response": None}),
    ({"type": "CALLBACK", "headers": {"messageId": "m", "topic": "/v1.0/card/instances/callback"}},
     {"response": {}}),
    ({"type": "EVENT", "headers": {"messageId": "m", "eventType": "x"}}, {"status": "SUCCESS", "message": "success"}),
    ({"type": "SYSTEM", "headers": {"messageId": "m", "topic": "ping"}, "data": '{"opaque":"o"}'}, {"opaque": "o"}),
    ({"type": "SOMETHING_NEW", "headers": {"messageId": "m"}}, {"status": "SUCCESS", "message": "success"}),
])
def test_ack_shapes(frame: dict, expected: dict) -> None:
    ack = ack_for(frame)
    assert (ack["code"], ack["headers"]["messageId"], json.loads(ack["data"])) == (200, "m", expected)


def test_frame_without_message_id_gets_no_ack() -> None:
    assert ack_for({"type": "CALLBACK", "headers": {}}) is None


# --- liveness -------------------------------------------------------------------------------

@pytest.fixture
def fast_kv() -> EmbeddedKV:
    return EmbeddedKV(prefix="stream-test")


def test_silent_connection_is_replaced_within_the_silence_window(fake: FakeStreamGateway, fast_kv: KV,
                                                                 cfg: Any) -> None:
    silence = 1.0
    with streaming(fake, fast_kv, cfg, silence=silence):
        silent = fake.go_silent()
        started = time.monotonic()
        assert fake.wait_until(lambda: len(fake.connections) == 2, 4)
        took = time.monotonic() - started
        fresh = fake.live()
        status = fake.wait_until(lambda: (read_status(fast_kv, "dingtalk") or {}).get("reconnects") == 1
                                 and read_status(fast_kv, "dingtalk"), 2)
        # the new connection carries messages again
        message_id = fake.push_robot_message(robot_text("msg-after-silence"))
        assert ack_data(fake, message_id) == {"response": None}
        assert [e.event_id for e in queued(fast_kv, 1)] == ["msg-after-silence"]
    assert silence <= took < silence + 1.0          # detection tick ≤ 0.2 s, reconnect backoff 0.05 s
    assert (status["connected"], status["reconnects"]) == (True, 1)
    assert "no frame or pong" in status["last_error"]
    assert fresh.ticket != silent.ticket and len({o["ticket"] for o in fake.opened}) == 2


@pytest.mark.serial     # a 0.7 s idle window: a loaded machine answers pings late
def test_idle_connection_that_answers_pings_is_kept(fake: FakeStreamGateway, fast_kv: KV, cfg: Any) -> None:
    silence = 0.3
    with streaming(fake, fast_kv, cfg, silence=silence):
        # a negative needs a window: three silence periods with pongs only
        replaced = fake.wait_until(lambda: len(fake.connections) > 1, 3 * silence)
        status = read_status(fast_kv, "dingtalk")
    assert not replaced
    assert (status["reconnects"], status["last_error"]) == (0, None)


def test_disconnect_opens_a_new_connection_with_a_fresh_ticket(fake: FakeStreamGateway, fast_kv: KV,
                                                               cfg: Any) -> None:
    with streaming(fake, fast_kv, cfg) as client:
        old = fake.live()
        message_id = fake.disconnect()
        assert fake.wait_until(lambda: len(fake.connections) == 2 and old.closed, 3)
        assert fake.acks_for(message_id)            # the disconnect itself was acked first
        new = fake.live()
        tickets = list(client.tickets)
    # the client closed the old socket itself, long before the server's 10 s grace
    assert new.ticket != old.ticket and tickets == [old.ticket, new.ticket]
    assert [o["ticket"] for o in fake.opened] == tickets
    assert all(o["clientId"] == APP_KEY and "clientSecret" not in o for o in fake.opened)
    assert {(s["type"], s["topic"]) for s in fake.opened[0]["subscriptions"]} == {
        ("EVENT", "*"), ("CALLBACK", "/v1.0/im/bot/messages/get"), ("CALLBACK", "/v1.0/card/instances/callback")}


def test_wrong_secret_backs_off_and_reports(fake: FakeStreamGateway, fast_kv: KV, cfg: Any) -> None:
    with streaming(fake, fast_kv, cfg, silence=1.0, secret="not-the-secret"):
        status = fake.wait_until(lambda: read_status(fast_kv, "dingtalk")
                                 if (read_status(fast_kv, "dingtalk") or {}).get("last_error") else None, 3)
    assert fake.connections == [] and fake.opened == []
    assert status["connected"] is False and "401" in status["last_error"]
    assert "not-the-secret" not in json.dumps(status)


def test_a_ticket_is_single_use(fake: FakeStreamGateway) -> None:
    import asyncio

    import websockets

    status, opened = fake.open_connection({"clientId": APP_KEY, "clientSecret": SECRET, "subscriptions": SUBS})
    url = f"{opened['endpoint']}?ticket={opened['ticket']}"

    async def connect_twice() -> list[str]:
        results = []
        for _ in range(2):
            try:
                async with websockets.connect(url, open_timeout=3):
                    results.append("open")
            except websockets.InvalidStatus as err:
                results.append(str(err.response.status_code))
        return results

    assert status == 200
    assert asyncio.run(connect_twice()) == ["open", "401"]


# --- wiring: the config decides which connections a process opens ----------------------------

def with_modes(cfg: Any, dingtalk: str, feishu: str, **dingtalk_fields: Any) -> Any:
    p = cfg.platforms
    platforms = p.model_copy(update={"dingtalk": p.dingtalk.model_copy(update={"mode": dingtalk, **dingtalk_fields}),
                                     "feishu": p.feishu.model_copy(update={"mode": feishu})})
    return cfg.model_copy(update={"platforms": platforms})


@pytest.mark.parametrize("dingtalk, feishu, expected", [
    ("http", "http", []),
    ("stream", "http", ["dingtalk"]),
    ("http", "long_connection", ["feishu"]),
    ("stream", "long_connection", ["dingtalk", "feishu"]),
])
def test_stream_platforms_follow_the_config(cfg: Any, dingtalk: str, feishu: str, expected: list) -> None:
    moded = with_modes(cfg, dingtalk, feishu)
    assert [p.name for p in default_registry() if p.inbound_mode(moded) != "http"] == expected


def test_start_streams_feeds_the_shared_inbound_queue(fake: FakeStreamGateway, fast_kv: KV, cfg: Any) -> None:
    from bot.streams import start_streams
    stream_cfg = with_modes(cfg, "stream", "http", api_base=fake.api_base, app_key=APP_KEY,
                            app_secret=SecretStr(SECRET))
    stop = threading.Event()
    gateway = Gateway([], fast_kv)
    threads = start_streams(default_registry(), stream_cfg, fast_kv, gateway.enqueue, stop)
    try:
        assert fake.wait_until(lambda: fake.connections, 5)
        fake.push_robot_message(robot_text("msg-wired"))
        events = queued(fast_kv, 1)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    assert [e.event_id for e in events] == ["msg-wired"]
    assert [t.name for t in threads] == ["dingtalk-stream", "dingtalk-stream-watchdog"]
    assert not any(t.is_alive() for t in threads)


# --- the fake is as strict as DingTalk: subscriptions, topics, acks ------------------------------

@pytest.mark.parametrize("subscriptions", [None, [], "*", [{"type": "CALLBACK"}], [{"type": "OTHER", "topic": "x"}],
                                           [{"type": "EVENT", "topic": "user_add_org"}]])
def test_connections_open_needs_real_subscriptions(fake: FakeStreamGateway, subscriptions: Any) -> None:
    body = {"clientId": APP_KEY, "clientSecret": SECRET}
    if subscriptions is not None:
        body["subscriptions"] = subscriptions
    status, payload = fake.open_connection(body)
    assert (status, payload["code"]) == (400, "InvalidParameter.subscriptions") and fake.opened == []


def test_our_client_subscribes_to_messages_events_and_card_callbacks(fake: FakeStreamGateway, kv: KV,
                                                                   cfg: Any) -> None:
    with streaming(fake, kv, cfg):
        (opened,) = fake.opened
    assert {(s["type"], s["topic"]) for s in opened["subscriptions"]} == {
        ("EVENT", "*"), ("CALLBACK", "/v1.0/im/bot/messages/get"), ("CALLBACK", "/v1.0/card/instances/callback")}


def test_unsubscribed_topics_are_never_pushed(fake: FakeStreamGateway) -> None:
    import asyncio

    import websockets
    from sandbox.stream_server import NotSubscribed

    status, opened = fake.open_connection({"clientId": APP_KEY, "clientSecret": SECRET, "subscriptions": SUBS})

    async def hold() -> None:
        async with websockets.connect(f"{opened['endpoint']}?ticket={opened['ticket']}", open_timeout=3):
            await asyncio.sleep(0.5)

    runner = threading.Thread(target=asyncio.run, args=(hold(),))
    runner.start()
    try:
        assert fake.wait_until(lambda: fake.connections, 3)
        with pytest.raises(NotSubscribed):
            fake.push_card_callback({"outTrackId": "x"})
        with pytest.raises(NotSubscribed):
            fake.push_event("user_add_org", {"userId": ["u1"]})
        assert fake.push_robot_message(robot_text("msg-ok"))          # the one topic it asked for
    finally:
        runner.join(5)


@pytest.mark.parametrize("ack, reason", [
    ({"bogus": True}, "code must be a number"),
    ({"code": 200, "headers": {}, "data": "{}"}, "headers.messageId is required"),
    ({"code": 200, "headers": {"messageId": "never-pushed"}, "data": "{}"}, "unknown messageId"),
    ({"code": 200, "headers": {"messageId": "PUSHED"}, "data": {"response": None}}, "data must be a JSON string"),
    ({"code": 200, "headers": {"messageId": "PUSHED"}, "data": "{oops"}, "data is not JSON"),
    ("not json", "not a JSON object"),
])
def test_malformed_and_unknown_acks_are_rejected(fake: FakeStreamGateway, ack: Any, reason: str) -> None:
    import asyncio

    import websockets

    status, opened = fake.open_connection({"clientId": APP_KEY, "clientSecret": SECRET, "subscriptions": SUBS})

    async def answer_badly() -> None:
        async with websockets.connect(f"{opened['endpoint']}?ticket={opened['ticket']}", open_timeout=3) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 3))
            raw = json.dumps(ack).replace("PUSHED", frame["headers"]["messageId"]) if ack != "not json" else ack
            await ws.send(raw)
            await asyncio.sleep(0.3)

    runner = threading.Thread(target=asyncio.run, args=(answer_badly(),))
    runner.start()
    try:
        assert fake.wait_until(lambda: fake.connections, 3)
        message_id = fake.push_robot_message(robot_text("msg-bad-ack"))
        assert fake.wait_until(lambda: fake.rejected_acks, 3)
    finally:
        runner.join(5)
    assert fake.acks_for(message_id) == [] and fake.acks == []
    assert reason in fake.rejected_acks[0]["reason"]
