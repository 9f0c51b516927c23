"""我的线索 (the rep's open leads, nearest deadline first) and 查线索 #12 (one lead as a card, as
the sender may see it: rows in their scope, fields by their roles, phones in full only where the
policy allows: crm_core/visibility.py, Action.VIEW_PHONE)."""
from __future__ import annotations

from crm_core.authz import Action, LeadFacts
from crm_core.services.lead_view import LeadDetail, lead_detail, open_leads_of
from crm_core.visibility import NotInScope
from handlers.context import Context, Reply, UserError
from handlers.lead_detail_card import lead_detail_card, time_left
from handlers.registry import Registry
from handlers.which import lead_ref
from handlers.workflow_cards import stage_label, title_with_customer


def my_leads(ctx: Context) -> str:
    ctx.require(Action.VIEW_OWN_WORK)
    with ctx.db.uow() as s:
        leads = open_leads_of(s, ctx.me.id)
    if not leads:
        return "你目前没有跟进中的线索。说一句客户情况就能新建,例如:记录杭州优品李经理要采购CRM,预算50万。"
    lines = [f"你有 {len(leads)} 条跟进中的线索(最急的在前):"]
    for lead in leads:
        lines.append(f"#{lead.id} {title_with_customer(lead.title, lead.customer)} · {stage_label(ctx.cfg, lead.stage)}"
                     f" · {time_left(lead.fuse_deadline, ctx.now)}")
    lines.append("查看详情:查线索 #编号")
    return "\n".join(lines)


def facts_of(lead: LeadDetail) -> LeadFacts:
    return LeadFacts(id=lead.id, owner=lead.owner_rep_id, team_id=lead.team_id, status=lead.status)


def show_lead(ctx: Context) -> Reply:
    lead_id, _, note = lead_ref(ctx, ctx.data.get("args", "").strip(), "查线索 #线索编号,例如「查线索 #12」。")
    if note:
        ctx.send_now(Reply(note.strip("()()")))
    try:
        with ctx.db.uow() as s:       # as the sender may see it: their rows, their fields (issue 18)
            lead = lead_detail(s, lead_id, viewer=ctx.viewer)
    except NotInScope as err:
        raise UserError(str(err)) from None
    if lead is None:
        raise UserError(f"没有找到线索 #{lead_id}。")
    facts = facts_of(lead)
    ctx.require(Action.VIEW_LEAD, facts)
    return Reply(lead_detail_card(ctx.cfg, lead, ctx.now, full_phones=True,
                                  editable=ctx.decide(Action.EDIT_LEAD, facts).allowed))


def register(registry: Registry) -> None:
    registry.add_command(my_leads, "我的线索", "leads", usage="查看我跟进中的线索", example="我的线索")
    registry.add_command(show_lead, "查线索", "lead", usage="查看一条线索的详情", example="查线索 #12")
