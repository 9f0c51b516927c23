"""A loopback fake of Feishu's long-connection (WebSocket) gateway for tests and the sandbox:
`POST /callback/ws/endpoint` (app id + secret checked) hands out a WebSocket URL that speaks
lark's protobuf frames: it pushes events, answers pings with pongs, records every reply (the
ack lark's client sends for each event) and can go silent. Both listen on 127.0.0.1 port 0."""
from __future__ import annotations

import asyncio
import json
import secrets
import threading
import uuid
from functools import cache
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from sandbox.json_post import json_post_server
from sandbox.stream_server import wait_until

ENDPOINT_PATH = "/callback/ws/endpoint"
SERVICE_ID = 7
METHOD_CONTROL, METHOD_DATA = 0, 1


@cache
def frame_class() -> Any:
    """lark's protobuf Frame; imported on first use (lark_oapi takes seconds to import, and the
    sandbox imports this module for ENDPOINT_PATH alone)."""
    from lark_oapi.ws.pb.pbbp2_pb2 import Frame
    return Frame


class FakeFeishuLongConnection:
    """`FakeFeishuLongConnection(app_id, app_secret)`: point lark's client at `domain` (or route
    `POST /feishu/callback/ws/endpoint` of the sandbox to `endpoint()`); `push_event` sends."""

    def __init__(self, app_id: str, app_secret: str, *, ping_interval: int = 1) -> None:
        self.app_id, self._secret, self.ping_interval = app_id, app_secret, ping_interval
        self.sockets: list[ServerConnection] = []
        self.replies: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="fake-feishu-ws", daemon=True).start()
        self.ws = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(5)
        self.http = json_post_server(lambda _path, body: self.endpoint(body))
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def domain(self) -> str:
        """What lark's client takes as its domain when it talks to this fake directly."""
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    async def _serve(self) -> Any:
        return await serve(self._on_socket, "127.0.0.1", 0, ping_interval=None)

    async def _on_socket(self, ws: ServerConnection) -> None:
        self.sockets.append(ws)
        async for raw in ws:
            frame = frame_class()()
            frame.ParseFromString(raw)
            headers = {h.key: h.value for h in frame.headers}
            if headers.get("type") == "ping":   # answer like Feishu: a pong control frame
                await ws.send(self.frame(METHOD_CONTROL, {"type": "pong"}, b"").SerializeToString())
            else:
                with self._lock:
                    self.replies.append((headers, json.loads(frame.payload)))

    # --- the endpoint call ----------------------------------------------------------------------
    def endpoint(self, body: Any) -> tuple[int, dict[str, Any]]:
        """What Feishu answers to `POST /callback/ws/endpoint` (always HTTP 200, code in the body)."""
        body = body if isinstance(body, dict) else {}
        if not (secrets.compare_digest(str(body.get("AppID", "")), self.app_id)
                and secrets.compare_digest(str(body.get("AppSecret", "")), self._secret)):
            return 200, {"code": 403, "msg": "app id or app secret invalid"}
        port = next(iter(self.ws.sockets)).getsockname()[1]
        return 200, {"code": 0, "data": {
            "URL": f"ws://127.0.0.1:{port}/ws?device_id={uuid.uuid4().hex[:8]}&service_id={SERVICE_ID}",
            "ClientConfig": {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0,
                             "PingInterval": self.ping_interval}}}

    # --- frames ---------------------------------------------------------------------------------
    @staticmethod
    def frame(method: int, headers: dict[str, str], payload: bytes) -> Any:
        frame = frame_class()(SeqID=1, LogID=1, service=SERVICE_ID, method=method, payload=payload)
        for key, value in headers.items():
            frame.headers.add(key=key, value=value)
        return frame

    def connected(self) -> bool:
        return any(ws.state.name == "OPEN" for ws in self.sockets)

    def push_event(self, payload: dict[str, Any], message_id: str | None = None) -> str:
        """An event (message, card tap: lark sends both as event frames) on the newest socket."""
        message_id = message_id or uuid.uuid4().hex
        headers = {"type": "event", "message_id": message_id, "trace_id": "t", "sum": "1", "seq": "0"}
        frame = self.frame(METHOD_DATA, headers, json.dumps(payload, ensure_ascii=False).encode())
        asyncio.run_coroutine_threadsafe(self.sockets[-1].send(frame.SerializeToString()), self.loop).result(5)
        return message_id

    def replies_for(self, message_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [reply for headers, reply in self.replies if headers.get("message_id") == message_id]

    def go_silent(self) -> None:
        self.loop.call_soon_threadsafe(self.sockets[-1].transport.pause_reading)

    wait_until = staticmethod(wait_until)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        for ws in self.sockets:
            self.loop.call_soon_threadsafe(ws.transport.abort)
        # let every socket handler finish before the loop stops, so none is left to the GC
        asyncio.run_coroutine_threadsafe(self._close_server(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _close_server(self) -> None:
        self.ws.close(close_connections=False)
        await self.ws.wait_closed()
