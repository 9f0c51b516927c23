"""Time is a parameter: services take `now`; this is the one place that reads the wall clock."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def local(dt: datetime, tz: str = "Asia/Shanghai") -> datetime:
    return dt.astimezone(ZoneInfo(tz))
