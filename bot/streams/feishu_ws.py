"""Feishu long-connection mode: lark-oapi's WebSocket client (`lark.ws.Client`) instead of the
HTTP event subscription, for companies without a public IP. Handlers only map the event to the
same `InboundEvent` as the HTTP adapter and hand it to the intake (never block the SDK loop);
a catch-all acks every type we did not register, and payloads lark's typed models reject.

The SDK keeps its asyncio loop in a module global and `start()` never returns, so one long
connection runs per process, on its own thread and loop, stopped by stopping that loop."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import lark_oapi as lark
from lark_oapi.api.im.v1 import P2ImMessageReceiveV1
from lark_oapi.core.exception import UnmarshalException
from lark_oapi.event.callback.model.p2_card_action_trigger import (
    P2CardActionTrigger, P2CardActionTriggerResponse,
)
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler
from lark_oapi.ws import client as lark_ws
from lark_oapi.ws.exception import ClientException

from bot.events import EventKind, InboundEvent
from bot.platforms.base import as_dict
from bot.platforms.feishu.inbound import CARD_ACK, long_connection_event_to_inbound
from bot.streams.dingtalk_stream import Backoff
from bot.streams.intake import Intake
from bot.streams.watchdog import LivenessWatchdog
from crm_core.config.schema import FeishuConfig

log = logging.getLogger("crm_bot.streams.feishu")

# Feishu answers the SDK's ping (every 120 s unless the server says otherwise) with a pong
# frame, so three missed pongs mean the connection is dead even if TCP says otherwise.
SILENCE_SECONDS = 360.0
_ONE_PER_PROCESS = threading.Lock()


class FeishuEventHandlers:
    """What the dispatcher calls. Each call maps (pure, fast) and submits (non-blocking)."""

    def __init__(self, intake: Intake, clock: Callable[[], float] = time.time) -> None:
        self.intake, self.clock = intake, clock

    def on_message(self, data: P2ImMessageReceiveV1) -> None:
        self.accept(json.loads(lark.JSON.marshal(data)))

    def on_card_action(self, data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        self.accept(json.loads(lark.JSON.marshal(data)))
        return card_ack()

    def on_other(self, payload: bytes) -> P2CardActionTriggerResponse | None:
        """Catch-all: any type without a typed handler, or one lark could not unmarshal."""
        event = self.accept(payload)
        return card_ack() if event is not None and event.kind is EventKind.CARD_ACTION else None

    def accept(self, payload: dict[str, Any] | bytes) -> InboundEvent | None:
        try:
            event = long_connection_event_to_inbound(payload, self.clock())
        except Exception as err:  # noqa: BLE001 - acked anyway: a retry would fail the same way
            log.warning("feishu long-connection event not mapped: %s", type(err).__name__)
            return None
        if event.kind is EventKind.UNKNOWN:
            log.info("feishu event %s of type %s acknowledged", event.event_id, event.raw_type)
        self.intake.submit(event)
        return event


def card_ack() -> P2CardActionTriggerResponse:
    """The same toast the HTTP endpoint answers a tap with; the worker updates the card."""
    return P2CardActionTriggerResponse(json.loads(CARD_ACK))


class CatchAllDispatcher(EventDispatcherHandler):
    """lark's dispatcher with a fallback. Unregistered types make the stock dispatcher raise,
    which the SDK answers with a 500 and Feishu redelivers; a card `value` sent as a string
    breaks lark's typed model (oapi-sdk-python #112). Both go to `fallback` with the raw bytes."""

    def __init__(self, built: EventDispatcherHandler, fallback: Callable[[bytes], Any]) -> None:
        super().__init__()
        self._processorMap = built._processorMap
        self._callback_processor_map = built._callback_processor_map
        self._fallback = fallback

    def _do_without_validation(self, payload: bytes) -> Any:
        if event_key(payload) not in {**self._processorMap, **self._callback_processor_map}:
            return self._fallback(payload)
        try:
            return super()._do_without_validation(payload)
        except UnmarshalException:
            return self._fallback(payload)


def event_key(payload: bytes) -> str:
    """lark's processor key: "p2.<event_type>" (schema 2.0) or "p1.<event.type>"."""
    try:
        data = json.loads(payload)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    if data.get("schema"):
        header = as_dict(data.get("header"))
        return f"p2.{header.get('event_type', '')}"
    event = as_dict(data.get("event"))
    return f"p1.{event.get('type', '')}" if data.get("uuid") else ""


def build_dispatcher(handlers: FeishuEventHandlers) -> CatchAllDispatcher:
    # Keys are empty: the long connection is authenticated at connect time, not per event.
    built = (EventDispatcherHandler.builder("", "")
             .register_p2_im_message_receive_v1(handlers.on_message)
             .register_p2_card_action_trigger(handlers.on_card_action)
             .build())
    return CatchAllDispatcher(built, handlers.on_other)


class _WatchedClient(lark_ws.Client):
    """The SDK client, telling the watchdog about every frame (events and pongs) and connect."""

    watchdog: LivenessWatchdog
    backoff: Backoff

    async def _connect(self) -> None:
        await super()._connect()
        if self._conn is not None:
            self.watchdog.connected()
            self.backoff.reset()

    async def _handle_message(self, msg: bytes) -> None:
        self.watchdog.frame()
        await super()._handle_message(msg)


class FeishuLongConnection:
    """`start(stop)` runs the SDK client and its watchdog in two daemon threads."""

    def __init__(self, *, app_id: str, app_secret: str, domain: str, handlers: FeishuEventHandlers,
                 watchdog: LivenessWatchdog, backoff: Backoff | None = None) -> None:
        self.app_id, self._secret, self.domain = app_id, app_secret, domain.rstrip("/")
        self.handlers, self.dispatcher = handlers, build_dispatcher(handlers)
        self.watchdog, self.backoff = watchdog, backoff or Backoff()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: _WatchedClient | None = None

    @classmethod
    def from_config(cls, cfg: FeishuConfig, intake: Intake, watchdog: LivenessWatchdog) -> "FeishuLongConnection":
        return cls(app_id=cfg.app_id, app_secret=cfg.app_secret.get_secret_value(), domain=cfg.api_base,
                   handlers=FeishuEventHandlers(intake), watchdog=watchdog)

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.run_forever, args=(stop,), name="feishu-ws", daemon=True),
                   threading.Thread(target=self.watchdog.run, args=(stop, self.abort),
                                    name="feishu-ws-watchdog", daemon=True)]
        for t in threads:
            t.start()
        return threads

    def abort(self, reason: str) -> None:
        """Cut the socket (thread-safe); the SDK's receive loop then reconnects by itself."""
        loop, client = self._loop, self._client
        if loop is not None and client is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_abort_transport, client)

    def run_forever(self, stop: threading.Event) -> None:
        if not _ONE_PER_PROCESS.acquire(blocking=False):
            raise RuntimeError("lark-oapi runs one long connection per process")
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        lark_ws.loop = loop        # the SDK schedules everything on this module global
        self._loop = loop
        try:
            client = self._client = self._new_client()
            loop.create_task(_stop_loop_when(stop, client))
            while not stop.is_set():
                self._run_client(client, stop)
        finally:
            _shutdown(loop, self._client)
            self._loop = self._client = None
            self.handlers.intake.close()     # let acked events reach the queue
            _ONE_PER_PROCESS.release()

    def _new_client(self) -> _WatchedClient:
        client = _WatchedClient(self.app_id, self._secret, log_level=lark.LogLevel.WARNING,
                                event_handler=self.dispatcher, domain=self.domain)
        client.watchdog, client.backoff = self.watchdog, self.backoff
        client.on_reconnecting = self._on_reconnecting
        return client

    def _on_reconnecting(self) -> None:
        if self.watchdog.is_connected:   # else the watchdog already recorded why (silence)
            self.watchdog.disconnected("connection lost; lark reconnecting")

    def _run_client(self, client: _WatchedClient, stop: threading.Event) -> None:
        """One `client.start()`: returns when stopped, or after a refused connect + backoff."""
        try:
            client.start()
        except RuntimeError:
            if stop.is_set():            # our loop.stop(): the normal way out
                return
            raise
        except ClientException as err:   # refused (credentials, connection cap): back off
            self.watchdog.disconnected(f"feishu refused the connection: {err.code}")
        except Exception as err:  # noqa: BLE001 - keep long-connection mode alive
            self.watchdog.disconnected(f"connect failed: {type(err).__name__}")
        delay = self.backoff.next()
        log.warning("feishu long connection not established; retrying in %.1f s", delay)
        stop.wait(delay)


def _abort_transport(client: lark_ws.Client) -> None:
    conn = client._conn
    if conn is not None and conn.transport is not None:
        conn.transport.abort()


async def _stop_loop_when(stop: threading.Event, client: lark_ws.Client) -> None:
    """Stop the SDK's loop once `stop` is set, and again if the SDK catches that and goes on
    (its start() treats any error as "reconnect"): each stop ends a run_until_complete."""
    while True:
        if stop.is_set():
            client._auto_reconnect = False
            asyncio.get_running_loop().stop()
        await asyncio.sleep(0.1)


def _shutdown(loop: asyncio.AbstractEventLoop, client: lark_ws.Client | None) -> None:
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        if client is not None:
            loop.run_until_complete(asyncio.wait_for(client._disconnect(), 3))
    except Exception:  # noqa: BLE001 - closing anyway
        log.debug("feishu long connection shutdown", exc_info=True)
    finally:
        loop.close()
