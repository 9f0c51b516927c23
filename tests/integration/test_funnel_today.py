"""`crm-bot report funnel` and the funnel API count the stage moves made today (SQLite and
PostgreSQL, frozen clock): entries whose 7-day window is still open are shown apart with what
they reached so far, and today's moves (the org's day, Asia/Shanghai) are listed per step."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from click.testing import CliRunner

from bot.cli.workflow import report_funnel_cmd
from crm_core.db.models import Lead
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.funnel_report import day_start, stage_penetration, today_moves
from crm_core.services.lead_input import LeadInput
from crm_core.services.stages import advance_stage

TOKEN = {"Authorization": "Bearer change-me-local-token"}


def new_lead(rt, now: datetime) -> int:  # noqa: ANN001
    data = {"source": "chat", "company": f"杭州{uuid.uuid4().hex[:4]}医疗器械有限公司", "contact_name": "王总",
            "phone": "13812345678", "budget_cny": 500_000, "industry": "医疗", "region": "浙江"}
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, LeadInput(**data), actor="zhang.wei", platform="wecom", now=now).lead
        give_lead(s, lead, rt.cfg.org.rep("zhang.wei"), "east-medical", "测试分配", "system", now)
        return lead.id


def move(rt, lead_id: int, to: str, at: datetime) -> None:  # noqa: ANN001
    with rt.db.uow() as s:
        advance_stage(s, rt.cfg, s.get(Lead, lead_id), to, "zhang.wei", "wecom", at,
                      {"requirements_file": "需求.pdf", "proposal_file": "方案.pdf"})


def test_same_day_moves_are_counted(runtime, clock) -> None:  # noqa: ANN001
    now = clock.now                                   # 14:00 in Shanghai
    midnight = day_start(now, "Asia/Shanghai")
    assert midnight.utcoffset() == timedelta(hours=8) and (now - midnight) == timedelta(hours=14)
    yesterday = new_lead(runtime, midnight - timedelta(hours=3))
    move(runtime, yesterday, "proposal", midnight - timedelta(minutes=1))        # 23:59 yesterday
    a, b, c = (new_lead(runtime, now - timedelta(hours=2)) for _ in range(3))
    move(runtime, a, "proposal", now - timedelta(hours=1))
    move(runtime, b, "proposal", now - timedelta(minutes=30))
    move(runtime, b, "quote", now)                    # at the clock's own instant: counted
    clock.now = now
    with runtime.db.uow() as s:
        moves = [m.as_dict() for m in today_moves(s, runtime.cfg, now)]
        pen = stage_penetration(s, runtime.cfg, "qualify", "proposal", now)
    assert moves == [{"from": "qualify", "to": "proposal", "count": 2},
                     {"from": "proposal", "to": "quote", "count": 1}]
    # no window has closed, so the closed figure stays 0/0; the open one shows the day's work
    assert (pen.overall.entered, pen.overall.reached) == (0, 0)
    assert pen.open.as_dict() == {"entered": 4, "reached": 3, "rate": 0.75}
    out = CliRunner().invoke(report_funnel_cmd, [], obj=runtime)
    assert out.exit_code == 0, out.output
    assert "近 7 天进入（尚在观察期）：4 条，已到达 3 条" in out.output
    assert "今日阶段变动：3 次" in out.output and "需求确认 → 定制方案发送：2 次" in out.output
    data = json.loads(CliRunner().invoke(report_funnel_cmd, ["--json"], obj=runtime).output)
    assert [m["count"] for m in data["moves_today"]] == [2, 1]
    # proposal → quote: yesterday's, a's and b's entries are in their window; b reached quote
    assert data["reports"][1]["open"] == {"entered": 3, "reached": 1, "rate": 0.3333}


def test_funnel_api_lists_todays_moves(runtime, clock) -> None:  # noqa: ANN001
    from bot.web import create_app
    lead = new_lead(runtime, clock.now - timedelta(hours=1))
    move(runtime, lead, "proposal", clock.now)
    client = create_app(runtime).test_client()
    body = client.get("/api/v1/reports/funnel", headers=TOKEN).get_json()
    assert body["moves_today"] == [{"from": "qualify", "to": "proposal", "count": 1,
                                    "from_name": "需求确认", "to_name": "定制方案发送"}]
    clock.now += timedelta(days=1)                    # tomorrow: nothing moved yet
    assert client.get("/api/v1/reports/funnel", headers=TOKEN).get_json()["moves_today"] == []
