"""`clv:` — customer lifetime value with attribution (issue 18; the model is documented in
docs/clv.md). Attribution model and window, the CLV horizon, retention and discount rate,
the at-risk thresholds of the monthly dashboard and who receives it. The nightly and monthly
runs are scheduled under `schedules:` (`clv_nightly`, `clv_dashboard`: the 5th by default)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_core.config.vocabulary import CHANNELS

AttributionModel = Literal["first_touch", "last_touch", "linear", "mix"]

# Touchpoint and order channels: the lead channels plus the marketing and service ones.
TOUCH_CHANNELS: dict[str, str] = {
    **CHANNELS, "search": "搜索广告", "social": "社交媒体", "email": "邮件营销", "sms": "短信",
    "store": "门店", "direct": "直接下单", "sales": "销售跟进", "service": "客户服务", "campaign": "营销活动",
    "partner": "合作伙伴",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clv(_Strict):
    model: AttributionModel = "mix"                    # which credits reports and CLV use
    window_days: int = Field(180, ge=1, le=3650)       # touchpoints this long before an order count
    # the mix model: share of the last and the first touchpoint (must add up to 1)
    mix_last: float = Field(0.7, ge=0, le=1)
    mix_first: float = Field(0.3, ge=0, le=1)
    lookback_months: int = Field(12, ge=1, le=120)     # margin history the monthly margin averages
    horizon_months: int = Field(36, ge=1, le=240)      # how far ahead CLV counts margin
    monthly_retention: float = Field(0.9, gt=0, le=1)  # chance an active customer stays another month
    annual_discount_rate: float = Field(0.1, ge=0, le=1)
    at_risk_drop_percent: float = Field(15, gt=0, le=100)   # CLV down more than this vs a month ago
    at_risk_idle_days: int = Field(30, ge=1, le=3650)       # and no interaction for this long
    high_value_top_percent: float = Field(20, gt=0, le=100)  # "high value": this top share by CLV
    dashboard_rows: int = Field(10, ge=1, le=50)             # rows per list on the card
    # monthly spend per channel (CNY) for the ROI column; channels without spend rank by margin only
    channel_spend_cny: dict[str, float] = Field(default_factory=dict)
    # who gets the dashboard: rep ids; empty = every supervisor and admin (management)
    recipients: list[str] = Field(default_factory=list)

    @field_validator("channel_spend_cny")
    @classmethod
    def _known_channels(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = [c for c in v if c not in TOUCH_CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel {', '.join(unknown)} (one of: {', '.join(TOUCH_CHANNELS)})")
        if any(x < 0 for x in v.values()):
            raise ValueError("spend must be >= 0")
        return v

    @model_validator(mode="after")
    def _mix_sums_to_one(self) -> "Clv":
        if abs(self.mix_last + self.mix_first - 1) > 1e-9:
            raise ValueError(f"mix_last + mix_first must be 1 (they add up to {self.mix_last + self.mix_first:g})")
        return self


def clv_problems(section: Any, rep_ids: set[str]) -> list[str]:
    """Cross-references of the raw `clv:` mapping: every recipient is a configured rep."""
    if not isinstance(section, dict):
        return []
    recipients = section.get("recipients")
    out = []
    for i, rep in enumerate(recipients if isinstance(recipients, list) else []):
        if str(rep) not in rep_ids:
            out.append(f"clv.recipients[{i}]: unknown rep '{rep}' / 没有这位销售人员「{rep}」")
    return out
