"""The sandbox over real HTTP: tokens, sends, card updates, media, failure injection, robot
signing and the control API; then the simulator's callbacks, received by a stub that runs the
real inbound adapters (so every request it builds must verify and decrypt for real)."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from pydantic import SecretStr

from bot.events import EventKind, InboundEvent
from bot.platforms.base import InboundRejected, InboundRequest
from bot.platforms.dingtalk import DingTalkInbound, custom_robot_sign
from bot.platforms.dingtalk.inbound import DingTalkCardInbound
from bot.platforms.dingtalk.signing import card_callback_url
from bot.platforms.feishu import FeishuCardInbound, FeishuInbound, custom_bot_sign
from bot.platforms.wecom import WeComInbound
from cards.model import Button, Card, Field, Level
from cards.render import (
    render_dingtalk, render_dingtalk_update, render_feishu, render_text, render_wecom,
    render_wecom_update,
)
from sandbox import (
    CardNotTappable, PlatformSimulator, RemoteSandbox, SandboxCredentials, SandboxServer, SentCall,
)
from sandbox.stack import point_at_sandbox

T0 = 1_790_000_000.0
PLATFORMS = ("wecom", "dingtalk", "feishu")
USER = {"wecom": "zhangwei", "dingtalk": "manager7001", "feishu": "ou_zhangwei"}
ROBOT = ("dt-robot-token", "SECsandbox-robot-secret")
HOOK = ("fs-hook-token", "fs-hook-secret")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:   # overrides the datetime clock of tests/conftest.py: the sandbox wants floats
    return Clock(T0)


@pytest.fixture
def srv(cfg, clock):  # noqa: ANN001, ANN201
    creds = dataclasses.replace(SandboxCredentials.from_config(cfg), wecom_webhooks={"wk-key": "east-medical"},
                                dingtalk_robots={ROBOT[0]: ("east-medical", ROBOT[1])},
                                feishu_hooks={HOOK[0]: HOOK[1]})
    server = SandboxServer(creds, clock=clock, hang_seconds=1.0).start()
    yield server
    server.stop()


@pytest.fixture
def http() -> requests.Session:
    return requests.Session()


# ---- helpers playing crm-bot's outbound side -----------------------------------------------

def fetch_token(srv: SandboxServer, http: requests.Session, platform: str, secret: str | None = None) -> requests.Response:
    c = srv.state.creds
    if platform == "wecom":
        return http.get(f"{srv.url}/wecom/cgi-bin/gettoken",
                        params={"corpid": c.wecom_corp_id, "corpsecret": secret or c.wecom_secret})
    if platform == "dingtalk":
        return http.post(f"{srv.url}/dingtalk/v1.0/oauth2/accessToken",
                         json={"appKey": c.dingtalk_app_key, "appSecret": secret or c.dingtalk_app_secret})
    return http.post(f"{srv.url}/feishu/open-apis/auth/v3/tenant_access_token/internal",
                     json={"app_id": c.feishu_app_id, "app_secret": secret or c.feishu_app_secret})


def token_of(resp: requests.Response) -> str:
    data = resp.json()
    return data.get("access_token") or data.get("accessToken") or data.get("tenant_access_token")


def call(srv: SandboxServer, http: requests.Session, platform: str, method: str, path: str,
         token: str | None = None, **kw: Any) -> requests.Response:
    """One API call with `token` (default: a freshly fetched one) put where the platform wants it."""
    token = token if token is not None else token_of(fetch_token(srv, http, platform))
    if platform == "wecom":
        kw["params"] = {"access_token": token, **kw.get("params", {})}
    elif platform == "dingtalk":
        kw["headers"] = {"x-acs-dingtalk-access-token": token}
    else:
        kw["headers"] = {"Authorization": f"Bearer {token}"}
    return http.request(method, f"{srv.url}/{platform}{path}", **kw)


SEND = {   # the simplest text message per platform: (method, path, kwargs)
    "wecom": ("POST", "/cgi-bin/message/send",
              {"json": {"touser": "zhangwei", "msgtype": "text", "agentid": 1000002, "text": {"content": "你好"}}}),
    "dingtalk": ("POST", "/v1.0/robot/oToMessages/batchSend",
                 {"json": {"robotCode": "ding-sandbox-app", "userIds": ["manager7001"], "msgKey": "sampleText",
                           "msgParam": json.dumps({"content": "你好"}, ensure_ascii=False)}}),
    "feishu": ("POST", "/open-apis/im/v1/messages",
               {"params": {"receive_id_type": "open_id"},
                "json": {"receive_id": "ou_zhangwei", "msg_type": "text", "content": json.dumps({"text": "你好"})}}),
}
SEND_API = {"wecom": "message/send", "dingtalk": "batchSend", "feishu": "im/messages"}


def send_text(srv: SandboxServer, http: requests.Session, platform: str, token: str | None = None) -> requests.Response:
    method, path, kw = SEND[platform]
    return call(srv, http, platform, method, path, token, **json.loads(json.dumps(kw)))


def error_of(resp: requests.Response) -> tuple[int, Any]:
    data = resp.json()
    return resp.status_code, data.get("errcode", data.get("code"))


CARD = Card(card_id="lead-42", title="新线索：杭州某医院", level=Level.WARNING, subtitle="来自展会",
            fields=(Field("联系人", "王主任"), Field("电话", "138****5678")), text="预算 **50 万**",
            buttons=(Button("确认", "lead.confirm", {"lead_id": "42"}, style="primary"),
                     Button("转派", "lead.reassign", {"lead_id": "42"})), footer="由 CRM 助手生成")


def send_card(srv: SandboxServer, http: requests.Session, platform: str, card: Card = CARD) -> SentCall:
    if platform == "wecom":
        body = {"touser": "zhangwei", **render_wecom(card, agent_id=1000002)}
        resp = call(srv, http, "wecom", "POST", "/cgi-bin/message/send", json=body)
    elif platform == "dingtalk":
        register_card_route(srv, http)
        resp = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver",
                    json=dingtalk_card_body(srv, card))
    else:
        body = {"receive_id": "ou_zhangwei", "msg_type": "interactive", "content": json.dumps(render_feishu(card))}
        resp = call(srv, http, "feishu", "POST", "/open-apis/im/v1/messages",
                    params={"receive_id_type": "open_id"}, json=body)
    assert resp.status_code == 200 and error_of(resp)[1] in (None, 0), resp.text
    return srv.sent(platform)[-1]


CARD_SECRET = "sandbox-card-callback-secret"    # the example config's card_callback_secret


def register_card_route(srv: SandboxServer, http: requests.Session, key: str = "crm-bot") -> requests.Response:
    """What crm-bot does in HTTP mode before its first card (the URL of the example config)."""
    body = {"callbackRouteKey": key, "callbackUrl": card_callback_url("http://127.0.0.1:8080", CARD_SECRET),
            "apiSecret": CARD_SECRET, "forceUpdate": True}
    return call(srv, http, "dingtalk", "POST", "/v1.0/card/callbacks/register", json=body)


def dingtalk_card_body(srv: SandboxServer, card: Card = CARD, callback: str | None = "HTTP",
                       to: str = "manager7001", out_track_id: str | None = None) -> dict[str, Any]:
    """createAndDeliver as crm-bot sends it (one user, the configured template)."""
    body: dict[str, Any] = {
        "cardTemplateId": srv.state.creds.dingtalk_card_template_id, "outTrackId": out_track_id or f"{card.card_id}@crm-1",
        **render_dingtalk(card), "userIdType": 1, "openSpaceId": f"dtv1.card//IM_ROBOT.{to}",
        "imRobotOpenSpaceModel": {"supportForward": False},
        "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": "ding-sandbox-app"}}
    if callback == "HTTP":
        body.update(callbackType="HTTP", callbackRouteKey="crm-bot")
    elif callback:
        body["callbackType"] = callback
    return body


def resolve_card(srv: SandboxServer, http: requests.Session, platform: str, sent: SentCall, result: str,
                 response_code: str | None = None) -> requests.Response:
    done = CARD.resolved(result)
    if platform == "wecom":
        body = {"userids": ["zhangwei"], "agentid": 1000002,
                "response_code": response_code or sent.response["response_code"], **render_wecom_update(done)}
        return call(srv, http, "wecom", "POST", "/cgi-bin/message/update_template_card", json=body)
    if platform == "dingtalk":
        return call(srv, http, "dingtalk", "PUT", "/v1.0/card/instances",
                    json={"outTrackId": sent.body["outTrackId"], **render_dingtalk_update(done)})
    mid = sent.response["data"]["message_id"]
    return call(srv, http, "feishu", "PATCH", f"/open-apis/im/v1/messages/{mid}",
                json={"content": json.dumps(render_feishu(done))})


# ---- tokens ------------------------------------------------------------------------------------

BAD_SECRET = {"wecom": (200, 40001), "dingtalk": (400, "invalidClientIdOrSecret"), "feishu": (200, 10014)}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_token_is_issued_for_the_right_secret_only(srv, http, platform) -> None:
    first, again = fetch_token(srv, http, platform), fetch_token(srv, http, platform)
    assert first.status_code == 200 and token_of(first)
    assert token_of(again) == token_of(first)          # reused while valid, like the platforms
    bad = fetch_token(srv, http, platform, secret="wrong-secret")
    assert error_of(bad) == BAD_SECRET[platform] and token_of(bad) is None


@pytest.mark.parametrize("platform", PLATFORMS)
def test_send_with_a_valid_token_is_recorded(srv, http, platform) -> None:
    resp = send_text(srv, http, platform)
    assert resp.status_code == 200, resp.text
    (sent,) = srv.sent(platform)
    assert (sent.api, sent.recipient, sent.ok) == (SEND_API[platform], USER[platform], True)
    assert sent.body == SEND[platform][2]["json"] and sent.response == resp.json()


BAD_TOKEN = {"wecom": (200, 40014), "dingtalk": (401, "InvalidAuthentication"), "feishu": (400, 99991663)}
MISSING_TOKEN = {"wecom": (200, 41001), "dingtalk": (401, "InvalidAuthentication"), "feishu": (400, 99991661)}
EXPIRED_TOKEN = {"wecom": (200, 42001), "dingtalk": (401, "InvalidAuthentication"), "feishu": (400, 99991663)}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_unknown_and_missing_tokens_are_refused_and_nothing_is_delivered(srv, http, platform) -> None:
    assert error_of(send_text(srv, http, platform, token="not-a-token")) == BAD_TOKEN[platform]
    assert error_of(send_text(srv, http, platform, token="")) == MISSING_TOKEN[platform]
    assert srv.sent(platform) == [] and len(srv.sent(platform, include_failed=True)) == 2


@pytest.mark.parametrize("platform", PLATFORMS)
def test_expire_tokens_makes_the_old_token_expired_and_a_new_one_works(srv, http, platform) -> None:
    old = token_of(fetch_token(srv, http, platform))
    srv.expire_tokens(platform)
    assert error_of(send_text(srv, http, platform, token=old)) == EXPIRED_TOKEN[platform]
    new = token_of(fetch_token(srv, http, platform))
    assert new != old and send_text(srv, http, platform, token=new).status_code == 200
    assert len(srv.sent(platform)) == 1


def test_tokens_expire_after_7200_seconds_of_the_injected_clock(srv, http, clock) -> None:
    token = token_of(fetch_token(srv, http, "wecom"))
    clock.t += 7199
    assert error_of(send_text(srv, http, "wecom", token=token)) == (200, 0)
    clock.t += 2
    assert error_of(send_text(srv, http, "wecom", token=token)) == EXPIRED_TOKEN["wecom"]


# ---- cards: WeCom response_code, DingTalk card instances, Feishu uuid ------------------------------

def test_wecom_response_code_is_single_use(srv, http) -> None:
    sent = send_card(srv, http, "wecom")
    assert sent.response["response_code"]
    assert error_of(resolve_card(srv, http, "wecom", sent, "已确认")) == (200, 0)
    assert error_of(resolve_card(srv, http, "wecom", sent, "又确认")) == (200, 40058)
    assert error_of(resolve_card(srv, http, "wecom", sent, "x", response_code="made-up")) == (200, 40058)
    (update,) = srv.sent("wecom", "update_template_card")
    assert update.recipient == "zhangwei" and update.body["template_card"]["replace_text"] == "已处理"


def test_wecom_task_id_is_unique_per_app(srv, http) -> None:
    send_card(srv, http, "wecom")
    body = {"touser": "lisi", **render_wecom(CARD, agent_id=1000002)}          # same task_id, another user
    again = call(srv, http, "wecom", "POST", "/cgi-bin/message/send", json=body)
    assert error_of(again) == (200, 40058) and "task_id" in again.json()["errmsg"]
    fresh = call(srv, http, "wecom", "POST", "/cgi-bin/message/send",
                 json={"touser": "lisi", **render_wecom(CARD, agent_id=1000002, task_id="lead-42@crm-2")})
    assert error_of(fresh) == (200, 0)
    dup = {**body, "template_card": {**body["template_card"], "task_id": "lead-42@crm-3"},
           "enable_duplicate_check": 1, "duplicate_check_interval": 60}
    assert [error_of(call(srv, http, "wecom", "POST", "/cgi-bin/message/send", json=dup))
            for _ in range(2)] == [(200, 0), (200, 0)]                       # a deduplicated retry is no repeat
    assert len(srv.sent("wecom", "message/send")) == 3


def test_wecom_text_notice_cards_get_no_response_code_and_bad_cards_are_refused(srv, http) -> None:
    plain = send_card(srv, http, "wecom", Card(card_id="note-1", title="周报已生成"))
    assert plain.body["template_card"]["card_type"] == "text_notice" and "response_code" not in plain.response
    broken = {"touser": "zhangwei", "msgtype": "template_card", "agentid": 1000002,
              "template_card": {"card_type": "button_interaction", "main_title": {"title": "x"}, "task_id": "t1"}}
    resp = call(srv, http, "wecom", "POST", "/cgi-bin/message/send", json=broken)
    assert error_of(resp) == (200, 40058) and "button_list" in resp.json()["errmsg"]


def test_dingtalk_card_update_needs_a_sent_card(srv, http) -> None:
    sent = send_card(srv, http, "dingtalk")
    assert resolve_card(srv, http, "dingtalk", sent, "已确认").status_code == 200
    unknown = call(srv, http, "dingtalk", "PUT", "/v1.0/card/instances",
                   json={"outTrackId": "never-sent", **render_dingtalk_update(CARD)})
    assert error_of(unknown) == (400, "param.outTrackId.notExist")
    assert [c.api for c in srv.sent("dingtalk")] == ["card/createAndDeliver", "card/update"]
    shown = srv.find_card("dingtalk", ["lead-42"])["card"]
    assert shown["resolved"] == "true" and shown["result"] == "已确认" and shown["btn1_text"] == ""


def test_dingtalk_card_without_callback_settings_is_refused(srv, http) -> None:
    refused = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver",
                   json=dingtalk_card_body(srv, callback=None))
    assert error_of(refused) == (400, "sandbox.card.noCallback") and "callbackType" in refused.json()["message"]
    legacy = {"cardTemplateId": "StandardCard", "cardBizId": "lead-42", "robotCode": "ding-sandbox-app",
              "singleChatReceiver": json.dumps({"userId": "manager7001"}), "cardData": json.dumps(
                  {"contents": [{"type": "button", "actionType": "request", "id": "b1", "label": {"text": "确认"}}]})}
    old = call(srv, http, "dingtalk", "POST", "/v1.0/im/v1.0/robot/interactiveCards/send", json=legacy)
    assert error_of(old) == (400, "sandbox.card.noCallback")
    unregistered = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver",
                        json=dingtalk_card_body(srv))              # HTTP, but the route key was never registered
    assert error_of(unregistered) == (400, "InvalidParameter.callbackRouteKey")
    no_buttons = Card(card_id="note-1", title="周报已生成")            # nothing to tap: no callback needed
    ok = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver",
              json=dingtalk_card_body(srv, no_buttons, callback=None))
    assert error_of(ok) == (200, None) and ok.json()["result"]["deliverResults"][0]["success"] is True
    assert [c.api for c in srv.sent("dingtalk")] == ["card/createAndDeliver"]


@pytest.mark.parametrize("change, code", [
    ({"cardTemplateId": "someone-elses.schema"}, "InvalidParameter.cardTemplateId"),
    ({"outTrackId": ""}, "MissingParameter"),
    ({"openSpaceId": "manager7001"}, "InvalidParameter.openSpaceId"),
    ({"imRobotOpenDeliverModel": None}, "InvalidParameter.imRobotOpenDeliverModel"),
    ({"cardData": {"cardParamMap": {"title": "x", "resolved": False}}}, "InvalidParameter.cardData"),
    ({"cardData": "{}"}, "InvalidParameter.cardData"),
    ({"callbackType": "WEBHOOK"}, "InvalidParameter.callbackType"),
])
def test_dingtalk_create_and_deliver_checks_its_fields(srv, http, change, code) -> None:
    register_card_route(srv, http)
    body = {k: v for k, v in {**dingtalk_card_body(srv), **change}.items() if v is not None}
    resp = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver", json=body)
    assert error_of(resp) == (400, code) and srv.sent("dingtalk") == []


def test_dingtalk_out_track_id_repeats_only_as_a_retry(srv, http) -> None:
    register_card_route(srv, http)
    body = dingtalk_card_body(srv)
    first = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver", json=body)
    retry = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver", json=body)
    other = call(srv, http, "dingtalk", "POST", "/v1.0/card/instances/createAndDeliver",
                 json=dingtalk_card_body(srv, to="manager7002"))
    assert first.json() == retry.json() and error_of(other) == (400, "InvalidParameter.outTrackId")
    assert len(srv.sent("dingtalk")) == 1                                        # delivered once


def test_dingtalk_callback_route_registration(srv, http) -> None:
    assert register_card_route(srv, http).json()["result"]["callbackUrl"].endswith("/callback/dingtalk/card?token="
                                                                                   + card_callback_url("", CARD_SECRET).split("=")[1])
    again = call(srv, http, "dingtalk", "POST", "/v1.0/card/callbacks/register",
                 json={"callbackRouteKey": "crm-bot", "callbackUrl": "https://elsewhere/cb"})
    assert error_of(again) == (400, "InvalidParameter.callbackRouteKey")        # no forceUpdate
    assert error_of(call(srv, http, "dingtalk", "POST", "/v1.0/card/callbacks/register",
                         json={"callbackRouteKey": "k2"})) == (400, "MissingParameter")


def test_feishu_uuid_makes_a_send_idempotent_for_one_hour(srv, http, clock) -> None:
    def send(uuid: str) -> str:
        body = {"receive_id": "ou_chenjie", "msg_type": "text", "content": json.dumps({"text": "提醒"}), "uuid": uuid}
        resp = call(srv, http, "feishu", "POST", "/open-apis/im/v1/messages",
                    params={"receive_id_type": "open_id"}, json=body)
        return resp.json()["data"]["message_id"]

    first = send("crm-reminder-1")
    assert send("crm-reminder-1") == first and send("crm-reminder-2") != first
    assert len(srv.sent("feishu")) == 2                # the repeat was not delivered again
    clock.t += 3601
    assert send("crm-reminder-1") != first and len(srv.sent("feishu")) == 3


# ---- media --------------------------------------------------------------------------------------

AUDIO = b"#!AMR\n" + bytes(range(256)) * 4


def test_wecom_media_round_trip(srv, http) -> None:
    srv.put_media("wecom", "media-1", AUDIO, "audio/amr")
    resp = call(srv, http, "wecom", "GET", "/cgi-bin/media/get", params={"media_id": "media-1"})
    assert (resp.status_code, resp.content, resp.headers["Content-Type"]) == (200, AUDIO, "audio/amr")
    assert "media-1.amr" in resp.headers["Content-disposition"]
    missing = call(srv, http, "wecom", "GET", "/cgi-bin/media/get", params={"media_id": "nope"})
    assert error_of(missing) == (200, 40007)


def test_dingtalk_media_round_trip_through_the_download_url(srv, http) -> None:
    srv.put_media("dingtalk", "code-1", AUDIO, "audio/ogg")
    resp = call(srv, http, "dingtalk", "POST", "/v1.0/robot/messageFiles/download",
                json={"downloadCode": "code-1", "robotCode": "ding-sandbox-app"})
    url = resp.json()["downloadUrl"]
    assert url.startswith(srv.url + "/dingtalk/files/")
    file = http.get(url)
    assert (file.content, file.headers["Content-Type"]) == (AUDIO, "audio/ogg")
    missing = call(srv, http, "dingtalk", "POST", "/v1.0/robot/messageFiles/download",
                   json={"downloadCode": "nope", "robotCode": "ding-sandbox-app"})
    assert missing.status_code == 400


def test_feishu_resource_must_belong_to_its_message(srv, http) -> None:
    srv.put_media("feishu", "file_v3_1", AUDIO, "audio/ogg", message_id="om_1")
    ok = call(srv, http, "feishu", "GET", "/open-apis/im/v1/messages/om_1/resources/file_v3_1", params={"type": "file"})
    assert (ok.status_code, ok.content) == (200, AUDIO)
    other = call(srv, http, "feishu", "GET", "/open-apis/im/v1/messages/om_2/resources/file_v3_1",
                 params={"type": "file"})
    no_auth = call(srv, http, "feishu", "GET", "/open-apis/im/v1/messages/om_1/resources/file_v3_1",
                   token="bad", params={"type": "file"})
    assert error_of(other) == (400, 234003) and error_of(no_auth) == BAD_TOKEN["feishu"]


# ---- failure injection ----------------------------------------------------------------------------

@pytest.mark.parametrize("platform", PLATFORMS)
def test_5xx_twice_then_ok(srv, http, platform) -> None:
    token = token_of(fetch_token(srv, http, platform))
    srv.fail(platform, SEND_API[platform], "5xx", count=2)
    statuses = [send_text(srv, http, platform, token).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert len(srv.sent(platform)) == 1 and len(srv.sent(platform, include_failed=True)) == 3
    assert srv.hits(platform, SEND_API[platform]) == 3


def test_timeout_holds_the_request_past_the_client_timeout(srv, http) -> None:
    token = token_of(fetch_token(srv, http, "wecom"))
    srv.fail("wecom", "message/send", "timeout", count=1)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        call(srv, http, "wecom", "POST", SEND["wecom"][1], token, json=SEND["wecom"][2]["json"], timeout=0.5)
    assert time.monotonic() - started >= 0.5          # the client gave up, not the server
    assert send_text(srv, requests.Session(), "wecom", token).status_code == 200   # count used up


RATE_LIMITED = {"wecom": (200, 45009), "dingtalk": (403, "Forbidden.AccessDenied.QpsLimitForApi"),
                "feishu": (429, 99991400)}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rate_limit_and_token_expired_and_custom_error_modes(srv, http, platform) -> None:
    token = token_of(fetch_token(srv, http, platform))
    srv.fail(platform, SEND_API[platform], "rate_limit", count=1)
    limited = send_text(srv, http, platform, token)
    assert error_of(limited) == RATE_LIMITED[platform]
    if platform == "feishu":
        assert limited.headers["x-ogw-ratelimit-reset"] == "1"
    srv.fail(platform, SEND_API[platform], "token_expired", count=1)
    assert error_of(send_text(srv, http, platform, token)) == EXPIRED_TOKEN[platform]
    srv.fail(platform, "*", "error:81013")                # every API, until healed
    assert str(error_of(send_text(srv, http, platform, token))[1]) == "81013"
    assert str(error_of(fetch_token(srv, http, platform))[1]) == "81013"
    srv.fail(platform, "*", "ok")
    assert send_text(srv, http, platform, token).status_code == 200


@pytest.mark.parametrize("bad", [{"platform": "qq", "api": "*", "mode": "5xx"},
                                 {"platform": "wecom", "api": "*", "mode": "explode"},
                                 {"platform": "wecom", "api": "*", "mode": "5xx", "count": 0}])
def test_bad_failure_switches_are_refused(srv, http, bad) -> None:
    resp = http.post(f"{srv.url}/_sandbox/fail", json=bad)
    assert resp.status_code == 400 and resp.json()["ok"] is False


# ---- group robots ---------------------------------------------------------------------------------

def dingtalk_robot(srv, http, ts_ms: int, sign: str, token: str = ROBOT[0]) -> requests.Response:  # noqa: ANN001
    # the sign is already URL-encoded once, so the query string is built by hand
    url = f"{srv.url}/dingtalk-oapi/robot/send?access_token={token}&timestamp={ts_ms}&sign={sign}"
    return http.post(url, json={"msgtype": "text", "text": {"content": "今日线索 3 条"}})


def test_dingtalk_custom_robot_checks_the_sec_signature(srv, http, clock) -> None:
    now_ms = int(clock.t * 1000)
    good = dingtalk_robot(srv, http, now_ms, custom_robot_sign(ROBOT[1], now_ms))
    assert error_of(good) == (200, 0)
    cases = [(now_ms, custom_robot_sign("SECwrong", now_ms), ROBOT[0], 310000),
             (now_ms - 3_601_000, custom_robot_sign(ROBOT[1], now_ms - 3_601_000), ROBOT[0], 310000),
             (now_ms, custom_robot_sign(ROBOT[1], now_ms), "unknown-robot", 300001)]
    assert [error_of(dingtalk_robot(srv, http, ts, sign, tok))[1] for ts, sign, tok, _ in cases] == \
        [code for *_, code in cases]
    (sent,) = srv.sent("dingtalk", "webhook")
    assert sent.recipient == "east-medical"


def test_feishu_custom_bot_checks_the_body_signature(srv, http, clock) -> None:
    def post(ts: int, sign: str, token: str = HOOK[0]) -> requests.Response:
        return http.post(f"{srv.url}/feishu/open-apis/bot/v2/hook/{token}",
                         json={"timestamp": str(ts), "sign": sign, "msg_type": "text", "content": {"text": "日报"}})

    now = int(clock.t)
    assert error_of(post(now, custom_bot_sign(HOOK[1], now))) == (200, 0)
    assert error_of(post(now, custom_bot_sign("wrong", now))) == (200, 19021)
    assert error_of(post(now - 3601, custom_bot_sign(HOOK[1], now - 3601))) == (200, 19021)
    assert error_of(post(now, custom_bot_sign(HOOK[1], now), token="nope")) == (200, 19001)
    assert [c.recipient for c in srv.sent("feishu", "webhook")] == [HOOK[0]]


def test_wecom_group_robot_knows_its_keys(srv, http) -> None:
    body = {"msgtype": "markdown", "markdown": {"content": "**今日线索** 3 条"}}
    assert error_of(http.post(f"{srv.url}/wecom/cgi-bin/webhook/send", params={"key": "wk-key"}, json=body)) == (200, 0)
    assert error_of(http.post(f"{srv.url}/wecom/cgi-bin/webhook/send", params={"key": "nope"}, json=body)) == (200, 93000)
    assert [c.recipient for c in srv.sent("wecom", "webhook")] == ["east-medical"]


# ---- control API -------------------------------------------------------------------------------

def test_control_api_filters_stores_media_and_resets(srv, http) -> None:
    for platform in PLATFORMS:
        send_text(srv, http, platform)
    send_text(srv, http, "wecom", token="bad")
    get = lambda **q: http.get(f"{srv.url}/_sandbox/sent", params=q).json()["calls"]  # noqa: E731
    assert [c["platform"] for c in get()] == list(PLATFORMS)
    assert [c["api"] for c in get(platform="feishu")] == ["im/messages"]
    assert len(get(platform="wecom", include_failed=1)) == 2
    assert [c["platform"] for c in get(after=get()[0]["seq"])] == ["dingtalk", "feishu"]
    assert get(api="batchSend")[0]["recipient"] == "manager7001"
    assert SentCall.from_dict(get()[0]) == srv.sent()[0]

    media = {"platform": "wecom", "key": "m-9", "data": "aGVsbG8=", "content_type": "audio/amr"}
    assert http.post(f"{srv.url}/_sandbox/media", json=media).json() == {"ok": True}
    assert srv.state.get_media("wecom", "m-9").data == b"hello"

    old = token_of(fetch_token(srv, http, "wecom"))
    assert http.post(f"{srv.url}/_sandbox/reset").json() == {"ok": True}
    assert get() == [] and srv.state.get_media("wecom", "m-9") is None
    assert error_of(send_text(srv, http, "wecom", token=old)) == BAD_TOKEN["wecom"]


# ---- the simulator, against a stub running the real inbound adapters ------------------------------

class BotStub:
    """crm-bot's callback endpoints reduced to the adapters: verify, decrypt, parse, answer."""

    def __init__(self, cfg, clock: Clock, srv: SandboxServer) -> None:  # noqa: ANN001
        # the sandbox's host:port is allowed for session webhooks, as `LocalStack` does it
        d = point_at_sandbox(cfg, srv.base_urls()).platforms.dingtalk
        w, f = cfg.platforms.wecom, cfg.platforms.feishu
        token, key = f.verification_token.get_secret_value(), f.encrypt_key.get_secret_value()
        self.adapters = {
            "/callback/wecom": WeComInbound(w.token.get_secret_value(), w.encoding_aes_key.get_secret_value(), w.corp_id),
            "/callback/dingtalk": DingTalkInbound(d.app_secret.get_secret_value(),
                                                  session_webhook_hosts=d.session_webhook_hosts),
            "/callback/dingtalk/card": DingTalkCardInbound(d.card_callback_secret.get_secret_value()),
            "/callback/feishu": FeishuInbound(token, key), "/callback/feishu/card": FeishuCardInbound(token, key)}
        self.events: list[InboundEvent] = []
        self.clock = clock
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _stub_handler(self))
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(target)
        req = InboundRequest(method, parts.path, dict(parse_qsl(parts.query)), headers, body)
        try:
            result = self.adapters[parts.path].handle(req, self.clock())
        except InboundRejected as err:
            return err.status, err.reason.encode()
        self.events.extend(result.events)
        data = result.response_body
        return result.status, data.encode() if isinstance(data, str) else data


def _stub_handler(stub: BotStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, data = stub.answer(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/json" if data.startswith(b"{") else "text/plain")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def bot(cfg, clock, srv):  # noqa: ANN001, ANN201
    stub = BotStub(cfg, clock, srv)
    yield stub
    stub.httpd.shutdown()
    stub.httpd.server_close()


@pytest.fixture
def sim(cfg, bot, srv, clock) -> PlatformSimulator:  # noqa: ANN001
    return PlatformSimulator(cfg, bot.url, srv, clock=clock, timeout=5)


TEXTS = ["帮我建个线索：杭州某医院，王主任 13812345678", "预算 <50万> & \"报价\" ]]> 明天跟进 😀"]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("text", TEXTS)
def test_text_callbacks_verify_and_parse(sim, bot, platform, text) -> None:
    resp = sim.send_text(platform, USER[platform], text)
    assert resp.status_code == 200, resp.text
    (event,) = bot.events
    assert (event.platform, event.kind, event.sender_id) == (platform, EventKind.TEXT, USER[platform])
    assert event.text == text and event.event_id


def test_feishu_without_an_encrypt_key_authenticates_by_the_verification_token(cfg, srv, clock) -> None:
    plain_feishu = cfg.platforms.feishu.model_copy(update={"encrypt_key": SecretStr("")})
    plain = cfg.model_copy(update={"platforms": cfg.platforms.model_copy(update={"feishu": plain_feishu})})
    stub = BotStub(plain, clock, srv)
    try:
        sim = PlatformSimulator(plain, stub.url, srv, clock=clock)
        ok = sim.send_text("feishu", "ou_chenjie", "明文回调")
        forged = sim.send_text("feishu", "ou_chenjie", "明文回调", forge_signature=True)
        assert json.loads(ok.request.body)["event"]["message"]["message_type"] == "text"
        assert (ok.status_code, forged.status_code) == (200, 403)
        assert [e.text for e in stub.events] == ["明文回调"] and sim.verify_url("feishu").ok
    finally:
        stub.httpd.shutdown()
        stub.httpd.server_close()


@pytest.mark.parametrize("platform", ["dingtalk", "feishu"])
def test_group_text_callbacks_carry_the_chat(sim, bot, platform) -> None:
    assert sim.send_text(platform, USER[platform], "今天的待办", chat_id="oc_sales_group").status_code == 200
    (event,) = bot.events
    assert (event.conversation_type, event.conversation_id, event.text) == ("group", "oc_sales_group", "今天的待办")


def download(srv, http, platform: str, event: InboundEvent) -> bytes:  # noqa: ANN001
    if platform == "wecom":
        return call(srv, http, "wecom", "GET", "/cgi-bin/media/get", params={"media_id": event.media.key}).content
    if platform == "dingtalk":
        resp = call(srv, http, "dingtalk", "POST", "/v1.0/robot/messageFiles/download",
                    json={"downloadCode": event.media.key, "robotCode": "ding-sandbox-app"})
        return http.get(resp.json()["downloadUrl"]).content
    path = f"/open-apis/im/v1/messages/{event.media.message_id}/resources/{event.media.key}"
    return call(srv, http, "feishu", "GET", path, params={"type": "file"}).content


@pytest.mark.parametrize("platform,fmt", [("wecom", "amr"), ("dingtalk", "ogg"), ("feishu", "opus")])
def test_voice_callbacks_point_at_downloadable_media(sim, bot, srv, http, platform, fmt) -> None:
    recognition = "拜访了王主任" if platform == "dingtalk" else None
    resp = sim.send_voice(platform, USER[platform], AUDIO, fmt=fmt, duration_ms=4200, recognition=recognition)
    assert resp.status_code == 200, resp.text
    (event,) = bot.events
    assert event.kind is EventKind.VOICE and event.media.key
    assert event.media.recognition == recognition
    assert download(srv, http, platform, event) == AUDIO


@pytest.mark.parametrize("platform", PLATFORMS)
def test_tap_sends_the_card_callback_for_that_button(sim, bot, srv, http, platform) -> None:
    sent = send_card(srv, http, platform)
    assert sim.tap(platform, USER[platform], sent, "lead.reassign", lead_id="42").status_code == 200
    (event,) = bot.events
    assert event.kind is EventKind.CARD_ACTION and event.sender_id == USER[platform]
    assert (event.action.key, event.action.values, event.action.card_ref) == ("lead.reassign", {"lead_id": "42"}, "lead-42")
    with pytest.raises(CardNotTappable):
        sim.tap(platform, USER[platform], sent, "lead.archive")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_resolved_card_cannot_be_tapped_again_unless_stale(sim, bot, srv, http, platform) -> None:
    sent = send_card(srv, http, platform)
    sim.tap(platform, USER[platform], sent, "确认")                      # by button text
    code = bot.events[-1].reply_ref.get("response_code") if platform == "wecom" else None
    assert resolve_card(srv, http, platform, sent, "已由 张伟 确认", response_code=code).status_code == 200
    with pytest.raises(CardNotTappable, match="已处理"):
        sim.tap(platform, USER[platform], sent, "lead.confirm")
    assert sim.tap(platform, USER[platform], sent, "lead.confirm", stale_ok=True).status_code == 200
    assert [e.action.key for e in bot.events] == ["lead.confirm", "lead.confirm"]


def test_dingtalk_taps_go_to_the_registered_route_with_its_token(sim, bot, srv, http) -> None:
    sent = send_card(srv, http, "dingtalk")
    forged = sim.tap("dingtalk", "manager7001", sent, "lead.confirm", forge_signature=True)
    assert forged.status_code == 401 and bot.events == []
    ok = sim.tap("dingtalk", "manager7001", sent, "lead.confirm")
    assert ok.status_code == 200 and urlsplit(ok.request.url).path == "/callback/dingtalk/card"
    assert "sign" not in ok.request.headers and bot.events[-1].reply_ref["outTrackId"] == "lead-42@crm-1"


def test_wecom_tap_after_the_code_was_used_carries_a_fresh_code(sim, bot, srv, http) -> None:
    sent = send_card(srv, http, "wecom")
    sim.tap("wecom", "zhangwei", sent, "lead.confirm")
    first = bot.events[-1].reply_ref["response_code"]
    assert first == sent.response["response_code"]
    body = {"userids": ["zhangwei"], "agentid": 1000002, "response_code": first, "button": {"replace_name": "处理中"}}
    assert error_of(call(srv, http, "wecom", "POST", "/cgi-bin/message/update_template_card", json=body)) == (200, 0)
    sim.tap("wecom", "lisi", sent, "lead.confirm", stale_ok=True)
    second = bot.events[-1].reply_ref["response_code"]
    assert second != first
    body["response_code"] = second
    assert error_of(call(srv, http, "wecom", "POST", "/cgi-bin/message/update_template_card", json=body)) == (200, 0)


def test_feishu_card_token_from_a_tap_allows_two_delayed_updates(sim, bot, srv, http) -> None:
    sent = send_card(srv, http, "feishu")
    sim.tap("feishu", "ou_zhangwei", sent, "lead.confirm")
    token = bot.events[-1].reply_ref["token"]
    body = {"token": token, "card": render_feishu(CARD.resolved("已确认"))}
    codes = [error_of(call(srv, http, "feishu", "POST", "/open-apis/interactive/v1/card/update", json=body))
             for _ in range(3)]
    assert codes == [(200, 0), (200, 0), (400, 300110)]
    assert [c.recipient for c in srv.sent("feishu", "card/update")] == ["ou_zhangwei"] * 2


def test_replies_go_to_the_session_webhook_and_the_quoted_message(sim, bot, srv, http) -> None:
    sim.send_text("dingtalk", "manager7001", "查一下王主任")
    webhook = bot.events[-1].reply_ref["sessionWebhook"]
    assert error_of(http.post(webhook, json={"msgtype": "text", "text": {"content": "找到 1 位客户"}})) == (200, 0)
    assert error_of(http.post(webhook.rsplit("/", 1)[0] + "/forged", json={"msgtype": "text", "text": {"content": "x"}})) == (200, 300001)
    sim.send_text("feishu", "ou_chenjie", "查一下王主任")
    mid = bot.events[-1].reply_ref["message_id"]
    reply = call(srv, http, "feishu", "POST", f"/open-apis/im/v1/messages/{mid}/reply",
                 json={"msg_type": "text", "content": json.dumps({"text": "找到 1 位客户"})})
    assert reply.status_code == 200
    assert [(c.api, c.recipient) for c in srv.sent()] == [("session", "manager7001"), ("im/reply", "ou_chenjie")]


@pytest.mark.parametrize("platform", ["wecom", "feishu"])
def test_url_verification_handshake(sim, platform) -> None:
    assert sim.verify_url(platform).ok
    forged = sim.verify_url(platform, forge_signature=True)
    assert not forged.ok and forged.response.status_code in (401, 403)


BAD_REQUESTS = [   # (option, value, expected status) for every platform
    ("forge_signature", True, {401, 403}),
    ("timestamp", T0 - 3601, {401}),
    ("raw_body", b"{not json", {400}),
]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("option,value,statuses", BAD_REQUESTS)
def test_bad_requests_are_rejected_by_the_adapters(sim, bot, platform, option, value, statuses) -> None:
    resp = sim.send_text(platform, USER[platform], "你好", **{option: value})
    assert resp.status_code in statuses and bot.events == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_resend_delivers_the_identical_request(sim, bot, platform) -> None:
    first = sim.send_text(platform, USER[platform], "重复投递")
    again = sim.resend(first)
    assert again.status_code == 200 and again.request.body == first.request.body
    assert len(bot.events) == 2 and bot.events[0].event_id == bot.events[1].event_id


def test_wait_for_sent_polls_until_enough_calls_arrive(sim, srv, http) -> None:
    mark = sim.mark()
    worker = threading.Thread(target=lambda: [send_text(srv, http, p) for p in PLATFORMS])
    worker.start()
    calls = sim.wait_for_sent(count=3, timeout=5, after=mark)
    worker.join()
    assert sorted(c.platform for c in calls) == sorted(PLATFORMS)
    assert sim.wait_for_sent("feishu", "im/messages", after=mark)[0].recipient == "ou_zhangwei"
    with pytest.raises(TimeoutError):
        sim.wait_for_sent("wecom", count=2, timeout=0.1, after=mark)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_sent_as_text_reads_like_render_text(sim, srv, http, platform) -> None:
    sent = send_card(srv, http, platform)
    text = sim.sent_as_text([sent])
    assert set(render_text(CARD).splitlines()) <= set(text.splitlines()[1:])
    code = sent.response.get("response_code")
    resolve_card(srv, http, platform, sent, "已由 张伟 确认", response_code=code)
    after = sim.sent_as_text(srv.sent(platform)[-1:])
    assert "结果: 已由 张伟 确认" in after.splitlines() and "[确认]" not in after and "卡片已更新" in after
    send_text(srv, http, platform)
    assert sim.sent_as_text(srv.sent(platform)[-1:]).splitlines()[1] == "你好"


def test_remote_sandbox_handle_drives_the_simulator_over_http(cfg, bot, srv, http, clock) -> None:
    sim = PlatformSimulator(cfg, bot.url, RemoteSandbox(srv.url), clock=clock)
    sent = send_card(srv, http, "feishu")
    assert sim.tap("feishu", "ou_zhangwei", sent, "lead.confirm").status_code == 200
    assert sim.send_voice("dingtalk", "manager7001", AUDIO, fmt="ogg", duration_ms=1000).status_code == 200
    assert download(srv, http, "dingtalk", bot.events[-1]) == AUDIO
    mark = sim.mark()
    send_text(srv, http, "wecom")
    assert [c.api for c in sim.wait_for_sent(after=mark)] == ["message/send"]


@pytest.mark.serial     # a process and a signal: once timed out on a loaded machine in the parallel part
def test_cli_runs_the_sandbox_until_interrupted(tmp_path) -> None:
    code = "from bot.cli.sandbox import sandbox_cmd; sandbox_cmd()"
    proc = subprocess.Popen([sys.executable, "-c", code, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        first = proc.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), first
        assert requests.get(f"{url}/_sandbox/sent", timeout=5).json()["calls"] == []
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "stopped" in out
    finally:
        proc.kill()


# ---- Feishu card JSON as strict as Feishu: schema 2.0 refuses unknown properties --------------------

def _feishu_cards() -> list[Card]:
    big = tuple(Field(f"字段{i}", "很长的值" * 200, short=i % 2 == 0) for i in range(12))
    return [CARD, CARD.resolved("已由 张伟 确认"), Card(card_id="note-1", title="周报"),
            Card(card_id="big-1", title="大卡片", fields=big, text="正文" * 9000, footer="脚" * 400,
                 buttons=tuple(Button(f"按钮{i}", f"a.b{i}", {"k": "v" * 100}, confirm="确定?") for i in range(6)))]


@pytest.mark.parametrize("schema", ["2.0", "1.0"])
def test_every_card_crm_bot_renders_passes_feishus_checks(schema) -> None:
    from sandbox.feishu_cards import card_problem
    for card in _feishu_cards():
        assert card_problem(render_feishu(card, schema)) is None, card.card_id


@pytest.mark.parametrize("spoil, expected", [
    (lambda c: c.update(elements=[]), "unknown property: elements, path: []"),
    (lambda c: c["config"].update(wide_screen_mode=True), "unknown property: wide_screen_mode, path: [config]"),
    (lambda c: c["config"].update(update_multi=False), "update_multi must be true"),
    (lambda c: c["body"]["elements"].append({"tag": "note", "elements": []}), "unknown tag: note"),
    (lambda c: c["body"]["elements"].append({"tag": "action", "actions": []}), "unknown tag: action"),
    (lambda c: c["body"]["elements"][0].update(text_colour="red"), "unknown property: text_colour"),
    (lambda c: c["header"]["title"].update(tag="text"), "plain_text or lark_md"),
])
def test_feishu_refuses_schema_2_cards_outside_the_documented_json(srv, http, spoil, expected) -> None:
    card = render_feishu(CARD)
    spoil(card)
    body = {"receive_id": "ou_zhangwei", "msg_type": "interactive", "content": json.dumps(card, ensure_ascii=False)}
    resp = call(srv, http, "feishu", "POST", "/open-apis/im/v1/messages", params={"receive_id_type": "open_id"}, json=body)
    assert error_of(resp) == (400, 230099) and expected in resp.json()["msg"]
    assert "ErrCode: 200621" in resp.json()["msg"] and srv.sent("feishu") == []


def test_feishu_refuses_cards_over_30_kb_and_checks_delayed_updates_too(srv, http, sim, bot) -> None:
    card = render_feishu(CARD)
    card["body"]["elements"].append({"tag": "markdown", "content": "长" * 11000})
    body = {"receive_id": "ou_zhangwei", "msg_type": "interactive", "content": json.dumps(card, ensure_ascii=False)}
    resp = call(srv, http, "feishu", "POST", "/open-apis/im/v1/messages", params={"receive_id_type": "open_id"}, json=body)
    assert error_of(resp) == (400, 230025)
    sent = send_card(srv, http, "feishu")
    sim.tap("feishu", "ou_zhangwei", sent, "lead.confirm")
    bad = render_feishu(CARD.resolved("已确认"))
    bad["body"]["unknown"] = 1
    resp = call(srv, http, "feishu", "POST", "/open-apis/interactive/v1/card/update",
                json={"token": bot.events[-1].reply_ref["token"], "card": bad})
    assert error_of(resp) == (400, 230099)


def test_wecom_list_caps(srv, http) -> None:
    body = {"touser": "zhangwei", **render_wecom(CARD, agent_id=1000002)}
    body["template_card"]["horizontal_content_list"] = [{"keyname": f"k{i}", "value": "v"} for i in range(7)]
    resp = call(srv, http, "wecom", "POST", "/cgi-bin/message/send", json=body)
    assert error_of(resp) == (200, 40058) and "horizontal_content_list" in resp.json()["errmsg"]
