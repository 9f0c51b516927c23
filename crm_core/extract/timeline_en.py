"""English date expressions for the timeline extractor ("next Tuesday", "March 15", "end of month").

Same conventions as the Chinese patterns: months give "YYYY-MM", days "YYYY-MM-DD", past
dates roll forward, "next <weekday>" is that weekday of next calendar week.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Callable

from crm_core.extract.timeline_base import Resolved, add_months, days, last_day, month, roll_day, roll_month, week_day

_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
           "oct": 10, "nov": 11, "dec": 12}
_MON = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
        r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_WD = r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_WD_INDEX = {"monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 7}
_COUNT = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3}
_ORD = r"(?:st|nd|rd|th)?"


def _mon(token: str) -> int:
    return _MONTHS[token[:3].lower()]


def _month_day(today: date, m: re.Match[str]) -> Resolved:
    mon, day = _mon(m.group("mon")), int(m.group("d"))
    year = m.groupdict().get("y")
    if year:
        try:
            return days(date(int(year), mon, day))
        except ValueError:
            return None
    return roll_day(today, mon, day)


def _month_name(today: date, m: re.Match[str]) -> Resolved:
    year = m.groupdict().get("y")
    return month(int(year), _mon(m.group("mon"))) if year else roll_month(today, _mon(m.group("mon")))


def _end_of_named_month(today: date, m: re.Match[str]) -> Resolved:
    mon = _mon(m.group("mon"))
    return days(last_day(today.year + (1 if mon < today.month else 0), mon))


def _weekday(today: date, m: re.Match[str]) -> Resolved:
    rel = (m.group("rel") or "").lower()
    weekday = _WD_INDEX[m.group("wd").lower()]
    if rel == "next":
        return days(week_day(today, weekday, 1, explicit_week=True))
    if rel == "this":
        return days(week_day(today, weekday, 0, explicit_week=True))
    return days(week_day(today, weekday, 0, explicit_week=False))


def _relative(today: date, m: re.Match[str]) -> Resolved:
    raw = m.group("n").lower()
    count = int(raw) if raw.isdigit() else _COUNT.get(raw)
    if count is None:
        return None
    unit = m.group("u").lower()
    if unit.startswith("month"):
        return month(*add_months(today, count))
    return days(today + timedelta(days=count * (7 if unit.startswith("week") else 1)))


def _fixed(offset_days: int) -> Callable[[date, re.Match[str]], Resolved]:
    return lambda today, _m: days(today + timedelta(days=offset_days))


def _next_week(today: date, _m: re.Match[str]) -> Resolved:
    return days(week_day(today, 1, 1, explicit_week=True))


def _month_offset(offset: int, end: bool) -> Callable[[date, re.Match[str]], Resolved]:
    def resolve(today: date, _m: re.Match[str]) -> Resolved:
        year, mon = add_months(today, offset)
        return days(last_day(year, mon)) if end else month(year, mon)
    return resolve


def _year_end(today: date, _m: re.Match[str]) -> Resolved:
    return month(today.year, 12)


def _early_next_year(today: date, _m: re.Match[str]) -> Resolved:
    return month(today.year + 1, 1)


_I = re.IGNORECASE
EN_PATTERNS: list[tuple[re.Pattern[str], Callable[[date, re.Match[str]], Resolved]]] = [
    (re.compile(r"\b(?:the\s+)?day after tomorrow\b", _I), _fixed(2)),
    (re.compile(r"\btomorrow\b", _I), _fixed(1)),
    (re.compile(r"\btonight\b", _I), _fixed(0)),
    (re.compile(rf"\b(?:(?P<rel>next|this|coming|on|by|before|until)\s+)?{_WD}\b", _I), _weekday),
    (re.compile(r"\bnext week\b", _I), _next_week),
    (re.compile(r"\bend of next month\b", _I), _month_offset(1, end=True)),
    (re.compile(r"\b(?:(?:the\s+)?end of (?:the |this )?month|month[- ]end)\b", _I), _month_offset(0, end=True)),
    (re.compile(r"\bnext month\b", _I), _month_offset(1, end=False)),
    (re.compile(r"\b(?:(?:the\s+)?end of (?:the |this )?year|year[- ]end)\b", _I), _year_end),
    (re.compile(r"\b(?:early|beginning of) next year\b", _I), _early_next_year),
    (re.compile(r"\b(?:in|within)\s+(?P<n>\d{1,2}|an?|one|two|three|four|five|six|seven|eight|nine|ten|"
                r"a couple of|a few)\s+(?P<u>days?|weeks?|months?)\b", _I), _relative),
    (re.compile(r"\b(?P<n>\d{1,2}|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
                r"(?P<u>days?|weeks?|months?)\s+(?:from now|later)\b", _I), _relative),
    (re.compile(rf"\bend of {_MON}\b", _I), _end_of_named_month),
    (re.compile(rf"\b{_MON}\.?\s+(?P<d>\d{{1,2}}){_ORD}(?:,?\s+(?P<y>20\d\d))?\b", _I), _month_day),
    (re.compile(rf"\b(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?{_MON}\b(?:,?\s+(?P<y>20\d\d))?", _I), _month_day),
    (re.compile(rf"\b(?:in|by|early|late|mid|mid-|before|around|until|during)\s*{_MON}\b(?!\.?\s+\d{{1,2}}(?!\d))"
                r"(?:\s+(?P<y>20\d\d))?", _I), _month_name),
    (re.compile(r"\b(?P<mon>january|february|april|june|july|august|september|october|november|december)\b"
                r"(?:\s+(?P<y>20\d\d))?", _I), _month_name),
]
