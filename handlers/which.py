"""Which record a number in a command means (crm_core/refs.py: 客户C3, 线索#12, 待办T5).

Lead commands keep taking 「#12」 and a bare 「12」. Two guards stop a number silently landing on
the wrong record: a customer number (C3) names the customer's one open lead out loud, or asks
which lead when it has several; and a bare or #-number the rep just saw as a customer in 查客户
(remembered for two hours) while the lead with that number belongs to another customer gets a
question instead of an action."""
from __future__ import annotations

import json

from crm_core.refs import Ref, parse_ref, show_customer, show_lead
from crm_core.services.lead_edit import customer_leads
from crm_core.services.queries import get_lead
from handlers.context import Context, UserError

SEEN_TTL = 2 * 3600


def _seen_key(ctx: Context) -> str:
    return f"seen_customers:{ctx.me.id}"


def remember_customers(ctx: Context, ids: list[int]) -> None:
    """The customer numbers 查客户 just showed this rep."""
    ctx.kv.set(_seen_key(ctx), json.dumps(ids[:20]), ttl=SEEN_TTL)


def seen_customers(ctx: Context) -> set[int]:
    raw = ctx.kv.get(_seen_key(ctx))
    try:
        return {int(i) for i in json.loads(raw)} if raw else set()
    except (ValueError, TypeError):
        return set()


def lead_ref(ctx: Context, text: str, example: str) -> tuple[int, str, str]:
    """(lead id, the rest of the text, a note to prepend when a customer number was resolved)
    for a lead command's arguments; UserError with a question when the number is not plainly a
    lead. `example` completes 「请这样写:…」."""
    got = parse_ref(text)
    if got is None:
        raise UserError(f"请这样写:{example}")
    ref, rest = got
    if ref.kind == "task":
        raise UserError(f"T{ref.id} 是待办编号,这里需要线索编号(如 #12);完成待办请发「完成 T{ref.id}」。")
    if ref.kind == "customer":
        lead_id, note = _customer_lead(ctx, ref, example)
        return lead_id, rest, note
    _guard_seen_customer(ctx, ref)
    return ref.id, rest, ""


def _customer_lead(ctx: Context, ref: Ref, example: str) -> tuple[int, str]:
    with ctx.db.uow() as s:
        leads = customer_leads(s, ref.id, open_only=True)
    if len(leads) == 1:
        return leads[0][0], f"({show_customer(ref.id)}只有一条跟进中的线索:{show_lead(leads[0][0])})"
    if not leads:
        raise UserError(f"{show_customer(ref.id)}没有跟进中的线索。")
    names = "、".join(f"#{i} {title}" for i, title in leads[:5])
    raise UserError(f"{show_customer(ref.id)}有 {len(leads)} 条跟进中的线索:{names}。请用线索编号,例如「{example}」。")


def _guard_seen_customer(ctx: Context, ref: Ref) -> None:
    if ref.form == "word" or ref.id not in seen_customers(ctx):
        return
    with ctx.db.uow() as s:
        lead = get_lead(s, ref.id)
        same = lead is not None and lead.customer_id == ref.id
    if not same:
        raise UserError(f"#{ref.id} 是线索编号,你刚查到的是{show_customer(ref.id)}。要记到这位客户,请写 C{ref.id};"
                        f"确实是{show_lead(ref.id)},请写「线索{ref.id}」。")
