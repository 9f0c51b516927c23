"""The worker's inbound log: each platform event is handled once (a re-queued copy of a done
event is ignored), an event whose processing crashed mid-way is handled again, and the row
records when it was processed and how late."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.events import EventKind, InboundEvent
from bot.pipeline import Pipeline
from crm_core.db.models import InboundMessage, OutboundMessage


def stranger_text(clock, n: int = 1) -> dict:  # noqa: ANN001
    ev = InboundEvent(platform="wecom", kind=EventKind.TEXT, event_id=f"msg-{n}", sender_id="not.in.org",
                      conversation_id="not.in.org", text="你好", received_at=clock.now,
                      platform_time=clock.now - timedelta(seconds=2))
    return {"event": ev.to_dict()}


def counts(db) -> tuple[list[tuple], int]:  # noqa: ANN001
    with db.uow() as s:
        rows = [(r.event_id, r.status, r.latency_ms, r.processed_at) for r in s.scalars(select(InboundMessage))]
        replies = s.scalar(select(func.count()).select_from(OutboundMessage))
    return rows, replies


def test_event_is_handled_once_and_its_latency_recorded(runtime, db, clock):  # noqa: ANN001
    pipe = Pipeline(runtime)
    payload = stranger_text(clock)
    clock.advance(seconds=1)
    pipe.process_inbound(payload)
    rows, replies = counts(db)
    assert replies == 1                                  # the polite "how to get access" reply
    [(event_id, status, latency, processed_at)] = rows
    assert (event_id, status) == ("msg-1", "done")
    assert processed_at is not None and latency == 3000.0   # from the platform's own time
    pipe.process_inbound(payload)                        # the queue delivered it again
    assert counts(db) == (rows, 1)


def test_event_left_half_done_by_a_crash_is_handled_again(runtime, db, clock):  # noqa: ANN001
    payload = stranger_text(clock, 2)
    with db.uow() as s:
        s.add(InboundMessage(platform="wecom", event_id="msg-2", kind="text", sender_id="not.in.org",
                             text="你好", received_at=clock.now))
    Pipeline(runtime).process_inbound(payload)
    rows, replies = counts(db)
    assert [(r[0], r[1]) for r in rows] == [("msg-2", "done")] and replies == 1
