"""What people see for customer health and the daily digests: the health.red card (score,
weakest dimension, a suggested action), the health.drop card, and the rep / supervisor
digests. Built from the notice's fields and the org config only (no database reads);
`register` adds them to a Renderers (handlers/notify.py)."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from cards.model import Card, Field, Level
from crm_core.config.schema import AppConfig
from crm_core.notices import DigestRep, DigestSupervisor, HealthDrop, HealthNotice, HealthRed
from crm_core.services.todo import task_label
from handlers.lead_card import money
from handlers.report_charts import penetration_chart
from handlers.seen_by import SeenBy
from handlers.todo_cards import todo_buttons
from handlers.workflow_cards import card_id_for, rep_name, title_with_customer

if TYPE_CHECKING:
    from handlers.notify import Renderers

# every dimension scores 0–100, higher is better (「风险」 85 would read as high risk)
DIMENSION_LABELS = {"activity": "互动活跃度", "value": "商机价值", "dependency": "合作深度",
                    "risk": "风险可控", "growth": "增长趋势"}
LEVEL_NAMES = {"red": "红", "yellow": "黄", "green": "绿"}


def _score(value: float | None) -> str:
    return "—" if value is None else f"{float(value):g}"


def dimension_line(dims: dict[str, Any]) -> str:
    return " · ".join(f"{DIMENSION_LABELS[k]} {_score(dims.get(k))}" for k in DIMENSION_LABELS if k in dims)


def _health_fields(cfg: AppConfig, notice: HealthNotice) -> list[Field]:
    fields = [Field("客户", notice.customer or "—", short=False),
              Field("健康分", f"{_score(notice.score)}(满分 100,越高越好;上次 {_score(notice.previous_score)})"),
              Field("最弱维度", f"{notice.weakest_label} "
                             f"{_score((notice.dimensions or {}).get(notice.weakest))}")]
    if notice.drop_percent:
        fields.append(Field("30天内下降", f"{notice.drop_percent:g}%"))
    if notice.as_supervisor and notice.owner:
        fields.append(Field("负责人", rep_name(cfg, notice.owner)))
    return fields


def _health_text(notice: HealthNotice) -> str:
    return (f"**各项得分**(越高越好)\n{dimension_line(notice.dimensions or {})}\n"
            f"**建议**\n{notice.suggestion or '—'}")


def health_red(cfg: AppConfig, notice: HealthRed) -> Card:
    return Card(card_id=card_id_for("health-red", notice), title=f"客户健康度转为红色:{notice.customer}",
                level=Level.DANGER, fields=tuple(_health_fields(cfg, notice)), text=_health_text(notice),
                footer="健康分每天重新计算;跟进记录、推进阶段后会回升")


def health_drop(cfg: AppConfig, notice: HealthDrop) -> Card:
    return Card(card_id=card_id_for("health-drop", notice), title=f"客户健康度明显下降:{notice.customer}",
                level=Level.WARNING, fields=tuple(_health_fields(cfg, notice)), text=_health_text(notice))


# ---- daily digests -----------------------------------------------------------------------------
def _day(value: str | None) -> str:
    if not value:
        return ""
    d = date.fromisoformat(value)
    return f"{d.month}月{d.day}日"


def _todo_line(i: int, t: dict[str, Any]) -> str:
    late = f" · 已逾期 {t['overdue_days']} 天" if t.get("overdue_days") else " · 今天到期"
    budget = f" · {t.get('budget_text') or money(t['budget_cny'])}" if t.get("budget_cny") or t.get("budget_text") else ""
    ref = f"{task_label(int(t['task_id']))} " if t.get("task_id") else ""
    return f"{i}. {ref}{title_with_customer(t.get('title'), t.get('customer'))}{budget}{late}"


def rep_digest_text(d: DigestRep) -> str:
    parts = [f"**今日待办**(共 {d.todo_total} 项,按优先级前 {len(d.todos)} 项)"]
    parts += [_todo_line(i, t) for i, t in enumerate(d.todos, 1)] or ["· 今天没有到期的待办"]
    if d.overdue:
        parts.append(f"**超时未跟进**(共 {d.overdue_total} 条)")
        parts += [f"· #{x['lead_id']} {title_with_customer(x.get('title'), x.get('customer'))} · 已超时 {x['overdue_hours']:g} 小时"
                  for x in d.overdue]
    if d.new_leads:
        parts.append(f"**新分配的线索**(共 {len(d.new_leads)} 条)")
        parts += [f"· #{x['lead_id']} {title_with_customer(x.get('title'), x.get('customer'))}" for x in d.new_leads]
    if d.healthy:
        parts.append("**值得重点推进的客户**(健康度最高)")
        parts += [f"· {x.get('customer')} · 健康分 {_score(x.get('score'))}" for x in d.healthy]
    return "\n".join(parts)


def digest_rep(cfg: AppConfig, notice: DigestRep) -> Card:
    fields = (Field("今日待办", str(notice.todo_total)), Field("超时未跟进", str(notice.overdue_total)),
              Field("新线索", str(len(notice.new_leads))))
    buttons = todo_buttons(int(t["task_id"]) for t in notice.todos if t.get("task_id"))
    return Card(card_id=card_id_for("digest-rep", notice), title=f"今日工作摘要 · {_day(notice.date)}",
                level=Level.WARNING if notice.overdue_total else Level.INFO, fields=fields,
                text=rep_digest_text(notice), buttons=buttons,
                footer=f"{rep_name(cfg, notice.to_rep)},祝今天顺利!")


def _rate(p: dict[str, Any]) -> str:
    pct = f"{p['rate'] * 100:.0f}%" if p.get("rate") is not None else "—"
    return f"· {p['from']} → {p['to']}:{p['entered']} 条中 {p['reached']} 条推进({pct})"


def supervisor_digest_text(cfg: AppConfig, d: DigestSupervisor) -> str:
    parts = ["**各阶段推进情况**(近 90 天进入该阶段的线索,7 天内推进到下一阶段的有几条)"]
    parts += [_rate(p) for p in d.penetration] or ["· 暂无阶段数据"]
    parts.append("**逾期情况**(逾期待办 / 超时线索)")
    parts += [f"· {o['name']}:{o['tasks']} / {o['leads']}" for o in d.overdue] or ["· 无逾期"]
    parts.append(f"**红色客户**(共 {d.red_total} 家)")
    seen = SeenBy.of(cfg, d.to_rep)              # the owner as the reader may see it (issue 18)
    parts += [f"· {r.get('customer')} · 健康分 {_score(r.get('score'))}"
              + (f" · {o}" if (o := seen.owner(rep_name(cfg, r.get('owner')))) else "") for r in d.red] or ["· 无"]
    if d.checkins:
        done = [c["name"] for c in d.checkins if c.get("checked_in")]
        missing = [c["name"] for c in d.checkins if not c.get("checked_in")]
        parts.append(f"**晨会打卡**(已打卡 {len(done)} / {len(d.checkins)} 人)")
        parts += [f"· 已打卡:{'、'.join(done) or '无'}", f"· 未打卡:{'、'.join(missing) or '无'}"]
    return "\n".join(parts)


def digest_supervisor(cfg: AppConfig, notice: DigestSupervisor) -> Card:
    overdue = sum(o["tasks"] + o["leads"] for o in notice.overdue)
    fields = (Field("团队", "、".join(notice.teams) or "—", short=False),
              Field("逾期合计", str(overdue)), Field("红色客户", str(notice.red_total)))
    return Card(card_id=card_id_for("digest-sup", notice), title=f"团队日报 · {_day(notice.date)}",
                level=Level.WARNING if notice.red_total or overdue else Level.INFO, fields=fields,
                text=supervisor_digest_text(cfg, notice), chart=penetration_chart(cfg, notice.penetration))


def register(renderers: Renderers) -> None:
    renderers.register(HealthRed, health_red)
    renderers.register(HealthDrop, health_drop)
    renderers.register(DigestRep, digest_rep)
    renderers.register(DigestSupervisor, digest_supervisor)


__all__ = ["digest_rep", "digest_supervisor", "health_drop", "health_red", "register"]
