"""One customer's lifetime value from their attributed margin history (pure; docs/clv.md).

    CLV = alive × m × Σ_{k=1..H} r^(k-1) / (1 + d)^k

m      monthly margin: non-fraud gross margin of the last `lookback_months` (12) divided by the
       months of that span the customer has existed (at least 1), so a new customer is not
       diluted by months before their first order
r      monthly retention (config, 0.9): the chance an active customer keeps buying next month
d      monthly discount rate, from the annual one (10 %): (1 + annual)^(1/12) - 1
H      horizon in months (36)
alive  the chance the customer is still active today: 1 while the time since the last
       interaction (order, touchpoint, chat activity) is within the customer's usual gap between
       orders (their mean gap; DEFAULT_GAP_DAYS with a single order), then exp(-(idle - gap) / gap).
       A service ticket flagged CLV-impact after the last order replaces it with the ticket's
       win-back probability (service knows more than the calendar).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

DEFAULT_GAP_DAYS = 90.0


@dataclass(frozen=True, slots=True)
class ClvParams:
    lookback_months: int = 12
    horizon_months: int = 36
    monthly_retention: float = 0.9
    annual_discount_rate: float = 0.1


@dataclass(frozen=True, slots=True)
class CustomerHistory:
    margin_lookback: float              # non-fraud margin within the lookback
    first_order: datetime
    last_order: datetime
    orders: int                         # non-fraud orders, all time
    last_interaction: datetime | None   # latest order, touchpoint or chat activity
    ticket_at: datetime | None = None   # latest CLV-impact ticket
    winback_probability: float | None = None


@dataclass(frozen=True, slots=True)
class ClvValue:
    clv: float
    monthly_margin: float
    alive: float


def annuity(params: ClvParams) -> float:
    """Σ_{k=1..H} r^(k-1)/(1+d)^k: what one month's margin now is worth over the horizon."""
    d = (1 + params.annual_discount_rate) ** (1 / 12) - 1
    q = params.monthly_retention / (1 + d)
    if abs(1 - q) < 1e-12:
        return params.horizon_months / (1 + d)
    return (1 - q ** params.horizon_months) / (1 - q) / (1 + d)


def months_between(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / (86400 * 365.25 / 12))


def alive_probability(h: CustomerHistory, now: datetime) -> float:
    if h.ticket_at is not None and h.winback_probability is not None and h.ticket_at >= h.last_order:
        return min(1.0, max(0.0, h.winback_probability))
    gap = (h.last_order - h.first_order).total_seconds() / 86400 / (h.orders - 1) if h.orders > 1 else DEFAULT_GAP_DAYS
    gap = max(gap, 1.0)
    last = h.last_interaction or h.last_order
    idle = max(0.0, (now - last).total_seconds() / 86400)
    return 1.0 if idle <= gap else math.exp(-(idle - gap) / gap)


def customer_clv(h: CustomerHistory, now: datetime, params: ClvParams, factor: float | None = None) -> ClvValue:
    """`factor`: annuity(params), passed in when valuing many customers."""
    months = min(float(params.lookback_months), max(1.0, months_between(h.first_order, now)))
    m = h.margin_lookback / months
    alive = alive_probability(h, now)
    return ClvValue(alive * m * (annuity(params) if factor is None else factor), m, alive)
