"""Calendar arithmetic shared by the Chinese and English date patterns.

Every helper takes `today` (a Shanghai date) so resolution is a pure function of the note
and the injected clock.
"""
from __future__ import annotations

import calendar
from datetime import date, timedelta

from crm_core.extract.text import small_int

Resolved = str | None


def num(token: str | None) -> int | None:
    """"15", "十五", "三", "两" → int."""
    return small_int(token) if token else None


def days(value: date) -> str:
    return value.isoformat()


def month(year: int, mon: int) -> str:
    return f"{year:04d}-{mon:02d}"


def last_day(year: int, mon: int) -> date:
    return date(year, mon, calendar.monthrange(year, mon)[1])


def add_months(today: date, offset: int) -> tuple[int, int]:
    index = today.year * 12 + today.month - 1 + offset
    return index // 12, index % 12 + 1


def roll_month(today: date, mon: int) -> Resolved:
    """A month without a year: this year unless it has already passed."""
    if not 1 <= mon <= 12:
        return None
    return month(today.year + (1 if mon < today.month else 0), mon)


def roll_day(today: date, mon: int, day: int) -> Resolved:
    """A month and day without a year: this year unless already past, then next year."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, mon, day)
        except ValueError:
            continue
        if candidate >= today:
            return days(candidate)
    return None


def week_day(today: date, weekday: int, weeks: int, explicit_week: bool) -> date:
    """weekday 1..7 (Mon..Sun). With 这/下/下下 the calendar week is fixed; bare means next one."""
    if not explicit_week:
        delta = (weekday - 1 - today.weekday()) % 7 or 7
        return today + timedelta(days=delta)
    monday = today - timedelta(days=today.weekday())
    target = monday + timedelta(days=7 * weeks + weekday - 1)
    return target + timedelta(days=7) if target < today else target
