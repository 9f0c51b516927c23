"""The journey lines of 「查客户」 as the viewer may see money (visible, masked to a size band,
hidden) and the dashboard card's text (crm_core/clv/report.py → handlers/clv_cards.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from crm_core.config import load_config
from crm_core.services.journey import JourneyItem
from handlers.clv_cards import dashboard_lines, journey_lines, yuan
from tests.conftest import EXAMPLE
from tests.unit.test_notices import SAMPLES

AT = datetime(2026, 11, 20, 2, tzinfo=timezone.utc)
ITEMS = [JourneyItem(AT, "order", "订单", "web_form", "官网表单", "订单 o1", 120000.0, 30000.0, True),
         JourneyItem(AT, "service_ticket", "客服工单", "service", "客户服务", clv_impact=True)]


def test_journey_lines_follow_the_money_level():
    cfg = load_config(EXAMPLE, env={})
    assert journey_lines(cfg, ITEMS) == ["· 2026-11-20 下单 12.0 万元(毛利 3.0 万元)〔欺诈,不计〕 · 官网表单",
                                         "· 2026-11-20 客服工单〔影响客户价值〕 · 客户服务"]
    assert journey_lines(cfg, ITEMS, amounts="masked")[0] == "· 2026-11-20 下单 10万–50万〔欺诈,不计〕 · 官网表单"
    assert journey_lines(cfg, ITEMS, amounts="hidden")[0] == "· 2026-11-20 下单〔欺诈,不计〕 · 官网表单"


def test_money_and_dashboard_text():
    assert (yuan(980), yuan(12345), yuan(2.5e8)) == ("980 元", "1.2 万元", "2.5 亿元")
    from crm_core.notices import ClvDashboardNotice
    lines = dashboard_lines(SAMPLES[ClvDashboardNotice]().dashboard)   # type: ignore[attr-defined]
    assert lines[1] == "· C3 杭州示例医疗科技有限公司:4.0 万元 → 2.1 万元(下降 48%),45 天无互动"
    assert "1. 广告投放:5,000 元,3.0 单,投入产出比 2.5" in lines


def test_clv_line_above_the_journey():
    from datetime import date

    from handlers.clv_cards import clv_line
    day = date(2026, 12, 5)
    assert clv_line(41000.0, 50000.0, day) == "客户终身价值:4.1 万元(较上月 -18%,12-05 测算)"
    assert clv_line(980.0, None, day) == "客户终身价值:980 元(12-05 测算)"
    assert clv_line(120000.0, 1.0, day, "masked") == "客户终身价值:10万–50万"
    assert clv_line(120000.0, 1.0, day, "hidden") is None
