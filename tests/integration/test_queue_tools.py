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


def test_dead_letters_listed_and_replayed(runtime, db, clock):  # noqa: ANN001
    """`queue dead` lists inbound dead letters (id, when, platform + event id, reason); `queue
    replay --id` / `--all` puts them back, and the workers process them like new messages."""
    from bot.pipeline import Pipeline
    from bot.worker import Worker
    q = runtime.kv.queue("inbound")
    for n in (1, 2, 3):
        q.put(event("wecom", n, clock.now))
    for _ in range(3):
        d = q.take()
        assert d is not None
        q.dead_letter(d, f"InfrastructureError: database unavailable for {d.payload['event']['event_id']}")
    runner = CliRunner()
    listed = runner.invoke(queue_group, ["dead"], obj=runtime)
    assert listed.exit_code == 0, listed.output
    assert "no Redis is configured" in listed.output        # embedded: where the server's queue lives
    rows = [line for line in listed.output.splitlines() if " wecom wecom-" in line]
    assert len(rows) == 3 and "database unavailable for wecom-1" in listed.output
    first_id = rows[0].split()[0]
    assert runner.invoke(queue_group, ["dead", "--queue", "outbound"], obj=runtime).output.endswith(
        "no dead letters on outbound\n")

    one = runner.invoke(queue_group, ["replay", "--id", first_id], obj=runtime)
    assert one.exit_code == 0 and "re-queued 1 dead letter(s) on inbound" in one.output
    assert (q.stats().ready, q.stats().dead) == (1, 2)
    again = runner.invoke(queue_group, ["replay", "--id", first_id], obj=runtime)
    assert again.exit_code != 0 and f"no dead letter {first_id}" in again.output
    both = runner.invoke(queue_group, ["replay", "--all"], obj=runtime)
    assert both.exit_code == 0 and "re-queued 2" in both.output
    usage = runner.invoke(queue_group, ["replay"], obj=runtime)
    assert usage.exit_code == 2 and "--id ID or --all" in usage.output

    assert Worker(q, Pipeline(runtime).process_inbound).drain() == 3
    assert "re-queued 0 dead letter(s)" in runner.invoke(queue_group, ["replay", "--all"], obj=runtime).output
    with db.uow() as s:
        done = set(s.scalars(select(InboundMessage.event_id).where(InboundMessage.status == "done")))
    assert done == {"wecom-1", "wecom-2", "wecom-3"}


def test_embedded_note_says_where_the_server_queue_lives():
    from types import SimpleNamespace

    from bot.cli.queue import embedded_note
    assert embedded_note(SimpleNamespace(backend="redis")) is None  # type: ignore[arg-type]
    busy = embedded_note(SimpleNamespace(backend="embedded", busy="kv.sqlite3 is in use"))  # type: ignore[arg-type]
    assert busy is not None and "keeps its queue in its own process" in busy
    durable = embedded_note(SimpleNamespace(backend="embedded", busy=None, durable=True))  # type: ignore[arg-type]
    assert durable is not None and "server that is not running" in durable
