"""确认接收 on a handover card: the receiver confirms they took over the leaving colleague's
customers. handlers/taps.py has checked the tap against the stored card (the card was sent to
the tapper, or the tapper is an admin; Action.ACCEPT_HANDOVER); the confirmation is written to
the audit log once and shown on the card in place."""
from __future__ import annotations

from cards.model import CardError, card_from_dict
from crm_core import audit
from handlers.context import Context, Reply
from handlers.registry import Registry
from handlers.workflow_cards import rep_name, when

CLAIM_TTL = 90 * 86400.0


def accept(ctx: Context) -> list[Reply]:
    tap = ctx.verified_tap
    if not ctx.kv.claim(f"handover:accept:{tap.card_id}", CLAIM_TTL):
        return [Reply("这张交接卡片已经确认过了。")]
    from_rep = tap.values.get("from", "")
    with ctx.db.uow() as s:
        audit.record(s, ctx.me.id, "handover.accept", platform=ctx.event.platform, target_type="rep",
                     target_id=from_rep, detail={"card": tap.card_id}, now=ctx.now)
    shown = f"已由 {ctx.me.name} 确认接收 · {when(ctx.cfg, ctx.now)}"
    try:
        card = card_from_dict(tap.card.content)
    except (CardError, TypeError, ValueError):       # an old or foreign card: answer in text
        return [Reply(f"已确认接收{rep_name(ctx.cfg, from_rep)}交接的客户。")]
    return [Reply(card.resolved(shown), update=True),
            Reply(f"已确认接收{rep_name(ctx.cfg, from_rep)}交接的客户,发送「我的客户」可以查看全部客户和电话。")]


def register(registry: Registry) -> None:
    registry.add_action("handover", accept)
