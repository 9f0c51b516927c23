"""我的客户: the rep's customers (owned, or with an open lead of theirs), each with its number
(C12), contacts and open leads. Phones in full where the policy lets the sender see them
(the owner of the customer, the owner of a lead on it: Action.VIEW_PHONE); masked otherwise."""
from __future__ import annotations

from crm_core.authz import Action
from crm_core.services.customer_list import CustomerLine, customers_of
from handlers.context import Context
from handlers.lead_card import money
from handlers.registry import Registry
from handlers.which import remember_customers

SHOWN = 20
CONTACTS_SHOWN = 4


def customer_lines(ctx: Context, c: CustomerLine) -> list[str]:
    """One customer as read for the sender (customers_of with their viewer: phones, budget and
    owner already as they may see them)."""
    head = f"C{c.id} {c.name}"
    extra = []
    if c.leads:
        extra.append("线索 " + " ".join(f"#{ld.id}" for ld in c.leads))
    if c.open_budget and "budget" not in c.hidden:
        extra.append(f"预算合计 {c.budget_text or money(c.open_budget)}")
    if c.health_score is not None:
        extra.append(f"健康分 {c.health_score:g}")
    if c.owner_rep_id != ctx.me.id and "owner" not in c.hidden:
        owner = ctx.cfg.org.rep(c.owner_rep_id) if c.owner_rep_id else None
        extra.append(f"客户负责人:{owner.name if owner else '未分配'}")
    lines = [head + (" · " + " · ".join(extra) if extra else "")]
    for ct in c.contacts[:CONTACTS_SHOWN]:
        who = " ".join(p for p in (ct.name, ct.title) if p) or "联系人"
        phone = ct.phone or "无电话"
        lines.append(f"  · {who}" if "phone" in c.hidden else f"  · {who} {phone}")
    if len(c.contacts) > CONTACTS_SHOWN:
        lines.append(f"  · …另有 {len(c.contacts) - CONTACTS_SHOWN} 位联系人")
    return lines


def my_customers(ctx: Context) -> str:
    ctx.require(Action.VIEW_OWN_WORK)
    with ctx.db.uow() as s:
        total, customers = customers_of(s, ctx.me.id, limit=SHOWN, viewer=ctx.viewer)
    if not customers:
        return "你名下还没有客户。说一句客户情况就能新建线索,例如:记录杭州优品李经理要采购CRM,预算50万。"
    lines = [f"你有 {total} 个客户" + (f"(按预算列出前 {len(customers)} 个)" if total > len(customers) else "") + ":"]
    for c in customers:
        lines += customer_lines(ctx, c)
    # C-numbers just seen: a 「跟进 #n」 naming one of them (and no lead listed here) is asked back
    shown_leads = {ld.id for c in customers for ld in c.leads}
    remember_customers(ctx, [c.id for c in customers if c.id not in shown_leads])
    lines.append("查看线索详情:查线索 #编号")
    return "\n".join(lines)


def register(registry: Registry) -> None:
    registry.add_command(my_customers, "我的客户", "customers", usage="查看我负责的客户和联系人电话",
                         example="我的客户")
