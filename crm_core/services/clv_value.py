"""Nightly CLV snapshots: every customer with a non-fraud order valued by crm_core/clv/value.py
from a few grouped queries (orders, touchpoints, chat activities, CLV-impact tickets), compared
with the snapshot about a month earlier (the latest at least PREVIOUS_DAYS old), and written as
one day's rows (a rerun on the same day replaces them)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from crm_core.clv.value import ClvParams, CustomerHistory, annuity, customer_clv
from crm_core.config.clv import Clv
from crm_core.db.models import Activity, ClvSnapshot, Order, Touchpoint
from crm_core.services.clv_attribution import CHAT_TOUCH_KINDS

PREVIOUS_DAYS = 28


@dataclass(frozen=True)
class SnapshotRun:
    as_of: date
    customers: int
    total_clv: float


def params_of(clv: Clv) -> ClvParams:
    return ClvParams(clv.lookback_months, clv.horizon_months, clv.monthly_retention, clv.annual_discount_rate)


def local_day(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def _latest(session: Session, stmt) -> dict[int, datetime]:  # noqa: ANN001
    return {cid: at for cid, at in session.execute(stmt).all() if at is not None}


def histories(session: Session, clv: Clv, now: datetime, ids: list[int] | None = None) -> dict[int, CustomerHistory]:
    """What the model needs per customer (those with a non-fraud order up to `now`)."""
    since = now - timedelta(days=clv.lookback_months * 365.25 / 12)
    real = [Order.is_fraud.is_(False), Order.ordered_at <= now]
    if ids is not None:
        real.append(Order.customer_id.in_(ids))
    rows = session.execute(select(Order.customer_id, func.min(Order.ordered_at), func.max(Order.ordered_at),
                                  func.count()).where(*real).group_by(Order.customer_id)).all()
    margins = dict(session.execute(select(Order.customer_id, func.sum(Order.gross_margin))
                                   .where(*real, Order.ordered_at >= since).group_by(Order.customer_id)).all())
    scope = [] if ids is None else [Touchpoint.customer_id.in_(ids)]
    touched = _latest(session, select(Touchpoint.customer_id, func.max(Touchpoint.at))
                      .where(Touchpoint.at <= now, *scope).group_by(Touchpoint.customer_id))
    ascope = [] if ids is None else [Activity.customer_id.in_(ids)]
    chatted = _latest(session, select(Activity.customer_id, func.max(Activity.created_at))
                      .where(Activity.kind.in_(CHAT_TOUCH_KINDS), Activity.created_at <= now, *ascope)
                      .group_by(Activity.customer_id))
    tickets: dict[int, tuple[datetime, float | None]] = {}
    for cid, at, p in session.execute(select(Touchpoint.customer_id, Touchpoint.at, Touchpoint.winback_probability)
                                      .where(Touchpoint.clv_impact.is_(True), Touchpoint.at <= now, *scope)
                                      .order_by(Touchpoint.customer_id, Touchpoint.at, Touchpoint.id)):
        tickets[cid] = (at, p)
    out = {}
    for cid, first, last, n in rows:
        last_touch = max([t for t in (last, touched.get(cid), chatted.get(cid)) if t is not None])
        ticket = tickets.get(cid)
        out[cid] = CustomerHistory(float(margins.get(cid) or 0.0), first, last, int(n), last_touch,
                                   ticket[0] if ticket else None, ticket[1] if ticket else None)
    return out


def compute_snapshots(session: Session, clv: Clv, tz: str, now: datetime) -> SnapshotRun:
    """Value every customer as of `now` and store the day's snapshot rows."""
    day = local_day(now, tz)
    params = params_of(clv)
    factor = annuity(params)
    prev_day = session.scalar(select(func.max(ClvSnapshot.as_of)).where(ClvSnapshot.as_of <= day - timedelta(days=PREVIOUS_DAYS)))
    previous = dict(session.execute(select(ClvSnapshot.customer_id, ClvSnapshot.clv)
                                    .where(ClvSnapshot.as_of == prev_day)).all()) if prev_day else {}
    rows = []
    total = 0.0
    for cid, h in histories(session, clv, now).items():
        v = customer_clv(h, now, params, factor)
        total += v.clv
        rows.append({"customer_id": cid, "as_of": day, "clv": round(v.clv, 2), "previous": previous.get(cid),
                     "monthly_margin": round(v.monthly_margin, 2), "alive": round(v.alive, 4),
                     "last_interaction": h.last_interaction})
    session.execute(delete(ClvSnapshot).where(ClvSnapshot.as_of == day))
    for i in range(0, len(rows), 5000):
        session.execute(insert(ClvSnapshot), rows[i:i + 5000])
    return SnapshotRun(day, len(rows), total)
