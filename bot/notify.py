"""Send domain notices: render each (`handlers.notify.Renderers`), find where the person is
reached, and hand it to the outbox once (the notice's dedupe_key). A card's record keeps the
notice kind and its lead, which a tap on it is later checked against (handlers/taps.py)."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.outbound.delivery import Outbox
from bot.recipients import Unreachable, recipient_for_rep
from cards.model import Card
from crm_core.config.schema import AppConfig
from crm_core.notices import Notice
from handlers.notify import Renderers

log = logging.getLogger("crm_bot.notify")


class Notifier:
    def __init__(self, cfg: AppConfig, renderers: Renderers, outbox: Outbox, enabled: Iterable[str]) -> None:
        self.cfg = cfg
        self.renderers = renderers
        self.outbox = outbox
        self.enabled = frozenset(enabled)

    def deliver(self, notices: Iterable[Notice]) -> int:
        """Returns how many notices were handed to the outbox."""
        sent = 0
        for n in notices:
            item = self.renderers.render(self.cfg, n)
            if item is None:
                continue
            replaces = getattr(n, "replaces_card", None)      # a card sent before, updated in place
            if replaces and isinstance(item, Card):
                try:
                    self.outbox.update_card(replaces, item, dedupe_key=n.dedupe_key)
                except KeyError:
                    log.warning("notice %s: card %s is not on record", n.kind, replaces)
                    continue
                sent += 1
                continue
            try:
                to = recipient_for_rep(self.cfg, n.to_rep, self.enabled, as_supervisor=n.to_supervisor)
            except Unreachable as err:
                log.warning("notice %s not delivered: %s", n.kind, err)
                continue
            if isinstance(item, Card):
                self.outbox.send(item, to, kind=n.kind, dedupe_key=n.dedupe_key, lead_id=n.lead_id)
            else:
                self.outbox.send(item, to, dedupe_key=n.dedupe_key)
            sent += 1
        return sent
