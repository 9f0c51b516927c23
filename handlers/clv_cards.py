"""The monthly CLV dashboard card (text): totals, high-value customers at risk, channels ranked
by attributed margin (ROI where a spend is configured), top service win-backs. Built from the
notice's ClvDashboard only (crm_core/clv/report.py), with a chart of the channel ranking
(handlers/report_charts.py) that goes as a picture where the platform takes one."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from cards.model import Card, Field, Level
from crm_core.clock import local
from crm_core.clv.report import ClvDashboard
from crm_core.config.schema import AppConfig
from crm_core.notices import ClvDashboardNotice
from crm_core.services.journey import JourneyItem
from crm_core.visibility import mask
from handlers.dedup_cards import card_id_part
from handlers.report_charts import clv_chart
from handlers.seen_by import money_as_seen

if TYPE_CHECKING:
    from handlers.notify import Renderers


def yuan(v: float) -> str:
    """12,345 元 / 12.3 万元 / 1.2 亿元."""
    if abs(v) >= 1e8:
        return f"{v / 1e8:.1f} 亿元"
    if abs(v) >= 1e4:
        return f"{v / 1e4:.1f} 万元"
    return f"{v:,.0f} 元"


def dashboard_lines(board: ClvDashboard) -> list[str]:
    """The dashboard as text lines (the card's body; also `crm-bot report clv`)."""
    lines = [f"【高价值客户流失风险】{board.at_risk_total} 位"]
    for c in board.at_risk:
        lines.append(f"· C{c.customer_id} {c.name}:{yuan(c.previous)} → {yuan(c.clv)}(下降 {c.drop_percent:.0f}%),"
                     f"{c.idle_days} 天无互动")
    if not board.at_risk:
        lines.append("· 暂无")
    lines.append(f"【渠道贡献排行】按{board.model_label}归因的毛利")
    for i, ch in enumerate(board.channels[:10], 1):
        roi = f",投入产出比 {ch.roi:.1f}" if ch.roi is not None else ""
        lines.append(f"{i}. {ch.label}:{yuan(ch.margin)},{ch.orders:.1f} 单{roi}")
    if not board.channels:
        lines.append("· 本月没有归因数据")
    lines.append("【客服挽回】")
    for w in board.winbacks:
        chance = f",预估挽回概率 {w.probability * 100:.0f}%" if w.probability is not None else ""
        lines.append(f"· C{w.customer_id} {w.name}:工单后 {w.orders} 单,毛利 {yuan(w.margin)}{chance}")
    if not board.winbacks:
        lines.append("· 本月暂无")
    return lines


def clv_dashboard_card(cfg: AppConfig, notice: ClvDashboardNotice) -> Card:
    board = notice.dashboard
    fields = (Field("本月毛利", yuan(board.month_margin)), Field("客户终身价值合计", yuan(board.total_clv)),
              Field("有价值客户", f"{board.customers} 位"), Field("风险客户", f"{board.at_risk_total} 位"))
    footer = (f"终身价值按 {board.as_of.isoformat()} 的测算;" if board.as_of else "尚未测算终身价值;") + \
        f"归因方式:{board.model_label},窗口 {cfg.clv.window_days} 天,已剔除欺诈订单" + \
        (";只含你查看范围内的客户,渠道排行为全公司数据" if notice.scoped else "")
    return Card(card_id=f"clv-dashboard-{card_id_part(board.month)}-{card_id_part(notice.to_rep)}",
                title=f"{board.month} 客户价值月报", level=Level.WARNING if board.at_risk else Level.INFO,
                fields=fields, text="\n".join(dashboard_lines(board)), footer=footer, chart=clv_chart(board))


JOURNEY_LINES = 8


def clv_line(clv: float, previous: float | None, as_of: date, amounts: str = "visible") -> str | None:
    """「客户终身价值 5.2 万元(较上月 -18%,12-05 测算)」 above the journey; None when money is hidden."""
    if amounts == "hidden":
        return None
    if amounts == "masked":
        return f"客户终身价值:{mask('budget', int(clv))}"
    change = f"较上月 {(clv - previous) / previous * 100:+.0f}%," if previous else ""
    return f"客户终身价值:{yuan(clv)}({change}{as_of.strftime('%m-%d')} 测算)"


def journey_lines(cfg: AppConfig, items: list[JourneyItem], limit: int = JOURNEY_LINES,
                  amounts: str = "visible") -> list[str]:
    """全旅程时间轴 in 「查客户」: the latest orders, touchpoints and chat follow-ups, one line each.
    `amounts`: the viewer's level for money (crm_core/visibility.py "budget"): visible, masked
    (a size band) or hidden (orders without figures)."""
    lines = []
    for item in items[:limit]:
        day = local(item.at, cfg.app.timezone).strftime("%Y-%m-%d")
        if item.kind == "order":
            if amounts == "visible":
                what = f"下单 {yuan(item.amount or 0)}(毛利 {yuan(item.gross_margin or 0)})"
            elif amounts == "masked":
                what = f"下单 {mask('budget', int(item.amount or 0))}"
            else:
                what = "下单"
            what += "〔欺诈,不计〕" if item.fraud else ""
        else:
            what = item.label + ("〔影响客户价值〕" if item.clv_impact else "")
        lines.append(f"· {day} {what} · {item.channel_label}")
    return lines


def register(renderers: Renderers) -> None:
    renderers.register(ClvDashboardNotice, money_as_seen(clv_dashboard_card))   # figures as the recipient sees money
