"""Customer health score (0–100): a weighted sum (config `health.weights`) of five dimensions,
each 0–100, computed from stored activities, leads and tasks. Levels: red below
`red_below`, green above `green_above`, yellow between. Every recompute stores a
HealthSnapshot, so a drop can be measured against the 30-day peak.

Dimensions ("touch" = an activity other than system bookkeeping such as assignment):
- activity   = 100 × (0.5 × recency + 0.5 × frequency); recency = max(0, 1 − days since the last
               touch / 30), frequency = min(1, touches in the last 30 days / 4).
- value      = 100 × clamp(log10(pipeline / ¥1万) / 2) over the budgets of open and won leads
               (¥1万 → 0, ¥10万 → 50, ¥100万 → 100), plus 20 when a lead was won; capped at 100.
- dependency = 100 × (0.4 × depth + 0.3 × min(1, contacts / 3) + 0.3 × min(1, won leads / 2));
               depth = furthest funnel position of any lead (k-th of n open stages = k/(n+1), won = 1).
- risk       = 100 − 25 × overdue open tasks − 15 × open leads past their stage deadline
               − 20 × leads lost in the last 90 days, floored at 0 (high = little risk).
- growth     = 50 + 25 × clamp((touches last 30 d − touches the 30 d before) / max(prior, 1), −1, 1)
               + 25 × min(1, leads created in the last 90 days / 2).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.clock import local
from crm_core.config.schema import AppConfig, Health, HealthDimension
from crm_core.db.models import Customer, HealthSnapshot
from crm_core.notices import HealthDrop, HealthRed, Notice
from crm_core.services.health_facts import Facts, gather_facts
from crm_core.services.reminders import claim_notices

DIMENSIONS: tuple[HealthDimension, ...] = ("activity", "value", "dependency", "risk", "growth")
LABELS = {"activity": "互动活跃度", "value": "商机价值", "dependency": "合作深度",
          "risk": "风险可控", "growth": "增长趋势"}   # 0–100, higher = fewer risks
SUGGESTIONS = {
    "activity": "近期跟进偏少,建议本周安排一次电话或拜访,了解客户最新需求。",
    "value": "商机金额偏低,建议挖掘新的需求或推荐升级方案。",
    "dependency": "合作深度不足,建议接触更多关键联系人,推动方案落地。",
    "risk": "存在逾期任务或停滞的商机,建议先处理逾期事项并推进卡住的阶段。",
    "growth": "互动呈下降趋势,建议尽快回访,确认客户是否有变化。",
}
VALUE_FLOOR_CNY = 10_000


@dataclass(frozen=True)
class HealthResult:
    score: float
    level: str
    dimensions: dict[str, float]
    weakest: str


def _clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def activity(f: Facts) -> float:
    recency = 0.0 if f.last_touch_days is None else _clamp(1 - f.last_touch_days / 30)
    return 100 * (0.5 * recency + 0.5 * _clamp(f.touches_30d / 4))


def value(f: Facts) -> float:
    base = 0.0 if f.pipeline_cny <= VALUE_FLOOR_CNY else _clamp(math.log10(f.pipeline_cny / VALUE_FLOOR_CNY) / 2)
    return min(100.0, 100 * base + (20 if f.won else 0))


def dependency(f: Facts) -> float:
    return 100 * (0.4 * _clamp(f.depth) + 0.3 * _clamp(f.contacts / 3) + 0.3 * _clamp(f.won / 2))


def risk(f: Facts) -> float:
    return max(0.0, 100 - 25 * f.overdue_tasks - 15 * f.blown_fuses - 20 * f.lost_90d)


def growth(f: Facts) -> float:
    trend = _clamp((f.touches_30d - f.touches_prior_30d) / max(f.touches_prior_30d, 1), -1, 1)
    return _clamp(50 + 25 * trend + 25 * _clamp(f.new_leads_90d / 2), 0, 100)


DIMENSION_FNS = {"activity": activity, "value": value, "dependency": dependency, "risk": risk, "growth": growth}


def level_for(score: float, cfg: Health) -> str:
    if score < cfg.red_below:
        return "red"
    if score > cfg.green_above:
        return "green"
    return "yellow"


def weakest_dimension(dims: Mapping[str, float], weights: Mapping[HealthDimension, float]) -> str:
    """The dimension costing the most points: largest weight × (100 − value)."""
    return max(DIMENSIONS, key=lambda d: (weights.get(d, 0) * (100 - dims[d]), -DIMENSIONS.index(d)))


def score_facts(f: Facts, cfg: Health) -> HealthResult:
    """Score, level, the five dimensions and the weakest one, for one customer's facts."""
    dims: dict[str, float] = {d: round(float(DIMENSION_FNS[d](f)), 1) for d in DIMENSIONS}
    total = round(sum(cfg.weights.get(d, 0) * dims[d] for d in DIMENSIONS) / 100, 1)
    return HealthResult(total, level_for(total, cfg), dims, weakest_dimension(dims, cfg.weights))


# ---- recompute: the database side ---------------------------------------------------------
BATCH = 500
DROP_WINDOW = timedelta(days=30)


def _batches(session: Session, customer_ids: list[int] | None) -> Iterator[list[Customer]]:
    """Active customers in id order, BATCH at a time (keyset paging, or chunks of the ids)."""
    if customer_ids is not None:
        ids = sorted(set(customer_ids))
        for i in range(0, len(ids), BATCH):
            yield list(session.scalars(select(Customer).where(
                Customer.id.in_(ids[i:i + BATCH]), Customer.status == "active").order_by(Customer.id)))
        return
    last = 0
    while batch := list(session.scalars(select(Customer).where(Customer.status == "active", Customer.id > last)
                                        .order_by(Customer.id).limit(BATCH))):
        yield batch
        last = batch[-1].id


def _peaks(session: Session, ids: list[int], now: datetime) -> dict[int, float]:
    """The highest stored score of each customer over the last 30 days."""
    return dict(session.execute(
        select(HealthSnapshot.customer_id, func.max(HealthSnapshot.score))
        .where(HealthSnapshot.customer_id.in_(ids), HealthSnapshot.computed_at >= now - DROP_WINDOW,
               HealthSnapshot.computed_at <= now)
        .group_by(HealthSnapshot.customer_id)).all())


def _data(c: Customer, r: HealthResult, drop: float | None) -> dict[str, Any]:
    """The HealthNotice fields of a customer's new score."""
    return {"customer_id": c.id, "customer": c.name, "score": r.score, "level": r.level,
            "previous_score": c.health_score, "previous_level": c.health_level, "dimensions": r.dimensions,
            "weakest": r.weakest, "weakest_label": LABELS[r.weakest], "suggestion": SUGGESTIONS[r.weakest],
            "drop_percent": round(drop, 1) if drop is not None else None}


def _notices(cfg: AppConfig, c: Customer, r: HealthResult, peak: float | None, now: datetime) -> list[Notice]:
    """Turned red (a transition from a known yellow/green level): the owner, and each of the
    owner's team supervisors when configured. Otherwise a drop beyond the alert percentage
    against the 30-day peak: the owner, once per customer per week."""
    owner = c.owner_rep_id
    drop = (peak - r.score) / peak * 100 if peak else None
    if owner is None:
        return []
    data, day = _data(c, r, drop), local(now, cfg.app.timezone).date()
    if r.level == "red" and c.health_level in ("yellow", "green"):
        out: list[Notice] = [HealthRed(to_rep=owner, dedupe_key=f"health.red:{c.id}:{day}", **data)]
        if cfg.health.notify_supervisor:
            sups = sorted({t.supervisor for t in cfg.org.teams_of(owner)} - {owner})
            out += [HealthRed(to_rep=s, as_supervisor=True, owner=owner, owner_name=_name(cfg, owner),
                              dedupe_key=f"health.red:{c.id}:{day}:{s}", **data) for s in sups]
        return out
    if drop is not None and drop > cfg.health.drop_alert_percent:
        year, week, _ = day.isocalendar()
        return [HealthDrop(to_rep=owner, dedupe_key=f"health.drop:{c.id}:{year}W{week:02d}", **data)]
    return []


def _name(cfg: AppConfig, rep_id: str) -> str:
    rep = cfg.org.rep(rep_id)
    return rep.name if rep else rep_id


def recompute(session: Session, cfg: AppConfig, now: datetime,
              customer_ids: list[int] | None = None) -> list[Notice]:
    """Score every active customer (or just `customer_ids`, e.g. after an activity), store a
    snapshot each, update `Customer.health_score/level`, and return the notices not sent
    before (turned red, dropped)."""
    notices: list[Notice] = []
    for batch in _batches(session, customer_ids):
        ids = [c.id for c in batch]
        facts, peaks = gather_facts(session, cfg, ids, now), _peaks(session, ids, now)
        for c in batch:
            r = score_facts(facts[c.id], cfg.health)
            notices += _notices(cfg, c, r, peaks.get(c.id), now)
            c.health_score, c.health_level = r.score, r.level
            session.add(HealthSnapshot(customer_id=c.id, score=r.score, level=r.level, computed_at=now,
                                       dimensions={**r.dimensions, "weakest": r.weakest}))
        session.flush()
    return claim_notices(session, notices, now)
