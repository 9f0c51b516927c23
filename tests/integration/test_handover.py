"""Handover moves every customer of the leaving rep (both databases, frozen clock): open leads
as before, and every customer they own, won ones included (the customer, its closed leads'
ownership, its open to-dos); the receiver gets one card listing the customers, confirmed with
确认接收 once; to the pool, the customers are left without an owner."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card, card_from_dict
from cards.render.text import render_text
from crm_core.db.models import Activity, AuditLog, CardRecord, Customer, Lead, Task
from crm_core.notices import HandoverSummary
from crm_core.services.handover import handover
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from handlers.context import Context
from handlers.dispatch import dispatch
from handlers.load import build_registry
from handlers.notify import default_renderers

REGISTRY = build_registry()


def lead_for(rt, company: str, owner: str = "zhang.wei", status: str = "open", budget: int = 0) -> tuple[int, int]:  # noqa: ANN001
    with rt.db.uow() as s:
        res = intake_lead(s, rt.cfg, LeadInput(source="chat", company=company, contact_name="李经理",
                                               phone="13912345678", budget_cny=budget or None),
                          actor=owner, platform="wecom", now=rt.clock(), owner_rep_id=owner)
        res.lead.status = status
        return res.customer.id, res.lead.id


def world(rt):  # noqa: ANN001, ANN201
    open_c, open_l = lead_for(rt, "杭州优品电子商务有限公司", budget=800_000)
    won_c, won_l = lead_for(rt, "宁波康达医疗器械有限公司", status="won")
    lost_c, lost_l = lead_for(rt, "苏州瑞达物流有限公司", status="lost")
    hers, _ = lead_for(rt, "无锡华信贸易有限公司", owner="li.na")
    with rt.db.uow() as s:
        s.add(Task(customer_id=won_c, lead_id=None, owner_rep_id="zhang.wei", title="回访:续约", status="open",
                   due_date=date(2026, 12, 1), created_at=rt.clock()))
    return {"open": (open_c, open_l), "won": (won_c, won_l), "lost": (lost_c, lost_l), "hers": hers}


def tap(rt, rep_id: str, card: Card) -> str:  # noqa: ANN001
    rep = rt.cfg.org.rep(rep_id)
    button = card.buttons[0]
    ev = InboundEvent(platform=rep.platform, kind=EventKind.CARD_ACTION, event_id=f"h-{rep_id}-{card.card_id}",
                      sender_id=rep.platform_ids[rep.platform], conversation_id="p2p",
                      action=CardAction(button.action, dict(button.value), card.card_id))
    replies = dispatch(Context(services=rt.services, event=ev, rep=rep, now=rt.clock()), REGISTRY)
    for i, reply in enumerate(replies):
        Pipeline(rt).deliver(ev, rep, reply, i)
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def test_every_customer_moves_won_ones_too_and_one_card_to_accept(runtime) -> None:  # noqa: ANN001
    w = world(runtime)
    with runtime.db.uow() as s:
        moved, notices = handover(s, runtime.cfg, "zhang.wei", "li.na", "wang.fang", runtime.clock())
        assert [ld.id for ld in moved] == [w["open"][1]]
        owners = {c.id: c.owner_rep_id for c in s.scalars(select(Customer))}
        assert owners == {w["open"][0]: "li.na", w["won"][0]: "li.na", w["lost"][0]: "li.na", w["hers"]: "li.na"}
        won = s.get_one(Lead, w["won"][1])
        assert (won.owner_rep_id, won.status) == ("li.na", "won")           # not reopened
        assert s.get_one(Lead, w["lost"][1]).owner_rep_id == "li.na"
        assert s.scalar(select(Task.owner_rep_id).where(Task.title == "回访:续约")) == "li.na"
        handovers = s.scalars(select(Activity.customer_id).where(Activity.kind == "handover")).all()
        assert {w["won"][0], w["lost"][0], w["open"][0]} <= set(handovers)
        detail = s.scalar(select(AuditLog.detail).where(AuditLog.action == "lead.handover"))
        assert sorted(detail["customers"]) == sorted([w["open"][0], w["won"][0], w["lost"][0]])
    (notice,) = notices
    assert isinstance(notice, HandoverSummary) and notice.to_rep == "li.na" and notice.customer_count == 3
    assert notice.customers[0]["id"] == w["open"][0]                         # the open budget first
    card = default_renderers().render(runtime.cfg, notice)
    assert isinstance(card, Card)
    text = render_text(card)
    assert "3 个客户、1 条跟进中的线索已交接给你" in text and f"C{w['won'][0]} 宁波康达医疗器械有限公司" in text
    assert "已赢单 1 条" in text and [b.text for b in card.buttons] == ["确认接收"]
    runtime.deliver(notices)
    with runtime.db.uow() as s:
        stored = card_from_dict(s.get_one(CardRecord, card.card_id).content)
    refused = tap(runtime, "zhang.wei", stored)                               # not his card
    assert "发给李娜" in refused, refused
    assert "确认接收" in tap(runtime, "li.na", stored)
    with runtime.db.uow() as s:
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "handover.accept")) == "li.na"
        assert s.get_one(CardRecord, card.card_id).result is not None
    assert "已经处理过" in tap(runtime, "li.na", stored)                      # once
    with runtime.db.uow() as s:
        assert len(s.scalars(select(AuditLog).where(AuditLog.action == "handover.accept")).all()) == 1


def test_customers_without_open_leads_still_move_and_to_the_pool_lose_their_owner(runtime) -> None:  # noqa: ANN001
    won_c, _ = lead_for(runtime, "宁波康达医疗器械有限公司", status="won")
    with runtime.db.uow() as s:
        moved, notices = handover(s, runtime.cfg, "zhang.wei", None, "wang.fang", runtime.clock())
        assert moved == [] and s.get_one(Customer, won_c).owner_rep_id is None
    (notice,) = notices
    assert notice.to_rep == "wang.fang" and notice.to_pool and notice.customer_count == 1
    card = default_renderers().render(runtime.cfg, notice)
    assert isinstance(card, Card) and card.buttons == () and "已退回公海" in card.title
    with runtime.db.uow() as s:
        assert handover(s, runtime.cfg, "zhang.wei", "li.na", "wang.fang", runtime.clock()) == ([], [])


def test_cli_lists_and_moves_customers_without_open_leads(runtime) -> None:  # noqa: ANN001
    import click
    from click.testing import CliRunner

    from bot.cli.workflow import run_handover
    won_c, _ = lead_for(runtime, "宁波康达医疗器械有限公司", status="won")

    @click.command()
    def cmd() -> None:
        run_handover(runtime, "zhang.wei", "li.na", None, dry_run=False, confirm=lambda _q: True, force=True,
                     flush=False)
    out = CliRunner().invoke(cmd).output
    assert "名下客户 1 个(含已赢单的)一并交接:宁波康达医疗器械有限公司" in out, out
    assert "已交接 0 条线索、1 个客户给 李娜" in out, out
    with runtime.db.uow() as s:
        assert s.get_one(Customer, won_c).owner_rep_id == "li.na"
