"""A fourth chat platform, defined entirely in this module — its own fake API, inbound
adapter, client, card renderer and channel — registered with one call, runs the same end-to-end
flows as WeCom, DingTalk and Feishu through the real crm-bot server and workers:
text → handler → reply; card sent → tapped → updated in place.

"FakeChat" signs callbacks with HMAC-SHA256 over the raw body (`X-FakeChat-Signature`), sends
JSON events, and has a token-protected REST API: POST /token, /messages, /cards, PUT /cards/<id>.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from sqlalchemy import select
from waitress import create_server

from bot.events import CardAction, EventKind, InboundEvent, MediaRef
from bot.outbound.http import ClientBase, PermanentError
from bot.outbound.message import Recipient
from bot.outbound.ratelimit import MINUTE, Window
from bot.outbound.tokens import TokenCache
from bot.platforms.base import (
    BAD_SIGNATURE, InboundRejected, InboundRequest, InboundResult, check_body_size,
    parse_json_object, secure_equals,
)
from bot.platforms.interface import Channel, HttpEndpoint, Platform, Refs
from bot.platforms.registry import default_registry
from bot.runtime import Runtime
from bot.web import create_app
from bot.worker import run_workers
from cards.model import Card
from crm_core.config.schema import AppConfig
from crm_core.db import Database
from crm_core.db.models import Lead
from crm_core.kv import connect
from crm_core.kv.base import KV

NAME = "fakechat"
SECRET = "fakechat-signing-secret"
APP_SECRET = "fakechat-app-secret"
USER = "fc_zhangwei"              # zhang.wei's id on FakeChat


# ---- the platform's own API (what the real service would be) ---------------------------------
class FakeChatApi:
    """Records what crm-bot sends; rejects calls without the token it issued."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.messages: list[dict[str, Any]] = []
        self.cards: dict[str, dict[str, Any]] = {}        # message id → latest card body
        self.updates: list[str] = []
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self._body()
                if self.path == "/token":
                    ok = body.get("secret") == APP_SECRET
                    self._answer(200 if ok else 403, {"token": api.token, "expires_in": 3600} if ok else {})
                    return
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    self._answer(401, {"error": "bad token"})
                    return
                with api.lock:
                    msg_id = f"m{len(api.messages) + 1}"
                    api.messages.append({"id": msg_id, "path": self.path, **body})
                    if self.path == "/cards":
                        api.cards[msg_id] = body["card"]
                self._answer(200, {"message_id": msg_id})

            def do_PUT(self) -> None:  # noqa: N802
                body = self._body()
                msg_id = self.path.rsplit("/", 1)[-1]
                if self.headers.get("Authorization") != f"Bearer {api.token}" or msg_id not in api.cards:
                    self._answer(404, {"error": "unknown card"})
                    return
                with api.lock:
                    api.cards[msg_id] = body["card"]
                    api.updates.append(msg_id)
                self._answer(200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages if m["path"] == "/messages"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- crm-bot's side of the platform ----------------------------------------------------------
def render_fakechat(card: Card) -> dict[str, Any]:
    """The platform's card JSON: title, fields, and each button's tap payload."""
    return {"title": card.title, "fields": [[f.label, f.value] for f in card.fields],
            "text": card.text, "result": card.result,
            "buttons": [] if card.is_resolved else [
                {"text": b.text, "tap": {"card_id": card.card_id, "action": b.action, "values": b.value}}
                for b in card.buttons]}


class FakeChatInbound:
    """Verify the signature over the raw body, then map the JSON event."""

    def handle(self, req: InboundRequest, now: float) -> InboundResult:
        check_body_size(req.body)
        expected = hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
        if not secure_equals(expected, req.header("X-FakeChat-Signature") or None):
            raise InboundRejected(401, BAD_SIGNATURE)
        body = parse_json_object(req.body)
        at = datetime.fromtimestamp(now, tz=timezone.utc)
        common = dict(platform=NAME, event_id=str(body["event_id"]), sender_id=str(body["user"]),
                      conversation_id=str(body["user"]), received_at=at, platform_time=at)
        if body.get("type") == "tap":
            tap = body["tap"]
            action = CardAction(key=tap["action"], values=tap.get("values") or {}, card_ref=tap["card_id"])
            event = InboundEvent(kind=EventKind.CARD_ACTION, action=action, raw_type="tap",
                                 reply_ref={"message_id": body.get("message_id")}, **common)
        else:
            event = InboundEvent(kind=EventKind.TEXT, text=str(body.get("text") or ""), raw_type="text", **common)
        return InboundResult([event], b'{"ok":true}', "application/json")


class FakeChatClient(ClientBase):
    platform = NAME

    def __init__(self, base: str, kv: KV, clock: Callable[[], float]) -> None:
        super().__init__()
        self.base = base
        self.tokens = TokenCache(kv, NAME, self._fetch_token, clock=clock, scope="app")

    def _fetch_token(self) -> tuple[str, int]:
        data = self._json(self._send("POST", f"{self.base}/token", "token", json={"secret": APP_SECRET}), "token")
        return str(data["token"]), int(data["expires_in"])

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self._send(method, f"{self.base}{path}", path, json=body,
                          headers={"Authorization": f"Bearer {self.tokens.get()}"})
        if resp.status_code >= 400:
            raise PermanentError(f"HTTP {resp.status_code}", platform=NAME, api=path)
        return self._json(resp, path)


class FakeChatChannel(Channel):
    client: FakeChatClient

    def route(self, to: Recipient, kind: str, now: float) -> str:
        return "user"

    def send_text(self, to: Recipient, route: str, text: str, markdown: bool, uuid: str,
                  resend_window: float = 0.0) -> Refs:
        return self.client._call("POST", "/messages", {"to": to.user_id, "text": text, "uuid": uuid})

    def send_card(self, to: Recipient, route: str, card: Card, uuid: str,
                  resend_window: float = 0.0) -> Refs:
        return self.client._call("POST", "/cards", {"to": to.user_id, "card": self.render_card(card)})

    def update_card(self, to: Recipient, card: Card, ref: Refs, response_code: str | None) -> Refs:
        self.client._call("PUT", f"/cards/{ref['message_id']}", {"card": self.render_card(card)})
        return {}

    def render_card(self, card: Card) -> Any:
        return render_fakechat(card)

    def download_media(self, media: MediaRef) -> bytes:
        raise PermanentError("FakeChat has no media", platform=NAME, api="media")


class FakeChatPlatform(Platform):
    name = NAME
    label = "测试聊天"
    card_routes = ("user",)
    text_limits = {"user": 4000}
    recipient_windows = {"user": (Window(60, MINUTE),)}
    app_windows = (Window(600, MINUTE),)

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base

    def enabled(self, cfg: AppConfig) -> bool:
        return True

    def connect(self, cfg: AppConfig, kv: KV, clock: Callable[[], float]) -> FakeChatChannel:
        return FakeChatChannel(self, FakeChatClient(self.api_base, kv, clock))

    def http_endpoints(self, cfg: AppConfig) -> list[HttpEndpoint]:
        return [HttpEndpoint(NAME, NAME, FakeChatInbound())]


# ---- the deployment ----------------------------------------------------------------------------
class FakeChatStack:
    def __init__(self, cfg: AppConfig, db_url: str) -> None:
        self.api = FakeChatApi()
        registry = default_registry()
        registry.register(FakeChatPlatform(self.api.url))           # the one registration
        rep = cfg.org.rep("zhang.wei")
        assert rep is not None
        reps = [r.model_copy(update={"platform_ids": {**r.platform_ids, NAME: USER}}) if r.id == rep.id else r
                for r in cfg.org.reps]
        cfg = cfg.model_copy(update={"org": cfg.org.model_copy(update={"reps": reps})})
        self.rt = Runtime(cfg=cfg, db=Database(db_url), kv=connect(None, f"fc{uuid.uuid4().hex[:6]}"),
                          platforms=registry)
        self.stop = threading.Event()
        self.server = create_server(create_app(self.rt), host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        threading.Thread(target=self.server.run, daemon=True).start()
        self.threads = run_workers(self.rt, self.stop)

    def post(self, event: dict[str, Any], *, sign: bool = True) -> requests.Response:
        body = json.dumps({"event_id": uuid.uuid4().hex, "user": USER, **event}).encode()
        sig = hmac.new((SECRET if sign else "forged").encode(), body, hashlib.sha256).hexdigest()
        return requests.post(f"{self.url}/callback/{NAME}", data=body, timeout=5,
                             headers={"X-FakeChat-Signature": sig, "Content-Type": "application/json"})

    def settle(self, timeout: float = 20.0) -> None:
        stop_at = threading.Event()
        for _ in range(int(timeout / 0.05)):
            stats = [self.rt.kv.queue(q).stats() for q in ("inbound", "outbound")]
            if not any(s.ready + s.inflight for s in stats):
                stop_at.wait(0.3)
                stats = [self.rt.kv.queue(q).stats() for q in ("inbound", "outbound")]
                if not any(s.ready + s.inflight for s in stats):
                    return
            stop_at.wait(0.05)
        raise AssertionError("queues did not drain")

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)
        self.server.close()
        self.rt.close()
        self.api.close()


@pytest.fixture
def fakechat(cfg: AppConfig, db: Database, db_url: str) -> Iterator[FakeChatStack]:  # `db` empties the tables
    stack = FakeChatStack(cfg, db_url)
    try:
        yield stack
    finally:
        stack.close()


def test_text_reaches_handler_and_reply_arrives(fakechat: FakeChatStack) -> None:
    assert fakechat.post({"type": "text", "text": "帮助"}).status_code == 200
    fakechat.settle()
    out = "\n".join(fakechat.api.texts())
    assert "查客户" in out and "我的待办" in out


def test_forged_callback_is_rejected(fakechat: FakeChatStack) -> None:
    res = fakechat.post({"type": "text", "text": "帮助"}, sign=False)
    assert res.status_code == 401 and "signature" in res.json()["message"]
    fakechat.settle(timeout=2)
    assert fakechat.api.messages == []


def test_card_sent_tapped_and_updated_in_place(fakechat: FakeChatStack, db: Database) -> None:
    fakechat.post({"type": "text", "text": "记录杭州优品科技有限公司张总要采购CT设备,预算300万,3月招标"})
    fakechat.settle()
    msg_id, card = next((m["id"], m["card"]) for m in fakechat.api.messages if m["path"] == "/cards")
    confirm = next(b["tap"] for b in card["buttons"] if b["tap"]["action"] == "lead.confirm")
    assert fakechat.post({"type": "tap", "tap": confirm, "message_id": msg_id}).status_code == 200
    fakechat.settle()
    with db.uow() as s:
        lead = s.scalar(select(Lead))
        assert lead is not None and lead.budget_cny == 3_000_000 and lead.product == "CT设备"
    assert fakechat.api.updates == [msg_id]                          # the same card, updated in place
    updated = fakechat.api.cards[msg_id]
    assert "已保存为线索" in (updated["result"] or "") and updated["buttons"] == []
    assert any("已保存线索" in t for t in fakechat.api.texts())
