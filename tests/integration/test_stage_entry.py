"""Minimum effective action on entering a stage, at handler level on SQLite and PostgreSQL:
「推进阶段」 into a listed stage waits for 沟通方式 and 核心异议点 (buttons, twelve presets paged
five at a time), the last tap moves the lead and writes a `stage_entry` activity; taps are the
card's rep's only and count once; typed answers work; unlisted stages move as before; the config
refuses more than twelve presets and unknown stages; the cards render on every platform."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from cards.model import Card
from cards.render import render_dingtalk, render_feishu, render_wecom
from cards.render import dingtalk as dt_mod
from cards.render import feishu as fs_mod
from crm_core.config.coaching import StageEntry, field_work_problems
from crm_core.db.models import Activity, Lead
from crm_core.services.stages import EntryActionNeeded, advance_stage
from tests.integration.test_lead_edit import card_of, make_lead, run, said

PRESETS = ["价格", "竞品", "预算", "时机", "决策链", "功能", "交付周期", "售后", "安全合规", "付款方式", "品牌", "内部阻力"]


@pytest.fixture
def cfg(cfg):  # noqa: ANN001, ANN201
    return cfg.model_copy(update={"stage_entry": StageEntry(stages=["proposal"], objections=PRESETS)})


def rows(rt, lead_id: int, kind: str) -> list[Activity]:  # noqa: ANN001
    with rt.db.uow() as s:
        out = list(s.scalars(select(Activity).where(Activity.lead_id == lead_id, Activity.kind == kind)))
        for a in out:
            s.expunge(a)
        return out


def stage_of(rt, lead_id: int) -> tuple[str, dict]:  # noqa: ANN001
    with rt.db.uow() as s:
        lead = s.get_one(Lead, lead_id)
        return lead.stage, dict(lead.details or {})


def fits_every_platform(card: Card) -> None:
    render_wecom(card, 1000002)
    assert dt_mod._size(dt_mod.dingtalk_card_params(card)) <= dt_mod.MAX_CARD_DATA_BYTES
    assert render_dingtalk(card)["cardData"]["cardParamMap"]
    assert len(json.dumps(render_feishu(card), ensure_ascii=False).encode()) <= fs_mod.MAX_CARD_BYTES


def test_move_waits_for_channel_then_paged_objection(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    card = card_of(run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 定制方案发送"))
    assert [b.text for b in card.buttons] == ["电话", "面谈", "腾讯会议"]
    assert stage_of(runtime, lead_id)[0] == "qualify" and not rows(runtime, lead_id, "stage")   # the move waits
    fits_every_platform(card)
    page1 = card_of(run(runtime, "zhang.wei", card=card, action="entry.channel", channel="腾讯会议"))
    assert page1.card_id == card.card_id and [b.text for b in page1.buttons] == [*PRESETS[:5], "更多…"]
    page2 = card_of(run(runtime, "zhang.wei", card=page1, action="entry.more"))
    assert [b.text for b in page2.buttons] == [*PRESETS[5:10], "更多…"]
    page3 = card_of(run(runtime, "zhang.wei", card=page2, action="entry.more"))
    assert [b.text for b in page3.buttons] == [*PRESETS[10:], "回到第一页"]
    for c in (page1, page2, page3):
        fits_every_platform(c)
    out = run(runtime, "zhang.wei", card=page3, action="entry.pick", objection="内部阻力")
    assert "已推进" in said(out) and any(r.update and isinstance(r.item, Card) and r.item.result for r in out)
    stage, details = stage_of(runtime, lead_id)
    assert stage == "proposal" and not any(k.startswith("entry_") for k in details)
    move, entry = rows(runtime, lead_id, "stage"), rows(runtime, lead_id, "stage_entry")
    assert len(move) == 1 and len(entry) == 1
    assert entry[0].data == {"stage": "proposal", "move": move[0].id, "channel": "腾讯会议", "objection": "内部阻力"}
    again = run(runtime, "zhang.wei", card=page3, action="entry.pick", objection="品牌")
    assert "处理过" in said(again)
    assert len(rows(runtime, lead_id, "stage")) == 1 and len(rows(runtime, lead_id, "stage_entry")) == 1


def test_taps_are_the_movers_only(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    card = card_of(run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 定制方案发送"))
    assert "不是你负责的" in said(run(runtime, "li.na", card=card, action="entry.channel", channel="电话"))
    page = card_of(run(runtime, "zhang.wei", card=card, action="entry.channel", channel="电话"))
    assert "不是你负责的" in said(run(runtime, "chen.jie", card=page, action="entry.pick", objection="价格"))
    assert stage_of(runtime, lead_id)[0] == "qualify"


def test_typed_answers_and_unlisted_stage(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    out = run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 定制方案发送 沟通方式:微信 核心异议:价格")
    assert "不是可选的沟通方式" in said(out) and isinstance(out[-1].item, Card)
    assert stage_of(runtime, lead_id)[0] == "qualify"
    out = run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 定制方案发送 沟通方式:面谈 核心异议:价格")
    assert "已推进" in said(out) and stage_of(runtime, lead_id)[0] == "proposal"
    assert rows(runtime, lead_id, "stage_entry")[0].data["channel"] == "面谈"
    out = run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 首版报价签收 需求文件:需求.docx")   # not listed
    assert "已推进" in said(out) and len(rows(runtime, lead_id, "stage_entry")) == 1


def test_service_refuses_a_move_without_answers(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    with runtime.db.uow() as s:
        lead = s.get_one(Lead, lead_id)
        with pytest.raises(EntryActionNeeded) as err:
            advance_stage(s, runtime.cfg, lead, "proposal", "zhang.wei", "api", runtime.clock(),
                          {"entry_channel": "电话"})
        assert err.value.objections == PRESETS and lead.stage == "qualify"


def test_config_limits() -> None:
    with pytest.raises(ValidationError):
        StageEntry(objections=[f"异议{i}" for i in range(13)])
    with pytest.raises(ValidationError):
        StageEntry(channels=[])
    problems = field_work_problems({"funnel": {"stages": [{"key": "a", "name": "A"}, {"key": "won", "name": "赢单",
                                                                                      "outcome": "won"}],
                                               "objection_categories": [str(i) for i in range(13)]},
                                    "stage_entry": {"stages": ["a", "won", "nope"]},
                                    "coaching": {"pairs": [["a", "zzz"]], "material": {"x": {"text": "t"}}}})
    text = "\n".join(problems)
    assert "stage_entry.stages[1]" in text and "stage_entry.stages[2]" in text and "coaching.pairs[0][1]" in text
    assert "coaching.material.x" in text and "stage_entry.objections" in text and len(problems) == 5
