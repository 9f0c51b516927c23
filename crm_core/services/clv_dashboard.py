"""The monthly CLV dashboard (crm_core/clv/report.py) for a business-time-zone month, and its
notices: one per recipient (`clv.recipients`, else every supervisor and admin), idempotent by
dedupe key (claimed in the reminders table by the job).

- At risk: the high-value customers (the top `high_value_top_percent` by their CLV a month ago)
  of the latest snapshot whose CLV fell more than `at_risk_drop_percent` and who had no
  interaction for `at_risk_idle_days`; largest loss first.
- Channels: the month's attributed margin under the configured model, ranked; ROI = margin /
  `channel_spend_cny` where a spend is configured.
- Win-backs: service tickets flagged CLV-impact (in the month or the WINBACK_DAYS before it)
  followed by non-fraud orders in the month within WINBACK_DAYS of the ticket; per customer its
  best ticket; largest margin first.

For one viewer (the API, crm_core/visibility.py): `build_dashboard(..., scope=)` keeps the
customers of the viewer's row scope — the totals, the month's margin, the at-risk list and the
win-backs are theirs — while two figures stay the company's: the channel ranking (attributed
margin is stored per month and channel, not per customer, and the configured spend is the
company's, so a team's ROI against it would mislead) and the CLV from which a customer counts as
high value (the top share of all customers). `dashboard_view` gives the figures as the viewer's
money level allows and the owners as their owner level. The monthly card does the same per
recipient (`dashboard_notices`)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from crm_core.authz import Principal
from crm_core.clv.attribution import MODEL_LABELS
from crm_core.clv.report import AtRiskCustomer, ChannelRoi, ClvDashboard, Winback
from crm_core.config.clv import TOUCH_CHANNELS
from crm_core.config.schema import AppConfig
from crm_core.db.models import AttributionCredit, ClvSnapshot, Customer, Order, Touchpoint
from crm_core.notices import ClvDashboardNotice, Notice
from crm_core.services.merge_report import month_bounds, supervisors
from crm_core.services.scoped import customers_in
from crm_core.visibility import RowScope, Viewer, row_scope

WINBACK_DAYS = 90


def recipients(cfg: AppConfig) -> list[str]:
    if cfg.clv.recipients:
        return list(dict.fromkeys(cfg.clv.recipients))
    admins = [r.id for r in cfg.org.reps if "admin" in r.roles and r.availability == "active"]
    return list(dict.fromkeys(supervisors(cfg) + admins))


def _in(column: Any, scope: RowScope | None) -> ColumnElement[bool]:
    """`column` (a customer id) is one of the scope's customers; no condition without a scope."""
    if scope is None or scope.all:
        return true()
    return column.in_(select(Customer.id).where(customers_in(scope)))


def _at_risk(session: Session, cfg: AppConfig, day: date, now: datetime,
             scope: RowScope | None = None) -> tuple[list[AtRiskCustomer], int, float]:
    clv = cfg.clv
    rows = session.execute(select(ClvSnapshot.customer_id, ClvSnapshot.clv, ClvSnapshot.previous,
                                  ClvSnapshot.last_interaction)
                           .where(ClvSnapshot.as_of == day, ClvSnapshot.previous > 0)).all()
    if not rows:
        return [], 0, 0.0
    ranked = sorted((float(r.previous or 0) for r in rows), reverse=True)      # high value: of every customer
    top = max(1, int(len(ranked) * clv.high_value_top_percent / 100 + 0.5))
    threshold = ranked[top - 1]
    mine = None if scope is None or scope.all else set(session.scalars(select(ClvSnapshot.customer_id).where(
        ClvSnapshot.as_of == day, ClvSnapshot.previous > 0, _in(ClvSnapshot.customer_id, scope))))
    hits = []
    for cid, value, previous, last in rows:
        if mine is not None and cid not in mine:
            continue
        prev = float(previous or 0)
        drop = (prev - value) / prev * 100
        idle = (now - last).days if last else 10**6
        if prev >= threshold and drop > clv.at_risk_drop_percent and idle >= clv.at_risk_idle_days:
            hits.append((prev - value, cid, value, prev, drop, idle))
    hits.sort(reverse=True)
    names = dict(session.execute(select(Customer.id, Customer.name).where(
        Customer.id.in_([h[1] for h in hits[:clv.dashboard_rows]]))).all())
    owners = dict(session.execute(select(Customer.id, Customer.owner_rep_id).where(
        Customer.id.in_([h[1] for h in hits[:clv.dashboard_rows]]))).all())
    out = [AtRiskCustomer(cid, names.get(cid, f"客户{cid}"), owners.get(cid), round(value, 2), round(prev, 2),
                          round(drop, 1), min(idle, 9999))
           for _loss, cid, value, prev, drop, idle in hits[:clv.dashboard_rows]]
    return out, len(hits), threshold


def _channels(session: Session, cfg: AppConfig, month: str) -> list[ChannelRoi]:
    first = date(int(month[:4]), int(month[5:7]), 1)
    rows = session.execute(select(AttributionCredit.channel, func.sum(AttributionCredit.margin),
                                  func.sum(AttributionCredit.orders))
                           .where(AttributionCredit.model == cfg.clv.model, AttributionCredit.month == first)
                           .group_by(AttributionCredit.channel)).all()
    out = []
    for ch, margin, orders in rows:
        spend = cfg.clv.channel_spend_cny.get(ch)
        out.append(ChannelRoi(ch, TOUCH_CHANNELS.get(ch, ch), round(float(margin), 2), round(float(orders), 2),
                              spend, round(float(margin) / spend, 2) if spend else None))
    out.sort(key=lambda c: (-c.margin, c.channel))
    return out


def _winbacks(session: Session, cfg: AppConfig, start: datetime, end: datetime,
              scope: RowScope | None = None) -> list[Winback]:
    tickets = session.execute(select(Touchpoint.customer_id, Touchpoint.at, Touchpoint.winback_probability)
                              .where(Touchpoint.clv_impact.is_(True), Touchpoint.at < end,
                                     Touchpoint.at >= start - timedelta(days=WINBACK_DAYS),
                                     _in(Touchpoint.customer_id, scope))).all()
    if not tickets:
        return []
    ids = sorted({t[0] for t in tickets})
    orders = session.execute(select(Order.customer_id, Order.ordered_at, Order.gross_margin)
                             .where(Order.customer_id.in_(ids), Order.is_fraud.is_(False),
                                    Order.ordered_at >= start, Order.ordered_at < end)).all()
    best: dict[int, tuple[float, int, datetime, float | None]] = {}
    for cid, at, p in tickets:
        won = [m for oc, oat, m in orders if oc == cid and at < oat <= at + timedelta(days=WINBACK_DAYS)]
        if won and (cid not in best or sum(won) > best[cid][0]):
            best[cid] = (sum(won), len(won), at, p)
    top = sorted(best.items(), key=lambda kv: -kv[1][0])[:cfg.clv.dashboard_rows]
    names = dict(session.execute(select(Customer.id, Customer.name).where(Customer.id.in_([c for c, _ in top]))).all())
    return [Winback(cid, names.get(cid, f"客户{cid}"), at, p, round(margin, 2), n)
            for cid, (margin, n, at, p) in top]


def build_dashboard(session: Session, cfg: AppConfig, month: str, now: datetime,
                    scope: RowScope | None = None) -> ClvDashboard:
    """The dashboard of `month` ("2026-11"): channels and win-backs of that month, the at-risk
    list from the latest CLV snapshot up to `now`. With `scope` (a viewer's rows), only the
    customers in it (the channels and the high-value line stay the company's: see above)."""
    tz = cfg.app.timezone
    start, end = month_bounds(month, tz)
    today = now.astimezone(ZoneInfo(tz)).date()
    day = session.scalar(select(func.max(ClvSnapshot.as_of)).where(ClvSnapshot.as_of <= today))
    customers, total = 0, 0.0
    if day is not None:
        customers, total = session.execute(select(func.count(), func.coalesce(func.sum(ClvSnapshot.clv), 0.0))
                                           .where(ClvSnapshot.as_of == day, _in(ClvSnapshot.customer_id, scope))).one()
    at_risk, at_risk_total, threshold = _at_risk(session, cfg, day, now, scope) if day else ([], 0, 0.0)
    margin = session.scalar(select(func.coalesce(func.sum(Order.gross_margin), 0.0)).where(
        Order.is_fraud.is_(False), Order.ordered_at >= start, Order.ordered_at < end,
        _in(Order.customer_id, scope))) or 0.0
    return ClvDashboard(month=month, model=cfg.clv.model, model_label=MODEL_LABELS[cfg.clv.model], as_of=day,
                        customers=int(customers), total_clv=round(float(total), 2), month_margin=round(float(margin), 2),
                        high_value_from=round(threshold, 2), at_risk=tuple(at_risk), at_risk_total=at_risk_total,
                        channels=tuple(_channels(session, cfg, month)),
                        winbacks=tuple(_winbacks(session, cfg, start, end, scope)))


# the dashboard's money (the `budget` visibility field) and people, per part of `ClvDashboard.to_dict`
BOARD_FIELDS = {"total_clv": "budget", "month_margin": "budget", "high_value_from": "budget"}
PART_FIELDS = {"at_risk": {"clv": "budget", "previous": "budget", "owner_rep_id": "owner"},
               "channels": {"margin": "budget", "spend": "budget"},
               "winbacks": {"margin": "budget"}}
COMPANY_WIDE = ("channels", "high_value_from")


def dashboard_view(board: ClvDashboard, viewer: Viewer) -> dict[str, Any]:
    """The dashboard as `viewer` may read it: each figure per their money level (a size band when
    masked, left out when hidden), owners per their owner level; a dashboard cut to a row scope
    says so (`scope`) and names the parts that are the company's (`company_wide`)."""
    out = viewer.filter_dict(board.to_dict(), BOARD_FIELDS)
    for part, fields in PART_FIELDS.items():
        out[part] = [viewer.filter_dict(x, fields) for x in out[part]]
    if not viewer.scope.all:
        out["scope"] = "yours"
        out["company_wide"] = list(COMPANY_WIDE)
    return out


def dashboard_notices(session: Session, cfg: AppConfig, month: str, now: datetime) -> list[Notice]:
    """One dashboard per recipient, cut to their row scope as the API cuts it (a recipient who
    sees every row gets the company's); one build per distinct scope."""
    boards: dict[RowScope | None, ClvDashboard] = {}
    out: list[Notice] = []
    for rep_id in recipients(cfg):
        rep = cfg.org.rep(rep_id)
        if rep is None:
            continue
        scope: RowScope | None = row_scope(cfg, Principal.of(rep))
        scope = None if scope is None or scope.all else scope
        if scope not in boards:
            boards[scope] = build_dashboard(session, cfg, month, now, scope=scope)
        out.append(ClvDashboardNotice(to_rep=rep_id, dashboard=boards[scope], scoped=scope is not None,
                                      dedupe_key=f"clv-dashboard:{month}:{rep_id}", as_supervisor=True))
    return out
