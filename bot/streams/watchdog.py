"""Liveness watchdog for a long-lived platform connection (DingTalk Stream, Feishu long
connection): a socket can stay "open" while nothing arrives, so no frame and no pong for
`silence_seconds` forces a reconnect. It also owns the connection's status in the KV
(`stream:status:<platform>`) and the inbound heartbeat key the channel heartbeat reads."""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from crm_core.kv.keys import LAST_CALLBACK_KEY
from crm_core.kv.base import KV

log = logging.getLogger("crm_bot.streams")

STATUS_KEY = "stream:status:{platform}"
STATUS_TTL = 7 * 86400.0        # a stopped deployment's status fades out after a week


def instance_name() -> str:
    """host:pid, so a status written by one of several processes says whose view it is."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LivenessWatchdog:
    """Connection code calls `connected` / `frame` / `pong` / `disconnected` (cheap, memory
    only, any thread); the watchdog thread (`run`) decides silence and writes the KV, so a slow
    Redis never stalls a socket loop."""

    def __init__(self, platform: str, kv: KV, silence_seconds: float, *,
                 clock: Callable[[], float] = time.time, instance: str | None = None) -> None:
        if silence_seconds <= 0:
            raise ValueError("silence_seconds must be positive")
        self.platform, self.kv, self.silence_seconds, self.clock = platform, kv, silence_seconds, clock
        self.instance = instance or instance_name()
        self._lock = threading.Lock()
        self._connected = False
        self._ever_connected = False
        self._alive_at = clock()
        self._last_frame_at: float | None = None
        self._published_frame_at: float | None = None
        self._reconnects = 0
        self._last_error: str | None = None
        self._dirty = True

    @property
    def tick(self) -> float:
        """How often `run` looks: detection lands within silence + tick."""
        return max(0.05, min(1.0, self.silence_seconds / 5))

    @property
    def is_connected(self) -> bool:
        with self._lock:
            return self._connected

    # --- called by the connection ---------------------------------------------------------
    def connected(self) -> None:
        with self._lock:
            if self._ever_connected:
                self._reconnects += 1
            self._connected = self._ever_connected = True
            self._alive_at = self.clock()
            self._dirty = True

    def frame(self) -> None:
        """Any frame from the platform (messages, SYSTEM pings, control frames)."""
        with self._lock:
            self._alive_at = self._last_frame_at = self.clock()
            self._dirty = True

    def pong(self) -> None:
        """The platform answered our keepalive: alive, though no frame arrived."""
        with self._lock:
            self._alive_at = self.clock()

    def disconnected(self, reason: str | None) -> None:
        with self._lock:
            self._connected = False
            if reason:
                self._last_error = reason[:300]
            self._dirty = True

    # --- the watchdog thread --------------------------------------------------------------
    def check(self) -> str | None:
        """The reason to force a reconnect, or None. Fires once per silent connection."""
        with self._lock:
            quiet = self.clock() - self._alive_at
            if not self._connected or quiet < self.silence_seconds:
                return None
            self._connected = False
            self._last_error = f"no frame or pong for {quiet:.1f} s"
            self._dirty = True
            return self._last_error

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"connected": self._connected, "last_frame_at": self._last_frame_at,
                    "reconnects": self._reconnects, "last_error": self._last_error,
                    "silence_seconds": self.silence_seconds, "instance": self.instance,
                    "updated_at": round(self.clock(), 3)}

    def publish(self) -> None:
        """Write the status (and the inbound heartbeat key on new frames) when it changed."""
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            frame_at = self._last_frame_at
            new_frame = frame_at is not None and frame_at != self._published_frame_at
            self._published_frame_at = frame_at
        try:
            self.kv.set(STATUS_KEY.format(platform=self.platform), json.dumps(self.status()),
                        ttl=STATUS_TTL)
            if new_frame:
                self.kv.set(LAST_CALLBACK_KEY.format(platform=self.platform), f"{frame_at:.3f}")
        except Exception as err:  # noqa: BLE001 - a KV outage must not kill the watchdog
            with self._lock:
                self._dirty = True
            log.warning("%s stream status not written: %s", self.platform, type(err).__name__)

    def run(self, stop: threading.Event, on_silent: Callable[[str], None]) -> None:
        """Thread target: check and publish every `tick` until `stop` is set."""
        while not stop.wait(self.tick):
            reason = self.check()
            if reason:
                log.warning("%s stream silent (%s): forcing a reconnect", self.platform, reason)
                try:
                    on_silent(reason)
                except Exception:  # noqa: BLE001 - keep watching even if the abort failed
                    log.exception("%s stream: forcing a reconnect failed", self.platform)
            self.publish()
        self.disconnected(None)
        self.publish()


def read_status(kv: KV, platform: str) -> dict[str, Any] | None:
    """The last published status of `platform`'s connection (None: no stream ran)."""
    raw = kv.get(STATUS_KEY.format(platform=platform))
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
