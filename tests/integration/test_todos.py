"""To-dos that finish (both databases, frozen clock): 我的待办 lists T-numbered to-dos with
完成 / 延期 buttons; 「完成 T3」, 「延期 T3 到周五」 and the buttons (in 我的待办 and in the daily
digest) change the task, write an activity and an audit row; a finished to-do leaves 我的待办,
the digest and the health score's overdue count; other people's to-dos are refused unchanged;
lead numbers and plain notes are never taken for to-dos."""
from __future__ import annotations

import itertools
from datetime import date, timedelta

from sqlalchemy import func, select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card, card_from_dict
from cards.render.text import render_text
from crm_core.db.models import Activity, AuditLog, CardRecord, Task
from crm_core.services.digest import rep_digest
from crm_core.services.health_facts import gather_facts
from crm_core.services.health_score import score_facts
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.load import build_registry
from handlers.notify import default_renderers

REGISTRY = build_registry()
RENDERERS = default_renderers()
_ids = itertools.count(1)
USERS = {"zhang.wei": ("wecom", "zhangwei"), "li.na": ("wecom", "lina"), "wang.fang": ("feishu", "ou_wangfang"),
         "chen.jie": ("feishu", "ou_chenjie")}


def run(runtime, rep_id: str, ev: InboundEvent) -> list[Reply]:  # noqa: ANN001
    rep = runtime.cfg.org.rep(rep_id)
    replies = dispatch(Context(services=runtime.services, event=ev, rep=rep, now=runtime.clock()), REGISTRY)
    for i, reply in enumerate(replies):      # through the outbox, as the worker does: card records exist
        Pipeline(runtime).deliver(ev, rep, reply, i)
    return replies


def say(runtime, rep_id: str, text: str) -> list[Reply]:  # noqa: ANN001
    platform, uid = USERS[rep_id]
    return run(runtime, rep_id, InboundEvent(platform=platform, kind=EventKind.TEXT, event_id=f"m{next(_ids)}",
                                             sender_id=uid, conversation_id=uid, text=text))


def tap(runtime, rep_id: str, card: Card, action: str, task_id: int) -> list[Reply]:  # noqa: ANN001
    platform, uid = USERS[rep_id]
    button = next(b for b in card.buttons if b.action == action and b.value.get("task") == str(task_id))
    ev = InboundEvent(platform=platform, kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}", sender_id=uid,
                      conversation_id=uid, action=CardAction(action, dict(button.value), card.card_id))
    return run(runtime, rep_id, ev)


def text_of(replies: list[Reply]) -> str:
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def stored(runtime, card_id: str) -> Card:  # noqa: ANN001
    with runtime.db.uow() as s:
        return card_from_dict(s.get_one(CardRecord, card_id).content)


def new_task(runtime, company: str, due: date, owner: str = "zhang.wei", budget: int = 100_000) -> int:  # noqa: ANN001
    """A lead of `owner` whose to-do is due on `due`."""
    with runtime.db.uow() as s:
        res = intake_lead(s, runtime.cfg, LeadInput(source="chat", company=company, contact_name="李经理",
                                                    next_action="拜访", timeline=due.isoformat(), budget_cny=budget),
                          actor=owner, platform="wecom", now=runtime.clock(), owner_rep_id=owner)
        assert res.task is not None
        res.task.due_date = due              # the capture moves past dates to today; tests want them as set
        s.flush()
        return res.task.id


def task_row(runtime, task_id: int) -> tuple[str, date | None]:  # noqa: ANN001
    with runtime.db.uow() as s:
        t = s.get_one(Task, task_id)
        return t.status, t.due_date


def rows(runtime, model, **where) -> int:  # noqa: ANN001, ANN003
    with runtime.db.uow() as s:
        return s.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0


def today(runtime) -> date:  # noqa: ANN001
    return (runtime.clock() + timedelta(hours=8)).date()      # Shanghai


def test_complete_by_command_leaves_list_digest_and_health(runtime) -> None:  # noqa: ANN001
    d0 = today(runtime)                                       # Sunday 2026-11-22
    late = new_task(runtime, "杭州优品电子商务有限公司", d0 - timedelta(days=2))
    other = new_task(runtime, "宁波康达医疗器械有限公司", d0)
    card = next(r.item for r in say(runtime, "zhang.wei", "我的待办") if isinstance(r.item, Card))
    shown = render_text(card)
    assert f"T{late} " in shown and f"T{other} " in shown and "已逾期 2 天" in shown
    assert {(b.action, b.value["task"]) for b in card.buttons} == {
        (a, str(t)) for a in ("todo.done", "todo.later") for t in (late, other)}
    with runtime.db.uow() as s:
        customer = s.get_one(Task, late).customer_id
        before = gather_facts(s, runtime.cfg, [customer], runtime.clock())[customer]
        risk_before = score_facts(before, runtime.cfg.health).dimensions["risk"]
        assert before.overdue_tasks == 1
        assert [t["task_id"] for t in rep_digest(s, runtime.cfg, "zhang.wei", runtime.clock()).todos] == [late, other]

    out = text_of(say(runtime, "zhang.wei", f"完成 待办T{late}"))
    assert f"已完成待办 T{late}" in out, out
    assert task_row(runtime, late)[0] == "done"
    assert rows(runtime, AuditLog, action="task.complete", target_id=str(late), actor="zhang.wei") == 1
    assert rows(runtime, Activity, kind="todo_done") == 1
    with runtime.db.uow() as s:
        assert s.get_one(Task, late).done_at == runtime.clock()
        after = gather_facts(s, runtime.cfg, [customer], runtime.clock())[customer]
        assert after.overdue_tasks == 0 and after.touches_30d == before.touches_30d   # bookkeeping, not a touch
        assert score_facts(after, runtime.cfg.health).dimensions["risk"] > risk_before
        assert [t["task_id"] for t in rep_digest(s, runtime.cfg, "zhang.wei", runtime.clock()).todos] == [other]
    listed = render_text(next(r.item for r in say(runtime, "zhang.wei", "我的待办") if isinstance(r.item, Card)))
    assert f"T{late} " not in listed and f"T{other} " in listed
    assert "早已完成" in text_of(say(runtime, "zhang.wei", f"完成 T{late}"))   # twice: nothing changes
    assert rows(runtime, AuditLog, action="task.complete") == 1


def test_postpone_by_command_to_a_named_day_and_by_default_to_next_workday(runtime) -> None:  # noqa: ANN001
    d0 = today(runtime)                                       # Sunday
    a, b = new_task(runtime, "杭州优品电子商务有限公司", d0), new_task(runtime, "宁波康达医疗器械有限公司", d0)
    out = text_of(say(runtime, "zhang.wei", f"延期 T{a} 到周五"))
    assert task_row(runtime, a) == ("open", date(2026, 11, 27)), out
    assert "已延期到 11月27日" in out
    say(runtime, "zhang.wei", f"延期 t{b}")
    assert task_row(runtime, b) == ("open", date(2026, 11, 23))           # Monday: the next working day
    assert rows(runtime, AuditLog, action="task.postpone") == 2 and rows(runtime, Activity, kind="todo_postponed") == 2
    with runtime.db.uow() as s:
        digest = rep_digest(s, runtime.cfg, "zhang.wei", runtime.clock())     # still there: two new leads
        assert digest is not None and digest.todos == [] and digest.todo_total == 0   # nothing due today any more
    for bad, hint in ((f"延期 T{a} 到今天", "晚于今天"), (f"延期 T{a} 随便哪天", "没看懂"), ("延期 #3", "T 开头"),
                      (f"延期 T{a + b + 100}", "没有找到待办")):
        assert hint in text_of(say(runtime, "zhang.wei", bad)), bad
    assert task_row(runtime, a) == ("open", date(2026, 11, 27))


def test_digest_buttons_finish_and_postpone_in_place(runtime) -> None:  # noqa: ANN001
    d0 = today(runtime)
    a = new_task(runtime, "杭州优品电子商务有限公司", d0 - timedelta(days=1), budget=900_000)
    b = new_task(runtime, "宁波康达医疗器械有限公司", d0)
    with runtime.db.uow() as s:
        notice = rep_digest(s, runtime.cfg, "zhang.wei", runtime.clock())
    assert notice is not None
    runtime.deliver([notice])
    card = RENDERERS.render(runtime.cfg, notice)
    assert isinstance(card, Card) and f"T{a} " in (card.text or "")
    card = stored(runtime, card.card_id)
    out = tap(runtime, "zhang.wei", card, "todo.done", a)
    assert out[0].update and task_row(runtime, a)[0] == "done"
    card = stored(runtime, card.card_id)
    assert {b_.value["task"] for b_ in card.buttons} == {str(b)} and f"T{a} 已完成" in (card.footer or "")
    assert not card.is_resolved
    tap(runtime, "zhang.wei", card, "todo.later", b)
    assert task_row(runtime, b) == ("open", date(2026, 11, 23))
    card = stored(runtime, card.card_id)
    assert card.is_resolved and not card.buttons
    assert rows(runtime, AuditLog, action="task.complete") == 1 and rows(runtime, AuditLog, action="task.postpone") == 1


def test_my_todos_card_tap_and_a_second_tap(runtime) -> None:  # noqa: ANN001
    a = new_task(runtime, "杭州优品电子商务有限公司", today(runtime))
    card = next(r.item for r in say(runtime, "zhang.wei", "我的待办") if isinstance(r.item, Card))
    tap(runtime, "zhang.wei", stored(runtime, card.card_id), "todo.done", a)
    assert task_row(runtime, a)[0] == "done"
    again = text_of(tap(runtime, "zhang.wei", card, "todo.done", a))     # the old copy of the card
    assert "已经处理过" in again or "没有这个按钮" in again or "处理过了" in again, again
    assert rows(runtime, AuditLog, action="task.complete") == 1


def test_only_the_owner_their_supervisor_and_admins(runtime) -> None:  # noqa: ANN001
    a = new_task(runtime, "杭州优品电子商务有限公司", today(runtime))
    for who in ("li.na", "chen.jie"):                   # a teammate, another team's rep
        assert "不是你的" in text_of(say(runtime, who, f"完成 T{a}")), who
        assert "不是你的" in text_of(say(runtime, who, f"延期 T{a} 到周五")), who
    assert task_row(runtime, a)[0] == "open" and rows(runtime, AuditLog, action="task.complete") == 0
    card = next(r.item for r in say(runtime, "zhang.wei", "我的待办") if isinstance(r.item, Card))
    refused = text_of(tap(runtime, "li.na", stored(runtime, card.card_id), "todo.done", a))
    assert task_row(runtime, a)[0] == "open", refused
    say(runtime, "wang.fang", f"完成 T{a}")              # the team's supervisor
    assert task_row(runtime, a)[0] == "done"


def test_numbers_that_are_not_todos_and_plain_notes(runtime) -> None:  # noqa: ANN001
    a = new_task(runtime, "杭州优品电子商务有限公司", today(runtime))
    for text in (f"完成 #{a}", f"完成 {a}", "完成"):
        assert "T 开头" in text_of(say(runtime, "zhang.wei", text)), text
    note = text_of(say(runtime, "zhang.wei", "完成了和宁波康达王总的签约,预算80万"))
    assert "T 开头" not in note and "待办" not in note.split("\n")[0], note
    assert task_row(runtime, a)[0] == "open"


def test_lead_card_names_its_todos_and_drops_finished_ones(runtime) -> None:  # noqa: ANN001
    a = new_task(runtime, "杭州优品电子商务有限公司", today(runtime))
    with runtime.db.uow() as s:
        lead_id = s.get_one(Task, a).lead_id
    shown = text_of(say(runtime, "zhang.wei", f"查线索 #{lead_id}"))
    assert f"待办 T{a}:拜访" in shown, shown
    say(runtime, "zhang.wei", f"完成 T{a}")
    assert f"T{a}" not in text_of(say(runtime, "zhang.wei", f"查线索 #{lead_id}"))
