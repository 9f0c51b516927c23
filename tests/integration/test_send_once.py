"""SendOnce (bot/outbound/once.py): one outbound row per dedupe key, on both KV backends, even
when the first sender died between its claim and its row (a killed process)."""
from __future__ import annotations

import itertools
import threading
import time

from bot.outbound.once import SendOnce


def test_a_repeat_gets_the_first_row(kv):  # noqa: ANN001
    once, ids = SendOnce(kv), itertools.count(100)
    assert once.run("reply:wecom:1:0", lambda: next(ids)) == (100, True)
    assert once.run("reply:wecom:1:0", lambda: next(ids)) == (100, False)
    assert once.run("reply:wecom:2:0", lambda: next(ids)) == (101, True)
    assert once.run(None, lambda: next(ids)) == (102, True)


def test_a_dead_senders_claim_lapses_and_the_message_still_goes_out(kv):  # noqa: ANN001
    once = SendOnce(kv, claim_ttl=0.3)
    assert kv.claim("outbound:dedupe:reply:wecom:9:0", 0.3)      # claimed, then the process died
    started = time.monotonic()
    assert once.run("reply:wecom:9:0", lambda: 7) == (7, True)
    assert 0.2 < time.monotonic() - started < 5
    assert once.run("reply:wecom:9:0", lambda: 8) == (7, False)


def test_concurrent_senders_write_one_row(kv):  # noqa: ANN001
    inserted: list[int] = []
    results: list[tuple[int, bool]] = []
    guard = threading.Lock()

    def insert() -> int:
        time.sleep(0.05)                # the row takes a while: the others must wait for it
        with guard:
            inserted.append(len(inserted) + 1)
            return inserted[-1]

    def send() -> None:
        got = SendOnce(kv).run("notice:digest:2026-11-22", insert)
        with guard:
            results.append(got)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert inserted == [1]
    assert sorted(results) == [(1, False)] * 5 + [(1, True)]
