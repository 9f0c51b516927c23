"""Timer clocks: plain calendar hours, or working hours from the configured calendar
(working weekdays and hours, public holidays, make-up working days 调休). Every timer
(stage fuse, first-contact SLA, follow-up) asks `clock_for(...)` which one to use."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from crm_core.config.schema import AppConfig, Calendar, Stage

MAX_SEARCH_DAYS = 3700     # ~10 years: a calendar without any working day fails loudly, never loops


class TimerClock(Protocol):
    kind: str

    def add_hours(self, start: datetime, hours: float) -> datetime: ...

    def hours_between(self, a: datetime, b: datetime) -> float: ...


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to a timer clock; pass an aware UTC datetime")
    return dt


class PlainClock:
    """Calendar time: every hour counts."""
    kind = "calendar"

    def add_hours(self, start: datetime, hours: float) -> datetime:
        return _aware(start).astimezone(timezone.utc) + timedelta(hours=hours)

    def hours_between(self, a: datetime, b: datetime) -> float:
        return (_aware(b) - _aware(a)).total_seconds() / 3600


def _parse_hhmm(value: str) -> time | None:
    """'09:00' -> time(9); '24:00' -> None (end of day)."""
    hh, mm = (int(x) for x in value.strip().split(":"))
    if (hh, mm) == (24, 0):
        return None
    return time(hh, mm)


class WorkCalendar:
    """Working hours only: a day works if it is a make-up workday, or a configured weekday
    that is not a holiday. Hours outside the daily window never count."""
    kind = "working"

    def __init__(self, cal: Calendar, tz: str | tzinfo = "Asia/Shanghai"):
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.work_days = frozenset(cal.work_days)
        self.holidays = frozenset(cal.holidays)
        self.makeup = frozenset(cal.makeup_workdays)
        self.start_t = _parse_hhmm(cal.work_hours[0]) or time(0)
        self.end_t = _parse_hhmm(cal.work_hours[1])
        if self.end_t is not None and self.end_t <= self.start_t:
            raise ValueError(f"calendar.work_hours: end {cal.work_hours[1]} must be after start {cal.work_hours[0]}")

    def is_workday(self, d: date) -> bool:
        if d in self.makeup:       # 调休: a weekend day that works
            return True
        return d not in self.holidays and d.isoweekday() in self.work_days

    def window(self, d: date) -> tuple[datetime, datetime] | None:
        """The working window of local day `d` in UTC, or None on a day off."""
        if not self.is_workday(d):
            return None
        start = datetime.combine(d, self.start_t, self.tz)
        end = (datetime.combine(d + timedelta(days=1), time(0), self.tz) if self.end_t is None
               else datetime.combine(d, self.end_t, self.tz))
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)

    def _local_day(self, dt: datetime) -> date:
        return _aware(dt).astimezone(self.tz).date()

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The instant when `hours` working hours have passed after `start` (negative: before)."""
        start = _aware(start).astimezone(timezone.utc)
        if hours == 0:
            return start
        if hours < 0:
            return self._subtract(start, timedelta(hours=-hours))
        remaining, day = timedelta(hours=hours), self._local_day(start)
        for _ in range(MAX_SEARCH_DAYS):
            w = self.window(day)
            if w is not None:
                s = max(w[0], start)
                if s < w[1]:
                    if s + remaining <= w[1]:
                        return s + remaining
                    remaining -= w[1] - s
            day += timedelta(days=1)
        raise ValueError("calendar has no working days within ten years")

    def _subtract(self, end: datetime, remaining: timedelta) -> datetime:
        day = self._local_day(end)
        for _ in range(MAX_SEARCH_DAYS):
            w = self.window(day)
            if w is not None:
                e = min(w[1], end)
                if w[0] < e:
                    if e - remaining >= w[0]:
                        return e - remaining
                    remaining -= e - w[0]
            day -= timedelta(days=1)
        raise ValueError("calendar has no working days within ten years")

    def hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from `a` to `b` (negative when b is before a)."""
        a, b = _aware(a).astimezone(timezone.utc), _aware(b).astimezone(timezone.utc)
        if b < a:
            return -self.hours_between(b, a)
        total, day, last = timedelta(0), self._local_day(a), self._local_day(b)
        while day <= last:
            w = self.window(day)
            if w is not None:
                s, e = max(w[0], a), min(w[1], b)
                if s < e:
                    total += e - s
            day += timedelta(days=1)
        return total.total_seconds() / 3600


def clock_for(cfg: AppConfig, kind: str) -> TimerClock:
    """'calendar' -> plain hours; 'working' -> the configured working-time calendar."""
    if kind == "working":
        return WorkCalendar(cfg.calendar, cfg.app.timezone)
    if kind == "calendar":
        return PlainClock()
    raise ValueError(f"unknown clock '{kind}' (calendar | working)")


def stage_clock(cfg: AppConfig, stage: Stage | str | None) -> TimerClock:
    """The clock a stage's timers use (calendar when the stage is unknown)."""
    if isinstance(stage, str):
        stage = cfg.funnel.stage(stage)
    return clock_for(cfg, stage.clock if stage is not None else "calendar")


def next_local_midnight(now: datetime, tz: str | tzinfo = "Asia/Shanghai") -> datetime:
    """Start of the next local day, in UTC (expiry of 'for the rest of today' flags)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    day = _aware(now).astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)
