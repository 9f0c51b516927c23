"""Outbound rate limits and holds. KV-backed windows (per recipient, per robot, per app)
that never let a send exceed the platforms' documented limits, and `Deferrals`, which wake a
held recipient up later through the KV work queue "outbound.later".

Several platforms drop over-limit messages silently (WeCom: 30/min per recipient), so the
check happens before the call, with a safety margin, and denied messages are held, not sent.
Windows are sliding: each is split into buckets and a send is allowed only if the buckets
overlapping the last `seconds` (rounded outwards) plus this send stay within the limit.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from crm_core.kv.base import KV

from bot.outbound.http import TransientError
from crm_core.kv.keys import LATER_QUEUE

log = logging.getLogger("crm_bot.outbound.ratelimit")

SAFETY = 0.8              # use 80 % of every documented limit: clocks and counts drift
LOCK_TTL = 10.0
LOCK_WAIT = 10.0
PARK_BATCH = 16           # wake-ups parked per schedule() call (bounds the loop)
CLAIM_SLACK = 120.0       # a lost wake-up frees its recipient after delay + this


@dataclass(frozen=True)
class Window:
    limit: int            # the documented limit
    seconds: float
    buckets: int = 12

    @property
    def allowed(self) -> int:
        return max(1, math.floor(self.limit * SAFETY))

    @property
    def width(self) -> float:
        return self.seconds / self.buckets


MINUTE, HOUR = 60.0, 3600.0


class WindowSource(Protocol):
    """A platform's documented limits (see `bot.platforms.interface.Platform`)."""
    name: str
    recipient_windows: Mapping[str, tuple[Window, ...]]
    app_windows: tuple[Window, ...]
    card_update_windows: tuple[Window, ...]


def smallest_allowance(windows: Sequence[tuple[str, Sequence[Window]]]) -> int:
    """The most calls one reservation may ask for on these scopes."""
    return min((w.allowed for _, ws in windows for w in ws), default=1_000_000)


class RateLimiter:
    """All-or-nothing reservations across several scopes, under one KV lock per scope."""

    def __init__(self, kv: KV, clock: Callable[[], float]) -> None:
        self.kv, self.clock = kv, clock

    def reserve(self, scopes: Sequence[tuple[str, Sequence[Window]]], cost: int = 1) -> float:
        """Take `cost` calls in every window of every scope: 0.0 if taken, else the seconds
        until they could be (nothing is taken then)."""
        if cost > smallest_allowance(scopes):
            raise ValueError(f"{cost} calls can never fit in these windows")
        locks = []
        try:
            for scope in sorted({s for s, _ in scopes}):     # fixed order: no deadlocks
                lock = self.kv.lock(f"ratelimit:{scope}", ttl=LOCK_TTL)
                if not lock.acquire(blocking=True, timeout=LOCK_WAIT):
                    raise TransientError("rate limiter busy", api="ratelimit")
                locks.append(lock)
            now = self.clock()
            states = [(scope, w, self._load(scope, w)) for scope, ws in scopes for w in ws]
            wait = max((_wait(counts, w, now, cost) for _, w, counts in states), default=0.0)
            if wait > 0:
                return wait
            for scope, w, counts in states:
                self._save(scope, w, counts, now, cost)
            return 0.0
        finally:
            for lock in reversed(locks):
                lock.release()

    def _key(self, scope: str, w: Window) -> str:
        return f"ratelimit:{scope}:{w.seconds:g}s"

    def _load(self, scope: str, w: Window) -> dict[int, int]:
        raw = self.kv.get(self._key(scope, w))
        try:
            return {int(k): int(v) for k, v in json.loads(raw).items()} if raw else {}
        except (ValueError, AttributeError):
            return {}

    def _save(self, scope: str, w: Window, counts: dict[int, int], now: float, cost: int) -> None:
        current = int(now // w.width)
        kept = {i: n for i, n in counts.items() if i >= current - w.buckets}
        kept[current] = kept.get(current, 0) + cost
        self.kv.set(self._key(scope, w), json.dumps(kept), ttl=w.seconds + 2 * w.width)


def _wait(counts: dict[int, int], w: Window, now: float, cost: int) -> float:
    """Seconds until `cost` more calls fit in `w`, given per-bucket counts."""
    current = int(now // w.width)
    live = sorted((i, n) for i, n in counts.items() if i >= current - w.buckets)
    total = sum(n for _, n in live)
    if total + cost <= w.allowed:
        return 0.0
    for index, count in live:        # oldest first: when does enough fall out of the window?
        total -= count
        if total + cost <= w.allowed:
            return max((index + w.buckets + 1) * w.width - now, 0.001)
    return w.seconds                 # unreachable while cost ≤ allowed


class Deferrals:
    """Wake-ups after a delay, without a timer thread: a wake-up is a message on the
    "outbound.later" queue parked with a delayed nack, so it comes back when due (and
    survives a restart with Redis). One pending wake-up per key (a KV claim)."""

    def __init__(self, kv: KV, clock: Callable[[], float], fire: Callable[[dict[str, Any]], None]) -> None:
        self.kv, self.clock, self.fire = kv, clock, fire
        self.queue = kv.queue(LATER_QUEUE)

    def schedule(self, key: str, payload: dict[str, Any], delay: float) -> bool:
        """Call `fire(payload)` in about `delay` seconds, unless one is pending for `key`."""
        if not self.kv.claim(f"later:{key}", ttl=delay + CLAIM_SLACK):
            return False
        self.queue.put({**payload, "later_key": key, "due": self.clock() + delay})
        self._park_ready()
        return True

    def process(self, payload: dict[str, Any]) -> None:
        """Worker processor for "outbound.later": fire when due, else park it again."""
        if float(payload.get("due") or 0) > self.clock():
            # a worker took it before it was parked: put it back, parked this time
            self.queue.put(payload)
            self._park_ready()
            return
        self.kv.delete(f"later:{payload.get('later_key')}")
        self.fire(payload)

    def _park_ready(self) -> None:
        """Give every ready wake-up a delayed nack until its due time; fire the due ones."""
        for _ in range(PARK_BATCH):
            delivery = self.queue.take(visibility_timeout=LOCK_TTL, wait=0)
            if delivery is None:
                return
            wait = float(delivery.payload.get("due") or 0) - self.clock()
            if wait > 0:
                self.queue.nack(delivery, delay=wait)
                continue
            try:
                self.process(delivery.payload)
            except Exception:  # noqa: BLE001 - leave it to come back after the visibility timeout
                log.exception("wake-up %s failed", delivery.payload.get("later_key"))
                continue
            self.queue.ack(delivery)


def scopes_of(platform: WindowSource, to: Any, route: str, kind: str,
              ref: dict[str, Any]) -> list[tuple[str, Sequence[Window]]]:
    """The windows one call to `to` over `route` counts against. Webhooks (robots, DingTalk
    session replies) are not app API calls; card updates are not new messages for the
    recipient (Feishu limits PATCHes per message instead)."""
    name = platform.name
    app: list[tuple[str, Sequence[Window]]] = [(f"{name}:app", platform.app_windows)]
    if kind == "card_update":
        if platform.card_update_windows and ref.get("message_id"):
            return app + [(f"{name}:msg:{ref['message_id']}", platform.card_update_windows)]
        return app
    recipient: list[tuple[str, Sequence[Window]]] = [(f"{name}:{to.address}", platform.recipient_windows.get(route, ()))]
    return recipient if route in ("robot", "session") else recipient + app
