"""`RedisKV`: the KV interface on a real Redis server, shared by every crm-bot process.

Queues are reliable (at-least-once): see `crm_core/kv/scripts.py` for the key layout. Every key
lives under `<prefix>:` so tenants and test runs never collide. Deadlines use server time.
"""
from __future__ import annotations

import json
import logging
import random
import time
import uuid
from typing import Any, cast

import redis

from crm_core.kv import scripts
from crm_core.kv.base import KV, Delivery, Lock, QueueStats, WorkQueue
from crm_core.kv.scripts import encode_payload, ttl_ms

log = logging.getLogger(__name__)

# A blocked taker re-checks at least this often, in case a wake-up token was lost.
_MAX_BLOCK_S = 1.0
# Redis fires blocking-command timeouts from its cron (hz=10 by default): up to 100 ms late.
_SERVER_TICK_S = 0.1
_RECLAIM_BATCH = 100
_REASON_MAX = 4000


class RedisQueue(WorkQueue):
    """A reliable FIFO queue: ready LIST + inflight ZSET + one HASH per message.

    At-least-once: an unacked message returns to the tail of ready once its deadline passes
    (checked on every take) and the next take counts attempts + 1. ack/nack/dead_letter are
    honoured only while nobody has taken the message since that delivery; a stale call is a
    logged no-op, so it never touches the copy another worker now holds. A delayed nack
    keeps the message in flight until the delay ends, so `stats().inflight` counts it.
    """

    def __init__(self, kv: "RedisKV", name: str) -> None:
        self.name = name
        self._kv = kv
        base = kv.key(f"q:{name}")
        self._keys = [f"{base}:ready", f"{base}:inflight", f"{base}:dead", f"{base}:notify"]
        self._msg_prefix = f"{base}:m:"

    def _run(self, script: str, *args: Any) -> Any:
        return self._kv.script(script)(keys=self._keys, args=[self._msg_prefix, *args])

    def put(self, payload: dict[str, Any]) -> str:
        message_id = uuid.uuid4().hex
        self._run(scripts.PUT, message_id, encode_payload(payload))
        return message_id

    def put_once(self, payload: dict[str, Any], claim_key: str, ttl: float) -> str | None:
        message_id = uuid.uuid4().hex
        body, ms = encode_payload(payload), ttl_ms(ttl)
        got = self._kv.script(scripts.PUT_ONCE)(keys=[*self._keys, self._kv.key(claim_key)],
                                                args=[self._msg_prefix, message_id, body, ms])
        return got or None

    def take(self, visibility_timeout: float = 60.0, wait: float = 0.0) -> Delivery | None:
        if visibility_timeout <= 0:
            raise ValueError("visibility_timeout must be positive")
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            delivery, next_due = self._take_once(visibility_timeout)
            if delivery is not None:
                return delivery
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # Block until a put/nack wakes us, the earliest in-flight deadline passes
            # (its message must be reclaimed), or the caller's wait runs out.
            block = min(remaining, _MAX_BLOCK_S, next_due if next_due is not None else remaining)
            if block <= _SERVER_TICK_S:
                time.sleep(block)  # finer than the server's blocking-timeout resolution
            else:
                self._kv.client.blpop([self._keys[3]], timeout=block - _SERVER_TICK_S)

    def _take_once(self, visibility_timeout: float) -> tuple[Delivery | None, float | None]:
        reply = self._run(scripts.TAKE, f"{visibility_timeout:.6f}", _RECLAIM_BATCH)
        if reply[0] == "":
            return None, (max(0.0, float(reply[1])) if reply[1] else None)
        message_id, payload, attempts, enqueued = reply
        delivery = Delivery(self.name, message_id, json.loads(payload), int(attempts), float(enqueued))
        return delivery, None

    def ack(self, delivery: Delivery) -> None:
        if not self._run(scripts.ACK, delivery.id, str(delivery.attempts)):
            log.debug("stale ack ignored: queue=%s id=%s attempt=%s", self.name, delivery.id, delivery.attempts)

    def extend(self, delivery: Delivery, visibility_timeout: float) -> bool:
        if visibility_timeout <= 0:
            raise ValueError("visibility_timeout must be positive")
        args = (delivery.id, str(delivery.attempts), f"{visibility_timeout:.6f}")
        if self._run(scripts.EXTEND, *args):
            return True
        log.debug("stale extend refused: queue=%s id=%s attempt=%s", self.name, delivery.id, delivery.attempts)
        return False

    def nack(self, delivery: Delivery, delay: float = 0.0) -> None:
        if not self._run(scripts.NACK, delivery.id, str(delivery.attempts), f"{max(0.0, delay):.6f}"):
            log.debug("stale nack ignored: queue=%s id=%s", self.name, delivery.id)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        args = (delivery.id, str(delivery.attempts), reason[:_REASON_MAX])
        if not self._run(scripts.DEAD_LETTER, *args):
            log.debug("stale dead_letter ignored: queue=%s id=%s", self.name, delivery.id)

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        # cast: redis-py types every reply as bytes | str; this client decodes (decode_responses).
        ids = cast(list[str], self._kv.client.zrange(self._keys[2], 0, limit - 1))
        pipe = self._kv.client.pipeline(transaction=False)
        for message_id in ids:
            pipe.hmget(self._msg_prefix + message_id, "p", "why", "att", "fail", "st")
        letters = []
        for message_id, (payload, why, att, failed, state) in zip(ids, pipe.execute()):
            if state != "d":  # retried or acked between the two reads
                continue
            letters.append({"id": message_id, "payload": json.loads(payload), "reason": why or "",
                            "attempts": int(att or 0), "failed_at": float(failed or 0.0)})
        return letters

    def retry_dead(self, message_id: str | None = None) -> int:
        return int(self._run(scripts.RETRY_DEAD, message_id or "", uuid.uuid4().hex))

    def stats(self) -> QueueStats:
        ready, inflight, dead, age = self._run(scripts.STATS)
        return QueueStats(int(ready), int(inflight), int(dead), float(age) if age else None)


class RedisLock(Lock):
    """SET NX PX with a random owner token; release and extend only while still the owner."""

    def __init__(self, kv: "RedisKV", name: str, ttl: float) -> None:
        self._kv = kv
        self._key = kv.key(f"lock:{name}")
        self._ttl_ms = ttl_ms(ttl)
        self._token: str | None = None

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        token = uuid.uuid4().hex
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        backoff = 0.005
        while True:
            held_ms = self._kv.script(scripts.LOCK_ACQUIRE)(keys=[self._key], args=[token, self._ttl_ms])
            if held_ms == 0:
                self._token = token
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if not blocking or (remaining is not None and remaining <= 0):
                return False
            # Jittered backoff, but never sleep past the holder's expiry or our own deadline.
            pause = min(backoff * random.uniform(0.5, 1.0), int(held_ms) / 1000)
            time.sleep(pause if remaining is None else min(pause, remaining))
            backoff = min(backoff * 2, 0.1)

    def release(self) -> None:
        if self._token is None:
            return
        if not self._kv.script(scripts.LOCK_RELEASE)(keys=[self._key], args=[self._token]):
            log.debug("lock %s already expired or taken over; release ignored", self._key)
        self._token = None

    def extend(self, ttl: float) -> bool:
        """Hold for `ttl` seconds from now; False (and no change) if the lock was lost."""
        if self._token is None:
            return False
        return bool(self._kv.script(scripts.LOCK_EXTEND)(keys=[self._key], args=[self._token, ttl_ms(ttl)]))


class RedisKV(KV):
    """crm-bot's KV on a standalone Redis (>= 6.2) server."""

    def __init__(self, client: redis.Redis, prefix: str = "crmbot") -> None:
        self.client = client
        self.prefix = prefix
        self._scripts: dict[str, Any] = {}

    @classmethod
    def from_url(cls, url: str, prefix: str = "crmbot") -> "RedisKV":
        # No socket read timeout: take() blocks in BLPOP for up to _MAX_BLOCK_S.
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5,
                                      health_check_interval=30)
        return cls(client, prefix)

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def script(self, source: str) -> Any:
        """A registered script (EVALSHA, reloaded automatically after a server restart)."""
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    def get(self, key: str) -> str | None:
        return cast(str | None, self.client.get(self.key(key)))   # decode_responses: str, not bytes

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self.client.set(self.key(key), value, px=None if ttl is None else ttl_ms(ttl))

    def delete(self, key: str) -> None:
        self.client.delete(self.key(key))

    def claim(self, key: str, ttl: float) -> bool:
        return bool(self.client.set(self.key(key), "1", nx=True, px=ttl_ms(ttl)))

    def incr(self, key: str, ttl: float | None = None) -> int:
        ms = "" if ttl is None else ttl_ms(ttl)
        try:
            return int(self.script(scripts.INCR)(keys=[self.key(key)], args=[ms]))
        except redis.ResponseError as exc:
            raise ValueError(f"{key!r} does not hold an integer") from exc

    def lock(self, name: str, ttl: float) -> Lock:
        return RedisLock(self, name, ttl)

    def queue(self, name: str) -> WorkQueue:
        return RedisQueue(self, name)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    @property
    def backend(self) -> str:
        return "redis"

    def close(self) -> None:
        self.client.close()
