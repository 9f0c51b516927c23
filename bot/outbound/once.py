"""At most one outbound row per logical message: a KV claim on the message's dedupe key,
with the first row's id kept so a repeat returns it."""
from __future__ import annotations

import time
from collections.abc import Callable

from crm_core.kv.base import KV

DEDUPE_TTL = 7 * 86400.0


class SendOnce:
    def __init__(self, kv: KV, ttl: float = DEDUPE_TTL) -> None:
        self.kv = kv
        self.ttl = ttl

    def run(self, dedupe_key: str | None, insert: Callable[[], int]) -> tuple[int, bool]:
        """(row id, True) after `insert()`, or (the first sender's row id, False) for a repeat."""
        if dedupe_key is None:
            return insert(), True
        if not self.kv.claim(f"outbound:dedupe:{dedupe_key}", self.ttl):
            return self._first_id(dedupe_key), False
        try:
            row_id = insert()
        except BaseException:
            self.kv.delete(f"outbound:dedupe:{dedupe_key}")   # nothing was queued: let a retry through
            raise
        self.kv.set(f"outbound:dedupe-id:{dedupe_key}", str(row_id), ttl=self.ttl)
        return row_id, True

    def _first_id(self, dedupe_key: str, wait: float = 2.0) -> int:
        """The row the first sender created (it may still be writing it); 0 if unknown."""
        give_up = time.monotonic() + wait
        while True:
            value = self.kv.get(f"outbound:dedupe-id:{dedupe_key}")
            if value or time.monotonic() > give_up:
                return int(value) if value else 0
            time.sleep(0.02)
