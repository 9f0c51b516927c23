"""Outbound clients and the delivery path against the loopback sandbox over real HTTP.

Time is injected: crm-bot's runtime clock, the embedded KV (nack delays, TTLs) and the sandbox
(token expiry, recorded call times) all read the same `FrozenClock`, and tests move it. The two
concurrency tests run real threads on real time, on the embedded KV and on real Redis.
The database runs on SQLite and PostgreSQL (`db` fixture).
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import select

from bot.cli.outbox import outbox_group
from bot.outbound import PermanentError, Recipient, TokenCache
from bot.platforms.dingtalk.client import DingTalkClient
from bot.platforms.feishu.client import FeishuClient
from bot.platforms.wecom.client import WeComClient
from cards.model import card_from_dict, card_to_dict
from bot.outbound.delivery import MAX_ATTEMPTS, OUTAGE_MAX_WAIT
from bot.outbound.message import TRUNCATED_NOTE, coalesce, split_text
from bot.outbound.ratelimit import RateLimiter, Window
from bot.runtime import Runtime
from bot.worker import Worker
from cards import Button, Card, Field, Level
from crm_core.config.schema import DingTalkRobot
from crm_core.db.models import CardRecord, OutboundMessage
from crm_core.kv import EmbeddedKV
from sandbox.server import SandboxServer
from sandbox.stack import point_at_sandbox
from sandbox.state import SandboxCredentials

USERS = {"wecom": "zhangwei", "dingtalk": "manager7001", "feishu": "ou_zhangwei"}
TOKEN_API = {"wecom": "gettoken", "dingtalk": "accessToken", "feishu": "tenant_access_token"}
SEND_API = {"wecom": "message/send", "dingtalk": "batchSend", "feishu": "im/messages"}
CARD_API = {"wecom": "message/send", "dingtalk": "card/createAndDeliver", "feishu": "im/messages"}
CARD_REF = {"wecom": {"msgid", "response_code"}, "dingtalk": {"outTrackId"}, "feishu": {"message_id"}}
ROBOT_KEY, ROBOT_TOKEN, ROBOT_SECRET = "wecom-robot-key-1", "ding-robot-token-1", "SECsandbox0123456789"
HOOK_TOKEN, HOOK_SECRET = "feishu-hook-1", "feishu-hook-secret"
CLIENTS = {"wecom": WeComClient, "dingtalk": DingTalkClient, "feishu": FeishuClient}


def epoch(clock) -> float:  # noqa: ANN001
    return clock.now.timestamp()


@pytest.fixture
def sandbox_cfg(cfg):  # noqa: ANN001, ANN201
    """The example config plus a team group robot on WeCom and DingTalk."""
    p = cfg.platforms
    return cfg.model_copy(update={"platforms": p.model_copy(update={
        "wecom": p.wecom.model_copy(update={"group_webhooks": {"sales-east": SecretStr(ROBOT_KEY)}}),
        "dingtalk": p.dingtalk.model_copy(update={"group_robots": {"sales-east": DingTalkRobot(
            access_token=SecretStr(ROBOT_TOKEN), secret=SecretStr(ROBOT_SECRET))}}),
    })})


@pytest.fixture
def srv(sandbox_cfg, clock):  # noqa: ANN001, ANN201
    creds = dataclasses.replace(SandboxCredentials.from_config(sandbox_cfg),
                                feishu_hooks={HOOK_TOKEN: HOOK_SECRET})
    server = SandboxServer(creds, clock=lambda: epoch(clock), hang_seconds=0.2).start()
    yield server
    server.stop()


@pytest.fixture
def api_cfg(sandbox_cfg, srv):  # noqa: ANN001, ANN201
    """`sandbox_cfg` with every platform's api_base pointed at the sandbox (and its session
    webhooks allowed)."""
    return point_at_sandbox(sandbox_cfg, srv.base_urls())


@pytest.fixture
def rt(api_cfg, db, clock):  # noqa: ANN001, ANN201
    kv = EmbeddedKV(prefix=f"t{uuid.uuid4().hex[:6]}", clock=lambda: epoch(clock))
    runtime = Runtime(cfg=api_cfg, db=db, kv=kv, clock=clock)
    yield runtime
    runtime.close_clients()


def drain(rt) -> int:  # noqa: ANN001
    """Run the outbound workers until nothing is ready (delayed messages stay parked)."""
    workers = [Worker(rt.kv.queue(name), fn) for name, fn in rt.outbox.processors().items()]
    total = 0
    while n := sum(w.drain() for w in workers):
        total += n
    return total


def settle(rt, clock, step: float = 61.0, rounds: int = 12) -> None:  # noqa: ANN001
    """Drain, let time pass, drain again... until no outbound row is waiting."""
    for _ in range(rounds):
        drain(rt)
        if not rows(rt, status=("queued", "held", "failed")):
            return
        clock.advance(seconds=step)


def rows(rt, status: tuple[str, ...] | None = None,  # noqa: ANN001
         kind: str | None = None) -> list[OutboundMessage]:
    with rt.db.uow() as s:
        query = select(OutboundMessage).order_by(OutboundMessage.id)
        if status:
            query = query.where(OutboundMessage.status.in_(status))
        if kind:
            query = query.where(OutboundMessage.kind == kind)
        return list(s.scalars(query))


def row(rt, row_id: int) -> OutboundMessage:  # noqa: ANN001
    with rt.db.uow() as s:
        return s.get(OutboundMessage, row_id)


def lead_card(card_id: str) -> Card:
    return Card(card_id=card_id, title="新线索：华东某制造企业", level=Level.WARNING,
                fields=(Field("客户", "上海华通机械"), Field("预算", "50 万")),
                buttons=(Button("接单", "lead.claim", {"lead": "42"}, style="primary"),
                         Button("转派", "lead.reassign", {"lead": "42"})))


def sent_texts(srv, platform: str) -> list[str]:  # noqa: ANN001
    """The content of every text message the sandbox accepted (cards left out)."""
    out = []
    for call in srv.sent(platform, SEND_API[platform]):
        body = call.body
        if platform == "wecom" and body.get("msgtype") == "text":
            out.append(body["text"]["content"])
        elif platform == "dingtalk" and body.get("msgKey") == "sampleText":
            out.append(json.loads(body["msgParam"])["content"])
        elif platform == "feishu" and body.get("msg_type") == "text":
            out.append(json.loads(body["content"])["text"])
    return out


# ---- sending ----------------------------------------------------------------------------

@pytest.mark.parametrize("platform", ["wecom", "dingtalk", "feishu"])
def test_text_and_card_reach_the_platform(rt, srv, platform):  # noqa: ANN001
    box = rt.outbox
    to = Recipient(platform, USERS[platform], rep_id="zhang.wei")
    text_id = box.send("张总您好，线索已登记。", to)
    card_id = box.send(lead_card(f"lead-42-{platform}"), to, kind="lead_new")
    drain(rt)

    assert sent_texts(srv, platform) == ["张总您好，线索已登记。"]
    card_calls = [c for c in srv.sent(platform, CARD_API[platform])
                  if "张总" not in json.dumps(c.body, ensure_ascii=False)]
    assert len(card_calls) == 1 and card_calls[0].recipient == USERS[platform]
    for rid in (text_id, card_id):
        r = row(rt, rid)
        assert (r.status, r.attempts, r.error) == ("sent", 1, None)
        assert r.platform_msg_id and r.sent_at is not None
    with rt.db.uow() as s:
        rec = s.get(CardRecord, f"lead-42-{platform}")
        assert CARD_REF[platform] <= set(rec.platform_ref)
        assert (rec.kind, rec.recipient) == ("lead_new", USERS[platform])
        assert card_from_dict(rec.content) == lead_card(f"lead-42-{platform}")


@pytest.mark.parametrize("platform, key", [("wecom", "task_id"), ("dingtalk", "outTrackId")])
def test_a_notice_sent_again_gets_a_new_platform_card_id(rt, srv, platform, key):  # noqa: ANN001
    """WeCom's task_id and DingTalk's outTrackId must be unique per app, while a notice sent
    again (a reminder, `outbox retry` of a dead row) keeps its card id: each send has its own."""
    to = Recipient(platform, USERS[platform], rep_id="zhang.wei")
    first = rt.outbox.send(lead_card("lead-again"), to, kind="lead_new")
    drain(rt)
    second = rt.outbox.send(lead_card("lead-again"), to, kind="lead_new")
    drain(rt)
    assert [row(rt, r).status for r in (first, second)] == ["sent", "sent"]
    calls = srv.sent(platform, CARD_API[platform])
    ids = [c.body["template_card"]["task_id"] if platform == "wecom" else c.body["outTrackId"] for c in calls]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(i.startswith("lead-again@") for i in ids)
    with rt.db.uow() as s:
        assert s.get(CardRecord, "lead-again").platform_ref[key] == ids[1]   # updates go to the newest


def test_group_robots_and_custom_bots(rt, srv, clock):  # noqa: ANN001
    box = rt.outbox
    box.send("今日新增线索 3 条", Recipient("wecom", chat_id="sales-east"))
    box.send("**今日新增线索 3 条**", Recipient("dingtalk", chat_id="sales-east"), kind="markdown")
    box.send(lead_card("lead-7"), Recipient("wecom", chat_id="sales-east"))   # robots: card as text
    drain(rt)
    assert [r.status for r in rows(rt)] == ["sent"] * 3
    wecom_calls = srv.sent("wecom", "webhook")
    assert [c.recipient for c in wecom_calls] == ["sales-east", "sales-east"]
    assert "新线索" in wecom_calls[1].body["text"]["content"]   # the text rendering of the card
    ding = srv.sent("dingtalk", "webhook")                         # the sandbox checked the sign
    assert len(ding) == 1 and ding[0].body["msgtype"] == "markdown"
    with rt.db.uow() as s:
        assert s.get(CardRecord, "lead-7").platform_ref == {"fallback": "text"}
    feishu = rt.channels["feishu"].client
    feishu.custom_bot_send(HOOK_TOKEN, HOOK_SECRET, "飞书群通知")
    with pytest.raises(PermanentError) as bad_sign:
        feishu.custom_bot_send(HOOK_TOKEN, "wrong-secret", "飞书群通知")
    assert bad_sign.value.code == 19021 and "wrong-secret" not in str(bad_sign.value)
    assert [c.body["content"]["text"] for c in srv.sent("feishu", "webhook")] == ["飞书群通知"]


def test_dingtalk_session_webhook_reply(rt, srv, clock):  # noqa: ANN001
    session = srv.open_session("manager7001", "cid-group-1", group=True)
    expires_ms = (epoch(clock) + 5000) * 1000
    ref = {"sessionWebhook": f"{srv.url}/dingtalk/session/{session}", "sessionWebhookExpiredTime": expires_ms}
    to = Recipient("dingtalk", "manager7001", chat_id="cid-group-1", reply_ref=ref)
    rt.outbox.send("收到，已为您记录。", to)
    drain(rt)
    calls = srv.sent("dingtalk", "session")
    assert [(c.recipient, c.body["text"]["content"]) for c in calls] == [("cid-group-1", "收到，已为您记录。")]


def test_long_wecom_text_is_split_at_line_boundaries(rt, srv):  # noqa: ANN001
    lines = [f"{i:03d}. 上海华通机械有限公司 · 跟进中 · 预算 50 万" for i in range(120)]
    text = "\n".join(lines)
    assert len(text.encode()) > 2 * 2048
    rt.outbox.send(text, Recipient("wecom", "zhangwei"))
    drain(rt)
    parts = sent_texts(srv, "wecom")
    assert len(parts) >= 3 and all(len(p.encode()) <= 2048 for p in parts)
    assert "\n".join(parts) == text      # every line whole, none lost, order kept


def test_dedupe_key_sends_once(rt, srv):  # noqa: ANN001
    box = rt.outbox
    to = Recipient("feishu", "ou_zhangwei")
    first = box.send("提醒：今天 15:00 回访华通机械", to, dedupe_key="reminder:lead-42:visit")
    second = box.send("提醒：今天 15:00 回访华通机械", to, dedupe_key="reminder:lead-42:visit")
    drain(rt)
    assert first == second and len(rows(rt)) == 1
    assert len(sent_texts(srv, "feishu")) == 1


def test_feishu_uuid_makes_a_resend_a_no_op(rt, srv):  # noqa: ANN001
    client = rt.channels["feishu"].client
    a = client.send_text("ou_zhangwei", "第一次", uuid="crm-77-0")
    b = client.send_text("ou_zhangwei", "第一次", uuid="crm-77-0")
    c = client.send_text("ou_zhangwei", "第二条", uuid="crm-78-0")
    assert a["message_id"] == b["message_id"] != c["message_id"]
    assert sent_texts(srv, "feishu") == ["第一次", "第二条"]


# ---- tokens -----------------------------------------------------------------------------

@pytest.mark.parametrize("platform", ["wecom", "dingtalk", "feishu"])
def test_token_cached_and_shared_between_clients(rt, srv, platform):  # noqa: ANN001
    pcfg = getattr(rt.cfg.platforms, platform)
    one, two = (CLIENTS[platform](pcfg, rt.kv, clock=lambda: epoch(rt.clock)) for _ in range(2))
    for i, client in enumerate((one, two, one)):
        client.send_text(USERS[platform], f"早上好 {i}")     # distinct: WeCom drops identical ones
    assert srv.hits(platform, TOKEN_API[platform]) == 1
    assert len(srv.sent(platform, SEND_API[platform])) == 3


@pytest.mark.parametrize("platform", ["wecom", "dingtalk", "feishu"])
def test_expired_token_refreshed_once_and_call_retried(rt, srv, platform):  # noqa: ANN001
    client = rt.channels[platform].client
    client.send_text(USERS[platform], "第一条")
    srv.expire_tokens(platform)
    client.send_text(USERS[platform], "第二条")
    assert srv.hits(platform, TOKEN_API[platform]) == 2
    assert len(srv.sent(platform, SEND_API[platform])) == 2


def test_concurrent_processes_fetch_one_token(api_cfg, srv, kv_store):  # noqa: ANN001
    """Six workers, each with its own KV connection, start on a cold cache at once."""
    clients = [WeComClient(api_cfg.platforms.wecom, kv_store.client()) for _ in range(6)]
    barrier, errors = threading.Barrier(len(clients)), []

    def work(client: WeComClient) -> None:
        barrier.wait()
        try:
            client.send_text("zhangwei", f"并发 {id(client)}")    # distinct: WeCom drops identical ones
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert srv.hits("wecom", "gettoken") == 1
    assert len(srv.sent("wecom", "message/send")) == 6


def test_invalidate_only_drops_the_bad_token(rt, srv):  # noqa: ANN001
    """Two workers hit the same expired token: the second must not throw away the fresh one."""
    client = rt.channels["wecom"].client
    cache = TokenCache(rt.kv, "wecom", client._fetch_token, scope="other-app")
    stale = cache.get()
    srv.expire_tokens("wecom")
    cache.invalidate(stale)            # worker A
    fresh = cache.get()
    cache.invalidate(stale)            # worker B, late, with the same stale token
    assert cache.get() == fresh != stale
    assert srv.hits("wecom", "gettoken") == 2


def test_token_refreshed_before_expiry(rt, srv, clock):  # noqa: ANN001
    cache = rt.channels["feishu"].client.tokens
    cache.get()
    table = [(3600, 1), (7200 - 400, 1), (7200 - 290, 2)]   # seconds since fetch -> fetches
    start = clock.now
    for seconds, fetches in table:
        clock.now = start + timedelta(seconds=seconds)
        cache.get()
        assert srv.hits("feishu", "tenant_access_token") == fetches, seconds


# ---- retries and dead letters -----------------------------------------------------------

def test_transient_errors_retried_with_backoff(rt, srv, clock):  # noqa: ANN001
    srv.fail("wecom", "message/send", "5xx", count=2)
    rid = rt.outbox.send("华通机械的报价已发出", Recipient("wecom", "zhangwei"))
    drain(rt)
    assert (row(rt, rid).status, row(rt, rid).attempts) == ("failed", 1)
    settle(rt, clock, step=5)
    r = row(rt, rid)
    assert (r.status, r.attempts, r.error) == ("sent", 3, None)
    assert sent_texts(srv, "wecom") == ["华通机械的报价已发出"]


def test_a_platform_down_is_retried_until_it_is_back(rt, srv, clock):  # noqa: ANN001
    """5xx past MAX_ATTEMPTS is an outage, not a refusal: the row is held and tried again (at
    most OUTAGE_MAX_WAIT apart), never dead inside the retry window; sent once when it is back."""
    srv.fail("dingtalk", "batchSend", "5xx", count=None)
    rid = rt.outbox.send("测试", Recipient("dingtalk", "manager7001"))
    settle(rt, clock, step=OUTAGE_MAX_WAIT, rounds=40)              # 20 minutes of outage
    r = row(rt, rid)
    assert r.status == "held" and r.attempts > 2 * MAX_ATTEMPTS and "HTTP 503" in r.error, (r.status, r.error)
    assert rt.kv.queue("outbound").stats().dead == 0
    srv.fail("dingtalk", "batchSend", "ok")
    settle(rt, clock, step=OUTAGE_MAX_WAIT)
    assert (row(rt, rid).status, sent_texts(srv, "dingtalk")) == ("sent", ["测试"])


def test_persistent_5xx_goes_dead_after_the_retry_window(rt, srv, clock):  # noqa: ANN001
    rt.outbox.retry_window = 600.0                 # app.outbound_retry_minutes: 10
    srv.fail("dingtalk", "batchSend", "5xx", count=None)
    rid = rt.outbox.send("测试", Recipient("dingtalk", "manager7001"))
    settle(rt, clock, step=OUTAGE_MAX_WAIT, rounds=40)
    r = row(rt, rid)
    assert r.status == "dead" and r.attempts > MAX_ATTEMPTS and "HTTP 503" in r.error
    assert (clock.now - r.created_at.replace(tzinfo=clock.now.tzinfo)).total_seconds() >= 600
    assert srv.hits("dingtalk", "batchSend") == r.attempts         # each attempt one call, none after


def test_permanent_error_dead_listed_and_retryable(rt, srv, clock):  # noqa: ANN001
    srv.fail("wecom", "message/send", "error:81013", count=1)
    rid = rt.outbox.send("请尽快联系客户", Recipient("wecom", "zhangwei"))
    drain(rt)
    r = row(rt, rid)
    assert (r.status, r.attempts) == ("dead", 1) and "81013" in r.error
    secret = rt.cfg.platforms.wecom.secret.get_secret_value()
    token = json.loads(rt.kv.get(rt.channels["wecom"].client.tokens.key))["token"]
    assert secret not in r.error and token not in r.error

    runner = CliRunner()
    listed = runner.invoke(outbox_group, ["--status", "dead"], obj=rt)
    assert listed.exit_code == 0, listed.output
    assert f"{rid:>6}" in listed.output and "81013" in listed.output
    listed_rows = listed.output.splitlines()[1:]
    assert listed_rows and all(" dead " in line for line in listed_rows)

    retried = runner.invoke(outbox_group, ["retry", str(rid)], obj=rt)
    assert retried.exit_code == 0 and "re-queued 1" in retried.output
    drain(rt)
    r = row(rt, rid)
    assert (r.status, r.attempts, r.error) == ("sent", 1, None)
    assert runner.invoke(outbox_group, ["retry"], obj=rt).exit_code != 0        # ID or --all


def test_retry_all_requeues_every_dead_message(rt, srv):  # noqa: ANN001
    srv.fail("feishu", "im/messages", "error:230001", count=2)
    box = rt.outbox
    ids = [box.send(f"第{i}条", Recipient("feishu", f"ou_user{i}")) for i in range(3)]
    drain(rt)
    assert [row(rt, i).status for i in ids] == ["dead", "dead", "sent"]
    result = CliRunner().invoke(outbox_group, ["retry", "--all"], obj=rt)
    assert result.exit_code == 0 and "re-queued 2" in result.output
    drain(rt)
    assert [row(rt, i).status for i in ids] == ["sent"] * 3


# ---- rate limits ------------------------------------------------------------------------

def test_per_recipient_limit_holds_and_coalesces(rt, srv, clock):  # noqa: ANN001
    box = rt.outbox
    to = Recipient("wecom", "zhangwei")
    texts = [f"提醒 {i}：请跟进客户 {i} 号" for i in range(40)]
    for t in texts:
        box.send(t, to)
    drain(rt)
    first_minute = len(srv.sent("wecom", "message/send"))
    assert 0 < first_minute <= 30
    assert rows(rt, status=("held",)) and not rows(rt, status=("dead", "failed"))

    settle(rt, clock, step=61)
    calls = srv.sent("wecom", "message/send")
    for call in calls:                      # no 60-second window ever holds more than 30 calls
        assert sum(1 for c in calls if call.at - 60 < c.at <= call.at) <= 30
    delivered = "\n\n".join(sent_texts(srv, "wecom")).split("\n\n")
    assert sorted(delivered) == sorted(texts)          # every text exactly once
    assert len(calls) < len(texts)                      # ...in fewer messages: coalesced
    assert {r.status for r in rows(rt)} == {"sent"}


def test_platform_rate_limit_answer_holds_the_message(rt, srv, clock):  # noqa: ANN001
    srv.fail("feishu", "im/messages", "rate_limit", count=1)
    rid = rt.outbox.send("限流后重发", Recipient("feishu", "ou_zhangwei"))
    drain(rt)
    assert row(rt, rid).status == "held" and sent_texts(srv, "feishu") == []
    clock.advance(seconds=2)                   # x-ogw-ratelimit-reset: 1
    drain(rt)
    assert row(rt, rid).status == "sent" and sent_texts(srv, "feishu") == ["限流后重发"]


@pytest.mark.parametrize("window,offsets,expect_waits", [
    # limit 5 (allowed 4) per 10 s in 5 buckets: the 5th call waits for the oldest bucket to leave
    (Window(5, 10.0, 5), [0, 0, 0, 0, 0], [0, 0, 0, 0, 12.0]),
    (Window(5, 10.0, 5), [0, 1, 2, 3, 13], [0, 0, 0, 0, 0]),
    (Window(30, 60.0), [0.0] * 25, [0.0] * 24 + [65.0]),
])
def test_rate_window_table(rt, clock, window, offsets, expect_waits):  # noqa: ANN001
    start = epoch(clock)
    now = {"t": start}
    limiter = RateLimiter(rt.kv, lambda: now["t"])
    waits = []
    for offset in offsets:
        now["t"] = start + offset
        waits.append(round(limiter.reserve([("scope", (window,))]), 3))
    assert waits == [pytest.approx(w, abs=0.01) for w in expect_waits]


@pytest.mark.serial     # real-time rate window: coalescing needs the sends to be quick
def test_worker_threads_deliver_each_text_once(api_cfg, srv, db, kv_store):  # noqa: ANN001
    """Real time, real worker threads (and real Redis): Feishu allows 5 messages a second per
    user, so 8 quick texts per user are partly held, woken a second later and coalesced."""
    runtime = Runtime(cfg=api_cfg, db=db, kv=kv_store.client())
    box = runtime.outbox
    expected = []
    for i in range(8):
        for user in ("ou_a", "ou_b", "ou_c"):
            expected.append(f"{user} 第{i}条")
            box.send(expected[-1], Recipient("feishu", user))
    stop = threading.Event()
    threads = [threading.Thread(target=Worker(runtime.kv.queue(name), fn).run, args=(stop,))
               for name, fn in runtime.outbox.processors().items() for _ in range(2)]
    for t in threads:
        t.start()
    give_up = time.monotonic() + 30
    while rows(runtime, status=("queued", "held", "failed")) and time.monotonic() < give_up:
        time.sleep(0.05)       # poll for completion, not a fixed wait
    stop.set()
    for t in threads:
        t.join(timeout=5)
    runtime.close_clients()
    delivered = "\n\n".join(sent_texts(srv, "feishu")).split("\n\n")
    assert sorted(delivered) == sorted(expected)
    assert {r.status for r in rows(runtime)} == {"sent"}
    assert len(srv.sent("feishu", "im/messages")) < len(expected)


# ---- card updates -----------------------------------------------------------------------

@pytest.mark.parametrize("platform", ["wecom", "dingtalk", "feishu"])
def test_card_updated_in_place(rt, srv, platform):  # noqa: ANN001
    box = rt.outbox
    card = lead_card(f"lead-9-{platform}")
    box.send(card, Recipient(platform, USERS[platform]))
    drain(rt)
    code = None
    if platform == "wecom":                  # the tap callback carries a fresh ResponseCode
        code = srv.tap_code("wecom", srv.find_card("wecom", [card.card_id])["ref"], USERS[platform])
    result = "已由 王经理 转派给 李娜 · 11-22 14:03"
    tap_ref = {"response_code": code} if code else {}     # what the adapter puts in reply_ref
    uid = box.update_card(card.card_id, card.resolved(result), reply_ref=tap_ref, dedupe_key="tap-1")
    again = box.update_card(card.card_id, card.resolved(result), reply_ref=tap_ref, dedupe_key="tap-1")
    drain(rt)
    assert uid == again and len(rows(rt, kind="card_update")) == 1     # a redelivered tap
    assert row(rt, uid).status == "sent", row(rt, uid).error
    shown = srv.find_card(platform, [card.card_id])
    assert result in json.dumps(shown["card"], ensure_ascii=False)
    with rt.db.uow() as s:
        rec = s.get(CardRecord, card.card_id)
        assert rec.result == result and rec.resolved_at is not None
        assert "response_code" not in rec.platform_ref      # single-use codes are forgotten
    assert len(srv.sent(platform, CARD_API[platform])) == 1   # updated, not sent again


def test_wecom_update_without_response_code_is_dead(rt, srv):  # noqa: ANN001
    box = rt.outbox
    card = lead_card("lead-10")
    box.send(card, Recipient("wecom", "zhangwei"))
    drain(rt)
    box.update_card("lead-10", card.resolved("已接单"))           # uses the send's code
    box.update_card("lead-10", card.resolved("已转派"))           # nothing left to use
    drain(rt)
    assert [r.status for r in rows(rt, kind="card_update")] == ["sent", "dead"]


# ---- media ------------------------------------------------------------------------------

def test_media_downloads(rt, srv):  # noqa: ANN001
    srv.put_media("wecom", "MEDIA_1", b"#!AMR\n...", "audio/amr")
    srv.put_media("dingtalk", "DLCODE_1", b"OggS...", "audio/ogg")
    srv.put_media("feishu", "file_v2_1", b"OggS opus", "audio/ogg", message_id="om_1")
    assert rt.channels["wecom"].client.download_media("MEDIA_1") == (b"#!AMR\n...", "audio/amr")
    assert rt.channels["dingtalk"].client.download("DLCODE_1") == b"OggS..."
    assert rt.channels["feishu"].client.download_resource("om_1", "file_v2_1") == b"OggS opus"
    with pytest.raises(PermanentError) as unknown:
        rt.channels["wecom"].client.download_media("NOPE")
    assert unknown.value.code == 40007


# ---- pure helpers -----------------------------------------------------------------------

@pytest.mark.parametrize("text,limit,max_parts,expect", [
    ("短消息", 2048, 4, ["短消息"]),
    ("甲" * 10 + "\n" + "乙" * 10, 40, 4, ["甲" * 10, "乙" * 10]),
    ("丙" * 30, 30, 4, ["丙" * 10, "丙" * 10, "丙" * 10]),      # one long line: cut by characters
])
def test_split_text_table(text, limit, max_parts, expect):  # noqa: ANN001
    assert split_text(text, limit, max_parts) == expect


def test_split_text_truncates_beyond_max_parts():
    parts = split_text("\n".join(["一行内容"] * 400), 200, 3)
    assert len(parts) == 3 and parts[-1].endswith(TRUNCATED_NOTE)
    assert all(len(p.encode()) <= 200 for p in parts)


@pytest.mark.parametrize("texts,limit,max_parts,used,n_parts", [
    (["a", "b", "c"], 100, 1, 3, 1),
    (["a" * 60, "b" * 60, "c"], 100, 1, 1, 1),     # the second text would need a second message
    (["a" * 60, "b" * 60, "c"], 100, 2, 3, 2),
    (["x" * 500], 100, 2, 1, 2),                   # the first text is always taken (truncated)
])
def test_coalesce_table(texts, limit, max_parts, used, n_parts):  # noqa: ANN001
    parts, n_used = coalesce(texts, limit, max_parts)
    assert (n_used, len(parts)) == (used, n_parts)
    assert all(len(p.encode()) <= limit for p in parts)


def test_card_dict_round_trip():
    card = lead_card("lead-1").resolved("已处理")
    assert card_from_dict(json.loads(json.dumps(card_to_dict(card)))) == card


# ---- infrastructure faults, lost queue messages, platform idempotency --------------------

def test_redis_error_mid_send_never_marks_the_row_dead(rt, srv, clock, monkeypatch):  # noqa: ANN001
    """The WeCom token lives in the KV: Redis failing there used to make the row dead after one
    attempt. Now the run is deferred (no attempt counted) and the text goes out once after."""
    import redis as redis_lib

    from bot.faults import InfrastructureError
    tokens = rt.channels["wecom"].client.tokens
    real_get, down = tokens.get, {"on": True}

    def get() -> str:
        if down["on"]:
            raise redis_lib.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
        return real_get()
    monkeypatch.setattr(tokens, "get", get)
    rid = rt.outbox.send("华通机械的报价已发出", Recipient("wecom", "zhangwei"))
    with pytest.raises(InfrastructureError):
        rt.outbox.process({"outbound_id": rid})
    drain(rt)                                    # the worker defers it: not failed, not dead
    r = row(rt, rid)
    assert (r.status, r.attempts) == ("queued", 0)
    assert rt.kv.queue("outbound").stats().dead == 0
    down["on"] = False
    settle(rt, clock, step=31)
    assert (row(rt, rid).status, row(rt, rid).attempts) == ("sent", 1)
    assert sent_texts(srv, "wecom") == ["华通机械的报价已发出"]


def test_database_lost_after_the_call_resend_is_deduplicated(rt, srv, clock, monkeypatch):  # noqa: ANN001
    """Sent, then the database fails before the row is marked sent: the retry calls WeCom again
    with a duplicate-check window reaching back to the first call, and WeCom (the sandbox)
    accepts it without delivering it twice."""
    from sqlalchemy.exc import OperationalError
    real_finish, calls = rt.outbox.rows.finish, {"n": 0}

    def finish(job, refs):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("UPDATE outbound_messages", {}, Exception("server closed the connection"))
        return real_finish(job, refs)
    monkeypatch.setattr(rt.outbox.rows, "finish", finish)
    rid = rt.outbox.send("明天上午十点回访", Recipient("wecom", "zhangwei"))
    clock.advance(seconds=90)                  # the row waited a while before its first call
    drain(rt)
    assert row(rt, rid).status == "queued"
    settle(rt, clock, step=61)                 # the retry comes > 1 min after the first call
    assert row(rt, rid).status == "sent"
    calls_made = srv.sent("wecom", "message/send", include_failed=True)
    assert srv.hits("wecom", "message/send") == 2 and len(calls_made) == 1      # two calls, one delivery
    assert sent_texts(srv, "wecom") == ["明天上午十点回访"]
    assert calls_made[0].body["enable_duplicate_check"] == 1
    assert calls_made[0].body["duplicate_check_interval"] == 60          # a first call looks back 1 min


def test_wecom_duplicate_check_window(rt, srv, clock):  # noqa: ANN001
    """WeCom app messages always carry the duplicate check; identical content to the same user
    within the interval is accepted once; another user, other content or a later time is not
    a duplicate."""
    client = rt.channels["wecom"].client
    a = client.send_text("zhangwei", "同一条提醒")
    b = client.send_text("zhangwei", "同一条提醒", resend_window=300)       # a retry: not delivered again
    c = client.send_text("lisi", "同一条提醒")                            # another recipient
    d = client.send_text("zhangwei", "另一条")
    assert a["msgid"] == b["msgid"] and len({a["msgid"], c["msgid"], d["msgid"]}) == 3
    clock.advance(seconds=120)
    e = client.send_text("zhangwei", "同一条提醒")                        # a new question 2 min later
    assert e["msgid"] != a["msgid"]
    assert sent_texts(srv, "wecom") == ["同一条提醒", "同一条提醒", "另一条", "同一条提醒"]
    assert [c.recipient for c in srv.sent("wecom", "message/send")] == ["zhangwei", "lisi", "zhangwei", "zhangwei"]


def test_sweeper_requeues_rows_whose_queue_message_was_lost(rt, srv, clock, monkeypatch):  # noqa: ANN001
    """Redis failed between the insert and the put: the row sat in `queued` forever (and
    `outbox retry --all` skips queued rows). The outbox_sweep job puts it back once it has made
    no progress for stall_minutes; a sent row is never touched and nothing goes out twice."""
    import redis as redis_lib

    from scheduler.jobs import outbox_sweep
    box = rt.outbox
    sent_id = box.send("已发送的消息", Recipient("feishu", "ou_zhangwei"))
    drain(rt)
    real_put = box.queue.put
    monkeypatch.setattr(box.queue, "put", lambda payload: (_ for _ in ()).throw(
        redis_lib.ConnectionError("Connection refused")))
    with pytest.raises(redis_lib.ConnectionError):
        box.send("丢失的消息", Recipient("feishu", "ou_zhangwei"))
    monkeypatch.setattr(box.queue, "put", real_put)
    lost_id = max(r.id for r in rows(rt))
    assert row(rt, lost_id).status == "queued" and drain(rt) == 0
    stall = rt.cfg.schedules.outbox_sweep.stall_minutes
    assert outbox_sweep(rt, clock.now) == {"requeued": 0}             # not stalled yet
    clock.advance(minutes=stall + 1)
    assert outbox_sweep(rt, clock.now) == {"requeued": 1}
    assert outbox_sweep(rt, clock.now) == {"requeued": 0}             # stamped: left alone
    box.queue.put({"outbound_id": lost_id})                            # the "lost" copy turns up too
    drain(rt)
    assert {row(rt, sent_id).status, row(rt, lost_id).status} == {"sent"}
    assert sent_texts(srv, "feishu") == ["已发送的消息", "丢失的消息"]
    clock.advance(minutes=stall + 1)
    assert outbox_sweep(rt, clock.now) == {"requeued": 0}


def test_sweeper_picks_up_a_failed_row_whose_retry_was_lost(rt, srv, clock):  # noqa: ANN001
    srv.fail("wecom", "message/send", "5xx", count=1)
    failed = rt.outbox.send("失败后消息丢了", Recipient("wecom", "zhangwei"))
    drain(rt)
    assert row(rt, failed).status == "failed"
    q = rt.kv.queue("outbound")
    clock.advance(seconds=61)
    retry = q.take(visibility_timeout=1)
    assert retry is not None and retry.payload == {"outbound_id": failed}
    q.ack(retry)                                                       # the retry message is lost
    clock.advance(minutes=6)
    assert rt.outbox.requeue_stalled(clock.now - timedelta(minutes=5)) == 1
    drain(rt)
    assert row(rt, failed).status == "sent" and sent_texts(srv, "wecom") == ["失败后消息丢了"]


def test_a_retry_after_the_put_failed_queues_the_row_again(rt, srv, monkeypatch):  # noqa: ANN001
    """Redis fails on the queue put after the row was written and registered: the handler's
    retry finds the row under its dedupe key, sees nothing has run it, and queues it again, so
    the reply goes out now (once), not only when the sweeper finds it minutes later."""
    import redis as redis_lib
    box, to, key = rt.outbox, Recipient("wecom", "visitor-065"), "reply:wecom:9001:0"
    real_put = box.queue.put

    def put_fails(payload: dict) -> None:  # noqa: ARG001
        raise redis_lib.ConnectionError("Connection closed by server.")
    monkeypatch.setattr(box.queue, "put", put_fails)
    with pytest.raises(redis_lib.ConnectionError):
        box.send("收到。", to, dedupe_key=key)
    monkeypatch.setattr(box.queue, "put", real_put)
    again = box.send("收到。", to, dedupe_key=key)        # the handler's retry
    drain(rt)
    assert row(rt, again).status == "sent" and len(rows(rt)) == 1
    assert box.send("收到。", to, dedupe_key=key) == again  # sent: a later repeat queues nothing
    drain(rt)
    assert sent_texts(srv, "wecom") == ["收到。"]


def test_a_recipients_messages_go_out_in_the_order_written(rt, srv):  # noqa: ANN001
    """Two workers take one rep's two replies; the later one wins the send lock. It sends the
    earlier one first, so 「识别到…」 never arrives after the question that follows it, and the
    earlier row's own run later finds it sent."""
    box, to = rt.outbox, Recipient("wecom", "zhang.wei")
    first = box.send("识别到：「张总手机是13912345678」", to)
    second = box.send("已更新：电话。请问客户是哪家公司？", to)
    other = box.send("给别人的消息", Recipient("wecom", "li.na"))
    box.process({"outbound_id": second})
    assert sent_texts(srv, "wecom") == ["识别到：「张总手机是13912345678」", "已更新：电话。请问客户是哪家公司？"]
    assert row(rt, first).status == "sent" and row(rt, other).status == "queued"
    box.process({"outbound_id": first})          # its own queue message: nothing more to send
    assert len(sent_texts(srv, "wecom")) == 2


def test_sweeper_retires_a_copy_a_fault_left_behind(rt, srv, clock, monkeypatch):  # noqa: ANN001
    """Redis fails between a reply's insert and its registration under the dedupe key: the
    handler's retry writes the same message again (row B), and B is sent. Row A, never queued,
    must not be swept back into the queue: it is retired as a copy of B, and `outbox retry
    --all` leaves it alone."""
    import redis as redis_lib

    from bot.cli.outbox import retry_outbound
    box, to, key = rt.outbox, Recipient("feishu", "ou_zhangwei"), "reply:feishu:om_1:0"
    real_set = rt.kv.set

    def set_fails(k: str, v: str, ttl: float | None = None) -> None:
        raise redis_lib.ConnectionError("Connection closed by server.")
    monkeypatch.setattr(rt.kv, "set", set_fails)
    with pytest.raises(redis_lib.ConnectionError):
        box.send("收到,已记录。", to, dedupe_key=key)
    monkeypatch.setattr(rt.kv, "set", real_set)
    rt.kv.delete(f"outbound:dedupe:{key}")          # the claim lapsed meanwhile (once.CLAIM_TTL)
    b = box.send("收到,已记录。", to, dedupe_key=key)  # the handler's retry
    drain(rt)
    a = min(r.id for r in rows(rt))
    assert a != b and row(rt, b).status == "sent" and row(rt, a).status == "queued"
    clock.advance(minutes=10)
    assert box.requeue_stalled(clock.now - timedelta(minutes=5)) == 0
    r = row(rt, a)
    assert (r.status, r.body["superseded_by"]) == ("dead", b)
    assert retry_outbound(rt) == []
    drain(rt)
    assert sent_texts(srv, "feishu") == ["收到，已记录。"]       # full-width as it leaves (cards/zh.py)
