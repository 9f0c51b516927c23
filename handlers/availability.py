"""Supervisors set a rep's availability in chat: 「设置休假 李娜 到12月10日」, 「李娜 已离职」
(her open leads handed over: to the pool, or 「李娜 已离职 交给 张伟」), 「恢复在岗 李娜」. Kept in
the database over the YAML (crm_core/services/availability.py); every instance applies it
before its next message (`ctx.services.config_changed`). Asked of the policy
(Action.SET_AVAILABILITY: the supervisor of one of the rep's teams, or an admin)."""
from __future__ import annotations

import re
from datetime import date

from crm_core.authz import Action, RepFacts
from crm_core.clock import local
from crm_core.config.schema import Rep
from crm_core.services.assign import AssignError
from crm_core.services.availability import AvailabilityChange, AvailabilityError, set_availability
from handlers.capture import capture_text
from handlers.context import Context, Reply, UserError
from handlers.registry import Registry

_DATE = re.compile(r"^(?:(?P<y>\d{4})\s*[年\-/.]\s*)?(?P<m>\d{1,2})\s*[月\-/.]\s*(?P<d>\d{1,2})\s*[日号]?$")
_UNTIL = re.compile(r"^(?P<who>.+?)\s*(?:(?:到|至|直到|until)\s*(?P<until>.+))?$")
_HANDOVER = re.compile(r"^(?:交给|交接给|转给|给)\s*(?P<to>\S+)$")


def day_text(d: date) -> str:
    return f"{d.month}月{d.day}日"          # 1月5日, not 01月05日


def parse_until(text: str, today: date) -> date:
    """「12月10日」, 「2027年1月5日」, 「12-10」, 「2026-12-10」: the next such day from today on
    (a month and day already past this year mean next year)."""
    m = _DATE.fullmatch(text.strip())
    if not m:
        raise UserError(f"看不懂日期「{text}」,请写成「12月10日」或「2026-12-10」。")
    month, day = int(m["m"]), int(m["d"])
    year = int(m["y"]) if m["y"] else today.year
    try:
        when = date(year, month, day)
        if not m["y"] and when < today:
            when = date(year + 1, month, day)
    except ValueError:
        raise UserError(f"日期「{text}」不存在,请检查月份和日期。") from None
    if when < today:
        raise UserError(f"{when.year}年{day_text(when)}已经过去了,休假结束日期要从今天算起。")
    return when


def find_rep(ctx: Context, who: str) -> Rep:
    """A colleague by name (李娜) or config id (li.na)."""
    who = who.strip().lstrip("@")
    if not who:
        raise UserError("请写上同事的名字,例如:设置休假 李娜 到12月10日")
    by_id = ctx.cfg.org.rep(who)
    if by_id is not None:
        return by_id
    named = [r for r in ctx.cfg.org.reps if r.name == who]
    if len(named) > 1:
        ids = "、".join(r.id for r in named)
        raise UserError(f"有 {len(named)} 位同事叫{who}({ids}),请改用 ID,例如:设置休假 {named[0].id}")
    if not named:
        raise UserError(f"没有找到同事「{who}」,请检查名字是否和通讯录一致。")
    return named[0]


def _authorize(ctx: Context, rep: Rep) -> None:
    teams = frozenset(t.id for t in ctx.cfg.org.teams_of(rep.id))
    ctx.require(Action.SET_AVAILABILITY, RepFacts(rep.id, rep.name, teams))


def _apply(ctx: Context, rep: Rep, availability: str, until: date | None = None,
           handover_to: str | None = None) -> AvailabilityChange:
    try:
        with ctx.db.uow() as s:
            change = set_availability(s, ctx.cfg, rep.id, availability, actor=ctx.actor, now=ctx.now,
                                      until=until, handover_to=handover_to)
    except (AvailabilityError, AssignError) as err:
        raise UserError(f"{err},操作未生效。") from None
    ctx.services.config_changed()         # every instance: from the next lead on
    ctx.deliver(change.notices)
    return change


def set_leave(ctx: Context) -> str:
    """设置休假 李娜 [到12月10日]"""
    m = _UNTIL.fullmatch(ctx.data.get("args", "").strip())
    if not m:
        raise UserError("请写上同事的名字,例如:设置休假 李娜 到12月10日")
    rep = find_rep(ctx, m["who"])
    _authorize(ctx, rep)
    today = local(ctx.now, ctx.cfg.app.timezone).date()
    until = parse_until(m["until"], today) if m["until"] else None
    _apply(ctx, rep, "on_leave", until)
    if until is None:
        return f"已设置:{rep.name} 休假中,不再分配新线索。回来后请发送「恢复在岗 {rep.name}」。"
    back = date.fromordinal(until.toordinal() + 1)
    return (f"已设置:{rep.name} 休假至 {day_text(until)}(含),期间不再分配新线索;"
            f"{day_text(back)}起自动恢复接收线索。")


def set_active(ctx: Context) -> str:
    """恢复在岗 李娜"""
    rep = find_rep(ctx, ctx.data.get("args", ""))
    _authorize(ctx, rep)
    _apply(ctx, rep, "active")
    return f"已设置:{rep.name} 恢复在岗,从下一条线索起参与分配。"


def set_departed(ctx: Context) -> str:
    """李娜 已离职 [交给 张伟] — or 「设置离职 李娜 [交给 张伟]」."""
    who = ctx.data.get("who") or ctx.data.get("args", "")
    rest = ctx.data.get("rest", "")
    parts = who.split(maxsplit=1)
    if not rest and len(parts) == 2:
        who, rest = parts
    rep = find_rep(ctx, who)
    _authorize(ctx, rep)
    to: Rep | None = None
    if rest.strip():
        m = _HANDOVER.fullmatch(rest.strip())
        if not m:
            raise UserError(f"看不懂「{rest.strip()}」,交接给某位同事请写:{rep.name} 已离职 交给 张伟")
        to = find_rep(ctx, m["to"])
    if rep.availability == "departed":
        raise UserError(f"{rep.name} 已经是离职状态,无需重复设置。")
    change = _apply(ctx, rep, "departed", handover_to=to.id if to else None)
    moved = len(change.moved)
    if not moved:
        return f"已将 {rep.name} 标记为离职,名下没有未结束的线索,不再分配新线索。"
    where = f"交接给 {to.name}" if to else "退回团队公海"
    told = f",交接清单已发给 {to.name}" if to else ",交接清单已发给团队主管"
    return f"已将 {rep.name} 标记为离职:名下 {moved} 条线索已{where}{told}。"


def departed_sentence(ctx: Context) -> str | list[Reply]:
    """「李娜 已离职」 naming a colleague; any other sentence of that shape is a note for capture
    (「王总已离职」 about a customer's contact)."""
    who = ctx.data.get("who", "").strip()
    if ctx.cfg.org.rep(who) is None and not any(r.name == who for r in ctx.cfg.org.reps):
        return capture_text(ctx)
    return set_departed(ctx)


def register(registry: Registry) -> None:
    registry.add_command(set_leave, "设置休假", usage="主管设置同事休假(不再分配新线索)",
                         example="设置休假 李娜 到12月10日")
    registry.add_command(set_active, "恢复在岗", "销假", usage="主管设置同事恢复在岗",
                         example="恢复在岗 李娜")
    registry.add_command(set_departed, "设置离职", usage="主管设置同事离职,名下线索交接",
                         example="李娜 已离职 交给 张伟")
    registry.add_pattern(r"(?P<who>[^\s#]{1,32})\s*已离职\s*(?P<rest>(?:交给|交接给|转给)\s*\S+)?", departed_sentence)

