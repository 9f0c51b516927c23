"""The one small interface crm-bot uses for Redis: work queue with acknowledgement,
idempotency keys, distributed locks and a small key/value cache (tokens, drafts).

Two backends implement it: `RedisKV` (a real server, shared by every process) and
`EmbeddedKV` (in-process, so a single process runs with zero setup).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Delivery:
    """A message taken from a queue. Ack it when done, or it is redelivered after
    its visibility timeout."""
    queue: str
    id: str
    payload: dict[str, Any]
    attempts: int          # 1 on the first delivery
    enqueued_at: float     # epoch seconds


@dataclass(frozen=True)
class QueueStats:
    ready: int
    inflight: int
    dead: int
    oldest_ready_age: float | None   # seconds; None when empty


class WorkQueue(ABC):
    name: str

    @abstractmethod
    def put(self, payload: dict[str, Any]) -> str:
        """Enqueue a JSON-serialisable payload; returns the message id."""

    @abstractmethod
    def put_once(self, payload: dict[str, Any], claim_key: str, ttl: float) -> str | None:
        """Enqueue unless `claim_key` (a KV key, as for `KV.claim`) was claimed within `ttl`
        seconds: claim and enqueue happen together or not at all. Returns the message id,
        or None for a repeat."""

    @abstractmethod
    def take(self, visibility_timeout: float = 60.0, wait: float = 0.0) -> Delivery | None:
        """Take one message (waiting up to `wait` seconds). Unacked messages come back
        after `visibility_timeout` seconds."""

    @abstractmethod
    def ack(self, delivery: Delivery) -> None: ...

    @abstractmethod
    def extend(self, delivery: Delivery, visibility_timeout: float) -> bool:
        """Keep holding `delivery` for `visibility_timeout` more seconds from now (a worker's
        heartbeat on a long job). True while the delivery is still the message's latest one
        (the same rule as ack: nobody took it since, even if its deadline passed); False for a
        stale delivery (acked, dead, or taken again by another worker), and nothing changes."""

    @abstractmethod
    def nack(self, delivery: Delivery, delay: float = 0.0) -> None:
        """Give the message back now (or after `delay` seconds)."""

    @abstractmethod
    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a message that can never succeed; kept for inspection and retry."""

    @abstractmethod
    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Parked messages: {id, payload, reason, attempts, failed_at}."""

    @abstractmethod
    def retry_dead(self, message_id: str | None = None) -> int:
        """Move one (or all) dead letters back to ready, each as a new message (new id,
        attempts counted from zero, same payload); returns how many."""

    @abstractmethod
    def stats(self) -> QueueStats: ...


class Lock(ABC):
    @abstractmethod
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool: ...

    @abstractmethod
    def release(self) -> None: ...

    @abstractmethod
    def extend(self, ttl: float) -> bool:
        """Keep holding for `ttl` more seconds; False if the lock was lost."""

    def __enter__(self) -> "Lock":
        if not self.acquire():
            raise TimeoutError("lock not acquired")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class KV(ABC):
    """Everything crm-bot needs from Redis."""

    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def claim(self, key: str, ttl: float) -> bool:
        """Idempotency: True for the first caller of `key` within `ttl` seconds, False after."""

    @abstractmethod
    def incr(self, key: str, ttl: float | None = None) -> int:
        """Atomic counter (rate limits, round-robin); ttl set when the key is created."""

    @abstractmethod
    def lock(self, name: str, ttl: float) -> Lock:
        """A distributed lock that expires after `ttl` seconds unless extended."""

    @abstractmethod
    def queue(self, name: str) -> WorkQueue: ...

    @abstractmethod
    def ping(self) -> bool: ...

    @property
    @abstractmethod
    def backend(self) -> str:
        """'redis' or 'embedded', for /healthz."""

    def close(self) -> None:  # pragma: no cover - optional
        pass
