"""Working-time calendar: weekends, public holidays, make-up working days (调休), hours
outside the daily window, backwards arithmetic, and the plain calendar clock."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from crm_core.config.schema import Calendar
from crm_core.worktime import PlainClock, WorkCalendar, clock_for, next_local_midnight, stage_clock

SH = ZoneInfo("Asia/Shanghai")
CAL = Calendar(work_days=[1, 2, 3, 4, 5], work_hours=("09:00", "18:00"),
               holidays=[date(2027, 1, 1), date(2027, 2, 16), date(2027, 2, 17), date(2027, 2, 18)],
               makeup_workdays=[date(2027, 2, 7)])


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime (what services pass around)."""
    return datetime(y, mo, d, h, mi, tzinfo=SH).astimezone(timezone.utc)


@pytest.fixture
def wc() -> WorkCalendar:
    return WorkCalendar(CAL, "Asia/Shanghai")


@pytest.mark.parametrize("start, hours, expected", [
    (sh(2027, 1, 4, 10), 3, sh(2027, 1, 4, 13)),            # inside one day
    (sh(2027, 1, 4, 17), 2, sh(2027, 1, 5, 10)),            # overnight carry
    (sh(2027, 1, 4, 9), 9, sh(2027, 1, 4, 18)),             # exactly the whole day
    (sh(2027, 1, 4, 7), 1, sh(2027, 1, 4, 10)),             # before hours: counting starts at 09:00
    (sh(2027, 1, 4, 20), 1, sh(2027, 1, 5, 10)),            # after hours
    (sh(2027, 1, 2, 12), 1, sh(2027, 1, 4, 10)),            # Saturday → Monday
    (sh(2026, 12, 31, 17), 2, sh(2027, 1, 4, 10)),          # New Year holiday Friday + weekend
    (sh(2027, 1, 4, 9), 72, sh(2027, 1, 13, 18)),           # 72 working hours = 8 working days
    (sh(2027, 2, 5, 17), 2, sh(2027, 2, 7, 10)),            # 调休: Sunday 7 Feb works
    (sh(2027, 2, 15, 17), 2, sh(2027, 2, 19, 10)),          # Spring Festival 16–18 Feb skipped
    (sh(2027, 1, 4, 10), -2, sh(2026, 12, 31, 17)),         # backwards over holiday and weekend
    (sh(2027, 1, 4, 10), 0, sh(2027, 1, 4, 10)),
    (sh(2027, 1, 3, 10), 0, sh(2027, 1, 3, 10)),            # zero never moves, even on a day off
])
def test_add_hours(wc: WorkCalendar, start: datetime, hours: float, expected: datetime) -> None:
    assert wc.add_hours(start, hours) == expected


@pytest.mark.parametrize("a, b, hours", [
    (sh(2027, 1, 4, 10), sh(2027, 1, 4, 12, 30), 2.5),
    (sh(2027, 1, 8, 17), sh(2027, 1, 11, 10), 2),           # Friday evening → Monday morning
    (sh(2027, 1, 9, 0), sh(2027, 1, 10, 23), 0),            # a weekend has no working hours
    (sh(2027, 2, 6, 0), sh(2027, 2, 8, 0), 9),              # Saturday off, 调休 Sunday counts 9 h
    (sh(2027, 2, 15, 18), sh(2027, 2, 19, 9), 0),           # holiday week
    (sh(2027, 1, 11, 10), sh(2027, 1, 8, 17), -2),          # reversed gives the negative
    (sh(2027, 1, 4, 3), sh(2027, 1, 4, 23), 9),
])
def test_hours_between(wc: WorkCalendar, a: datetime, b: datetime, hours: float) -> None:
    assert wc.hours_between(a, b) == pytest.approx(hours)


def test_add_then_measure_round_trips(wc: WorkCalendar) -> None:
    rnd = random.Random(7)
    base = sh(2027, 1, 1)
    for _ in range(300):
        start = base + timedelta(minutes=rnd.randrange(0, 60 * 24 * 70))
        hours = rnd.choice([0.5, 1, 2.25, 9, 24, 72, 120])
        end = wc.add_hours(start, hours)
        assert wc.hours_between(start, end) == pytest.approx(hours)
        assert wc.is_workday(end.astimezone(SH).date()) or end.astimezone(SH).hour == 0
        assert wc.add_hours(end, -hours) <= max(start, end)


@pytest.mark.parametrize("day, works", [
    (date(2027, 1, 1), False), (date(2027, 1, 4), True), (date(2027, 2, 6), False),
    (date(2027, 2, 7), True), (date(2027, 2, 17), False), (date(2027, 2, 19), True),
])
def test_is_workday(wc: WorkCalendar, day: date, works: bool) -> None:
    assert wc.is_workday(day) is works


def test_end_of_day_window_and_custom_weekdays() -> None:
    cal = WorkCalendar(Calendar(work_days=[6, 7], work_hours=("20:00", "24:00")), "Asia/Shanghai")
    assert cal.add_hours(sh(2027, 1, 4, 12), 5) == sh(2027, 1, 10, 21)   # Sat 20-24 + Sun 1 h
    assert cal.hours_between(sh(2027, 1, 9), sh(2027, 1, 11)) == 8


def test_plain_clock_counts_every_hour() -> None:
    clock = PlainClock()
    assert clock.add_hours(sh(2027, 1, 1, 17), 72) == sh(2027, 1, 4, 17)
    assert clock.hours_between(sh(2027, 1, 2), sh(2027, 1, 3, 6)) == 30


@pytest.mark.parametrize("bad", [("18:00", "09:00"), ("09:00", "09:00")])
def test_rejects_inverted_hours(bad: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        WorkCalendar(Calendar(work_hours=bad))


def test_naive_datetimes_are_refused(wc: WorkCalendar) -> None:
    with pytest.raises(ValueError):
        wc.add_hours(datetime(2027, 1, 4, 10), 1)


def test_no_working_day_fails_instead_of_looping() -> None:
    with pytest.raises(ValueError):
        WorkCalendar(Calendar(work_days=[]), "Asia/Shanghai").add_hours(sh(2027, 1, 4, 10), 1)


def test_clock_choice_follows_stage(cfg) -> None:  # noqa: ANN001
    assert stage_clock(cfg, "proposal").kind == "working"
    assert stage_clock(cfg, "qualify").kind == "calendar"
    assert stage_clock(cfg, "no-such-stage").kind == "calendar"
    with pytest.raises(ValueError):
        clock_for(cfg, "lunar")


def test_next_local_midnight() -> None:
    assert next_local_midnight(sh(2027, 1, 4, 23, 59)) == sh(2027, 1, 5)
    assert next_local_midnight(sh(2027, 1, 5, 0, 0)) == sh(2027, 1, 6)
