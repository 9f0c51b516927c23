"""To-do due dates: a step said for a month ("3月招标") is due a week before that month
starts, so the rep prepares; a step said for a day is due that day."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from crm_core.clock import local

PREPARE_DAYS = 7


def due_date_for(timeline: str | None, next_action: str | None, now: datetime) -> date:
    today = local(now).date()
    if not timeline:
        return today + timedelta(days=1)
    parts = [int(p) for p in timeline.split("-")]
    if len(parts) == 3:
        return max(date(*parts), today)
    first = date(parts[0], parts[1], 1)
    return max(first - timedelta(days=PREPARE_DAYS), today)
