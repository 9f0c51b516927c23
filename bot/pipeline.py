"""What the worker does with one queued inbound event: log it once (platform + event id),
resolve the sender to a rep, run the handlers, send what they return (each reply once),
and record processing latency. A database or Redis fault is not answered with an apology: it
goes up to the worker, which retries the event once the store is back."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.events import InboundEvent
from bot.faults import is_infrastructure
from bot.logsetup import log_context
from bot.media import fetch_media
from bot.outbound.message import Recipient
from bot.recipients import recipient_for_rep
from cards.model import Card
from crm_core.config.schema import Rep
from crm_core.db.models import InboundMessage
from crm_core.kv.keys import INBOUND_QUEUE
from crm_core.services.inbound_log import log_once, mark_done
from handlers.context import Context, Reply
from handlers.dispatch import APOLOGY, dispatch
from handlers.load import build_registry

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("crm_bot.pipeline")
Processor = Callable[[dict[str, Any]], None]


class Pipeline:
    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        self.registry = build_registry()

    def processors(self) -> dict[str, Processor]:
        """Queue name → processor for this process's workers."""
        return {INBOUND_QUEUE: self.process_inbound, **self.rt.outbox.processors()}

    def process_inbound(self, payload: dict[str, Any]) -> None:
        event = InboundEvent.from_dict(payload["event"])
        with log_context(platform=event.platform, event_id=event.event_id):
            self._process_inbound(event)

    def _process_inbound(self, event: InboundEvent) -> None:
        self.rt.sync_config()        # a reload or availability change anywhere applies from this message on
        rep = self.rt.cfg.org.rep_by_platform_id(event.platform, event.sender_id)
        row_id = log_once(self.rt.db, InboundMessage(
            platform=event.platform, event_id=event.event_id, kind=event.kind.value,
            sender_id=event.sender_id, rep_id=rep.id if rep else None,
            text=(event.text or "")[:2000] or None, platform_time=event.platform_time,
            received_at=event.received_at))
        if row_id is None:
            log.info("duplicate %s event %s ignored", event.platform, event.event_id)
            return
        self.handle(event, rep)
        mark_done(self.rt.db, row_id, self.rt.clock(), event.platform_time or event.received_at)

    def handle(self, event: InboundEvent, rep: Rep | None) -> None:
        """Run the handler for one event and send what it returns (each reply once)."""
        sent = iter(range(1000))

        def emit(reply: Reply) -> None:
            self.deliver(event, rep, reply, next(sent))

        ctx = Context(services=self.rt.services, event=event, rep=rep, now=self.rt.clock(), emit=emit,
                      fetch_media=self.fetch_media)
        try:
            replies = dispatch(ctx, self.registry)
        except Exception as err:  # noqa: BLE001 - the user gets an apology, the log gets the details
            if is_infrastructure(err):
                raise      # the database or Redis, not the handler: the worker defers the event
            log.exception("handler failed for %s event %s", event.platform, event.event_id)
            replies = [Reply(APOLOGY)]
        for reply in replies:
            emit(reply)

    def deliver(self, event: InboundEvent, rep: Rep | None, reply: Reply, index: int) -> None:
        outbox = self.rt.outbox
        key = reply.dedupe_key or f"reply:{event.platform}:{event.event_id}:{index}"
        if reply.update and isinstance(reply.item, Card):
            outbox.update_card(reply.item.card_id, reply.item, reply_ref=event.reply_ref, dedupe_key=key)
            return
        if reply.to_rep:
            to = recipient_for_rep(self.rt.cfg, reply.to_rep, self.rt.channels)
        else:
            to = Recipient(platform=event.platform, user_id=event.sender_id, rep_id=rep.id if rep else None,
                           chat_id=event.conversation_id if event.conversation_type == "group" else None,
                           reply_ref=event.reply_ref)
        outbox.send(reply.item, to, dedupe_key=key)

    def fetch_media(self, event: InboundEvent) -> bytes:
        return fetch_media(self.rt.channels, event)
