"""To-dos in chat: 我的待办 (a card: the open to-dos, 完成 / 延期 buttons on the first three),
「完成 T3」「完成 待办T3 T5」, 「延期 T3 到周五」 (no day: the next working day), and the taps on those
buttons here and in the daily digest. A to-do is named T + its number, never a bare number or
#3 (a lead). Each asks the policy (Action.COMPLETE_TASK / POSTPONE_TASK) on the to-do; the
service (crm_core/services/todo.py) writes it, an activity and the audit row. A 完成 or 延期
message that names no to-do is an ordinary note and goes to the free-text capture."""
from __future__ import annotations

import re
from datetime import date

from cards.model import Card, CardError, card_from_dict
from crm_core.authz import Action
from crm_core.clock import local
from crm_core.services.access import task_facts
from crm_core.services.todo import (TASK_REF, TaskError, complete_task, get_task, next_workday, open_todos,
                                    postpone_date, postpone_task, task_label, task_refs)
from crm_core.services.rows import Session, Task
from handlers.context import Context, Reply, UserError
from handlers.registry import HandlerResult, Registry
from handlers.todo_cards import DONE_ACTION, after_tap, card_id_of, day_label, todos_card

CLAIM_TTL = 90 * 86400.0
NO_REF = ("请写待办编号(T 开头),例如「完成 T3」「延期 T3 到周五」;发送「我的待办」可以查看编号。"
          "线索编号(#12)请用「跟进 #12 …」。")
LOOKS_LIKE_NUMBER = re.compile(r"^[#＃]?\s*\d+")


def today_of(ctx: Context) -> date:
    return local(ctx.now, ctx.cfg.app.timezone).date()


def my_todos(ctx: Context) -> Reply | str:
    ctx.require(Action.VIEW_OWN_WORK)
    with ctx.db.uow() as s:
        total, todos = open_todos(s, ctx.me.id)
    if not todos:
        return "目前没有待办,干得漂亮!"
    card_id = card_id_of(ctx.me.id, ctx.event.platform, ctx.event.event_id, ctx.now.isoformat())
    return Reply(todos_card(card_id, ctx.me.name, total, todos, today_of(ctx)))


def _task_for(ctx: Context, s: Session, task_id: int, action: Action) -> Task:
    task = get_task(s, task_id)
    ctx.require(action, task_facts(s, task))
    return task


def _refs(ctx: Context) -> list[int] | None:
    """The to-dos the command names; None when it names none and reads as a note
    (「完成了和张总的签约」); a UserError when it names a number that is not a to-do's."""
    args = ctx.data.get("args", "").strip()
    refs = task_refs(args)
    if refs:
        return refs
    if not args or LOOKS_LIKE_NUMBER.match(args):
        raise UserError(NO_REF)
    return None


def _as_note(ctx: Context, registry: Registry) -> HandlerResult:
    return registry.fallback(ctx) if registry.fallback is not None else NO_REF


def complete_cmd(ctx: Context, registry: Registry) -> HandlerResult:
    refs = _refs(ctx)
    if refs is None:
        return _as_note(ctx, registry)
    lines = []
    try:
        with ctx.db.uow() as s:
            for task_id in refs:
                task = _task_for(ctx, s, task_id, Action.COMPLETE_TASK)
                changed = complete_task(s, task, ctx.me.id, ctx.event.platform, ctx.now)
                lines.append(f"{'已完成' if changed else '早已完成'}待办 {task_label(task.id)}:{task.title}")
    except TaskError as err:
        raise UserError(str(err)) from None
    return "\n".join(lines) + "。"


def postpone_cmd(ctx: Context, registry: Registry) -> HandlerResult:
    refs = _refs(ctx)
    if refs is None:
        return _as_note(ctx, registry)
    rest = TASK_REF.sub(" ", ctx.data.get("args", "")).strip(" ,,、和")
    until = postpone_date(ctx.cfg, rest, ctx.now)
    if until is None:
        raise UserError(f"没看懂要延期到哪天:「{rest}」。可以这样写:延期 {task_label(refs[0])} 到周五 / 明天 / 12月5日 / 3天。")
    lines = []
    try:
        with ctx.db.uow() as s:
            for task_id in refs:
                task = _task_for(ctx, s, task_id, Action.POSTPONE_TASK)
                postpone_task(s, task, until, ctx.me.id, ctx.event.platform, ctx.now, ctx.cfg.app.timezone)
                lines.append(f"待办 {task_label(task.id)} 已延期到 {day_label(until)}:{task.title}")
    except TaskError as err:
        raise UserError(str(err)) from None
    return "\n".join(lines) + "。"


def todo_tap(ctx: Context) -> list[Reply]:
    """完成 / 延期 on a to-do card (我的待办 or the digest): once per to-do and card."""
    tap = ctx.verified_tap
    task_id = int(tap.values["task"])
    key = f"todo:tap:{tap.card_id}:{task_id}"
    if not ctx.kv.claim(key, CLAIM_TTL):
        return [Reply(f"待办 {task_label(task_id)} 已经处理过了。")]
    try:
        with ctx.db.uow() as s:
            task = _task_for(ctx, s, task_id, tap.action)
            if tap.key == DONE_ACTION:
                changed = complete_task(s, task, ctx.me.id, ctx.event.platform, ctx.now)
                outcome = f"{task_label(task_id)} {'已完成' if changed else '早已完成'}"
            else:
                today = today_of(ctx)
                base = task.due_date if task.due_date and task.due_date > today else today
                until = postpone_task(s, task, next_workday(ctx.cfg, base), ctx.me.id, ctx.event.platform,
                                      ctx.now, ctx.cfg.app.timezone)
                outcome = f"{task_label(task_id)} 延期到 {day_label(until)}"
    except TaskError as err:
        ctx.kv.delete(key)
        raise UserError(str(err)) from None
    except BaseException:
        ctx.kv.delete(key)
        raise
    try:
        card: Card | None = card_from_dict(tap.card.content)
    except (CardError, TypeError, ValueError):      # an old or foreign card: answer in text
        card = None
    if card is None:
        return [Reply(f"{outcome}。")]
    return [Reply(after_tap(card, task_id, outcome), update=True)]


def register(registry: Registry) -> None:
    registry.add_command(my_todos, "我的待办", "待办", "todo", "todos", usage="查看我的待办(可直接点完成、延期)",
                         example="我的待办")
    registry.add_command(lambda ctx: complete_cmd(ctx, registry), "完成", "done",
                         usage="完成一条待办(待办编号以 T 开头)", example="完成 T3")
    registry.add_command(lambda ctx: postpone_cmd(ctx, registry), "延期", "postpone",
                         usage="把待办延期到某天(不写日期则顺延到下一个工作日)", example="延期 T3 到周五")
    registry.add_action("todo", todo_tap)
