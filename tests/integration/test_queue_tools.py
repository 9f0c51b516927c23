"""`crm-bot queue stats` and `crm-bot queue drain --platform P --hours H`: only that platform's
ready messages received within the window go through the pipeline; everything else is put
back untouched, and the progress/summary lines are printed."""
from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli.queue import queue_group
from bot.events import EventKind, InboundEvent
from crm_core.db.models import InboundMessage


def event(platform: str, n: int, received_at) -> dict:  # noqa: ANN001
    ev = InboundEvent(platform=platform, kind=EventKind.UNKNOWN, event_id=f"{platform}-{n}", sender_id="u1",
                      conversation_id="u1", received_at=received_at, platform_time=received_at)
    return {"event": ev.to_dict()}


def test_drain_one_platform_within_window(runtime, db, clock):  # noqa: ANN001
    q = runtime.kv.queue("inbound")
    now = clock.now
    cases = [("wecom", 1, now - timedelta(hours=1)), ("wecom", 2, now - timedelta(hours=30)),
             ("wecom", 3, now - timedelta(hours=71)), ("wecom", 4, now - timedelta(hours=100)),
             ("dingtalk", 5, now - timedelta(hours=1)), ("feishu", 6, now - timedelta(minutes=5))]
    for platform, n, at in cases:
        q.put(event(platform, n, at))
    q.put({"not": "an event"})
    runner = CliRunner()
    stats = runner.invoke(queue_group, ["stats"], obj=runtime)
    assert stats.exit_code == 0, stats.output
    inbound = next(line for line in stats.output.splitlines() if line.startswith("inbound"))
    assert inbound.split()[1:4] == [str(len(cases) + 1), "0", "0"]

    result = runner.invoke(queue_group, ["drain", "--platform", "wecom", "--hours", "72"], obj=runtime)
    assert result.exit_code == 0, result.output
    expected = {f"{p}-{n}" for p, n, at in cases if p == "wecom" and now - at <= timedelta(hours=72)}
    with db.uow() as s:
        done = set(s.scalars(select(InboundMessage.event_id).where(InboundMessage.status == "done")))
    assert done == expected
    assert f"处理 {len(expected)} 条" in result.output and "放回其他消息 4 条" in result.output
    left = q.stats()
    assert (left.ready, left.inflight) == (len(cases) + 1 - len(expected), 0)
