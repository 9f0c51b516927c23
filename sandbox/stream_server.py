"""A loopback fake of the DingTalk Stream gateway for tests and the sandbox: the HTTP
`POST /v1.0/gateway/connections/open` (credential check, a non-empty `subscriptions` list,
single-use ticket) and the WebSocket endpoint, which pushes CALLBACK / EVENT / SYSTEM frames
(CALLBACK and EVENT only for topics the connection subscribed to: DingTalk pushes nothing
else), records every well-formed ack of a frame it pushed (others go to `rejected_acks`), can
go silent (no frames, no pongs) and can send `disconnect`. Both listen on port 0 of 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from sandbox.json_post import json_post_server

log = logging.getLogger(__name__)

OPEN_PATH = "/v1.0/gateway/connections/open"
TOPIC_ROBOT = "/v1.0/im/bot/messages/get"
TOPIC_CARD = "/v1.0/card/instances/callback"


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `condition` until truthy or `timeout`; returns its last value."""
    give_up = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > give_up:
            return result
        time.sleep(0.01)


SUBSCRIPTION_TYPES = ("EVENT", "CALLBACK")


class NotSubscribed(LookupError):
    """A CALLBACK / EVENT frame for a topic the connection did not subscribe to: DingTalk
    would never push it."""


@dataclass
class StreamConnection:
    """One accepted WebSocket and what happened on it."""
    index: int
    ticket: str
    ws: ServerConnection
    subscriptions: frozenset[tuple[str, str]] = frozenset()
    silent: bool = False
    closed: bool = False
    acks: list[dict[str, Any]] = field(default_factory=list)
    rejected_acks: list[dict[str, Any]] = field(default_factory=list)
    pushed: set[str] = field(default_factory=set)        # messageIds of frames sent on it

    def subscribed(self, kind: str, topic: str) -> bool:
        if kind == "SYSTEM":
            return True
        return (kind, topic) in self.subscriptions or (kind == "EVENT" and ("EVENT", "*") in self.subscriptions)


def subscription_problem(subscriptions: Any) -> str | None:
    """Why a connections/open `subscriptions` value is not acceptable (None: it is). The
    protocol makes it required: a list of {type: EVENT|CALLBACK, topic}; events only as "*"."""
    if not isinstance(subscriptions, list) or not subscriptions:
        return "subscriptions is required: a non-empty list of {type, topic}"
    for sub in subscriptions:
        if not isinstance(sub, dict) or sub.get("type") not in SUBSCRIPTION_TYPES:
            return f"subscription {sub!r}: type must be EVENT or CALLBACK"
        topic = sub.get("topic")
        if not isinstance(topic, str) or not topic:
            return f"subscription {sub!r}: topic is required"
        if sub["type"] == "EVENT" and topic != "*":
            return "EVENT subscriptions only take topic \"*\" (events are chosen in the developer console)"
    return None


class FakeStreamGateway:
    """`FakeStreamGateway(client_id, secret).start()`; point the client's `api_base` at
    `api_base`; push frames with `push_*`; read `acks`, `opened` and `connections`."""

    def __init__(self, client_id: str, client_secret: str, *, host: str = "127.0.0.1",
                 ticket_ttl: float = 90.0, disconnect_grace: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.client_id, self._secret, self.host = client_id, client_secret, host
        self.ticket_ttl, self.disconnect_grace, self.clock = ticket_ttl, disconnect_grace, clock
        self.opened: list[dict[str, Any]] = []        # connections/open bodies, secret removed
        self.connections: list[StreamConnection] = []
        self.rejected_tickets: list[str] = []
        self._tickets: dict[str, tuple[float, frozenset[tuple[str, str]]]] = {}   # ticket -> (expiry, subs)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ws_server: Server | None = None
        self._http = json_post_server(self._answer, host)
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> "FakeStreamGateway":
        ws_thread = threading.Thread(target=self._loop.run_forever, name="fake-stream-ws", daemon=True)
        ws_thread.start()
        self._ws_server = self._call(self._serve())
        http_thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="fake-stream-http", daemon=True)
        http_thread.start()
        self._threads = [ws_thread, http_thread]
        return self

    async def _serve(self) -> Server:
        # No server-side keepalive: liveness is what the client under test must prove.
        return await serve(self._serve_ws, self.host, 0, ping_interval=None,
                           process_request=self._check_ticket)

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._ws_server is not None:
            for conn in list(self.connections):
                if not conn.closed:
                    self._loop.call_soon_threadsafe(_abort, conn.ws)
            self._call(self._close_ws(self._ws_server), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        for t in self._threads:
            t.join(timeout=5)

    @staticmethod
    async def _close_ws(server: Server) -> None:
        server.close(close_connections=False)    # sockets were aborted above
        await server.wait_closed()

    def __enter__(self) -> "FakeStreamGateway":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        host, port = self._http.server_address[:2]
        assert isinstance(host, str)            # an AF_INET address: (str, int)
        return f"http://{host}:{port}"

    @property
    def ws_endpoint(self) -> str:
        assert self._ws_server is not None, "start() first"
        host, port = next(iter(self._ws_server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}/connect"

    # --- connections/open -----------------------------------------------------------------
    def open_connection(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """What DingTalk answers to connections/open (also usable as a route of the main sandbox)."""
        if not isinstance(body, dict) or not body.get("clientId") or not body.get("clientSecret"):
            return 400, {"code": "MissingParameter", "message": "clientId and clientSecret are required"}
        if not (secrets.compare_digest(str(body["clientId"]), self.client_id)
                and secrets.compare_digest(str(body["clientSecret"]), self._secret)):
            return 401, {"code": "InvalidAuthentication", "message": "invalid clientId or clientSecret"}
        problem = subscription_problem(body.get("subscriptions"))
        if problem:
            return 400, {"code": "InvalidParameter.subscriptions", "message": problem}
        subs = frozenset((s["type"], s["topic"]) for s in body["subscriptions"])
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._tickets[ticket] = (self.clock() + self.ticket_ttl, subs)
            self.opened.append({k: v for k, v in body.items() if k != "clientSecret"} | {"ticket": ticket})
        return 200, {"endpoint": self.ws_endpoint, "ticket": ticket}

    def _answer(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if path != OPEN_PATH:
            return 404, {"code": "NotFound", "message": path}
        return self.open_connection(body)

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        ticket = parse_qs(urlsplit(request.path).query).get("ticket", [""])[0]
        with self._lock:
            issued = self._tickets.pop(ticket, None)    # single use: gone once presented
        if issued is None or issued[0] < self.clock():
            self.rejected_tickets.append(ticket)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
        connection.ticket = ticket  # type: ignore[attr-defined]
        connection.subscriptions = issued[1]  # type: ignore[attr-defined]
        return None

    async def _serve_ws(self, ws: ServerConnection) -> None:
        with self._lock:
            conn = StreamConnection(len(self.connections), ws.ticket, ws,  # type: ignore[attr-defined]
                                    ws.subscriptions)  # type: ignore[attr-defined]
            self.connections.append(conn)
        try:
            async for raw in ws:
                self._record_ack(conn, raw)
        except Exception as err:  # noqa: BLE001 - a client that vanishes is part of the test
            log.debug("fake stream connection %d ended: %s", conn.index, err)
        finally:
            conn.closed = True

    def _record_ack(self, conn: StreamConnection, raw: str | bytes) -> None:
        """Keep a well-formed ack of a frame pushed on this connection; anything else (not JSON,
        no code, no or an unknown headers.messageId, data not a JSON string) is rejected."""
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        try:
            ack = json.loads(text)
        except ValueError:
            ack = None
        with self._lock:
            problem = ack_problem(ack, conn.pushed)
            if problem:
                conn.rejected_acks.append({"raw": text[:2000], "reason": problem, "_at": self.clock()})
                log.debug("fake stream connection %d: ack rejected (%s)", conn.index, problem)
                return
            conn.acks.append({**ack, "_at": self.clock()})

    # --- pushing frames ---------------------------------------------------------------------
    def live(self) -> StreamConnection:
        """The newest connection that is still open."""
        with self._lock:
            for conn in reversed(self.connections):
                if not conn.closed:
                    return conn
        raise LookupError("no open stream connection")

    def push(self, frame: dict[str, Any], conn: StreamConnection | None = None) -> str:
        """Send one frame; returns its messageId. A silent connection sends nothing. A CALLBACK
        or EVENT frame for a topic the connection did not subscribe to raises `NotSubscribed`."""
        conn = conn or self.live()
        kind, topic = str(frame.get("type")), str(frame.get("headers", {}).get("topic"))
        if not conn.subscribed(kind, topic):
            raise NotSubscribed(f"connection {conn.index} did not subscribe to {kind} {topic}")
        message_id = frame["headers"]["messageId"]
        with self._lock:
            conn.pushed.add(message_id)
        if not conn.silent:
            self._call(conn.ws.send(json.dumps(frame, ensure_ascii=False)))
        return message_id

    def frame(self, kind: str, topic: str, data: Any, message_id: str | None = None,
              **headers: str) -> dict[str, Any]:
        return {"specVersion": "1.0", "type": kind,
                "headers": {"appId": self.client_id, "connectionId": "fake-conn", "contentType": "application/json",
                            "messageId": message_id or uuid.uuid4().hex, "time": str(int(self.clock() * 1000)),
                            "topic": topic, **headers},
                "data": data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}

    def push_robot_message(self, data: dict[str, Any], message_id: str | None = None) -> str:
        return self.push(self.frame("CALLBACK", TOPIC_ROBOT, data, message_id))

    def push_card_callback(self, data: dict[str, Any], message_id: str | None = None) -> str:
        return self.push(self.frame("CALLBACK", TOPIC_CARD, data, message_id))

    def push_event(self, event_type: str, data: dict[str, Any], event_id: str | None = None) -> str:
        now_ms = str(int(self.clock() * 1000))
        return self.push(self.frame("EVENT", "*", data, eventId=event_id or uuid.uuid4().hex,
                                    eventType=event_type, eventBornTime=now_ms, eventCorpId="dingcorp",
                                    eventUnifiedAppId=self.client_id))

    def ping(self) -> str:
        return self.push(self.frame("SYSTEM", "ping", {"opaque": uuid.uuid4().hex}))

    def disconnect(self) -> str:
        """SYSTEM disconnect; the connection is closed `disconnect_grace` seconds later."""
        conn = self.live()
        message_id = self.push(self.frame("SYSTEM", "disconnect", {"reason": "server maintenance"}), conn)
        self._loop.call_soon_threadsafe(self._loop.call_later, self.disconnect_grace, _abort, conn.ws)
        return message_id

    def go_silent(self, conn: StreamConnection | None = None) -> StreamConnection:
        """Stop sending and stop reading, so pings go unanswered: a stale socket."""
        conn = conn or self.live()
        conn.silent = True
        self._loop.call_soon_threadsafe(conn.ws.transport.pause_reading)
        return conn

    # --- reading the record -----------------------------------------------------------------
    @property
    def acks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a for c in self.connections for a in c.acks]

    @property
    def rejected_acks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a for c in self.connections for a in c.rejected_acks]

    def acks_for(self, message_id: str) -> list[dict[str, Any]]:
        return [a for a in self.acks if a.get("headers", {}).get("messageId") == message_id]

    wait_until = staticmethod(wait_until)

    def _call(self, coro: Any, timeout: float = 5.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)


def ack_problem(ack: Any, pushed: set[str]) -> str | None:
    """Why `ack` is not an ack DingTalk takes (None: it is): {code: int, headers: {messageId of
    a pushed frame, contentType?}, message: str?, data: JSON string?}."""
    if not isinstance(ack, dict):
        return "not a JSON object"
    if not isinstance(ack.get("code"), int) or isinstance(ack.get("code"), bool):
        return "code must be a number"
    headers = ack.get("headers")
    message_id = headers.get("messageId") if isinstance(headers, dict) else None
    if not isinstance(message_id, str) or not message_id:
        return "headers.messageId is required"
    if message_id not in pushed:
        return f"unknown messageId {message_id[:60]!r}"
    if "message" in ack and not isinstance(ack["message"], str):
        return "message must be a string"
    data = ack.get("data")
    if data is not None:
        if not isinstance(data, str):
            return "data must be a JSON string"
        try:
            json.loads(data)
        except ValueError:
            return "data is not JSON"
    return None


def _abort(ws: ServerConnection) -> None:
    if ws.transport is not None:
        ws.transport.abort()
