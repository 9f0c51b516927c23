"""The morning focus check-in and the 日报, end to end on each platform (the real server over HTTP
through the sandbox): the morning_checkin job sends the rep a 晨会打卡 card; 选 taps update it in
place; 提交 sends the 《重点客户日志》 to the rep's supervisor (on the supervisor's platform) once —
a second 提交 is refused; 「日报」 arrives as a card and 转发给主管 sends it to the supervisor once.
Every day is a working day in this config, so the job runs whatever day the suite runs."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from bot.job_runs import run_job_now
from crm_core.clock import local
from crm_core.config.schema import Calendar
from crm_core.db.models import FocusCheckin
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from sandbox.stack import LocalStack
from tests.e2e.conftest import REPS

OWNER = {"wecom": "zhang.wei", "dingtalk": "li.na", "feishu": "chen.jie"}
OWNER_NAME = {"wecom": "张伟", "dingtalk": "李娜", "feishu": "陈杰"}
COMPANIES = ("杭州优品电子商务有限公司", "宁波康达医疗器械有限公司", "苏州瑞达物流有限公司")


def seed(db, cfg, owner: str) -> list[int]:  # noqa: ANN001
    now = datetime.now(timezone.utc)
    ids = []
    with db.uow() as s:
        for company in COMPANIES:
            res = intake_lead(s, cfg, LeadInput(source="chat", company=company, contact_name="李经理", next_action="拜访",
                                                timeline=local(now, cfg.app.timezone).date().isoformat()),
                              actor=owner, platform="wecom", now=now, owner_rep_id=owner)
            ids.append(res.lead.id)
    return ids


def all_text(stack: LocalStack) -> str:
    return "\n".join(stack.sim.sent_as_text([c]) for p in ("wecom", "dingtalk", "feishu") for c in stack.sandbox.sent(p))


def test_morning_checkin_and_daily_report(platform, cfg, db, db_url) -> None:  # noqa: ANN001
    every_day = cfg.model_copy(update={"calendar": Calendar(work_days=[1, 2, 3, 4, 5, 6, 7])})
    owner, user = OWNER[platform], REPS[platform]
    leads = seed(db, every_day, owner)
    with LocalStack(every_day, db_url) as stack:
        assert run_job_now(stack.rt, "morning_checkin", datetime.now(timezone.utc)).ok
        assert stack.settle()
        card = next(c for c in stack.sandbox.sent(platform) if "晨会打卡" in stack.sim.sent_as_text([c]))
        first, second = leads[0], leads[1]
        assert stack.sim.tap(platform, user, card, "checkin.pick", pick=str(first)).status_code == 200
        assert stack.settle()
        assert stack.sim.tap(platform, user, card, "checkin.pick", pick=str(second)).status_code == 200
        assert stack.settle()
        with db.uow() as s:
            row = s.scalars(select(FocusCheckin).where(FocusCheckin.rep_id == owner)).one()
            assert sorted(row.picks) == sorted([first, second]) and row.status == "open"
        assert stack.sim.tap(platform, user, card, "checkin.submit").status_code == 200
        assert stack.settle()
        with db.uow() as s:
            row = s.scalars(select(FocusCheckin).where(FocusCheckin.rep_id == owner)).one()
            assert row.status == "submitted" and row.platform == platform
        shown = all_text(stack)
        assert f"《重点客户日志》{OWNER_NAME[platform]}" in shown and f"#{first}" in shown
        # typed again the same day: refused, and the supervisor's log went out once
        stack.sim.send_text(platform, user, "主攻 1 2")
        assert stack.settle()
        shown = all_text(stack)
        assert "已经提交过了" in shown and shown.count(f"《重点客户日志》{OWNER_NAME[platform]}") == 1

        stack.sim.send_text(platform, user, "日报")
        assert stack.settle()
        report = next(c for c in stack.sandbox.sent(platform) if "的日报" in stack.sim.sent_as_text([c])
                      and "转发给主管" in stack.sim.sent_as_text([c]))
        assert stack.sim.tap(platform, user, report, "report.forward").status_code == 200
        assert stack.settle()
        shown = all_text(stack)
        assert f"{OWNER_NAME[platform]}转发的日报" in shown and "已转发给" in shown
        assert shown.count(f"{OWNER_NAME[platform]}转发的日报") == 1
