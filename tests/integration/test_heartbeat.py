"""Channel heartbeat against the loopback sandbox over real HTTP, with an advancing frozen clock
(the runtime, the embedded KV and the sandbox all read it; nothing sleeps). Break one leg of
the WeCom channel → exactly one alert on the route configured for WeCom within fail_for +
one interval, naming the leg; reminders only every reminder_minutes; heal → one 恢复 message
with the outage duration. Routes: Feishu ops chat, webhook (local HTTP sink), SMTP (local
stub server)."""
from __future__ import annotations

import email
import json
import socketserver
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crm_core.kv.keys import INBOUND_QUEUE, LAST_CALLBACK_KEY
from bot.runtime import Runtime
from bot.worker import worker_beat
from crm_core.config.schema import AlertRoute
from crm_core.kv import EmbeddedKV
from sandbox.callbacks import Tamper, WeComCallbacks
from sandbox.cardjson import call_text
from sandbox.server import SandboxServer
from sandbox.state import SandboxCredentials
from cards.zh import polish
from scheduler.heartbeat import LEG_LABELS, Incident, Probe, decide, human_duration, run_heartbeat

STEP = timedelta(minutes=5)               # the heartbeat interval of the example config
MARKS = ("【告警】", "【提醒】", "【恢复】")


# ---- sinks for the webhook and SMTP routes ---------------------------------------------------
class WebhookSink:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.bodies.append(json.loads(raw))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/crm"

    def messages(self) -> list[str]:
        return [f"{b['title']}\n{b['text']}" for b in self.bodies]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """Just enough SMTP (RFC 5321 happy path) for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 stub ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ")[0].upper()
                    if verb == "EHLO":
                        self.reply("250-stub")
                        self.reply("250 8BITMIME")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                        sink.mails.append(email.message_from_bytes(data, policy=default_policy))
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def messages(self) -> list[str]:
        return [f"{m['Subject']}\n{m.get_content()}" for m in self.mails]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- fixtures --------------------------------------------------------------------------------
@pytest.fixture
def srv(cfg, clock) -> Iterator[SandboxServer]:  # noqa: ANN001
    server = SandboxServer(SandboxCredentials.from_config(cfg), clock=lambda: clock.now.timestamp(),
                           hang_seconds=0.2).start()
    yield server
    server.stop()


@pytest.fixture
def make_rt(cfg, srv, db, clock) -> Iterator[Callable[..., Runtime]]:  # noqa: ANN001
    """A runtime on the sandbox, with WeCom alerts sent over `route` (default: the example's
    Feishu ops chat) and silence counted in calendar time."""
    made: list[Runtime] = []

    def make(route: AlertRoute | None = None) -> Runtime:
        base, p = srv.base_urls(), cfg.platforms
        # a person as the WeCom probe target is fine in a test (config check refuses it in a deployment)
        alerts = cfg.alerts.model_copy(update={"inbound_silence_clock": "calendar",
                                               "ops_chats": {**cfg.alerts.ops_chats, "wecom": "wangfang"},
                                               "routes": {**cfg.alerts.routes, **({"wecom": route} if route else {})}})
        platforms = p.model_copy(update={
            "wecom": p.wecom.model_copy(update={"api_base": base["wecom"]}),
            "dingtalk": p.dingtalk.model_copy(update={"api_base": base["dingtalk"], "oapi_base": base["dingtalk_oapi"]}),
            "feishu": p.feishu.model_copy(update={"api_base": base["feishu"]})})
        kv = EmbeddedKV(prefix=f"t{uuid.uuid4().hex[:6]}", clock=lambda: clock.now.timestamp())
        rt = Runtime(cfg=cfg.model_copy(update={"platforms": platforms, "alerts": alerts}), db=db, kv=kv, clock=clock)
        made.append(rt)
        return rt
    yield make
    for rt in made:
        rt.close_clients()


def feishu_ops_messages(srv: SandboxServer) -> list[str]:
    texts = [call_text(c) for c in srv.sent("feishu") if c.ok and c.recipient == "oc_ops_chat"]
    return [t for t in texts if any(m in t for m in MARKS)]


def traffic(rt: Runtime, *, beat: bool = True, callbacks: bool = True) -> None:
    """A live worker, and callbacks arriving on every platform (what the gateway records)."""
    if beat:
        worker_beat(rt, INBOUND_QUEUE)
    for p in ("wecom", "dingtalk", "feishu") if callbacks else ():
        rt.kv.set(LAST_CALLBACK_KEY.format(platform=p), f"{rt.clock().timestamp():.3f}")


class Heartbeats:
    """What the runner does with the job, on the frozen clock: a run every interval, plus the
    early recheck a run asks for while an incident waits out fail_for."""

    def __init__(self, rt: Runtime, clock) -> None:  # noqa: ANN001
        self.rt, self.clock = rt, clock
        self.next_regular, self.recheck = clock.now + STEP, None
        self.runs: list[tuple] = []          # (time, channels)

    def step(self, **traffic_kw: bool) -> dict[str, str]:
        at = min(self.recheck or self.next_regular, self.next_regular)
        if at == self.next_regular:
            self.next_regular += STEP
        self.clock.now, self.recheck = at, None
        traffic(self.rt, **traffic_kw)
        out = run_heartbeat(self.rt, at)
        if "recheck_in_seconds" in out:
            self.recheck = at + timedelta(seconds=out["recheck_in_seconds"])
        self.runs.append((at, out["channels"]))
        return out["channels"]

    def run_until(self, end, **traffic_kw: bool) -> dict[str, str]:  # noqa: ANN001
        result: dict[str, str] = {}
        while min(self.recheck or self.next_regular, self.next_regular) <= end:
            result = self.step(**traffic_kw)
        return result


def split(messages: list[str]) -> tuple[list[str], list[str], list[str]]:
    return tuple([m for m in messages if mark in m] for mark in MARKS)  # type: ignore[return-value]


# ---- the state machine alone -----------------------------------------------------------------
@pytest.mark.parametrize("fail_for, failing_minutes, sends", [
    (2, [0, 5, 10, 15, 20, 25, 30, 35], [None, "alert", None, None, None, None, None, "reminder"]),
    (0, [0, 5, 10], ["alert", None, None]),
    (10, [0, 5, 10, 15], [None, None, "alert", None]),
])
def test_decide_one_alert_then_reminders(cfg, fail_for, failing_minutes, sends):  # noqa: ANN001
    alerts = cfg.alerts.model_copy(update={"fail_for_minutes": fail_for, "reminder_minutes": 30})
    incident, got = None, []
    for minute in failing_minutes:
        incident, send = decide(incident, Probe("wecom", {"send": "HTTP 503"}), minute * 60.0, alerts)
        if send == "alert":
            incident.alerted_at = minute * 60.0
        elif send == "reminder":
            incident.reminded_at = minute * 60.0
        got.append(send)
    assert got == sends
    assert decide(incident, Probe("wecom", {}), 3600.0, alerts) == (None, "recovery")
    assert decide(Incident(since=0.0), Probe("wecom", {}), 60.0, alerts) == (None, None)   # blip, never alerted


# ---- over real HTTP --------------------------------------------------------------------------
ROUTES = ["platform", "webhook", "smtp"]


@pytest.fixture(params=ROUTES)
def routed(request, make_rt, srv):  # noqa: ANN001, ANN201
    """(runtime, received-messages function) for each kind of alert route."""
    if request.param == "platform":
        yield make_rt(), lambda: feishu_ops_messages(srv)
        return
    sink = WebhookSink() if request.param == "webhook" else SmtpSink()
    route = (AlertRoute(type="webhook", url=sink.url) if request.param == "webhook" else
             AlertRoute(type="smtp", smtp_host="127.0.0.1", smtp_port=sink.port,
                        mail_from="crm-bot@example.com", mail_to=["ops@example.com"]))
    yield make_rt(route), sink.messages
    sink.stop()


def test_send_api_failure_alerts_once_then_recovers(routed, srv, clock):  # noqa: ANN001
    rt, received = routed
    a = rt.cfg.alerts
    traffic(rt)
    assert run_heartbeat(rt, clock.now)["channels"] == {"wecom": "ok", "dingtalk": "ok", "feishu": "ok"}
    hb = Heartbeats(rt, clock)
    srv.fail("wecom", "message/send", "5xx")
    broke = clock.now
    first_alert = None
    while clock.now < broke + timedelta(minutes=40):
        assert hb.step()["wecom"] == "send"
        if first_alert is None and split(received())[0]:
            first_alert = clock.now
    assert first_alert is not None and first_alert - broke <= timedelta(minutes=a.fail_for_minutes) + STEP
    alerts, reminders, recoveries = split(received())
    assert len(alerts) == 1 and recoveries == []                     # one alert, no storm
    assert LEG_LABELS["send"] in alerts[0] and "企业微信" in alerts[0]
    assert len(reminders) == int((clock.now - first_alert) / timedelta(minutes=a.reminder_minutes))
    failing_since = hb.runs[0][0]
    srv.fail("wecom", "message/send", "ok")
    assert hb.step()["wecom"] == "ok"
    healed = clock.now
    hb.run_until(clock.now + 3 * STEP)
    alerts, _, recoveries = split(received())
    assert len(alerts) == 1 and len(recoveries) == 1
    assert human_duration((healed - failing_since).total_seconds()) in recoveries[0]
    assert LEG_LABELS["send"] in recoveries[0]


@pytest.mark.parametrize("leg", ["token", "worker", "backlog"])
def test_each_leg_is_named(make_rt, srv, clock, leg):  # noqa: ANN001
    rt = make_rt()
    traffic(rt)
    run_heartbeat(rt, clock.now)
    if leg == "token":
        srv.fail("wecom", "gettoken", "error:40001")
        rt.kv.delete(rt.channels["wecom"].client.tokens.key)             # the cached token is gone too
    elif leg == "backlog":
        rt.kv.queue(INBOUND_QUEUE).put({"event": {}})                 # nobody takes it
    result = Heartbeats(rt, clock).run_until(clock.now + 6 * STEP, beat=leg != "worker")
    assert result["wecom"] == leg
    alerts = [m for m in feishu_ops_messages(srv) if "【告警】企业微信" in m]
    assert len(alerts) == 1 and polish(LEG_LABELS[leg]) in alerts[0]      # as the ops chat reads it


def post_wecom_text(rt: Runtime, clock, text: str) -> int:  # noqa: ANN001
    """A real signed, encrypted WeCom callback through the web app, then the worker."""
    from bot.pipeline import Pipeline
    from bot.web import create_app
    from bot.worker import Worker
    cb = WeComCallbacks(rt.cfg)
    req = cb.request(cb.text("zhangwei", text, None, int(clock.now.timestamp())), clock.now.timestamp(), Tamper())
    resp = create_app(rt).test_client().open(req.path, method=req.method, query_string=req.params,
                                              data=req.body, headers=req.headers)
    assert resp.status_code == 200
    return Worker(rt.kv.queue(INBOUND_QUEUE), Pipeline(rt).process_inbound).drain()


def test_callbacks_stop_arriving(make_rt, srv, clock):  # noqa: ANN001
    rt = make_rt()
    assert post_wecom_text(rt, clock, "你好") == 1
    hb = Heartbeats(rt, clock)
    silence = timedelta(minutes=rt.cfg.alerts.inbound_silence_minutes)
    result = hb.run_until(clock.now + silence + 2 * STEP, callbacks=False)
    assert result["wecom"] == "callback"
    alerts = [m for m in feishu_ops_messages(srv) if "【告警】企业微信" in m]
    assert len(alerts) == 1 and LEG_LABELS["callback"] in alerts[0]
    assert post_wecom_text(rt, clock, "在吗") == 1
    assert hb.step(callbacks=False)["wecom"] == "ok"
    assert len([m for m in feishu_ops_messages(srv) if "【恢复】企业微信" in m]) == 1
