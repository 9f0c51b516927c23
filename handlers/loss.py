"""输单 with a reason: 「推进阶段 #6 输单」 without one gets a card with a button per configured
reason (funnel.loss_reasons); 「推进阶段 #6 输单 原因:价格」 says it in the command. A tap closes
the lead through the same stage service (crm_core/services/stages.py), after the tap check and
the policy (Action.CLOSE_LEAD)."""
from __future__ import annotations

import uuid

from cards.model import MAX_BUTTONS, Button, Card, CardError, Level, card_from_dict
from crm_core.authz import Action
from crm_core.config.schema import Stage
from crm_core.refs import show_lead
from crm_core.services.stages import StageError, advance_stage
from handlers.capture import stamp
from handlers.commands import lead_for
from handlers.context import Context, Reply, UserError
from handlers.registry import Registry


def loss_card(ctx: Context, lead_id: int, title: str, stage: Stage) -> Card:
    reasons = ctx.cfg.funnel.loss_reasons
    buttons = tuple(Button(label, "lead.lost", {"lead": str(lead_id), "stage": stage.key, "reason": code})
                    for code, label in list(reasons.items())[:MAX_BUTTONS])
    example = next(iter(reasons.values()))
    return Card(card_id=f"lead-lost-{lead_id}-{uuid.uuid4().hex[:12]}", title=f"{show_lead(lead_id)} {title} 为什么输单?",
                level=Level.WARNING, text="可选原因:" + "、".join(reasons.values()), buttons=buttons,
                footer=f"点选原因即记为输单;也可以回复「推进阶段 #{lead_id} {stage.name} 原因:{example}」")


def lost_tap(ctx: Context) -> list[Reply]:
    tap = ctx.verified_tap
    lead_id, values = tap.lead_id, tap.values
    stage = ctx.cfg.funnel.stage(values.get("stage", ""))
    if lead_id is None or stage is None or stage.outcome != "lost":
        raise UserError("这张卡片已经失效,请重新发送「推进阶段 #编号 输单」。")
    with ctx.db.uow() as s:
        lead = lead_for(ctx, s, lead_id, Action.CLOSE_LEAD)
        try:
            advance_stage(s, ctx.cfg, lead, stage.key, ctx.me.id, ctx.event.platform, ctx.now,
                          {"loss_reason": values.get("reason", "")})
        except StageError as err:
            raise UserError(str(err)) from None
        title = lead.title
    reason = ctx.cfg.funnel.loss_reasons.get(values.get("reason", ""), "")
    replies = [Reply(f"已记录输单:#{lead_id} {title}(原因:{reason})。")]
    try:        # the tapped card, as sent, with the result and its buttons made inactive
        card = card_from_dict(tap.card.content).resolved(f"已记为输单:{reason} · {stamp(ctx.now)}")
    except (CardError, TypeError, ValueError):
        return replies
    return [Reply(card, update=True), *replies]


def register(registry: Registry) -> None:
    registry.add_action("lead.lost", lost_tap)
