"""At most one outbound row per logical message: the first row's id kept in the KV under the
message's dedupe key, so a repeat returns it; a short claim makes concurrent senders wait for it.

The claim is short on purpose: a sender that dies between claiming and writing its row (a
killed process) leaves a claim and no row, and the message would never go out if the claim
lasted as long as the id. It lapses after CLAIM_TTL, and the redelivered work takes over.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from crm_core.kv.base import KV

DEDUPE_TTL = 7 * 86400.0
CLAIM_TTL = 10.0        # longer than any row insert takes; a dead sender's claim frees this soon
POLL_SECONDS = 0.02


class SendOnce:
    def __init__(self, kv: KV, ttl: float = DEDUPE_TTL, claim_ttl: float = CLAIM_TTL) -> None:
        self.kv = kv
        self.ttl = ttl
        self.claim_ttl = claim_ttl

    def run(self, dedupe_key: str | None, insert: Callable[[], int]) -> tuple[int, bool]:
        """(row id, True) after `insert()`, or (the first sender's row id, False) for a repeat."""
        if dedupe_key is None:
            return insert(), True
        id_key, claim_key = f"outbound:dedupe-id:{dedupe_key}", f"outbound:dedupe:{dedupe_key}"
        while True:
            first = self.kv.get(id_key)
            if first:
                return int(first), False
            if self.kv.claim(claim_key, self.claim_ttl):
                break
            # another sender is writing the row now, or died doing so: its claim lapses
            time.sleep(POLL_SECONDS)
        try:
            row_id = insert()
        except BaseException:
            self.kv.delete(claim_key)   # nothing was queued: let a retry through
            raise
        self.kv.set(id_key, str(row_id), ttl=self.ttl)
        return row_id, True
