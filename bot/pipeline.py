"""What the worker does with one queued inbound event: log it once (platform + event id),
resolve the sender to a rep, run the handlers, and record processing latency."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.events import InboundEvent
from bot.outbound.message import Recipient
from cards.model import Card
from handlers.context import Reply
from crm_core.config.schema import Rep
from crm_core.db.models import InboundMessage

log = logging.getLogger("crm_bot.pipeline")
INBOUND_QUEUE = "inbound"


class Pipeline:
    def __init__(self, rt):  # noqa: ANN001
        from handlers.load import build_registry
        self.rt = rt
        self.registry = build_registry()

    def processors(self) -> dict[str, Any]:
        from bot.outbound.delivery import outbound_processors
        return {INBOUND_QUEUE: self.process_inbound, **outbound_processors(self.rt)}

    def process_inbound(self, payload: dict[str, Any]) -> None:
        event = InboundEvent.from_dict(payload["event"])
        rep = self.rt.cfg.org.rep_by_platform_id(event.platform, event.sender_id)
        row_id = self._log_once(event, rep)
        if row_id is None:
            log.info("duplicate %s event %s ignored", event.platform, event.event_id)
            return
        self.handle(event, rep)
        self._mark_done(row_id, event)

    def handle(self, event: InboundEvent, rep: Rep | None) -> None:
        """Run the handler for one event and send what it returns (each reply once)."""
        from handlers.context import Context
        from handlers.dispatch import APOLOGY, dispatch
        sent = iter(range(1000))
        emit = lambda reply: self.deliver(event, rep, reply, next(sent))  # noqa: E731
        ctx = Context(services=self.rt.services, event=event, rep=rep, now=self.rt.clock(), emit=emit,
                      fetch_media=self.fetch_media)
        try:
            replies = dispatch(ctx, self.registry)
        except Exception:  # noqa: BLE001 - the user gets an apology, the log gets the details
            log.exception("handler failed for %s event %s", event.platform, event.event_id)
            replies = [Reply(APOLOGY)]
        for reply in replies:
            emit(reply)

    def deliver(self, event: InboundEvent, rep, reply, index: int) -> None:  # noqa: ANN001
        from bot.recipients import recipient_for_rep
        outbox = self.outbox()
        key = reply.dedupe_key or f"reply:{event.platform}:{event.event_id}:{index}"
        if reply.update and isinstance(reply.item, Card):
            outbox.update_card(reply.item.card_id, reply.item, reply_ref=event.reply_ref, dedupe_key=key)
            return
        if reply.to_rep:
            to = recipient_for_rep(self.rt.cfg, reply.to_rep)
        else:
            to = Recipient(platform=event.platform, user_id=event.sender_id, rep_id=rep.id if rep else None,
                           chat_id=event.conversation_id if event.conversation_type == "group" else None,
                           reply_ref=event.reply_ref)
        outbox.send(reply.item, to, dedupe_key=key)

    def outbox(self):  # noqa: ANN201
        from bot.notify import outbox
        return outbox(self.rt)

    def fetch_media(self, event: InboundEvent) -> bytes:
        from bot.media import fetch_media
        return fetch_media(self.rt, event)

    def _log_once(self, event: InboundEvent, rep: Rep | None) -> int | None:
        """Insert the inbound row; None if this event was already processed. The insert comes
        first (the usual case: one statement); the unique (platform, event_id) key catches a
        redelivery, whose row is processed again unless it was done."""
        row = InboundMessage(platform=event.platform, event_id=event.event_id, kind=event.kind.value,
                             sender_id=event.sender_id, rep_id=rep.id if rep else None,
                             text=(event.text or "")[:2000] or None, platform_time=event.platform_time,
                             received_at=event.received_at)
        try:
            with self.rt.db.uow() as s:
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:   # delivered before: a crash mid-way, or already done
            with self.rt.db.uow() as s:
                existing = s.scalar(select(InboundMessage).where(
                    InboundMessage.platform == event.platform, InboundMessage.event_id == event.event_id))
                return None if existing is None or existing.status == "done" else existing.id

    def _mark_done(self, row_id: int, event: InboundEvent) -> None:
        now = self.rt.clock()
        ref = event.platform_time or event.received_at
        with self.rt.db.uow() as s:
            s.execute(update(InboundMessage).where(InboundMessage.id == row_id).values(
                status="done", processed_at=now, latency_ms=max(0.0, (now - ref).total_seconds() * 1000)))
