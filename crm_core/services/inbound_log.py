"""The inbound log: one row per platform event (unique platform + event id), written before
the handler runs and marked done after it, so a redelivered event is recognised."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crm_core.db import Database
from crm_core.db.models import InboundMessage


def log_once(db: Database, row: InboundMessage) -> int | None:
    """Insert the inbound row; None if this event was already processed. The insert comes
    first (the usual case: one statement); the unique (platform, event_id) key catches a
    redelivery, whose row is processed again unless it was done."""
    try:
        with db.uow() as s:
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:   # delivered before: a crash mid-way, or already done
        with db.uow() as s:
            existing = s.scalar(select(InboundMessage).where(
                InboundMessage.platform == row.platform, InboundMessage.event_id == row.event_id))
            return None if existing is None or existing.status == "done" else existing.id


def mark_done(db: Database, row_id: int, now: datetime, happened: datetime) -> None:
    """Done, with the latency from when the platform says it happened."""
    with db.uow() as s:
        s.execute(update(InboundMessage).where(InboundMessage.id == row_id).values(
            status="done", processed_at=now, latency_ms=max(0.0, (now - happened).total_seconds() * 1000)))
