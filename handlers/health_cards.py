"""What people see for customer health and the daily digests: the health.red card (score,
weakest dimension, a suggested action), the health.drop card, and the rep / supervisor
digests. Built from the notice's data and the org config only (no database reads)."""
from __future__ import annotations

from datetime import date
from typing import Any

from cards.model import Card, Field, Level
from crm_core.notices import Notice
from handlers.lead_card import money
from handlers.notify import renderer
from handlers.workflow_cards import card_id_for, rep_name

DIMENSION_LABELS = {"activity": "互动活跃度", "value": "商机价值", "dependency": "合作深度",
                    "risk": "风险", "growth": "增长趋势"}
LEVEL_NAMES = {"red": "红", "yellow": "黄", "green": "绿"}


def _score(value: Any) -> str:
    return "—" if value is None else f"{float(value):g}"


def dimension_line(dims: dict[str, Any]) -> str:
    return " · ".join(f"{DIMENSION_LABELS[k]} {_score(dims.get(k))}" for k in DIMENSION_LABELS if k in dims)


def _health_fields(rt: Any, notice: Notice) -> list[Field]:
    d = notice.data
    fields = [Field("客户", d.get("customer") or "—", short=False),
              Field("健康分", f"{_score(d.get('score'))}(上次 {_score(d.get('previous_score'))})"),
              Field("最弱维度", f"{d.get('weakest_label', '—')} "
                             f"{_score((d.get('dimensions') or {}).get(d.get('weakest')))}")]
    if d.get("drop_percent"):
        fields.append(Field("30天内下降", f"{d['drop_percent']:g}%"))
    if notice.as_supervisor and d.get("owner"):
        fields.append(Field("负责人", rep_name(rt.cfg, d["owner"])))
    return fields


@renderer("health.red")
def health_red(rt: Any, notice: Notice) -> Card:
    d = notice.data
    text = f"**各维度**\n{dimension_line(d.get('dimensions') or {})}\n**建议**\n{d.get('suggestion') or '—'}"
    return Card(card_id=card_id_for("health-red", notice), title=f"客户健康度转为红色:{d.get('customer', '')}",
                level=Level.DANGER, fields=tuple(_health_fields(rt, notice)), text=text,
                footer="健康分每天重新计算;跟进记录、推进阶段后会回升")


@renderer("health.drop")
def health_drop(rt: Any, notice: Notice) -> Card:
    d = notice.data
    text = f"**各维度**\n{dimension_line(d.get('dimensions') or {})}\n**建议**\n{d.get('suggestion') or '—'}"
    return Card(card_id=card_id_for("health-drop", notice), title=f"客户健康度明显下降:{d.get('customer', '')}",
                level=Level.WARNING, fields=tuple(_health_fields(rt, notice)), text=text)


# ---- daily digests -----------------------------------------------------------------------------
def _day(value: str | None) -> str:
    if not value:
        return ""
    d = date.fromisoformat(value)
    return f"{d.month}月{d.day}日"


def _todo_line(i: int, t: dict[str, Any]) -> str:
    late = f" · 已逾期 {t['overdue_days']} 天" if t.get("overdue_days") else " · 今天到期"
    budget = f" · {money(t['budget_cny'])}" if t.get("budget_cny") else ""
    return f"{i}. {t.get('title')} · {t.get('customer') or '—'}{budget}{late}"


def rep_digest_text(data: dict[str, Any]) -> str:
    parts = [f"**今日待办**(共 {data.get('todo_total', 0)} 项,按优先级前 {len(data.get('todos') or [])} 项)"]
    parts += [_todo_line(i, t) for i, t in enumerate(data.get("todos") or [], 1)] or ["· 今天没有到期的待办"]
    if data.get("overdue"):
        parts.append(f"**超时未跟进**(共 {data.get('overdue_total', 0)} 条)")
        parts += [f"· #{x['lead_id']} {x.get('title')} · {x.get('customer') or '—'} · 已超时 {x['overdue_hours']:g} 小时"
                  for x in data["overdue"]]
    if data.get("new_leads"):
        parts.append(f"**新分配的线索**(共 {len(data['new_leads'])} 条)")
        parts += [f"· #{x['lead_id']} {x.get('title')} · {x.get('customer') or '—'}" for x in data["new_leads"]]
    if data.get("healthy"):
        parts.append("**值得重点推进的客户**(健康度最高)")
        parts += [f"· {x.get('customer')} · {_score(x.get('score'))} 分" for x in data["healthy"]]
    return "\n".join(parts)


@renderer("digest.rep")
def digest_rep(rt: Any, notice: Notice) -> Card:
    d = notice.data
    fields = (Field("今日待办", str(d.get("todo_total", 0))), Field("超时未跟进", str(d.get("overdue_total", 0))),
              Field("新线索", str(len(d.get("new_leads") or []))))
    return Card(card_id=card_id_for("digest-rep", notice), title=f"今日工作摘要 · {_day(d.get('date'))}",
                level=Level.WARNING if d.get("overdue_total") else Level.INFO, fields=fields,
                text=rep_digest_text(d), footer=f"{rep_name(rt.cfg, notice.to_rep)},祝今天顺利!")


def _rate(p: dict[str, Any]) -> str:
    pct = f"{p['rate'] * 100:.0f}%" if p.get("rate") is not None else "—"
    return f"· {p['from']} → {p['to']}:{p['reached']}/{p['entered']}({pct})"


def supervisor_digest_text(rt: Any, data: dict[str, Any]) -> str:
    parts = ["**阶段渗透率**(近 90 天,7 天内推进)"]
    parts += [_rate(p) for p in data.get("penetration") or []] or ["· 暂无阶段数据"]
    parts.append("**逾期情况**(逾期任务 / 超时线索)")
    parts += [f"· {o['name']}:{o['tasks']} / {o['leads']}" for o in data.get("overdue") or []] or ["· 无逾期"]
    parts.append(f"**红色客户**(共 {data.get('red_total', 0)} 家)")
    parts += [f"· {r.get('customer')} · {_score(r.get('score'))} 分 · {rep_name(rt.cfg, r.get('owner'))}"
              for r in data.get("red") or []] or ["· 无"]
    return "\n".join(parts)


@renderer("digest.supervisor")
def digest_supervisor(rt: Any, notice: Notice) -> Card:
    d = notice.data
    overdue = sum(o["tasks"] + o["leads"] for o in d.get("overdue") or [])
    fields = (Field("团队", "、".join(d.get("teams") or []) or "—", short=False),
              Field("逾期合计", str(overdue)), Field("红色客户", str(d.get("red_total", 0))))
    return Card(card_id=card_id_for("digest-sup", notice), title=f"团队日报 · {_day(d.get('date'))}",
                level=Level.WARNING if d.get("red_total") or overdue else Level.INFO, fields=fields,
                text=supervisor_digest_text(rt, d))


__all__ = ["digest_rep", "digest_supervisor", "health_drop", "health_red"]
