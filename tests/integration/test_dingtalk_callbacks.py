"""DingTalk HTTP robot callbacks through the real web app and gateway, on the embedded KV and on
Redis. The `sign` header covers only the timestamp, so a captured (timestamp, sign) pair is
taken with one body only (the same request again, a platform retry, stays a duplicate), within
a short window, and a sessionWebhook off DingTalk's hosts is never answered. The attack these
tests replay: a forged body claiming another rep ran 「查客户 医疗」, its answer asked to the
attacker's own sessionWebhook URL."""
from __future__ import annotations

import json
from typing import Any

import pytest

from bot.events import InboundEvent
from bot.outbound.message import Recipient
from bot.platforms.base import InboundRequest
from bot.platforms.dingtalk import robot_headers
from bot.runtime import Runtime
from bot.web import create_app
from crm_core.kv.base import KV

SECRET = "sandbox-dingtalk-secret"          # the example config's app_secret
EVIL = "https://attacker.example.com/robot/sendBySession?session=steal"


@pytest.fixture
def rt(cfg, db, kv: KV, clock) -> Runtime:  # noqa: ANN001
    return Runtime(cfg=cfg, db=db, kv=kv, clock=clock)


def message(staff_id: str, text: str, msg_id: str, webhook: str, now_ms: int) -> bytes:
    return json.dumps({
        "msgtype": "text", "msgId": msg_id, "createAt": now_ms, "conversationType": "1",
        "conversationId": f"cid-{staff_id}", "senderStaffId": staff_id, "robotCode": "ding-sandbox-app",
        "text": {"content": text}, "sessionWebhook": webhook, "sessionWebhookExpiredTime": now_ms + 5_400_000,
    }, ensure_ascii=False).encode()


def now_ms(rt: Runtime) -> int:
    return int(rt.now() * 1000)


def queued(rt: Runtime) -> list[InboundEvent]:
    queue, events = rt.kv.queue("inbound"), []
    while (delivery := queue.take(visibility_timeout=60)) is not None:
        events.append(InboundEvent.from_dict(delivery.payload["event"]))
    return events


def post(client: Any, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/callback/dingtalk", data=body, headers={**headers, "Content-Type": "application/json"})


def test_a_captured_sign_pair_is_accepted_once(rt: Runtime) -> None:
    client, ts = create_app(rt).test_client(), now_ms(rt) - 2000
    headers = robot_headers(SECRET, ts)
    real = message("manager7001", "你好", "msg-real", "https://oapi.dingtalk.com/robot/sendBySession?session=s1", ts)
    assert post(client, real, headers).status_code == 200
    forged = message("manager7002", "查客户 医疗", "msg-forged", EVIL, ts)     # another rep, the same headers
    for _ in range(2):                                                         # refused every time
        res = post(client, forged, headers)
        assert res.status_code == 401 and "replayed" in res.get_json()["message"]
    assert post(client, real, headers).status_code == 200                      # DingTalk's own retry: a duplicate
    assert [e.event_id for e in queued(rt)] == ["msg-real"]                    # nothing forged, nothing twice


def test_the_claim_lasts_until_the_timestamp_leaves_the_window(rt: Runtime, clock) -> None:  # noqa: ANN001
    client, ts = create_app(rt).test_client(), now_ms(rt)
    headers = robot_headers(SECRET, ts)
    assert post(client, message("manager7001", "你好", "m1", "", ts), headers).status_code == 200
    clock.advance(seconds=299)
    assert "replayed" in post(client, message("manager7002", "x", "m2", "", ts), headers).get_json()["message"]
    clock.advance(seconds=2)                                                   # 301 s: stale, refused as such
    res = post(client, message("manager7002", "x", "m3", "", ts), headers)
    assert res.status_code == 401 and "stale" in res.get_json()["message"]
    assert [e.event_id for e in queued(rt)] == ["m1"]


def test_a_failed_enqueue_releases_the_pair_for_the_platforms_retry(rt: Runtime, monkeypatch) -> None:  # noqa: ANN001
    ts = now_ms(rt)
    req = InboundRequest("POST", "/callback/dingtalk", {}, robot_headers(SECRET, ts),
                         message("manager7001", "你好", "m1", "", ts))

    def down(*_: Any) -> None:
        raise ConnectionError("KV down")

    with monkeypatch.context() as patch:
        patch.setattr(rt.gateway.queue, "put_once", down)
        with pytest.raises(ConnectionError):
            rt.gateway.accept("dingtalk", req)
    assert rt.gateway.accept("dingtalk", req).status == 200                   # DingTalk's retry
    assert [e.event_id for e in queued(rt)] == ["m1"]


def test_a_foreign_session_webhook_is_dropped_and_the_robot_api_answers(rt: Runtime,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    client, ts = create_app(rt).test_client(), now_ms(rt)
    with caplog.at_level("WARNING", logger="crm_bot.dingtalk"):
        res = post(client, message("manager7001", "查客户 医疗", "m1", EVIL, ts), robot_headers(SECRET, ts))
    assert res.status_code == 200                                              # still handled
    (event,) = queued(rt)
    assert "sessionWebhook" not in event.reply_ref and event.text == "查客户 医疗"
    assert [r.getMessage() for r in caplog.records if "attacker.example.com" in r.getMessage()] != []
    assert "session=steal" not in caplog.text                                  # the host only, not the URL
    channel = rt.channels["dingtalk"]
    to = Recipient("dingtalk", "manager7001", reply_ref=event.reply_ref)
    assert channel.route(to, "text", rt.now()) == "user"


@pytest.mark.parametrize("webhook, route", [
    (EVIL, "user"),                                                            # a Stream frame or a queued event
    ("https://oapi.dingtalk.com/robot/sendBySession?session=s1", "session"),
])
def test_the_channel_answers_session_webhooks_on_dingtalk_hosts_only(rt: Runtime, webhook: str, route: str) -> None:
    ref = {"sessionWebhook": webhook, "sessionWebhookExpiredTime": now_ms(rt) + 3_600_000}
    assert rt.channels["dingtalk"].route(Recipient("dingtalk", "manager7001", reply_ref=ref), "text", rt.now()) == route
