"""The sandbox HTTP server: one loopback port, one path prefix per fake platform
(`/wecom`, `/dingtalk`, `/dingtalk-oapi`, `/feishu`) plus the `/_sandbox/` control API.

Owns request/response plumbing, routing, failure injection and recording; what each platform
answers lives in `wecom_api`, `dingtalk_api` and `feishu_api`. Runs on stdlib
`ThreadingHTTPServer` in a background thread, so tests talk real HTTP to it.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from sandbox.feishu_ws_server import ENDPOINT_PATH as WS_ENDPOINT_PATH
from sandbox.state import (
    SANDBOX_PLATFORMS, Media, SandboxCredentials, SandboxState, SentCall,
)
from sandbox.stream_server import OPEN_PATH as STREAM_OPEN_PATH

log = logging.getLogger(__name__)
JSON_CT = "application/json; charset=utf-8"
MAX_BODY = 32 * 1024 * 1024


@dataclass
class ApiRequest:
    method: str
    path: str                       # below the platform prefix, e.g. "/cgi-bin/gettoken"
    query: dict[str, str]
    headers: dict[str, str]         # lower-case names
    body: bytes
    base_url: str                   # the sandbox's own URL (for downloadUrl, session webhooks)
    params: dict[str, str] = field(default_factory=dict)   # named groups of the route pattern

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The parsed body; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is anything else."""
        try:
            value = self.json()
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None


@dataclass
class ApiResponse:
    status: int = 200
    payload: dict[str, Any] | None = None
    raw: bytes | None = None
    content_type: str = JSON_CT
    headers: dict[str, str] = field(default_factory=dict)
    recipient: str = ""
    record: bool = True              # False: not a new delivery (e.g. a repeated Feishu uuid)
    body: dict[str, Any] | None = None   # what to record as the request body (default: parsed JSON)

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload or {}, ensure_ascii=False).encode("utf-8")


Handler = Callable[[SandboxState, ApiRequest], ApiResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: Any                     # compiled regex, matched against ApiRequest.path
    api: str                         # short name used by sent() / fail()
    handler: Handler
    recorded: bool = False           # a message API: its calls show up in sent()


@dataclass(frozen=True)
class PlatformApi:
    prefix: str                      # first path segment
    platform: str
    routes: tuple[Route, ...]
    failure: Callable[[str, str], ApiResponse]   # (mode, api) -> the injected answer


def json_response(payload: dict[str, Any], status: int = 200, **kw: Any) -> ApiResponse:
    return ApiResponse(status=status, payload=payload, **kw)


def _platform_apis() -> dict[str, PlatformApi]:
    from sandbox import dingtalk_api, feishu_api, wecom_api
    apis = (wecom_api.API, dingtalk_api.API, dingtalk_api.OAPI, feishu_api.API)
    return {a.prefix: a for a in apis}


# Called once with each sandbox as it stops, while it still holds every call crm-bot made
# (the e2e suite reads every conversation through this: tests/e2e/conftest.py).
STOP_OBSERVERS: list[Callable[["SandboxServer"], None]] = []


class SandboxServer:
    """`SandboxServer(credentials).start()` → real HTTP on `srv.url` until `srv.stop()`."""

    def __init__(self, credentials: SandboxCredentials, host: str = "127.0.0.1", port: int = 0, *,
                 clock: Callable[[], float] = time.time, hang_seconds: float = 2.0) -> None:
        self.state = SandboxState(credentials, clock)
        self.hang_seconds = hang_seconds          # how long a "timeout" failure holds the request
        self._apis = _platform_apis()
        self._httpd = _HTTPServer((host, port), _RequestHandler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None
        self._stream: Any = None                  # the DingTalk Stream gateway, started on first use
        self._feishu_ws: Any = None               # the Feishu long-connection gateway, likewise
        self._stream_lock = threading.Lock()
        self.said: list[tuple[str, str, str]] = []   # (platform, user id, text) simulated people wrote
        self._observed = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        assert isinstance(host, str)            # an AF_INET address: (str, int)
        return f"http://{host}:{port}"

    def start(self) -> "SandboxServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="crm-bot-sandbox",
                                            kwargs={"poll_interval": 0.05}, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if not self._observed:
            self._observed = True
            for observe in list(STOP_OBSERVERS):
                observe(self)
        self.state.wake.set()
        if self._stream is not None:
            self._stream.stop()
            self._stream = None
        if self._feishu_ws is not None:
            self._feishu_ws.close()
            self._feishu_ws = None
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- Python control API (same as /_sandbox/) ---------------------------------------
    def sent(self, platform: str | None = None, api: str | None = None, **kw: Any) -> list[SentCall]:
        return self.state.sent(platform, api, **kw)

    def put_media(self, platform: str, key: str, data: bytes, content_type: str,
                  message_id: str | None = None) -> None:
        self.state.put_media(platform, key, data, content_type, message_id)

    def fail(self, platform: str, api: str, mode: str, count: int | None = None) -> None:
        self.state.fail(platform, api, mode, count)

    def expire_tokens(self, platform: str | None = None) -> None:
        self.state.expire_tokens(platform)

    def hits(self, platform: str | None = None, api: str | None = None) -> int:
        return self.state.hits(platform, api)

    def uploaded_images(self, platform: str) -> dict[str, dict[str, Any]]:
        """Images crm-bot uploaded to a fake platform: id → sha256, size, content_type, filename."""
        from sandbox.images import uploaded
        return uploaded(self.state, platform)

    def reset(self) -> None:
        self.state.reset()

    def last_seq(self) -> int:
        return self.state.last_seq()

    # ---- the platform's own bookkeeping, used by the simulator (also under /_sandbox/) ----
    def open_session(self, user_id: str, conversation_id: str, group: bool) -> str:
        """A DingTalk session webhook id for one message the simulator sends."""
        from sandbox.dingtalk_api import open_session
        return open_session(self.state, user_id, conversation_id, group)

    def register_message(self, platform: str, message_id: str, info: dict[str, Any]) -> None:
        """A message the user sent (Feishu: so the bot can reply to it)."""
        self.state.put_object(platform, message_id, {"card": None, **info})

    def find_card(self, platform: str, card_ids: list[str]) -> dict[str, Any] | None:
        """The delivered card known under any of `card_ids`: {"ref", "card", "recipient", ...};
        a DingTalk card also says where its taps go ("callback", "callback_url")."""
        for card_id in card_ids:
            ref = self.state.card_ref(platform, card_id) if card_id else None
            obj = self.state.get_object(platform, ref) if ref else None
            if obj is not None and platform == "dingtalk":
                from sandbox.dingtalk_api import callback_url_of
                obj = {**obj, "callback_url": callback_url_of(self.state, obj)}
            if obj is not None:
                return {**obj, "ref": ref}
        return None

    def tap_code(self, platform: str, ref: str, operator: str) -> str:
        """What a tap callback carries: WeCom ResponseCode, Feishu delayed-update token."""
        from sandbox import feishu_api, wecom_api
        if platform == "wecom":
            return wecom_api.response_code_for_tap(self.state, ref)
        if platform == "feishu":
            return feishu_api.issue_card_token(self.state, ref, operator)
        return ""

    # ---- DingTalk Stream mode ------------------------------------------------------------
    def stream_gateway(self) -> Any:
        """The fake DingTalk Stream gateway behind `POST /dingtalk/v1.0/gateway/connections/open`
        (checks the configured app key/secret; the WebSocket endpoint is its own port)."""
        from sandbox.stream_server import FakeStreamGateway
        with self._stream_lock:
            if self._stream is None:
                creds = self.state.creds
                self._stream = FakeStreamGateway(creds.dingtalk_app_key, creds.dingtalk_app_secret).start()
            return self._stream

    def feishu_ws_gateway(self) -> Any:
        """The fake Feishu long-connection gateway behind `POST /feishu/callback/ws/endpoint`."""
        from sandbox.feishu_ws_server import FakeFeishuLongConnection
        with self._stream_lock:
            if self._feishu_ws is None:
                creds = self.state.creds
                self._feishu_ws = FakeFeishuLongConnection(creds.feishu_app_id, creds.feishu_app_secret)
            return self._feishu_ws

    def push_stream(self, platform: str, kind: str, data: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Deliver a user's message (`kind` "message") or a card tap ("card") to the crm-bot
        connected in DingTalk Stream / Feishu long-connection mode, as a frame on its connection;
        waits for the frame's ack: {"message_id", "acked", "ack"}."""
        if kind not in ("message", "card"):
            raise ValueError(f"stream frame kind must be message or card, not {kind!r}")
        if platform == "dingtalk":
            gateway = self.stream_gateway()
            connected = lambda: any(not c.closed for c in gateway.connections)  # noqa: E731
            push = gateway.push_robot_message if kind == "message" else gateway.push_card_callback
            acks_for = gateway.acks_for
        elif platform == "feishu":
            gateway = self.feishu_ws_gateway()
            connected, push, acks_for = gateway.connected, gateway.push_event, gateway.replies_for
        else:
            raise ValueError(f"{platform} has no stream mode")
        if not gateway.wait_until(connected, timeout):
            raise LookupError(f"no crm-bot is connected to the sandbox's {platform} stream gateway")
        message_id = push(data)    # a topic the connection did not subscribe to: NotSubscribed
        acks = gateway.wait_until(lambda: acks_for(message_id), timeout)
        acked = bool(acks) and acks[0].get("code", 200) == 200
        return {"message_id": message_id, "acked": acked, "ack": acks[0] if acks else None}

    def base_urls(self) -> dict[str, str]:
        """The api_base values to put in crm-bot's config to use this sandbox."""
        return {"wecom": f"{self.url}/wecom", "dingtalk": f"{self.url}/dingtalk",
                "dingtalk_oapi": f"{self.url}/dingtalk-oapi", "feishu": f"{self.url}/feishu"}

    # ---- dispatch ------------------------------------------------------------------------
    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> ApiResponse:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        segment, _, rest = parts.path.lstrip("/").partition("/")
        req = ApiRequest(method, "/" + rest, query, headers, body, self.url)
        if segment == "_sandbox":
            return _control(self, req)
        if segment == "dingtalk" and req.path == STREAM_OPEN_PATH and method == "POST":
            status, payload = self.stream_gateway().open_connection(req.json_object())
            return json_response(payload, status)
        if segment == "feishu" and req.path == WS_ENDPOINT_PATH and method == "POST":
            status, payload = self.feishu_ws_gateway().endpoint(req.json_object())
            return json_response(payload, status)
        api = self._apis.get(segment)
        if api is None:
            return json_response({"error": f"no such sandbox platform: /{segment}"}, 404)
        for route in api.routes:
            match = route.pattern.fullmatch(req.path)
            if match and route.method == method:
                req.params = match.groupdict()
                return self._call(api, route, req)
        return json_response({"error": f"{method} {parts.path} is not part of the sandbox"}, 404)

    def _call(self, api: PlatformApi, route: Route, req: ApiRequest) -> ApiResponse:
        self.state.count_hit(api.platform, route.api)
        mode = self.state.take_failure(api.platform, route.api)
        if mode == "timeout":
            # Hold the request past any sane client timeout, then answer like a gateway would.
            self.state.wake.wait(self.hang_seconds)
            resp = json_response({"error": "sandbox: injected timeout"}, 504)
        elif mode == "late":
            # Done (the message is delivered), but the answer comes `hang_seconds` later: a sender
            # that times out or dies meanwhile cannot know it went out.
            resp = route.handler(self.state, req)
            self._record(api, route, req, resp)
            self.state.wake.wait(self.hang_seconds)
            return resp
        elif mode is not None:
            resp = api.failure(mode, route.api)
        else:
            resp = route.handler(self.state, req)
        self._record(api, route, req, resp)
        return resp

    def _record(self, api: PlatformApi, route: Route, req: ApiRequest, resp: ApiResponse) -> None:
        if route.recorded and resp.record:
            self.state.record(api.platform, route.api, resp.recipient or _guess_recipient(req),
                              resp.body if resp.body is not None else _body_dict(req),
                              resp.status, dict(resp.payload or {}))


def _body_dict(req: ApiRequest) -> dict[str, Any]:
    try:
        body = req.json()
    except ValueError:
        return {"_raw": req.body.decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {"_json": body}


def _guess_recipient(req: ApiRequest) -> str:
    """Who a call was meant for when the handler did not get to say (injected failures)."""
    body = _body_dict(req)
    for key in ("touser", "receive_id", "openConversationId", "userids", "userIds"):
        value = body.get(key)
        if value:
            return "|".join(value) if isinstance(value, list) else str(value)
    return req.params.get("message_id") or req.params.get("session") or ""


def _control(srv: SandboxServer, req: ApiRequest) -> ApiResponse:
    """`/_sandbox/...`: inspect and steer the sandbox, and the simulator's handle calls."""
    try:
        if req.path == "/sent" and req.method == "GET":
            q = req.query
            calls = srv.sent(q.get("platform") or None, q.get("api") or None,
                             since=float(q["since"]) if q.get("since") else None,
                             after=int(q["after"]) if q.get("after") else None,
                             include_failed=q.get("include_failed", "") in ("1", "true"))
            return json_response({"calls": [c.to_dict() for c in calls], "last_seq": srv.last_seq()})
        body = req.json_object() if req.body else {}
        action = _CONTROL_POST.get(req.path)
        if req.method != "POST" or body is None or action is None:
            raise ValueError(f"unsupported control call {req.method} {req.path}")
        return json_response({"ok": True, **(action(srv, body) or {})})
    except (KeyError, ValueError, TypeError, LookupError, binascii.Error) as err:
        return json_response({"ok": False, "error": f"{type(err).__name__}: {err}"}, 400)


def _put_media(srv: SandboxServer, b: dict[str, Any]) -> None:
    srv.put_media(b["platform"], b["key"], base64.b64decode(b["data"], validate=True),
                  b.get("content_type") or "application/octet-stream", b.get("message_id"))


_CONTROL_POST: dict[str, Callable[[SandboxServer, dict[str, Any]], dict[str, Any] | None]] = {
    "/media": _put_media,
    "/fail": lambda srv, b: srv.fail(b["platform"], b.get("api") or "*", b["mode"], b.get("count")),
    "/reset": lambda srv, b: srv.reset(),
    "/expire_tokens": lambda srv, b: srv.expire_tokens(b.get("platform")),
    "/session": lambda srv, b: {"session": srv.open_session(b["user_id"], b["conversation_id"],
                                                            bool(b.get("group")))},
    "/message": lambda srv, b: srv.register_message(b["platform"], b["message_id"], b["info"]),
    "/card": lambda srv, b: {"card": srv.find_card(b["platform"], list(b["card_ids"]))},
    "/tap_code": lambda srv, b: {"code": srv.tap_code(b["platform"], b["ref"], b["operator"])},
    "/stream": lambda srv, b: srv.push_stream(b["platform"], b["kind"], dict(b["data"])),
}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False           # stop() must not wait for requests held by "timeout"
    sandbox: SandboxServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"    # keep-alive, like the real APIs behind requests.Session
    disable_nagle_algorithm = True   # headers and body go out in two writes: no 40 ms ACK stall
    server: _HTTPServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(json_response({"error": "body too large"}, 413))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            resp = self.server.sandbox.dispatch(self.command, self.path, headers, body)
        except Exception:   # noqa: BLE001 - a sandbox bug must show as a 500, not a hung client
            log.exception("sandbox handler failed for %s %s", self.command, self.path.split("?")[0])
            resp = json_response({"error": "sandbox internal error"}, 500)
        self._send(resp)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _send(self, resp: ApiResponse) -> None:
        data = resp.encoded()
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client gave up (e.g. its timeout fired during an injected hang)

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 - stdlib signature
        # Paths carry tokens and robot keys in query strings: log the path only, at debug.
        log.debug("sandbox %s %s", getattr(self, "command", ""), getattr(self, "path", "").split("?")[0])


__all__ = ["ApiRequest", "ApiResponse", "Media", "PlatformApi", "Route", "SandboxCredentials",
           "SandboxServer", "SandboxState", "SentCall", "json_response", "SANDBOX_PLATFORMS"]
