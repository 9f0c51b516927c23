"""The 晨会打卡, 《重点客户日志》 and 日报 cards at their largest (15 offered leads with long titles,
five moves, a report of 40 lines each) render on WeCom, DingTalk and Feishu within each
platform's size limits, with every button's tap decoding back to its action and values; the
buttons follow the picks (选 → 取消, the 提交 count), and the text lines say what moved."""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from cards.model import Card
from cards.render import dingtalk_card_params, render_feishu, render_text, render_wecom
from cards.render import dingtalk as dt_mod, feishu as fs_mod, wecom as wc_mod
from crm_core.config import load_config
from crm_core.notices import CheckinCard, DailyReportForward, FocusLog
from handlers.checkin_cards import (PICK, SUBMIT, UNPICK, checkin_card, focus_log, forwarded_report, lead_line,
                                    move_line, report_card)
from tests.conftest import EXAMPLE
from tests.unit.test_cards import _taps

DAY = date(2026, 11, 23)
LONG = "杭州某某市第一人民医院医学影像中心数字化升级改造项目" * 3


def item(i: int) -> dict:
    return {"lead_id": 1000 + i, "title": f"{LONG}{i}", "customer": "杭州示例医疗科技有限公司", "stage": "方案报价",
            "due": (DAY + timedelta(days=i - 2)).isoformat(), "due_kind": "阶段时限", "health": 55.5 + i,
            "budget_cny": 1_000_000 * i, "status": "open"}


def move(i: int, went: bool) -> dict:
    return {"lead_id": 1000 + i, "title": f"{LONG}{i}", "customer": None, "status": "won" if i == 4 else "open",
            "stages": ["需求确认 → 方案报价"] if went else [], "follow_ups": 2 if went else 0, "todos_done": 1 if went else 0}


@pytest.fixture(scope="module")
def cfg():  # noqa: ANN201
    return load_config(EXAMPLE, env={})


def biggest_checkin() -> CheckinCard:
    return CheckinCard(to_rep="zhang.wei", date=DAY.isoformat(), picks=5, items=[item(i) for i in range(1, 16)],
                       moves=[move(i, i % 2 == 0) for i in range(1, 6)], moves_date="2026-11-20",
                       dedupe_key="checkin.card:zhang.wei:2026-11-23")


def report(n: int) -> dict:
    lead = {"lead_id": 7, "title": LONG, "customer": "杭州示例医疗科技有限公司"}
    return {"rep": "zhang.wei", "date": DAY.isoformat(),
            "follow_ups": [{**lead, "text": "电话沟通报价" * 3, "at": "10:05"}] * n,
            "stage_moves": [{**lead, "text": "阶段:需求确认 → 方案报价", "at": "11:00"}] * n,
            "todos_done": [{"task_id": 5, "title": "寄样品", "customer": "杭州示例医疗"}] * n,
            "todos_new": [{"task_id": 6, "title": "报价", "customer": "杭州示例医疗", "due": "2026-11-25"}] * n,
            "new_leads": [lead] * n}


def assert_fits(card: Card) -> None:
    tc = render_wecom(card, 1)["template_card"]
    assert len(tc.get("sub_title_text", "").encode()) <= wc_mod.LIMITS["sub_title_text"]
    assert dt_mod._size(dingtalk_card_params(card)) <= dt_mod.MAX_CARD_DATA_BYTES
    for schema in ("2.0", "1.0"):
        assert len(json.dumps(render_feishu(card, schema), ensure_ascii=False).encode()) <= fs_mod.MAX_CARD_BYTES
    if not card.buttons:
        return
    want = [{"action": b.action, **b.value} for b in card.buttons]
    for platform, taps in _taps(card).items():
        assert [{"action": t.action, **t.values} for t in taps] == want, platform


def test_biggest_checkin_card_fits_every_platform(cfg) -> None:  # noqa: ANN001
    notice = biggest_checkin()
    card = checkin_card(cfg, notice, [1001, 1003])
    assert len(card.buttons) == 6
    assert [b.action for b in card.buttons] == [UNPICK, PICK, UNPICK, PICK, PICK, SUBMIT]
    assert card.buttons[-1].text == "提交（已选 2/5）"
    assert_fits(card)
    text = render_text(card)
    assert "15. #1015" in text and "上次主攻进展" in text and "2 个有进展" in text


def test_log_and_reports_fit_every_platform(cfg) -> None:  # noqa: ANN001
    log = FocusLog(to_rep="wang.fang", as_supervisor=True, rep="zhang.wei", rep_name="张伟", date=DAY.isoformat(),
                   picks=[item(i) for i in range(1, 6)], moves=[move(i, False) for i in range(1, 6)],
                   moves_date="2026-11-20")
    assert_fits(focus_log(cfg, log))
    rep_card = report_card("report-1", "张伟", report(40), forward=True)
    assert_fits(rep_card)
    assert "…另有 34 条" in render_text(rep_card)
    fwd = forwarded_report(cfg, DailyReportForward(to_rep="wang.fang", as_supervisor=True, rep="zhang.wei",
                                                   rep_name="张伟", date=DAY.isoformat(), report=report(40)))
    assert_fits(fwd)
    assert not fwd.buttons and "张伟转发的日报" in render_text(fwd)


def test_lines_say_what_moved() -> None:
    assert move_line(move(2, True)).startswith("✔ #1002")
    assert "推进 需求确认 → 方案报价;跟进 2 次;完成待办 1 项" in move_line(move(2, True))
    assert move_line(move(1, False)).endswith("没有进展") and move_line(move(1, False)).startswith("✘")
    assert "已赢单" in move_line(move(4, False))
    assert "阶段时限已逾期 1 天" in lead_line(1, item(1), DAY) and "¥100万" in lead_line(1, item(1), DAY)
    assert "今天到期" in lead_line(2, item(2), DAY)
    assert "今天还没有记录" in render_text(report_card("report-2", "张伟", report(0), forward=False))


def test_supervisor_digest_says_who_checked_in(cfg) -> None:  # noqa: ANN001
    from crm_core.notices import DigestSupervisor
    from handlers.health_cards import digest_supervisor
    base: dict[str, Any] = dict(to_rep="wang.fang", date=DAY.isoformat(), teams=["华东医疗"], penetration=[], overdue=[], red=[],
                red_total=0)
    text = render_text(digest_supervisor(cfg, DigestSupervisor(**base, checkins=[
        {"rep": "zhang.wei", "name": "张伟", "checked_in": True, "picks": 3},
        {"rep": "li.na", "name": "李娜", "checked_in": False, "picks": 0}])))
    assert "晨会打卡（已打卡 1 / 2 人）" in text or "晨会打卡(已打卡 1 / 2 人)" in text
    assert "已打卡:张伟" in text and "未打卡:李娜" in text
    assert "晨会打卡" not in render_text(digest_supervisor(cfg, DigestSupervisor(**base)))
