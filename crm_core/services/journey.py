"""A customer's full journey (全旅程时间轴): orders, touchpoints and the chat activities that
count as touchpoints, newest first (「查客户」 with one match, GET /api/v1/customers/<id>/journey);
and the customer's own attributed margin by channel (GET /api/v1/clv?customer_id=).

Amounts are plain fields of each item, so a viewer who may not see them can be given the items
without them: `journey_view` and `attribution_view` are the read models of the API, for one
customer in the viewer's row scope (NotInScope otherwise), amounts and margins as the viewer's money
level (`budget`: the figure, a size band, or left out), notes and follow-up texts as their notes
level (crm_core/visibility.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.authz import CustomerFacts
from crm_core.clv.attribution import OrderFact, Params, Touch, by_channel, credit_customer
from crm_core.config.clv import TOUCH_CHANNELS, Clv
from crm_core.db.models import Activity, ClvSnapshot, Order, Touchpoint
from crm_core.services.clv_attribution import CHAT_CHANNEL, CHAT_TOUCH_KINDS
from crm_core.services.access import load_customer_facts
from crm_core.services.clv_input import TOUCH_KINDS
from crm_core.visibility import Viewer, out_of_scope

CHAT_LABELS = {"follow_up": "销售跟进", "voice_note": "语音跟进", "call": "电话", "visit": "拜访"}


@dataclass(frozen=True)
class JourneyItem:
    at: datetime
    kind: str                   # order | a touchpoint kind | chat:<activity kind>
    label: str                  # 订单 / 广告点击 / 销售跟进 …
    channel: str
    channel_label: str
    text: str | None = None
    amount: float | None = None
    gross_margin: float | None = None
    fraud: bool = False
    clv_impact: bool = False
    winback_probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d


def customer_journey(session: Session, customer_id: int, limit: int = 20) -> list[JourneyItem]:
    orders = session.scalars(select(Order).where(Order.customer_id == customer_id)
                             .order_by(Order.ordered_at.desc(), Order.id.desc()).limit(limit)).all()
    touches = session.scalars(select(Touchpoint).where(Touchpoint.customer_id == customer_id)
                              .order_by(Touchpoint.at.desc(), Touchpoint.id.desc()).limit(limit)).all()
    chats = session.scalars(select(Activity).where(Activity.customer_id == customer_id,
                                                   Activity.kind.in_(CHAT_TOUCH_KINDS))
                            .order_by(Activity.created_at.desc(), Activity.id.desc()).limit(limit)).all()
    items = [JourneyItem(o.ordered_at, "order", "订单", o.channel, TOUCH_CHANNELS.get(o.channel, o.channel),
                         f"订单 {o.external_id}", o.amount, o.gross_margin, o.is_fraud) for o in orders]
    items += [JourneyItem(t.at, t.kind, TOUCH_KINDS.get(t.kind, t.kind), t.channel,
                          TOUCH_CHANNELS.get(t.channel, t.channel), t.note, clv_impact=t.clv_impact,
                          winback_probability=t.winback_probability) for t in touches]
    items += [JourneyItem(a.created_at, f"chat:{a.kind}", CHAT_LABELS.get(a.kind, "跟进"), CHAT_CHANNEL,
                          TOUCH_CHANNELS[CHAT_CHANNEL], a.text) for a in chats]
    items.sort(key=lambda i: i.at, reverse=True)
    return items[:limit]


def latest_clv(session: Session, customer_id: int) -> ClvSnapshot | None:
    return session.scalars(select(ClvSnapshot).where(ClvSnapshot.customer_id == customer_id)
                           .order_by(ClvSnapshot.as_of.desc()).limit(1)).first()


def customer_attribution(session: Session, clv: Clv, customer_id: int) -> dict[str, Any]:
    """The customer's non-fraud margin by channel under the configured model, and the latest CLV."""
    orders = [OrderFact(o.id, o.ordered_at, o.gross_margin, o.channel, o.is_fraud) for o in session.scalars(
        select(Order).where(Order.customer_id == customer_id).order_by(Order.ordered_at, Order.id))]
    touches = [Touch(t.at, t.channel, t.kind) for t in session.scalars(
        select(Touchpoint).where(Touchpoint.customer_id == customer_id).order_by(Touchpoint.at, Touchpoint.id))]
    touches += [Touch(a.created_at, CHAT_CHANNEL, a.kind) for a in session.scalars(
        select(Activity).where(Activity.customer_id == customer_id, Activity.kind.in_(CHAT_TOUCH_KINDS)))]
    touches.sort(key=lambda t: t.at)
    credits = credit_customer(orders, touches, clv.model, Params(clv.window_days, clv.mix_last, clv.mix_first))
    channels = by_channel([c for cs in credits.values() for c in cs])
    snap = latest_clv(session, customer_id)
    return {
        "customer_id": customer_id, "model": clv.model, "window_days": clv.window_days,
        "orders": sum(1 for o in orders if not o.fraud), "fraud_orders": sum(1 for o in orders if o.fraud),
        "margin_by_channel": {ch: round(m, 2) for ch, m in sorted(channels.items(), key=lambda kv: -kv[1])},
        "clv": None if snap is None else {"as_of": snap.as_of.isoformat(), "clv": snap.clv, "previous": snap.previous,
                                          "monthly_margin": snap.monthly_margin, "alive": snap.alive},
    }


# an item's and a CLV's money (the `budget` visibility field covers order amounts)
ITEM_MONEY = {"amount": "budget", "gross_margin": "budget"}
CLV_MONEY = {"clv": "budget", "previous": "budget", "monthly_margin": "budget"}


def customer_seen(session: Session, customer_id: int, viewer: Viewer) -> CustomerFacts | None:
    """The customer's facts (None: no such customer); NotInScope outside the viewer's rows."""
    facts = load_customer_facts(session, customer_id)
    if facts is not None and not viewer.scope.customer(facts):
        raise out_of_scope("客户", f"C{customer_id}")
    return facts


def journey_view(session: Session, customer_id: int, limit: int, viewer: Viewer) -> list[dict[str, Any]] | None:
    """The journey's items as `viewer` may read them (None: no such customer): order amounts and
    margins per their money level; a touchpoint's note and a follow-up's text per their notes level
    (left out when hidden); an order's own line (订单 SO-1) as it is."""
    row = customer_seen(session, customer_id, viewer)
    if row is None:
        return None
    out = []
    for item in customer_journey(session, customer_id, limit):
        view = viewer.filter_dict(item.to_dict(), ITEM_MONEY, row)
        if item.kind != "order":
            text = viewer.text(item.text, row)
            if text is None and viewer.hidden("notes", row):
                del view["text"]
            else:
                view["text"] = text
        out.append(view)
    return out


def attribution_view(session: Session, clv: Clv, customer_id: int, viewer: Viewer) -> dict[str, Any] | None:
    """`customer_attribution` as `viewer` may read it (None: no such customer): the margins by
    channel and the CLV figures per their money level (a size band each, or left out)."""
    row = customer_seen(session, customer_id, viewer)
    if row is None:
        return None
    out = customer_attribution(session, clv, customer_id)
    level = viewer.level("budget", row)
    if level == "hidden":
        del out["margin_by_channel"]
    else:
        out["margin_by_channel"] = {ch: viewer.show("budget", m, row) for ch, m in out["margin_by_channel"].items()}
    if out["clv"] is not None:
        out["clv"] = viewer.filter_dict(out["clv"], CLV_MONEY, row)
    return out
