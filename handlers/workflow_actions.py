"""Taps on the workflow cards: 已跟进 / 延期1天 / 需要支援 / 不再提醒此客户 (the owner's reminder),
转派 / 标记需协同 / 催办 (the lead team's supervisor or an admin). handlers/taps.py has checked the
tap against the stored card and the policy before a handler here runs (a refusal changes
nothing); the lead, the card and the button's values come from that record. Every tap has at
most one effect per card and updates the card in place."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cards.model import Button, Card, CardError, Field, Level, card_from_dict
from crm_core.notices import HelpRequested, Notice
from crm_core.services.access import lead_facts
from crm_core.services.activity import ActivityError, record_follow_up, record_note
from crm_core.services.assign import AssignError, reassign, supervisors_for
from crm_core.services.followup import mute, unmute
from crm_core.services.fuse import postpone_fuse
from crm_core.services.lead_marks import mark_needs_assist
from crm_core.services.queries import get_customer, get_lead
from crm_core.services.rows import Customer, Lead, Session
from handlers.context import Context, Reply, UserError, VerifiedTap
from handlers.registry import Registry
from handlers.workflow_cards import rep_name, stage_name, when

STALE = "这张卡片已经处理过了,无需重复操作。"
CLAIM_TTL = 90 * 86400.0      # longer than any card stays relevant; CardRecord.result backs it up
DOMAIN_ERRORS = (ActivityError, AssignError)   # their messages are written for people

# An effect runs inside one unit of work and returns (result shown on the card, extra
# replies, notices to deliver once the transaction has committed).
Outcome = tuple[str, list[Reply], list[Notice]]
Effect = Callable[[Context, Session, Lead | None], Outcome]
LeadEffect = Callable[[Context, Session, Lead], Outcome]      # on the card's lead


def stored_card(tap: VerifiedTap) -> Card | None:
    """The card as last sent, to show its result in place."""
    try:
        return card_from_dict(tap.card.content)
    except (CardError, TypeError, ValueError):      # an old or foreign card: answer in text
        return None


def claim_key(tap: VerifiedTap) -> str:
    return f"wf:tap:{tap.card_id}"          # one effect per card, whichever button is tapped


def run_once(ctx: Context, effect: Effect) -> list[Reply]:
    """Claim the card, run the effect in one transaction, deliver its notices, then show the
    result on the card. A failed effect releases the claim so the person can try again."""
    tap = ctx.verified_tap
    key = claim_key(tap)
    if not ctx.kv.claim(key, CLAIM_TTL):
        return [Reply(STALE)]
    try:
        with ctx.db.uow() as s:
            lead = get_lead(s, tap.lead_id) if tap.lead_id is not None else None
            text, replies, notices = effect(ctx, s, lead)
    except DOMAIN_ERRORS as err:
        ctx.kv.delete(key)
        raise UserError(str(err)) from None
    except BaseException:
        ctx.kv.delete(key)
        raise
    if notices:
        ctx.deliver(notices)
    card = stored_card(tap)
    shown = f"{text} · {when(ctx.cfg, ctx.now)}"
    first = Reply(card.resolved(shown), update=True) if card is not None else Reply(shown)
    return [first, *replies]


def on_lead(effect: LeadEffect) -> Effect:
    """An effect on the card's lead, asked of the policy again inside the effect's unit of work
    (the lead may have changed hands since the tap was checked)."""
    def run(ctx: Context, s: Session, lead: Lead | None) -> Outcome:
        if lead is None:
            raise UserError("没有找到这张卡片上的线索。")
        ctx.require(ctx.verified_tap.action, lead_facts(lead))
        return effect(ctx, s, lead)
    return run


def note(ctx: Context, s: Session, lead: Lead, kind: str, text: str, **data: Any) -> None:
    """An activity (not a follow-up: the rep's fuse keeps running) plus the audit row."""
    record_note(s, lead, kind, text, ctx.me.id, ctx.event.platform, ctx.now, data)


# ---- the rep's reminder ------------------------------------------------------------------------

def done(ctx: Context, s: Session, lead: Lead) -> Outcome:
    record_follow_up(s, lead, ctx.me.id, ctx.event.platform, "已跟进(提醒卡片确认)", ctx.now,
                     cfg=ctx.cfg, data={"via": "card"})
    return "已跟进", [Reply(f"已记录跟进:#{lead.id} {lead.title}。可回复「跟进 #{lead.id} 内容」补充详情。")], []


def snooze(ctx: Context, s: Session, lead: Lead) -> Outcome:
    until = postpone_fuse(s, ctx.cfg, lead, ctx.me.id, ctx.event.platform, ctx.now, days=1)
    return f"已延期至 {when(ctx.cfg, until)}", [], []


def ask_help(ctx: Context, s: Session, lead: Lead) -> Outcome:
    sups = supervisors_for(ctx.cfg, lead)
    note(ctx, s, lead, "help", "请求主管支援", supervisors=sups)
    notices: list[Notice] = [
        HelpRequested(to_rep=sup, lead_id=lead.id, customer_id=lead.customer_id, title=lead.title,
                      owner=lead.owner_rep_id, stage=lead.stage, team=lead.team_id,
                      last_activity_at=lead.last_activity_at.isoformat(), by=ctx.me.id, as_supervisor=True,
                      dedupe_key=f"help:{lead.id}:{ctx.event.platform}:{ctx.event.event_id}:{sup}") for sup in sups]
    names = "、".join(rep_name(ctx.cfg, sup) for sup in sups) or "管理员"
    return f"已请求支援,已通知 {names}", [], notices


# ---- the supervisor's card ---------------------------------------------------------------------

def do_reassign(ctx: Context, s: Session, lead: Lead) -> Outcome:
    to = ctx.verified_tap.values.get("to") or ""
    previous = lead.owner_rep_id
    _, notices = reassign(s, ctx.cfg, lead, to, ctx.me.id, ctx.now)
    who, new = ctx.me.name, rep_name(ctx.cfg, to)
    extra = []
    if previous and previous not in (ctx.me.id, to):
        extra.append(Reply(f"线索 #{lead.id} {lead.title} 已由 {who} 转派给 {new}。", to_rep=previous))
    return f"已由 {who} 转派给 {new}", extra, notices


def mark_assist(ctx: Context, s: Session, lead: Lead) -> Outcome:
    mark_needs_assist(s, lead, ctx.me.id, ctx.event.platform, ctx.now)
    extra = [Reply(f"主管 {ctx.me.name} 已将线索 #{lead.id} {lead.title} 标记为需协同,请与主管沟通下一步。",
                   to_rep=lead.owner_rep_id)] if lead.owner_rep_id else []
    return f"已由 {ctx.me.name} 标记需协同", extra, []


def nudge(ctx: Context, s: Session, lead: Lead) -> Outcome:
    if not lead.owner_rep_id:
        raise UserError(f"线索 #{lead.id} 在公海中,没有负责人可催办。")
    note(ctx, s, lead, "nudge", "主管催办", to=lead.owner_rep_id)
    text = (f"主管 {ctx.me.name} 催办:请尽快跟进线索 #{lead.id} {lead.title}"
            f"(阶段:{stage_name(ctx.cfg, {'stage': lead.stage})})。跟进后回复「跟进 #{lead.id} 内容」。")
    return f"已由 {ctx.me.name} 催办", [Reply(text, to_rep=lead.owner_rep_id)], []


CARD_ACTIONS: dict[str, Effect] = {
    "fuse.done": on_lead(done),
    "fuse.snooze": on_lead(snooze),
    "fuse.help": on_lead(ask_help),
    "fuse.assist": on_lead(mark_assist),
    "fuse.nudge": on_lead(nudge),
    "lead.reassign": on_lead(do_reassign),
}


def lead_tap(ctx: Context) -> list[Reply]:
    effect = CARD_ACTIONS.get(ctx.verified_tap.key)
    if effect is None:
        return [Reply("这个按钮暂不支持,请更新卡片后再试。")]
    return run_once(ctx, effect)


# ---- 不再提醒此客户 / 恢复提醒 ---------------------------------------------------------------------

def unmute_card(ctx: Context, mute_id: int, customer: Customer) -> Card:
    return Card(card_id=f"mute-{mute_id}", title="已不再提醒此客户", level=Level.INFO,
                fields=(Field("客户", f"#{customer.id} {customer.name}", short=False),),
                buttons=(Button("恢复提醒", "followup.unmute", {"customer": str(customer.id)}),),
                footer=f"也可以发送「取消静音 #{customer.id}」恢复")


def do_mute(ctx: Context, s: Session, lead: Lead) -> Outcome:
    row = mute(s, ctx.me.id, lead.customer_id, ctx.me.id, ctx.event.platform, ctx.now)
    customer = get_customer(s, lead.customer_id)
    if customer is None:
        raise UserError(f"没有找到客户C{lead.customer_id}。")
    return "已设置不再提醒此客户", [Reply(unmute_card(ctx, row.id, customer))], []


def customer_of_tap(tap: VerifiedTap) -> int:
    raw = tap.values.get("customer", "").lstrip("#")
    if not raw.isdigit():
        raise UserError("这张卡片缺少客户编号,无法处理。")
    return int(raw)


def followup_tap(ctx: Context) -> list[Reply]:
    tap = ctx.verified_tap
    if tap.key == "followup.mute":
        return run_once(ctx, on_lead(do_mute))
    if tap.key != "followup.unmute":
        return [Reply("这个按钮暂不支持,请更新卡片后再试。")]
    customer_id = customer_of_tap(tap)

    def lift(c: Context, s: Session, _lead: Lead | None) -> Outcome:
        customer = get_customer(s, customer_id)
        if customer is None:
            raise UserError(f"没有找到客户C{customer_id}。")
        lifted = unmute(s, c.me.id, customer_id, c.me.id, c.event.platform, c.now)
        return ("已恢复提醒此客户" if lifted else "此客户本来就在提醒中"), [], []
    return run_once(ctx, lift)


def register(registry: Registry) -> None:
    registry.add_action("fuse", lead_tap)
    registry.add_action("lead.reassign", lead_tap)
    registry.add_action("followup", followup_tap)
