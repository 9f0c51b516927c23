"""The one check every card tap passes before its handler runs (called by dispatch()): the
card is loaded from its stored record (crm_core/services/tap_cards.py) and the policy
(crm_core/authz.py `decide_tap`) judges the tap on it: the card exists and is unresolved, the
button is one of its own with its own values, the action's rule allows it on the card's lead /
review / customer, and the card was sent to the tapper (or the tapper is an admin). A refusal
is a Chinese reply and changes nothing; an allowed tap reaches the handler as `ctx.tap`, whose
lead id, card id and values come from the record, not from the payload."""
from __future__ import annotations

import logging

from crm_core.authz import Subjects, TapFacts, decide_tap
from crm_core.services.tap_cards import load_tap_card, tap_subjects
from handlers.context import Context, VerifiedTap

log = logging.getLogger("crm_bot.handlers")


def verify_tap(ctx: Context) -> str | None:
    """None when the tap may run (and `ctx.tap` is set), else the refusal to send."""
    action = ctx.action
    with ctx.db.uow() as s:
        card = load_tap_card(s, ctx.cfg, action.card_ref)
        subjects = tap_subjects(s, card.facts) if card is not None else Subjects()
    tap = TapFacts(action=action.key, values=dict(action.values or {}),
                   card_id=card.id if card is not None else action.card_ref)
    verdict = decide_tap(ctx.cfg, ctx.principal, card.facts if card is not None else None, tap, subjects)
    if not verdict or card is None or verdict.action is None or verdict.button is None:
        log.info("tap refused: %s %s by %s on card %s: %s", ctx.event.platform, action.key, ctx.actor,
                 action.card_ref, verdict.reason)
        return verdict.reason
    ctx.tap = VerifiedTap(card=card, action=verdict.action, button=verdict.button)
    return None
