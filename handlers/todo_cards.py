"""How to-dos look on cards: the line for one to-do (「T3 拜访张总 · 杭州优品 · 已逾期 2 天」), the
完成 / 延期 buttons for the first few (a card holds six buttons: three to-dos), the 我的待办 card
and the card after a tap (the tapped to-do's buttons gone, what happened in the footer). Pure
functions of plain values: the digest renderer (handlers/health_cards.py) and the commands in
handlers/todos.py share them."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date

from cards.model import MAX_BUTTONS, Button, Card, Level
from crm_core.services.todo import TodoView, task_label

DONE_ACTION, LATER_ACTION = "todo.done", "todo.later"
BUTTONED = MAX_BUTTONS // 2          # to-dos with buttons on one card
LIST_MAX = 10
HINT = "其他待办可以直接回复「完成 T编号」或「延期 T编号 到周五」"


def day_label(d: date | None) -> str:
    return f"{d.month}月{d.day}日" if d else "未定"


def due_note(due: date | None, today: date) -> str:
    if due is None:
        return "未定日期"
    if due < today:
        return f"已逾期 {(today - due).days} 天"
    return "今天到期" if due == today else f"{day_label(due)}到期"


def todo_line(todo: TodoView, today: date) -> str:
    customer = f" · {todo.customer}" if todo.customer and todo.customer not in todo.title else ""
    return f"{todo.label} {todo.title}{customer} · {due_note(todo.due, today)}"


def todo_buttons(task_ids: Iterable[int]) -> tuple[Button, ...]:
    """完成 / 延期 for the first three to-dos (延期: to the next working day)."""
    out: list[Button] = []
    for task_id in list(task_ids)[:BUTTONED]:
        value = {"task": str(task_id)}
        out += [Button(f"完成 {task_label(task_id)}", DONE_ACTION, value, style="primary"),
                Button(f"延期 {task_label(task_id)}", LATER_ACTION, value)]
    return tuple(out)


def card_id_of(*parts: str) -> str:
    return "todos-" + hashlib.sha1(":".join(parts).encode()).hexdigest()[:16]


def todos_card(card_id: str, name: str, total: int, todos: Sequence[TodoView], today: date) -> Card:
    """我的待办: up to ten to-dos, buttons on the first three."""
    lines = [todo_line(t, today) for t in todos[:LIST_MAX]]
    if total > len(lines):
        lines.append(f"…另有 {total - len(lines)} 条")
    overdue = sum(1 for t in todos if t.due is not None and t.due < today)
    footer = HINT if len(todos) > BUTTONED else "点「延期」顺延到下一个工作日;指定日期请回复「延期 T编号 到周五」"
    return Card(card_id=card_id, title=f"{name}的待办(共 {total} 条)",
                level=Level.WARNING if overdue else Level.INFO, text="\n".join(lines),
                buttons=todo_buttons(t.id for t in todos), footer=footer)


def after_tap(card: Card, task_id: int, outcome: str) -> Card:
    """The card once one of its to-dos was handled: that to-do's buttons gone, the outcome
    added to the footer; resolved when no button is left."""
    value = str(task_id)
    buttons = tuple(b for b in card.buttons if b.value.get("task") != value)
    lines = (card.footer or "").split("\n")
    done = [line for line in lines if line.startswith("已处理:")]
    handled = (done[0] + ";" if done else "已处理:") + outcome
    footer = "\n".join([line for line in lines if line and not line.startswith("已处理:")] + [handled])
    updated = replace(card, buttons=buttons, footer=footer)
    return updated if buttons else updated.resolved("卡片上的待办都已处理")
