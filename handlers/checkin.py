"""晨会打卡 in chat: 「主攻」 (or 「晨会打卡」) shows today's card, 「主攻 1 3 5」 / 「主攻 #12 #15 #20」
submits those picks, and a bare 「1 3 5」 does the same while today's card waits for an answer and
no draft question waits for a number (otherwise it is an ordinary message). The card's buttons:
选 / 取消 change the picks (each is idempotent: tapping 选 twice picks once) and update the card in
place; 提交 sends the 《重点客户日志》 to the supervisors once — a second submit the same day is
refused with what was submitted. Every tap passes the policy on its stored card (Action.CHECK_IN)
and is the card owner's own; crm_core/services/checkin.py keeps the day's row."""
from __future__ import annotations

import dataclasses
import re
from datetime import date

from cards.model import Card
from crm_core.authz import Action
from crm_core.notices import Notice
from crm_core.services.checkin import (TYPED_ONLY, CheckinError, already_submitted, arabic_picks, card_notice,
                                       checkin_of,
                                       ensure_checkin, pick, submit, today_of, typed_picks, unpick)
from crm_core.services.rows import FocusCheckin, Session
from handlers.checkin_cards import PICK, SUBMIT, UNPICK, checkin_card, day_label
from handlers.context import Context, Reply, UserError
from handlers.drafts import DraftStore
from handlers.registry import HandlerFn, HandlerResult, Registry

NUMBERS_ONLY = re.compile(r"\d{1,2}(?:[\s,，、;；]+\d{1,2}){0,14}")     # the card's numbers only: 「1 3 5」


def _card(ctx: Context, s: Session, row: FocusCheckin) -> Card:
    return checkin_card(ctx.cfg, card_notice(s, ctx.cfg, row, ctx.now), [int(p) for p in row.picks])


def show_card(ctx: Context) -> HandlerResult:
    ctx.require(Action.CHECK_IN)
    with ctx.db.uow() as s:
        row = ensure_checkin(s, ctx.cfg, ctx.me.id, ctx.now)
        if row is None:
            return "你目前没有跟进中的线索,今天不用选主攻商机。"
        if row.status == "submitted":
            return already_submitted(row)
        card = _card(ctx, s, row)
    return Reply(card)


def _submit_typed(ctx: Context, text: str) -> HandlerResult:
    ctx.require(Action.CHECK_IN)
    try:
        with ctx.db.uow() as s:
            row = ensure_checkin(s, ctx.cfg, ctx.me.id, ctx.now)
            if row is None:
                raise UserError("你目前没有跟进中的线索,今天不用选主攻商机。")
            if row.status == "submitted":
                raise UserError(already_submitted(row))
            row, notices = submit(s, ctx.cfg, ctx.me.id, row.day, ctx.now, ctx.event.platform,
                                  picks=typed_picks(row, text))
            picked = "、".join(f"#{p}" for p in row.picks)
    except CheckinError as err:
        raise UserError(str(err)) from None
    ctx.deliver(notices)
    return f"已提交今天的主攻商机:{picked}。" + ("《重点客户日志》已发给主管。" if notices else "")


def checkin_cmd(ctx: Context) -> HandlerResult:
    args = ctx.data.get("args", "").strip()
    if not args:
        return show_card(ctx)
    if not TYPED_ONLY.match(arabic_picks(args)):
        raise UserError("请写卡片上的序号或线索编号,例如「主攻 1 3 5」或「主攻 #12 #15 #20」;只发「主攻」可以查看今天的打卡卡片。")
    return _submit_typed(ctx, args)


def _waiting(ctx: Context) -> bool:
    """Today's card waits for picks, and no draft question waits for a number (「1」 = its first choice)."""
    draft = DraftStore(ctx.kv).get(ctx.me.id)
    if draft is not None and draft.pending:
        return False
    with ctx.db.uow() as s:
        row = checkin_of(s, ctx.me.id, today_of(ctx.cfg, ctx.now))
        return row is not None and row.status == "open"


def with_typed_picks(fallback: HandlerFn | None) -> HandlerFn:
    """The free-text handler, preceded by a bare 「1 3 5」 as today's picks while today's card
    waits (wrapped in turn by handlers registered later, e.g. an open visit note's question)."""
    def read(ctx: Context) -> HandlerResult:
        text = (ctx.event.text or "").strip()
        if NUMBERS_ONLY.fullmatch(arabic_picks(text)) and _waiting(ctx):      # 「1 3 5」「一，三，五」
            return _submit_typed(ctx, text)
        return fallback(ctx) if fallback is not None else None
    return read


def checkin_tap(ctx: Context) -> HandlerResult:
    """选 / 取消 / 提交 on the 晨会打卡 card."""
    tap = ctx.verified_tap
    if tap.card.facts.recipient != ctx.me.id:
        raise UserError("晨会打卡只能由本人操作。")
    day = date.fromisoformat(tap.values["day"])
    if day != today_of(ctx.cfg, ctx.now):
        raise UserError(f"这是{day_label(day.isoformat())}的打卡卡片,已经过期了。发送「主攻」打开今天的。")
    notices: list[Notice] = []
    try:
        with ctx.db.uow() as s:
            if tap.key == SUBMIT:
                row, notices = submit(s, ctx.cfg, ctx.me.id, day, ctx.now, ctx.event.platform)
            elif tap.key == PICK:
                row = pick(s, ctx.cfg, ctx.me.id, day, int(tap.values["pick"]), ctx.now)
            elif tap.key == UNPICK:
                row = unpick(s, ctx.cfg, ctx.me.id, day, int(tap.values["pick"]), ctx.now)
            else:
                raise UserError("这个按钮暂不支持,请发送「主攻」重新打开打卡卡片。")
            picks = [int(p) for p in row.picks]
            card = dataclasses.replace(_card(ctx, s, row), card_id=tap.card_id)
    except CheckinError as err:
        raise UserError(str(err)) from None
    if tap.key != SUBMIT:
        return Reply(card, update=True)
    ctx.deliver(notices)
    picked = "、".join(f"#{p}" for p in picks)
    return Reply(card.resolved(f"已提交主攻商机:{picked}" + (",《重点客户日志》已发给主管" if notices else "")),
                 update=True)


def register(registry: Registry) -> None:
    registry.add_command(checkin_cmd, "主攻", "晨会打卡", "今日主攻", usage="晨会打卡:查看今天的打卡卡片,或直接写出今天的主攻商机",
                         example="主攻 1 3 5")
    registry.set_fallback(with_typed_picks(registry.fallback))
    registry.add_action("checkin", checkin_tap)
