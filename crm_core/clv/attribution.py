"""Attribution of one order's gross margin to the touchpoints before it (pure; issue 18).

Which touchpoints count (the window, both edges tested in tests/unit/test_clv_attribution.py):
  order_at - window_days <= touch.at <= order_at
i.e. a touchpoint exactly `window_days` before the order counts, one a second earlier does not;
a touchpoint at the order's own second counts, a later one never. An earlier order is itself a
touchpoint of the next one (its channel), but only when strictly earlier: an order never credits
itself nor an order placed at the same second. Orders flagged as fraud get no credit and are
no touchpoint either.

Models (all on gross margin):
  first_touch  all to the earliest touchpoint in the window
  last_touch   all to the latest
  linear       equal shares to every touchpoint in the window
  mix          `mix_last` (0.7) to the latest + `mix_first` (0.3) to the earliest; a single
               touchpoint gets all of it
An order with no touchpoint in the window is credited to its own channel (`unattributed`).
Ties (several touchpoints at the same second) keep the given order: callers sort by time, stably.
crm_core/services/clv_attribution.py does the same over millions of orders with numpy
(tests check both agree)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MODELS: tuple[str, ...] = ("first_touch", "last_touch", "linear", "mix")
MODEL_LABELS = {"first_touch": "首次触点", "last_touch": "末次触点", "linear": "线性平均", "mix": "末次70%+首次30%"}


@dataclass(frozen=True, slots=True)
class Touch:
    at: datetime
    channel: str
    kind: str = "touch"
    is_order: bool = False        # an earlier order acting as a touchpoint


@dataclass(frozen=True, slots=True)
class Credit:
    channel: str
    share: float                  # of the order (the shares of one order add up to 1)
    margin: float
    touch: int | None             # index into the touchpoints given; None: the order's own channel


@dataclass(frozen=True, slots=True)
class Params:
    window_days: int = 180
    mix_last: float = 0.7
    mix_first: float = 0.3


def window_indices(order_at: datetime, touches: Sequence[Touch], window_days: int) -> list[int]:
    """Indices of the touchpoints that count for an order at `order_at` (see the module doc)."""
    start = order_at - timedelta(days=window_days)
    return [i for i, t in enumerate(touches)
            if start <= t.at and (t.at < order_at if t.is_order else t.at <= order_at)]


def credit_order(order_at: datetime, margin: float, channel: str, touches: Sequence[Touch], model: str,
                 params: Params = Params(), *, fraud: bool = False) -> list[Credit]:
    """The order's credits under `model`; `touches` sorted by time."""
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r} (one of: {', '.join(MODELS)})")
    if fraud:
        return []
    idx = window_indices(order_at, touches, params.window_days)
    if not idx:
        return [Credit(channel, 1.0, margin, None)]
    first, last = idx[0], idx[-1]
    if model == "first_touch":
        shares = [(first, 1.0)]
    elif model == "last_touch":
        shares = [(last, 1.0)]
    elif model == "linear":
        shares = [(i, 1.0 / len(idx)) for i in idx]
    elif first == last:
        shares = [(last, 1.0)]
    else:
        shares = [(last, params.mix_last), (first, params.mix_first)]
    return [Credit(touches[i].channel, share, margin * share, i) for i, share in shares]


def by_channel(credits: Sequence[Credit]) -> dict[str, float]:
    """Credited margin per channel."""
    out: dict[str, float] = defaultdict(float)
    for c in credits:
        out[c.channel] += c.margin
    return dict(out)


@dataclass(frozen=True, slots=True)
class OrderFact:
    id: int
    at: datetime
    margin: float
    channel: str
    fraud: bool = False


def credit_customer(orders: Sequence[OrderFact], touches: Sequence[Touch], model: str,
                    params: Params = Params()) -> dict[int, list[Credit]]:
    """Every order of one customer: the earlier non-fraud orders join the touchpoints."""
    as_touches = [Touch(o.at, o.channel, "order", True) for o in orders if not o.fraud]
    merged = sorted([*touches, *as_touches], key=lambda t: t.at)
    return {o.id: credit_order(o.at, o.margin, o.channel, merged, model, params, fraud=o.fraud) for o in orders}
