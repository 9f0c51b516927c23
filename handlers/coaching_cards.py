"""The coaching push card (crm_core/services/coaching.py): to the rep and to their supervisors,
naming the stage, the week-by-week figures against the target and the stage's configured
coaching material. It carries no buttons: nothing to tap, nothing to authorise."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from cards.model import Card, Field, Level
from crm_core.config.schema import AppConfig
from crm_core.notices import CoachingPush
from handlers.workflow_cards import card_id_for

if TYPE_CHECKING:
    from handlers.notify import Renderers


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def week_label(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.month}月{d.day}日当周"


def coaching_card(cfg: AppConfig, n: CoachingPush) -> Card:
    days = f"{n.window_days:g}"
    fields = [Field("销售", n.rep_name), Field("阶段", f"{n.from_name} → {n.to_name}"),
              Field("目标推进率", f"{days}天内推进不低于 {percent(n.min_rate)}")]
    fields += [Field(week_label(w.week), f"推进 {w.reached}/{w.entered}，{percent(w.reached / w.entered)}"
                     if w.entered else "无") for w in n.weeks]
    lines = []
    if n.material:
        lines.append(f"辅导材料:{n.material}")
    if n.link:
        lines.append(f"[打开辅导材料]({n.link})")
    weeks = len(n.weeks)
    if n.to_supervisor:
        title = f"辅导提醒:{n.rep_name}「{n.from_name}」阶段推进率连续 {weeks} 周偏低"
        footer = "建议本周安排一次一对一辅导,复盘这几周进入该阶段的线索"
    else:
        title = f"辅导提醒:你的「{n.from_name}」阶段推进率连续 {weeks} 周偏低"
        footer = "主管也收到了这张卡片,会和你一起复盘" + (";先看看上面的辅导材料" if lines else "")
    return Card(card_id=card_id_for("coach", n), title=title, level=Level.WARNING, fields=tuple(fields),
                text="\n".join(lines) or None, footer=footer)


def register(renderers: Renderers) -> None:
    renderers.register(CoachingPush, coaching_card)
