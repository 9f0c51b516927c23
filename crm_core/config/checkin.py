"""The morning focus check-in (晨会打卡) and the rep's 日报: how many 主攻商机 a rep picks each
working day, how many open leads the card offers, and who gets a copy of the 《重点客户日志》
besides the rep's supervisors. When it runs is `schedules.morning_checkin`."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Checkin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    picks: int = Field(3, ge=1, le=5)            # 主攻商机 per rep and day
    offered: int = Field(10, ge=3, le=15)        # open leads listed on the card (the first 5 get buttons)
    copy_to: str | None = None                   # rep id of a customer-service lead copied on every log


def checkin_problems(data: dict[str, Any], known_reps: set[str]) -> list[str]:
    """checkin.copy_to names a configured rep ("key.path: English / 中文", as config check prints)."""
    section = data.get("checkin") if isinstance(data, dict) else None
    copy_to = section.get("copy_to") if isinstance(section, dict) else None
    if copy_to is not None and str(copy_to) not in known_reps:
        return [f"checkin.copy_to: unknown rep '{copy_to}' / 没有这位销售人员「{copy_to}」"]
    return []
