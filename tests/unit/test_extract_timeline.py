"""Timeline resolution against an injected clock (Asia/Shanghai), across month and year ends."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from crm_core.extract.text import clean
from crm_core.extract.timeline import find_timeline

SH = ZoneInfo("Asia/Shanghai")
SUN_NOV_22 = datetime(2026, 11, 22, 10, 0, tzinfo=SH)


@pytest.mark.parametrize("text, expected", [
    ("3月招标", "2027-03"),
    ("三月份", "2027-03"),
    ("12月", "2026-12"),
    ("11月", "2026-11"),
    ("下个月", "2026-12"),
    ("年底", "2026-12"),
    ("明年初", "2027-01"),
    ("明年3月", "2027-03"),
    ("2027年5月", "2027-05"),
    ("二零二七年三月", "2027-03"),
    ("十二月中旬", "2026-12"),
    ("一个月后", "2026-12"),
    ("in March", "2027-03"),
    ("year end", "2026-12"),
])
def test_month_level_expressions(text, expected):
    assert find_timeline(clean(text), SUN_NOV_22) == expected


@pytest.mark.parametrize("text, expected", [
    ("下周三", "2026-11-25"),
    ("周五", "2026-11-27"),
    ("这周五", "2026-11-27"),
    ("下下周一", "2026-11-30"),
    ("下周", "2026-11-23"),
    ("下周 三", "2026-11-25"),
    ("周末", "2026-11-28"),
    ("礼拜天", "2026-11-29"),
    ("月底", "2026-11-30"),
    ("下个月底", "2026-12-31"),
    ("下个月月底之前", "2026-12-31"),
    ("明天", "2026-11-23"),
    ("后天", "2026-11-24"),
    ("大后天", "2026-11-25"),
    ("三天后", "2026-11-25"),
    ("过两天", "2026-11-24"),
    ("两周后", "2026-12-06"),
    ("3月15号", "2027-03-15"),
    ("三月十五号", "2027-03-15"),
    ("15号", "2026-12-15"),
    ("十五号", "2026-12-15"),
    ("30号", "2026-11-30"),
    ("下月10号", "2026-12-10"),
    ("12.15前递交", "2026-12-15"),
    ("元旦前", "2027-01-01"),
    ("next Tuesday", "2026-11-24"),
    ("this Friday", "2026-11-27"),
    ("tomorrow", "2026-11-23"),
    ("end of month", "2026-11-30"),
    ("end of next month", "2026-12-31"),
    ("March 15", "2027-03-15"),
    ("15th of January", "2027-01-15"),
    ("by March 3, 2027", "2027-03-03"),
    ("in two weeks", "2026-12-06"),
])
def test_day_level_expressions(text, expected):
    assert find_timeline(clean(text), SUN_NOV_22) == expected


@pytest.mark.parametrize("now, text, expected", [
    (datetime(2026, 12, 29, 15, 0, tzinfo=SH), "下周一", "2027-01-04"),     # across the year end
    (datetime(2026, 12, 29, 15, 0, tzinfo=SH), "下个月", "2027-01"),
    (datetime(2026, 12, 29, 15, 0, tzinfo=SH), "1月8日", "2027-01-08"),
    (datetime(2027, 1, 31, 9, 0, tzinfo=SH), "月底", "2027-01-31"),
    (datetime(2027, 1, 31, 9, 0, tzinfo=SH), "下个月底", "2027-02-28"),      # February is short
    (datetime(2028, 1, 31, 9, 0, tzinfo=SH), "下个月底", "2028-02-29"),      # leap year
    (datetime(2026, 1, 31, 9, 0, tzinfo=SH), "30号", "2026-03-30"),          # no 30 February
    (datetime(2026, 3, 20, 9, 0, tzinfo=SH), "3月15号", "2027-03-15"),       # a past day rolls over
    (datetime(2026, 4, 17, 17, 0, tzinfo=SH), "下周二", "2026-04-21"),
    # 23:30 UTC on 31 Dec is already 1 Jan in Shanghai
    (datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc), "明天", "2027-01-02"),
])
def test_relative_dates_across_boundaries(now, text, expected):
    assert find_timeline(clean(text), now) == expected


@pytest.mark.parametrize("text", ["3个月", "月租", "2号线", "今天跟张总聊了", "上周拜访过", "we may meet", "上个月"])
def test_no_future_date(text):
    assert find_timeline(clean(text), SUN_NOV_22) is None


def test_past_expression_does_not_hide_the_next_one():
    assert find_timeline(clean("上周拜访过 下周三演示"), SUN_NOV_22) == "2026-11-25"
