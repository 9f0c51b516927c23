"""The charts of the report cards (people would rather look than read): the monthly merge
report's overview, the monthly CLV dashboard's channel ranking and the supervisors'
stage-penetration figures, as `Chart` specs from the notices' plain data. The cards keep every figure as text too: the text version is what goes
out where pictures cannot (reports.images off, an upload refused)."""
from __future__ import annotations

from typing import Any

from cards.model import MAX_CHART_LABELS, MAX_CHART_SERIES, Chart, Series
from crm_core.clv.report import ClvDashboard
from crm_core.config.schema import AppConfig

CLV_CHANNELS = 8        # bars on the CLV dashboard's chart (the text lists ten)


def merge_chart(report: dict[str, Any]) -> Chart:
    """去重前 → 合并 / 录入拦截 → 去重后, as bars (客户去重月报)."""
    labels = ("去重前记录", "合并重复记录", "录入时拦截", "去重后记录")
    values = tuple(int(report.get(k) or 0) for k in
                   ("records_before", "duplicates_merged", "duplicates_avoided", "records_after"))
    return Chart("bar", f"{report['month']} 客户去重概况", labels, (Series("", values),), unit="条")


def penetration_chart(cfg: AppConfig, items: list[dict[str, Any]]) -> Chart | None:
    """Each stage step's penetration rate (%) per team, grouped bars; None without any rate."""
    steps = list(dict.fromkeys(f"{p['from']}→{p['to']}" for p in items))[:MAX_CHART_LABELS]
    teams = list(dict.fromkeys(str(p["team"]) for p in items))[:MAX_CHART_SERIES]
    if not steps or not any(p.get("rate") is not None for p in items):
        return None
    names = {t.id: t.name for t in cfg.org.teams}
    rates = {(str(p["team"]), f"{p['from']}→{p['to']}"): p.get("rate") for p in items}
    series = tuple(Series(names.get(team, team) if len(teams) > 1 else "",
                          tuple(round(float(rates.get((team, step)) or 0) * 100, 1) for step in steps))
                   for team in teams)
    return Chart("bar", "各阶段推进率（近 90 天进入，7 天内推进）", tuple(steps), series, unit="%")


def clv_chart(board: ClvDashboard) -> Chart | None:
    """The month's attributed gross margin per channel (万元), largest first; None without any."""
    channels = sorted(board.channels, key=lambda c: -c.margin)[:CLV_CHANNELS]
    if not channels:
        return None
    return Chart("bar", f"{board.month} 渠道贡献（{board.model_label}归因毛利）", tuple(c.label for c in channels),
                 (Series("", tuple(round(c.margin / 1e4, 1) for c in channels)),), unit="万")
