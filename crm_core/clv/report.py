"""The monthly CLV dashboard as plain data (built by crm_core/services/clv_dashboard.py; the
text card is handlers/clv_cards.py; a chart can be drawn from the same fields): high-value
customers at risk, channels ranked by attributed margin with their ROI, top service win-backs."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class AtRiskCustomer:
    customer_id: int
    name: str
    owner_rep_id: str | None
    clv: float                  # CNY today
    previous: float             # CNY about a month earlier
    drop_percent: float         # how far it fell, in %
    idle_days: int              # days since the last order, touchpoint or chat activity


@dataclass(frozen=True)
class ChannelRoi:
    channel: str                # code
    label: str                  # what people read
    margin: float               # attributed gross margin of the month (CNY)
    orders: float               # order shares credited
    spend: float | None         # the month's configured spend (CNY), if any
    roi: float | None           # margin / spend


@dataclass(frozen=True)
class Winback:
    customer_id: int
    name: str
    ticket_at: datetime         # the service ticket flagged CLV-impact
    probability: float | None   # the win-back probability service gave
    margin: float               # margin of the orders after it, in the month
    orders: int


@dataclass(frozen=True)
class ClvDashboard:
    month: str                  # "2026-11"
    model: str                  # attribution model code
    model_label: str
    as_of: date | None          # the CLV snapshot day used (None: no snapshot yet)
    customers: int              # customers with a CLV
    total_clv: float
    month_margin: float         # non-fraud gross margin ordered in the month
    high_value_from: float      # the CLV a month ago from which a customer counts as high value
    at_risk: tuple[AtRiskCustomer, ...]
    at_risk_total: int
    channels: tuple[ChannelRoi, ...]
    winbacks: tuple[Winback, ...]

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, (date, datetime)):
                return v.isoformat()
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v
        return plain(asdict(self))
