"""Chart pictures of report cards: the spec on the card (validated, stored and read back), the
PNG drawn from it (valid, Chinese glyphs present, the same bytes each time) and where each
platform's card puts the uploaded picture."""
from __future__ import annotations

import io
import json
import warnings

import pytest
from PIL import Image

from cards.charts import ChartUnavailable, find_cjk_font, render_png
from cards.model import Card, CardError, Chart, Field, Series, card_from_dict, card_to_dict
from cards.render.dingtalk import dingtalk_card_params
from cards.render.feishu import render_feishu
from cards.render.text import render_text
from sandbox.feishu_cards import card_problem

PENETRATION = Chart("bar", "各阶段推进率", ("初步接触→需求确认", "需求确认→方案报价"),
                    (Series("华东一组", (55.5, 40)), Series("华南组", (30, 20))), unit="%")
FUNNEL = Chart("funnel", "销售漏斗", ("初步接触", "需求确认", "方案报价", "赢单"), (Series("", (100, 60, 30, 12)),))
TREND = Chart("line", "月度新增客户", ("9月", "10月", "11月"), (Series("", (12, 18, 9)),), unit="家")


def _card(chart: Chart | None = PENETRATION) -> Card:
    return Card(card_id="merge-report-2026-11", title="2026-11 客户去重月报", fields=(Field("合并组数", "3"),),
                text="按来源：展会 2", chart=chart)


@pytest.mark.parametrize("chart", [PENETRATION, FUNNEL, TREND], ids=["bar", "funnel", "line"])
def test_render_png_is_a_valid_picture_with_every_chinese_glyph(chart):
    with warnings.catch_warnings():
        # matplotlib warns "Glyph 25512 (\N{CJK UNIFIED IDEOGRAPH-63A8}) missing from font(s)" for tofu
        warnings.simplefilter("error")
        png = render_png(chart)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 5_000 < len(png) < 500_000
    img = Image.open(io.BytesIO(png))
    img.verify()
    assert img.format == "PNG" and img.size[0] >= 800


def test_the_same_chart_is_the_same_file_and_another_chart_another():
    from cards import charts
    first = render_png(FUNNEL)
    charts._render.cache_clear()        # drawn again, not taken from the cache
    assert render_png(FUNNEL) == first
    assert render_png(TREND) != first


def test_a_missing_font_is_said_clearly():
    with pytest.raises(ChartUnavailable, match="reports.font"):
        render_png(FUNNEL, font="/nonexistent/font.ttf")
    assert find_cjk_font().endswith((".ttc", ".ttf", ".otf"))


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "pie"}, "图表类型"),
    ({"labels": ()}, "分类"),
    ({"series": (Series("a", (1, 2)),)}, "个值"),
    ({"kind": "funnel", "series": (Series("a", (1, 2, 3)), Series("b", (1, 2, 3)))}, "数据系列数量"),
    ({"title": " "}, "标题"),
])
def test_bad_charts_are_refused(kwargs, message):
    spec = {"kind": "bar", "title": "图", "labels": ("甲", "乙", "丙"), "series": (Series("", (1, 2, 3)),), **kwargs}
    with pytest.raises(CardError, match=message):
        Chart(**spec)
    with pytest.raises(CardError, match="有限"):
        Series("", (1.0, float("nan")))


def test_a_card_keeps_its_chart_through_storage():
    card = _card()
    again = card_from_dict(json.loads(json.dumps(card_to_dict(card))))
    assert again == card and again.chart == PENETRATION
    assert card_from_dict(json.loads(json.dumps(card_to_dict(_card(None))))).chart is None


def test_feishu_shows_the_uploaded_picture_only_when_there_is_one():
    with_image = render_feishu(_card(), image_key="img_v3_abc")
    images = [e for e in with_image["body"]["elements"] if e["tag"] == "img"]
    assert images == [{"tag": "img", "img_key": "img_v3_abc", "alt": {"tag": "plain_text", "content": "各阶段推进率"},
                       "preview": True, "scale_type": "fit_horizontal"}]
    assert card_problem(with_image) is None                     # schema 2.0 takes the element
    assert not [e for e in render_feishu(_card())["body"]["elements"] if e["tag"] == "img"]
    assert not [e for e in render_feishu(_card(None), image_key="img_v3_abc")["body"]["elements"] if e["tag"] == "img"]
    v1 = render_feishu(_card(), "1.0", image_key="img_v3_abc")
    assert any(e["tag"] == "img" and e["img_key"] == "img_v3_abc" for e in v1["elements"])


def test_dingtalk_puts_the_media_id_in_the_chart_variable():
    assert dingtalk_card_params(_card(), "@lADPabc")["chart"] == "@lADPabc"
    assert dingtalk_card_params(_card())["chart"] == ""
    assert dingtalk_card_params(_card(None), "@lADPabc")["chart"] == ""


def test_the_text_version_keeps_every_figure():
    text = render_text(_card())
    assert "合并组数: 3" in text and "展会 2" in text


def test_the_supervisor_digest_draws_its_stage_penetration(cfg):  # noqa: ANN001
    from crm_core.notices import DigestSupervisor
    from handlers.health_cards import digest_supervisor
    from handlers.report_charts import penetration_chart
    items = [{"team": "east-medical", "from": "初步接触", "to": "需求确认", "entered": 10, "reached": 5, "rate": 0.5},
             {"team": "south-industry", "from": "初步接触", "to": "需求确认", "entered": 4, "reached": 1, "rate": 0.25},
             {"team": "east-medical", "from": "需求确认", "to": "方案报价", "entered": 3, "reached": 2, "rate": 0.6667}]
    chart = penetration_chart(cfg, items)
    assert chart is not None and chart.unit == "%"
    assert chart.labels == ("初步接触→需求确认", "需求确认→方案报价")
    assert [(s.name, s.values) for s in chart.series] == [("华东医疗", (50.0, 66.7)), ("华南制造", (25.0, 0.0))]
    assert penetration_chart(cfg, []) is None
    notice = DigestSupervisor(to_rep="wang.fang", date="2026-11-23", teams=["华东医疗"], penetration=items,
                              overdue=[], red=[], red_total=0)
    card = digest_supervisor(cfg, notice)
    assert card.chart == chart and "初步接触 → 需求确认" in (card.text or "")
    render_png(chart)          # draws


def test_the_clv_dashboard_draws_its_channel_ranking(cfg):  # noqa: ANN001
    from crm_core.clv.report import ChannelRoi, ClvDashboard
    from crm_core.notices import ClvDashboardNotice
    from handlers.clv_cards import clv_dashboard_card
    board = ClvDashboard(month="2026-11", model="mix", model_label="末次70%+首次30%", as_of=None, customers=2,
                         total_clv=52000.0, month_margin=8000.0, high_value_from=30000.0, at_risk=(), at_risk_total=0,
                         channels=(ChannelRoi("expo", "展会", 12000.0, 2.0, None, None),
                                   ChannelRoi("ads", "广告投放", 53000.0, 3.0, 2000.0, 26.5),
                                   ChannelRoi("web", "官网", -3000.0, 1.0, 4000.0, -0.75)),
                         winbacks=())
    card = clv_dashboard_card(cfg, ClvDashboardNotice(to_rep="wang.fang", dashboard=board))
    assert card.chart is not None and card.chart.labels == ("广告投放", "展会", "官网")
    assert card.chart.series[0].values == (5.3, 1.2, -0.3) and card.chart.unit == "万"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert render_png(card.chart).startswith(b"\x89PNG")      # a loss-making channel draws too
    empty = ClvDashboard(**{**board.__dict__, "channels": ()})
    assert clv_dashboard_card(cfg, ClvDashboardNotice(to_rep="wang.fang", dashboard=empty)).chart is None
