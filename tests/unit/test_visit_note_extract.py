"""The visit-note reader (crm_core/extract/visit_note.py) on its tuning table: each row a free
message and the words each part must contain (None: the part stays empty and is asked for).
The held-out table is tests/unit/test_visit_note_holdout.py (never tuned on)."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from crm_core.clock import SHANGHAI
from crm_core.extract.visit_note import read_visit_note

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)     # a Wednesday

ROWS: list[tuple[str, str | None, str | None, str | None, date | None]] = [
    # labelled template, full-width marks
    ("今日沟通主题：渠道返点；客户核心诉求：返点提高到8%；我方承诺事项：周五前给政策；下次跟进时间：12月11日",
     "渠道返点", "返点提高到8%", "周五前给政策", date(2026, 12, 11)),
    # label without a colon, continuation of a labelled part
    ("核心诉求是缩短交付周期，最好两周内，下次跟进时间下周四", None, "缩短交付周期", None, date(2026, 12, 10)),
    # free sentence, each part by its cue
    ("今天和周总聊了仓储改造，他们希望年前上线，我们答应明天发实施计划，下周一再去现场",
     "仓储改造", "年前上线", "明天发实施计划", date(2026, 12, 7)),
    # 「我这边」「我方」 + a verb is our promise; 「后续我们…」 too
    ("沟通了维保方案，客户担心响应慢，我这边周四出一版服务承诺书", "维保方案", "响应慢", "服务承诺书", None),
    ("讨论了报价，后续我们提供分期付款方案，我方下周二给合同草稿", "报价", None, "分期付款方案", None),
    # a clause naming only a day: the next follow-up when nothing else is
    ("确认了上线日期，周五给客户回电话", "上线日期", None, None, date(2026, 12, 4)),
    # words separated by spaces (typed quickly or dictated)
    ("拜访纪要 聊了年度预算 客户想要分季度付款 我们负责出付款计划 下周三再约",
     "年度预算", "分季度付款", "出付款计划", date(2026, 12, 9)),
    # 再上门 / 再见面 are meetings again
    ("过了一遍采购流程，对方看重售后，月底前再上门", "采购流程", "售后", None, date(2026, 12, 31)),
    # nothing but a wish: three parts to ask for
    ("客户希望先试用一个月", None, "先试用一个月", None, None),
    # a bare 下次 without a day: no date (the bot asks)
    ("介绍了案例，下次再约", "案例", None, None, None),
    # the customer's wish that names a day is not the follow-up
    ("客户要求12月20日前交付，我们会加急排产，明天再电话确认", None, "12月20日前交付", "加急排产", date(2026, 12, 3)),
]


@pytest.mark.parametrize("text,topic,needs,commitments,next_date", ROWS)
def test_reads_parts(text: str, topic: str | None, needs: str | None, commitments: str | None,
                     next_date: date | None) -> None:
    note = read_visit_note(text, NOW)
    for got, want in ((note.topic, topic), (note.needs, needs), (note.commitments, commitments)):
        assert (got is None) if want is None else (got is not None and want in got), (got, want, note)
    assert note.next_date == next_date, note


def test_missing_lists_only_the_empty_wanted_parts() -> None:
    note = read_visit_note("聊了报价，下周一再约", NOW)
    assert note.missing() == ["needs", "commitments"]
    assert note.missing(["topic", "next_follow_up"]) == []
    assert read_visit_note("", NOW).missing() == ["topic", "needs", "commitments", "next_follow_up"]
