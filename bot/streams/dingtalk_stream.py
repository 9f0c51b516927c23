"""DingTalk Stream mode: the outbound WebSocket that replaces the HTTP callback when a company
has no public IP. connections/open (clientId/secret → endpoint + single-use ticket) → connect →
ack every frame the moment it arrives → map CALLBACK/EVENT frames to the same `InboundEvent` as
the HTTP adapter and hand them to the intake. SYSTEM ping is echoed; SYSTEM disconnect, a
dropped socket or a silent one (watchdog) opens a fresh connection, backing off 1 → 60 s.

Our own small client rather than the dingtalk-stream SDK: the SDK acks only after the handler
returns, reads its URL from a process-wide constant, never checks pongs and cannot be stopped."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import requests
import websockets
from websockets.asyncio.client import ClientConnection

from bot.outbound.http import DEFAULT_TIMEOUT, new_session, proxies_for
from bot.platforms.base import as_dict
from bot.platforms.dingtalk.inbound import stream_frame_to_event
from bot.streams.intake import Intake
from bot.streams.watchdog import LivenessWatchdog
from crm_core.config.schema import DingTalkConfig

log = logging.getLogger("crm_bot.streams.dingtalk")

OPEN_PATH = "/v1.0/gateway/connections/open"
TOPIC_ROBOT = "/v1.0/im/bot/messages/get"
TOPIC_CARD = "/v1.0/card/instances/callback"
SUBSCRIPTIONS = ({"type": "EVENT", "topic": "*"}, {"type": "CALLBACK", "topic": TOPIC_ROBOT},
                 {"type": "CALLBACK", "topic": TOPIC_CARD})
USER_AGENT = "crm-bot-stream/0.1"
MAX_FRAME = 4 * 1024 * 1024
DISCONNECT = "server sent disconnect"


class StreamOpenFailed(Exception):
    """connections/open refused or unreachable; the text never contains the secret."""


@dataclass(frozen=True)
class StreamTicket:
    endpoint: str
    ticket: str

    @property
    def url(self) -> str:
        joiner = "&" if "?" in self.endpoint else "?"
        return f"{self.endpoint}{joiner}ticket={quote_plus(self.ticket)}"


class Backoff:
    """1, 2, 4 … capped at 60 s between failed attempts; reset once a connection carried frames."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        self.first, self.cap, self._next = first, cap, first

    def next(self) -> float:
        delay, self._next = self._next, min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


def local_ip() -> str:
    """The outbound interface address DingTalk asks for (UDP connect sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
    except OSError:
        return ""


def open_connection(session: requests.Session, api_base: str, client_id: str, client_secret: str,
                    timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> StreamTicket:
    """POST {api_base}/v1.0/gateway/connections/open → the WebSocket endpoint and its ticket."""
    body: dict[str, Any] = {"clientId": client_id, "clientSecret": client_secret, "subscriptions": list(SUBSCRIPTIONS),
            "ua": USER_AGENT, "localIp": local_ip()}
    try:
        url = api_base.rstrip("/") + OPEN_PATH
        resp = session.post(url, json=body, timeout=timeout, proxies=proxies_for(url))
    except requests.RequestException as err:
        raise StreamOpenFailed(f"connections/open unreachable: {type(err).__name__}") from None
    try:
        payload = resp.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    if resp.status_code != 200 or not payload.get("endpoint") or not payload.get("ticket"):
        code = payload.get("code") or "no endpoint/ticket"
        raise StreamOpenFailed(f"connections/open HTTP {resp.status_code} {code}")
    return StreamTicket(str(payload["endpoint"]), str(payload["ticket"]))


def ack_for(frame: dict[str, Any]) -> dict[str, Any] | None:
    """The ack DingTalk expects for `frame` (None: nothing to ack it with).

    Robot messages get `{"response": null}` (replies go through sessionWebhook / OpenAPI); card
    callbacks `{"response": {}}`, leaving the card to the worker's update API call; events
    SUCCESS; SYSTEM frames echo their data. Unknown kinds are acked too, never left to retry."""
    headers = as_dict(frame.get("headers"))
    message_id = headers.get("messageId")
    if not message_id:
        return None
    kind = frame.get("type")
    if kind == "SYSTEM":
        data = frame.get("data") if isinstance(frame.get("data"), str) else json.dumps(frame.get("data"))
    elif kind == "CALLBACK":
        data = json.dumps({"response": {} if headers.get("topic") == TOPIC_CARD else None})
    else:
        data = json.dumps({"status": "SUCCESS", "message": "success"})
    return {"code": 200, "headers": {"messageId": message_id, "contentType": "application/json"},
            "message": "OK", "data": data}


class DingTalkStreamClient:
    """`start(stop)` runs the connection and its watchdog in two daemon threads."""

    def __init__(self, *, api_base: str, client_id: str, client_secret: str, intake: Intake,
                 watchdog: LivenessWatchdog, backoff: Backoff | None = None,
                 ping_interval: float | None = None, session: requests.Session | None = None) -> None:
        self.api_base, self.client_id, self._secret = api_base, client_id, client_secret
        self.intake, self.watchdog = intake, watchdog
        self.backoff = backoff or Backoff()
        # A pong proves the socket works; a third of the silence window leaves two misses.
        self.ping_interval = ping_interval or max(0.2, watchdog.silence_seconds / 3)
        self._session = session or new_session()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: ClientConnection | None = None
        self._end_reason: str | None = None
        self._frames = 0                     # frames on the current connection
        self.tickets: deque[str] = deque(maxlen=20)   # recent tickets, newest last (diagnostics)

    @classmethod
    def from_config(cls, cfg: DingTalkConfig, intake: Intake, watchdog: LivenessWatchdog) -> "DingTalkStreamClient":
        return cls(api_base=cfg.api_base, client_id=cfg.app_key,
                   client_secret=cfg.app_secret.get_secret_value(), intake=intake, watchdog=watchdog)

    # --- threads ----------------------------------------------------------------------------
    def start(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.run_forever, args=(stop,), name="dingtalk-stream", daemon=True),
                   threading.Thread(target=self.watchdog.run, args=(stop, self.abort),
                                    name="dingtalk-stream-watchdog", daemon=True)]
        for t in threads:
            t.start()
        return threads

    def run_forever(self, stop: threading.Event) -> None:
        asyncio.run(self._run(stop))

    def abort(self, reason: str) -> None:
        """Drop the current socket at once (thread-safe): a silent peer would never finish a
        close handshake, so the transport is cut and the loop reconnects."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._abort_now, reason)

    def _abort_now(self, reason: str) -> None:
        if self._ws is not None and self._ws.transport is not None:
            self._end_reason = reason
            self._ws.transport.abort()

    # --- the reconnect loop -----------------------------------------------------------------
    async def _run(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            self._frames = 0
            try:
                reason = await self._session_once(stop)
            except (StreamOpenFailed, OSError, websockets.InvalidHandshake, asyncio.TimeoutError) as err:
                reason = _describe(err)
            except Exception as err:  # noqa: BLE001 - a bug must not end Stream mode for good
                log.exception("dingtalk stream session failed")
                reason = _describe(err)
            if stop.is_set():
                break
            self.watchdog.disconnected(reason)
            if self._frames:
                self.backoff.reset()
            delay = 0.0 if reason == DISCONNECT else self.backoff.next()
            log.warning("dingtalk stream ended (%s); reconnecting in %.1f s", reason, delay)
            await _sleep_unless(stop, delay)
        self._session.close()
        await asyncio.to_thread(self.intake.close)   # let acked events reach the queue

    async def _session_once(self, stop: threading.Event) -> str:
        """One connection from connections/open to its end; returns why it ended."""
        ticket = await asyncio.to_thread(open_connection, self._session, self.api_base,
                                         self.client_id, self._secret)
        self.tickets.append(ticket.ticket)
        self._end_reason = None
        async with websockets.connect(ticket.url, ping_interval=None, open_timeout=10, close_timeout=2,
                                      max_size=MAX_FRAME, user_agent_header=USER_AGENT) as ws:
            self._ws = ws
            self.watchdog.connected()
            log.info("dingtalk stream connected")
            reader = asyncio.ensure_future(self._read(ws))
            stopper = asyncio.ensure_future(_sleep_unless(stop, None))
            pinger = asyncio.ensure_future(self._keepalive(ws))
            try:
                await asyncio.wait([reader, stopper], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (stopper, pinger):
                    task.cancel()
                self._ws = None
            if not reader.done():
                reader.cancel()
                return "stopped"
            try:
                reason = reader.result()
            except websockets.ConnectionClosed as err:
                reason = f"connection lost: {err}"
            return self._end_reason or reason

    async def _read(self, ws: ClientConnection) -> str:
        async for raw in ws:
            self._frames += 1
            if await self._on_frame(ws, raw):
                return DISCONNECT
        return "connection closed by server"

    async def _on_frame(self, ws: ClientConnection, raw: str | bytes) -> bool:
        """Ack, then map and hand over. True when the server asked us to reconnect."""
        self.watchdog.frame()
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):
            log.warning("dingtalk stream: frame is not JSON (%d bytes), dropped", len(raw))
            return False
        frame = frame if isinstance(frame, dict) else {}
        ack = ack_for(frame)
        if ack is not None:
            await ws.send(json.dumps(ack))
        headers = as_dict(frame.get("headers"))
        if frame.get("type") == "SYSTEM":
            return headers.get("topic") == "disconnect"
        self._hand_over(frame, headers)
        return False

    def _hand_over(self, frame: dict[str, Any], headers: dict[str, Any]) -> None:
        try:
            event = stream_frame_to_event(frame)
        except Exception as err:  # noqa: BLE001 - already acked: a malformed frame is logged, not retried
            log.warning("dingtalk stream frame %s (%s) not mapped: %s", headers.get("messageId"),
                        frame.get("type"), type(err).__name__)
            return
        if event is None:
            log.info("dingtalk stream frame %s of type %s ignored", headers.get("messageId"), frame.get("type"))
            return
        self.intake.submit(event)

    async def _keepalive(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                waiter = await ws.ping()
                await asyncio.wait_for(waiter, self.ping_interval)
                self.watchdog.pong()
            except asyncio.TimeoutError:
                continue                     # the watchdog decides when silence is too long
            except websockets.ConnectionClosed:
                return


async def _sleep_unless(stop: threading.Event, seconds: float | None) -> None:
    """Sleep `seconds` (None: forever) but wake within 0.1 s of `stop`."""
    loop = asyncio.get_running_loop()
    until = None if seconds is None else loop.time() + seconds
    while not stop.is_set() and (until is None or loop.time() < until):
        await asyncio.sleep(0.1 if until is None else min(0.1, max(0.0, until - loop.time())))


def _describe(err: BaseException) -> str:
    if isinstance(err, StreamOpenFailed):
        return str(err)
    return f"connect failed: {type(err).__name__}: {str(err)[:120]}"
