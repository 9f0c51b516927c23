"""「日报」: the rep's day (follow-ups, stage moves, to-dos finished and new, new leads) as one
card with 转发给主管. The tap sends the day's report (as of the tap) to the supervisors of the
rep's teams once per card: the card is resolved, and a repeated or concurrent tap finds the
Reminder rows taken and sends nothing (crm_core/services/daily_report.py). 「日报 昨天」 shows
yesterday's. Only the card's own rep may forward it (Action.FORWARD_REPORT on the stored card)."""
from __future__ import annotations

import hashlib
from datetime import date, timedelta

from cards.model import CardError, card_from_dict
from crm_core.authz import Action
from crm_core.services.checkin import today_of
from crm_core.services.daily_report import ReportError, daily_report, forward_report, report_supervisors
from handlers.checkin_cards import day_label, report_card
from handlers.context import Context, Reply, UserError
from handlers.registry import HandlerResult, Registry
from handlers.seen_by import SeenBy

DAYS_BACK = {"": 0, "今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2}


def report_card_id(*parts: str) -> str:
    return "report-" + hashlib.sha1(":".join(parts).encode()).hexdigest()[:16]


def report_cmd(ctx: Context) -> HandlerResult:
    ctx.require(Action.VIEW_OWN_WORK)
    said = ctx.data.get("args", "").strip(" ,,。.").removesuffix("的")
    if said not in DAYS_BACK:
        raise UserError("日报可以看今天、昨天或前天的,例如「日报」「日报 昨天」。")
    day = today_of(ctx.cfg, ctx.now) - timedelta(days=DAYS_BACK[said])
    with ctx.db.uow() as s:
        report = daily_report(s, ctx.cfg, ctx.me.id, day, ctx.now)
    card_id = report_card_id(ctx.me.id, ctx.event.platform, ctx.event.event_id, ctx.now.isoformat())
    forward = not report.empty and bool(report_supervisors(ctx.cfg, ctx.me.id))   # no supervisor: no button to fail
    return Reply(report_card(card_id, ctx.me.name, report.as_dict(), forward=forward,
                             seen=SeenBy(ctx.viewer)))


def forward_tap(ctx: Context) -> HandlerResult:
    """转发给主管 on the 日报 card."""
    tap = ctx.verified_tap
    if tap.card.facts.recipient != ctx.me.id:
        raise UserError("日报只能由本人转发。")
    day = date.fromisoformat(tap.values["day"])
    try:
        with ctx.db.uow() as s:
            sups, notices = forward_report(s, ctx.cfg, ctx.me.id, day, tap.card_id, ctx.now, ctx.event.platform)
    except ReportError as err:
        raise UserError(str(err)) from None
    names = "、".join(r.name for sid in sups if (r := ctx.cfg.org.rep(sid)))
    if not notices:
        return f"这份日报已经转发给{names}了,无需重复转发。"
    ctx.deliver(notices)
    try:
        card = card_from_dict(tap.card.content)     # the card as sent, resolved in place
    except (CardError, TypeError, ValueError):
        return f"{day_label(day.isoformat())}的日报已转发给{names}。"
    return [Reply(card.resolved(f"已转发给{names}"), update=True)]


def register(registry: Registry) -> None:
    registry.add_command(report_cmd, "日报", "daily", usage="生成今天的日报(跟进、推进、待办、新线索),可一键转发给主管",
                         example="日报")
    registry.add_action("report", forward_tap)
