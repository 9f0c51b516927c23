"""What the worker does with one queued inbound event: log it once (platform + event id),
resolve the sender to a rep, run the handlers, and record processing latency."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.events import InboundEvent
from crm_core.db.models import InboundMessage

log = logging.getLogger("crm_bot.pipeline")
INBOUND_QUEUE = "inbound"


class Pipeline:
    def __init__(self, rt):  # noqa: ANN001
        self.rt = rt

    def processors(self) -> dict[str, Any]:
        return {INBOUND_QUEUE: self.process_inbound}

    def process_inbound(self, payload: dict[str, Any]) -> None:
        event = InboundEvent.from_dict(payload["event"])
        row_id = self._log_once(event)
        if row_id is None:
            log.info("duplicate %s event %s ignored", event.platform, event.event_id)
            return
        self.handle(event)
        self._mark_done(row_id)

    def handle(self, event: InboundEvent) -> None:
        dispatch = self.rt.extras.get("dispatch")
        if dispatch is not None:
            dispatch(event)

    def _log_once(self, event: InboundEvent) -> int | None:
        """Insert the inbound row; None if this event was already processed."""
        rep = self.rt.cfg.org.rep_by_platform_id(event.platform, event.sender_id)
        try:
            with self.rt.db.uow() as s:
                existing = s.scalar(select(InboundMessage).where(
                    InboundMessage.platform == event.platform, InboundMessage.event_id == event.event_id))
                if existing is not None:
                    return None if existing.status == "done" else existing.id
                row = InboundMessage(platform=event.platform, event_id=event.event_id, kind=event.kind.value,
                                     sender_id=event.sender_id, rep_id=rep.id if rep else None,
                                     text=(event.text or "")[:2000] or None, platform_time=event.platform_time,
                                     received_at=event.received_at)
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:   # another worker inserted it first
            return None

    def _mark_done(self, row_id: int) -> None:
        now = self.rt.clock()
        with self.rt.db.uow() as s:
            row = s.get(InboundMessage, row_id)
            row.status = "done"
            row.processed_at = now
            ref = row.platform_time or row.received_at
            row.latency_ms = max(0.0, (now - ref).total_seconds() * 1000)
