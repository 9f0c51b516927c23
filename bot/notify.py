"""Send domain notices: render each (handlers.notify), find where the person is reached,
and hand it to the outbox once (the notice's dedupe_key)."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.recipients import Unreachable, recipient_for_rep
from crm_core.notices import Notice
from handlers.notify import default_renderers

log = logging.getLogger("crm_bot.notify")


def outbox(rt):  # noqa: ANN001, ANN201
    from bot.outbound.delivery import Outbox
    box = rt.extras.get("outbox")
    if box is None:
        box = rt.extras["outbox"] = Outbox(rt)
    return box


def deliver(rt, notices: Iterable[Notice]) -> int:  # noqa: ANN001
    """Returns how many notices were handed to the outbox."""
    sent = 0
    for n in notices:
        item = default_renderers().render(rt.cfg, n)
        if item is None:
            continue
        try:
            to = recipient_for_rep(rt.cfg, n.to_rep, as_supervisor=n.to_supervisor)
        except Unreachable as err:
            log.warning("notice %s not delivered: %s", n.kind, err)
            continue
        outbox(rt).send(item, to, dedupe_key=n.dedupe_key)
        sent += 1
    return sent
