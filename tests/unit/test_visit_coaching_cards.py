"""Issue 17's cards at their largest render within every platform's limits: the 下次跟进时间
question with five configured day buttons, the saved visit note with 500-character parts, the
stage-entry objection page, and the coaching card with long material and 12 weeks of figures."""
from __future__ import annotations

import json
from datetime import date

import pytest

from cards.model import Button, Card, MAX_BUTTONS
from cards.render import dingtalk as dt_mod
from cards.render import feishu as fs_mod
from cards.render import render_feishu, render_wecom
from cards.render.text import render_text
from crm_core.config import load_config
from crm_core.notices import CoachingPush, CoachingWeek
from crm_core.services.visit_note import VisitParts
from handlers.coaching_cards import coaching_card
from handlers.stage_entry import objection_page
from handlers.visit_cards import saved_card, when_card
from tests.conftest import EXAMPLE

LONG = "客户希望统一三个分公司的采购价格并且分季度付款" * 20


def cards() -> list[Card]:
    cfg = load_config(EXAMPLE, env={})
    stub = Card(card_id="stage-entry-123456-abcdefabcdef", title="线索#123456 某某集团华东区域数据中台二期项目 进入「定制方案发送」")
    return [
        when_card(123456, "某某集团华东区域数据中台二期项目" * 3, ["明天", "后天", "下周一", "下周三", "月底"], said="下次再约"),
        saved_card(123456, "某某集团" * 10, VisitParts(LONG[:500], LONG[:500], LONG[:500], date(2026, 12, 31)), 987654),
        objection_page(stub, 123456, "proposal", "腾讯会议", [f"异议点{i}很长很长的名字" for i in range(12)], 2),
        coaching_card(cfg, CoachingPush(
            to_rep="zhang.wei", as_supervisor=True, rep="zhang.wei", rep_name="张伟", from_stage="proposal",
            to_stage="quote", from_name="定制方案发送", to_name="首版报价签收",
            weeks=tuple(CoachingWeek(f"2026-{m:02d}-0{d}", 9, 2) for m, d in zip(range(1, 9), [5] * 8)),
            min_rate=0.65, window_days=7, material="方案讲解三步法" * 40, link="https://wiki.example.com/" + "a" * 400)),
    ]


@pytest.mark.parametrize("card", cards(), ids=lambda c: c.card_id.split("-")[0] + "-" + c.card_id.split("-")[1])
def test_renders_within_limits(card: Card) -> None:
    assert len(card.buttons) <= MAX_BUTTONS
    render_wecom(card, 1000002)
    assert dt_mod._size(dt_mod.dingtalk_card_params(card)) <= dt_mod.MAX_CARD_DATA_BYTES
    for schema in ("2.0", "1.0"):
        assert len(json.dumps(render_feishu(card, schema), ensure_ascii=False).encode()) <= fs_mod.MAX_CARD_BYTES
    assert card.title in render_text(card)
    assert all(isinstance(b, Button) and len(b.token(card.card_id).encode()) <= 1024 for b in card.buttons)
