"""How the morning check-in and the 日报 look: the 晨会打卡 card (yesterday's picks and whether
they moved, today's ranked leads, 选 / 取消 buttons on the first five and 提交), the supervisors'
《重点客户日志》, and the 日报 card (with 转发给主管 for the rep; without it for the supervisor).
Pure functions of the notices' fields and the org config; `register` adds the notice renderers."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from cards.model import Button, Card, Field, Level
from crm_core.config.schema import AppConfig
from crm_core.notices import CheckinCard, DailyReportForward, FocusLog
from crm_core.services.todo import task_label
from handlers.lead_card import money
from handlers.seen_by import SeenBy, lead_row
from handlers.workflow_cards import card_id_for, rep_name, title_with_customer

if TYPE_CHECKING:
    from handlers.notify import Renderers

PICK, UNPICK, SUBMIT, FORWARD = "checkin.pick", "checkin.unpick", "checkin.submit", "report.forward"
BUTTONED = 5
REPORT_LINES = 6
STATUS = {"won": "已赢单", "lost": "已输单", "pool": "已退回公海"}
TYPE_HINT = "点「选」再点「提交」,或回复序号如「1 3 5」"


def day_label(value: str | None) -> str:
    if not value:
        return ""
    d = date.fromisoformat(value)
    return f"{d.month}月{d.day}日"


def _due(item: dict[str, Any], today: date) -> str:
    if not item.get("due"):
        return ""
    due = date.fromisoformat(item["due"])
    days = (due - today).days
    when = f"已逾期 {-days} 天" if days < 0 else "今天到期" if days == 0 else f"{due.month}月{due.day}日到期"
    return f" · {item.get('due_kind') or ''}{when}"


def lead_line(n: int | None, item: dict[str, Any], today: date, seen: SeenBy | None = None) -> str:
    """One ranked lead; its budget as `seen` (the card's reader) may see it (issue 18)."""
    health = f" · 健康 {item['health']:g}" if item.get("health") is not None else ""
    shown = (seen.amount(item.get("budget_cny"), lead_row(item)) if seen else money(item.get("budget_cny"))) \
        if item.get("budget_cny") else None
    budget = f" · {shown}" if shown else ""
    head = f"{n}. " if n is not None else "· "
    return (f"{head}#{item['lead_id']} {title_with_customer(item.get('title'), item.get('customer'))}"
            f" · {item.get('stage') or '—'}{_due(item, today)}{health}{budget}")


def move_line(move: dict[str, Any]) -> str:
    what = [f"推进 {s}" for s in move.get("stages") or ()]
    if move.get("follow_ups"):
        what.append(f"跟进 {move['follow_ups']} 次")
    if move.get("todos_done"):
        what.append(f"完成待办 {move['todos_done']} 项")
    if move.get("status") in STATUS:
        what.append(STATUS[move["status"]])
    said = ";".join(what) if what else "没有进展"
    mark = "✔" if what else "✘"
    return f"{mark} #{move['lead_id']} {title_with_customer(move.get('title'), move.get('customer'))}:{said}"


def moves_text(moves: Sequence[dict[str, Any]], moves_date: str | None, heading: str) -> list[str]:
    if not moves:
        return []
    went = sum(1 for m in moves if m.get("stages") or m.get("follow_ups") or m.get("todos_done"))
    return [f"**{heading}**({day_label(moves_date)}选的 {len(moves)} 个,{went} 个有进展)",
            *(move_line(m) for m in moves)]


def checkin_card_id(notice: CheckinCard) -> str:
    return card_id_for("checkin", notice)


def checkin_card(cfg: AppConfig, notice: CheckinCard, picked: Sequence[int] = ()) -> Card:
    """The 晨会打卡 card with `picked` (lead ids) chosen so far."""
    today = date.fromisoformat(notice.date)
    picked = [int(p) for p in picked]
    parts = moves_text(notice.moves, notice.moves_date, "上次主攻进展")
    parts.append(f"**选今天的 {notice.picks} 个主攻商机**(按截止、健康度、金额排序)")
    seen = SeenBy.of(cfg, notice.to_rep)
    parts += [lead_line(i, it, today, seen) for i, it in enumerate(notice.items, 1)]
    buttons: list[Button] = []
    for i, it in enumerate(notice.items[:BUTTONED], 1):
        value = {"pick": str(it["lead_id"]), "day": notice.date}
        if it["lead_id"] in picked:
            buttons.append(Button(f"取消 {i}", UNPICK, value))
        else:
            buttons.append(Button(f"选 {i}", PICK, value))
    buttons.append(Button(f"提交（已选 {len(picked)}/{notice.picks}）", SUBMIT, {"day": notice.date}, style="primary"))
    chosen = "、".join(f"#{p}" for p in picked) or "未选"
    return Card(card_id=checkin_card_id(notice), title=f"晨会打卡 · {day_label(notice.date)}", level=Level.INFO,
                fields=(Field("已选", chosen, short=False),), text="\n".join(parts), buttons=tuple(buttons),
                footer=f"{TYPE_HINT};提交后主管收到《重点客户日志》")


def checkin_notice_card(cfg: AppConfig, notice: CheckinCard) -> Card:
    return checkin_card(cfg, notice)


def focus_log(cfg: AppConfig, notice: FocusLog) -> Card:
    today = date.fromisoformat(notice.date)
    parts = [f"**今日主攻商机**(共 {len(notice.picks)} 个)"]
    seen = SeenBy.of(cfg, notice.to_rep)     # a supervisor, or checkin.copy_to (e.g. customer service)
    parts += [lead_line(i, it, today, seen) for i, it in enumerate(notice.picks, 1)]
    parts += moves_text(notice.moves, notice.moves_date, "上次主攻进展")
    went = sum(1 for m in notice.moves if m.get("stages") or m.get("follow_ups") or m.get("todos_done"))
    fields = [Field("销售", notice.rep_name), Field("主攻商机", f"{len(notice.picks)} 个")]
    if notice.moves:
        fields.append(Field("上次有进展", f"{went}/{len(notice.moves)}"))
    return Card(card_id=card_id_for("focus-log", notice),
                title=f"《重点客户日志》{notice.rep_name} · {day_label(notice.date)}",
                level=Level.WARNING if notice.moves and not went else Level.INFO, fields=tuple(fields),
                text="\n".join(parts), footer="来自晨会打卡")


# ---- 日报 --------------------------------------------------------------------------------------

def _section(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    shown = lines[:REPORT_LINES]
    more = [f"…另有 {len(lines) - len(shown)} 条"] if len(lines) > len(shown) else []
    return [f"**{title}**(共 {len(lines)} 条)", *shown, *more]


def report_text(report: dict[str, Any], seen: SeenBy | None = None) -> str:
    """The day's lines; follow-up texts as `seen` (the reader) may see them (issue 18)."""
    def lead(x: dict[str, Any]) -> str:
        return f"#{x['lead_id']} {title_with_customer(x.get('title'), x.get('customer'))}"

    def note(x: dict[str, Any]) -> str | None:
        return x.get("text") if seen is None else seen.note(x.get("text"), lead_row(x))

    parts = _section("跟进记录", [f"· {x['at']} {lead(x)}" + (f":{n}" if (n := note(x)) else "")
                                  for x in report.get("follow_ups") or ()])
    parts += _section("阶段推进", [f"· {x['at']} {lead(x)}:{x.get('text') or ''}" for x in report.get("stage_moves") or ()])
    parts += _section("完成的待办", [f"· {task_label(int(x['task_id']))} {title_with_customer(x.get('title'), x.get('customer'))}"
                                   for x in report.get("todos_done") or ()])
    parts += _section("新增待办", [f"· {task_label(int(x['task_id']))} {title_with_customer(x.get('title'), x.get('customer'))}"
                                 + (f" · {day_label(x['due'])}到期" if x.get("due") else "")
                                 for x in report.get("todos_new") or ()])
    parts += _section("新线索", [f"· {lead(x)}" for x in report.get("new_leads") or ()])
    return "\n".join(parts) or "今天还没有记录跟进、推进或待办。"


def report_fields(report: dict[str, Any]) -> tuple[Field, ...]:
    return (Field("跟进", str(len(report.get("follow_ups") or ()))),
            Field("推进阶段", str(len(report.get("stage_moves") or ()))),
            Field("完成待办", str(len(report.get("todos_done") or ()))),
            Field("新增待办", str(len(report.get("todos_new") or ()))),
            Field("新线索", str(len(report.get("new_leads") or ()))))


def report_card(card_id: str, name: str, report: dict[str, Any], *, forward: bool, seen: SeenBy | None = None) -> Card:
    """The rep's 日报 (with 转发给主管 when `forward`)."""
    buttons = (Button("转发给主管", FORWARD, {"day": str(report["date"])}, style="primary"),) if forward else ()
    return Card(card_id=card_id, title=f"{name}的日报 · {day_label(report['date'])}", level=Level.INFO,
                fields=report_fields(report), text=report_text(report, seen), buttons=buttons,
                footer="点「转发给主管」一键发给主管" if forward else None)


def forwarded_report(cfg: AppConfig, notice: DailyReportForward) -> Card:
    card = report_card(card_id_for("report-fwd", notice), notice.rep_name, notice.report, forward=False,
                       seen=SeenBy.of(cfg, notice.to_rep))
    return Card(card_id=card.card_id, title=card.title, level=card.level, fields=card.fields, text=card.text,
                footer=f"{rep_name(cfg, notice.rep)}转发的日报")


def register(renderers: Renderers) -> None:
    renderers.register(CheckinCard, checkin_notice_card)
    renderers.register(FocusLog, focus_log)
    renderers.register(DailyReportForward, forwarded_report)
