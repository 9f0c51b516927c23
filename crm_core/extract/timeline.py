"""When the next step happens: Chinese and English date expressions resolved against `now`.

Month-level expressions ("3月", "下个月", "年底", "in March") give "YYYY-MM"; day-level ones
("下周三", "月底", "明天", "3月15号", "next Tuesday", "end of month") give "YYYY-MM-DD". A month
or day already past this year/month rolls forward. Weeks start on Monday: 下周三 and
"next Wednesday" are the Wednesday of next calendar week; a bare 周三 / "Wednesday" is the
next Wednesday after today; 下周 / "next week" alone is next Monday.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from crm_core.clock import SHANGHAI
from crm_core.extract.timeline_en import EN_PATTERNS
from crm_core.extract.timeline_base import (Resolved, add_months, days, last_day, month, num, roll_day,
                                            roll_month, week_day)

NUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_YEAR = r"(?P<y>\d{4}|[零〇一二三四五六七八九]{4}|今|明|后)年"
_WEEKDAYS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7, "末": 6}
_PARTS_MONTH_ONLY = ("初", "中旬", "中", "上旬", "下旬")


def _year(today: date, token: str | None) -> int | None:
    if not token:
        return None
    relative = {"今": 0, "明": 1, "后": 2}
    if token in relative:
        return today.year + relative[token]
    value = num(token) if not token.isdigit() else int(token)
    if value is None:
        digits = "".join(str("零一二三四五六七八九".find(c)) if c != "〇" else "0" for c in token)
        value = int(digits) if digits.isdigit() else None
    return value


def _full_date(today: date, m: re.Match[str]) -> Resolved:
    year, mon, day = _year(today, m.groupdict().get("y")), num(m.group("m")), num(m.group("d"))
    if mon is None or day is None:
        return None
    if year is None:
        return roll_day(today, mon, day)
    try:
        return days(date(year, mon, day))
    except ValueError:
        return None


def _month_end(today: date, m: re.Match[str]) -> Resolved:
    year, mon = _year(today, m.group("y")), num(m.group("m"))
    if mon is None or not 1 <= mon <= 12:
        return None
    if year is None:
        year = today.year + (1 if mon < today.month else 0)
    return days(last_day(year, mon))


def _month_only(today: date, m: re.Match[str]) -> Resolved:
    year, mon = _year(today, m.group("y")), num(m.group("m"))
    if mon is None or not 1 <= mon <= 12:
        return None
    return month(year, mon) if year else roll_month(today, mon)


def _relative_month(today: date, m: re.Match[str]) -> Resolved:
    rel, part = m.group("rel") or "", m.group("part") or ""
    if rel.startswith("上") or not (rel or part):  # a bare 月 (月租, 月活) is no date
        return None  # last month: already past
    offset = 2 if rel.startswith("下下") else 1 if rel.startswith("下") else 0
    if not rel and part in ("初",) and today.day > 5:
        offset = 1  # "月初" said mid-month means the start of next month
    year, mon = add_months(today, offset)
    if part in ("底", "末"):
        return days(last_day(year, mon))
    return month(year, mon)


def _year_part(today: date, m: re.Match[str]) -> Resolved:
    year, part = _year(today, m.group("y")), m.group("part")
    mon = 1 if part == "初" else 6 if part == "中" else 12
    return month(year, mon) if year else roll_month(today, mon)


def _weekday(today: date, m: re.Match[str]) -> Resolved:
    rel, w = m.group("rel") or "", m.group("w")
    if rel.startswith("上"):
        return None
    if not w:  # 下周 alone → Monday of that week; 这周 alone says nothing
        weekday = 1 if rel.startswith("下") else None
    else:
        weekday = _WEEKDAYS.get(w) or (int(w) if w.isdigit() else None)
    if weekday is None:
        return None
    weeks = 2 if rel.startswith("下下") else 1 if rel.startswith("下") else 0
    return days(week_day(today, weekday, weeks, explicit_week=bool(rel)))


def _named_day(today: date, m: re.Match[str]) -> Resolved:
    offsets = {"大后天": 3, "后天": 2, "明": 1, "今": 0}
    word = m.group(0)
    key = next(k for k in offsets if word.startswith(k))
    return days(today + timedelta(days=offsets[key]))


def _after_n(today: date, m: re.Match[str]) -> Resolved:
    count = 0.5 if m.group("n") == "半" else num(m.group("n"))
    if count is None:
        return None
    unit = m.group("u")
    if unit == "月":
        if count == 0.5:
            return days(today + timedelta(days=15))
        return month(*add_months(today, int(count)))
    per = 1 if unit in ("天", "日") else 7
    return days(today + timedelta(days=int(count * per)))


def _day_only(today: date, m: re.Match[str]) -> Resolved:
    day = num(m.group("d"))
    if day is None or not 1 <= day <= 31:
        return None
    for offset in range(0, 3):
        year, mon = add_months(today, offset)
        if day <= calendar.monthrange(year, mon)[1] and date(year, mon, day) >= today:
            return days(date(year, mon, day))
    return None


_HOLIDAYS = {"元旦": (1, 1), "五一": (5, 1), "劳动节": (5, 1), "国庆": (10, 1), "双十一": (11, 11), "双11": (11, 11),
             "圣诞": (12, 25)}


def _holiday(today: date, m: re.Match[str]) -> Resolved:
    """Fixed-date holidays only (lunar ones move every year). "国庆前" is the day, "国庆后" its month."""
    mon, day = _HOLIDAYS[m.group("h")]
    resolved = roll_day(today, mon, day)
    return resolved[:7] if resolved and m.group("after") else resolved


def _relative_month_day(today: date, m: re.Match[str]) -> Resolved:
    rel, day = m.group("rel"), num(m.group("d"))
    year, mon = add_months(today, 2 if rel.startswith("下下") else 1 if rel.startswith("下") else 0)
    try:
        return days(date(year, mon, day)) if day else None
    except ValueError:
        return None


_CN_PATTERNS: list[tuple[re.Pattern[str], Callable[[date, re.Match[str]], Resolved]]] = [
    (re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)"), _full_date),
    (re.compile(rf"(?:{_YEAR}\s?)?(?P<m>{NUM})月份?\s?(?P<d>{NUM})[号日]"), _full_date),
    (re.compile(rf"(?:{_YEAR})?(?<![0-9个])(?P<m>{NUM})月份?(?:底|末)"), _month_end),
    (re.compile(rf"(?:{_YEAR})?(?<![0-9个第每])(?P<m>{NUM})月份?(?:{'|'.join(_PARTS_MONTH_ONLY)})?"
                r"(?![0-9一二三四五六七八九十]|薪|租|费|卡|度|饼|嫂|亮|光|球)"), _month_only),
    (re.compile(r"(?P<rel>下下个?|下个?|这个?|本|当|上个?)?(?<![0-9一二三四五六七八九十几多半每岁年])月[份月]?"
                r"(?P<part>底|末|初|中旬|中|上旬|下旬)?"), _relative_month),
    (re.compile(r"(?:(?P<y>\d{4}|今|明|后)年|(?<![0-9一二三四五六七八九十几多个半去前每])年)(?P<part>底|末|终|初|中)"),
     _year_part),
    (re.compile(r"(?P<rel>下下个?|下个?|这个?|本|上个?)?(?:周|星期|礼拜)(?:\s?(?P<w>[一二三四五六日天1-7末]))?"), _weekday),
    (re.compile(r"(?P<h>元旦|五一|劳动节|国庆|双十一|双11|圣诞)节?(?P<after>之后|以后|后)?"), _holiday),
    (re.compile(rf"(?P<rel>下下个?|下个?|这个?|本)月(?P<d>{NUM})[号日]"), _relative_month_day),
    (re.compile(r"(?<![\d.])(?P<m>1[0-2]|0?[1-9])\.(?P<d>[12]\d|3[01]|0?[1-9])(?=前|之前|以前|号|日|截止)"), _full_date),
    (re.compile(r"大后天|后天|明天|明日|明儿|明早|明晚|今晚"), _named_day),
    (re.compile(rf"(?:过|再过)?(?P<n>{NUM}|半)个?(?P<u>天|日|周|星期|礼拜|月)(?:后|之后|以后|内|之内|以内)"), _after_n),
    (re.compile(rf"过(?P<n>{NUM})(?P<u>天)"), _after_n),
    (re.compile(rf"(?<![月0-9一二三四五六七八九十周期拜])(?P<d>{NUM})[号日]"
                r"(?!楼|线|码|床|机|台|厅|馆|院|门|位|店|仓|车间|会议室|内|之内|以内)"), _day_only),
]
# "今天" in a note is when the rep met the customer, not the next step; only 今晚/tonight may be.
_WEAK = re.compile(r"今晚|tonight", re.IGNORECASE)


@dataclass
class _Hit:
    start: int
    end: int
    value: str | None
    weak: bool


def _local_today(now: datetime | None) -> date:
    if now is None:
        return datetime.now(SHANGHAI).date()
    if now.tzinfo is None:
        return now.date()  # a naive `now` is taken as Shanghai wall time
    return now.astimezone(SHANGHAI).date()


def find_timeline_hits(text: str, now: datetime | None = None) -> list[tuple[int, int, str]]:
    """Every resolved future date expression as (start, end, value), overlaps removed."""
    today = _local_today(now)
    hits: list[_Hit] = []
    for pattern, handler in _CN_PATTERNS + EN_PATTERNS:
        for match in pattern.finditer(text):
            if match.end() == match.start():
                continue
            hits.append(_Hit(match.start(), match.end(), handler(today, match), bool(_WEAK.fullmatch(match.group(0)))))
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[_Hit] = []
    for hit in hits:  # longest-leftmost wins; a past expression still blocks its sub-matches
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    strong = [(h.start, h.end, h.value) for h in kept if h.value and not h.weak]
    weak = [(h.start, h.end, h.value) for h in kept if h.value and h.weak]
    return strong + weak


def find_timeline(text: str, now: datetime | None = None) -> str | None:
    """The first future date expression; "today" only when nothing else is said."""
    hits = find_timeline_hits(text, now)
    return hits[0][2] if hits else None
