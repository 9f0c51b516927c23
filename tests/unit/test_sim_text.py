"""`crm-bot simulate`'s own lines: a job's result with Chinese labels and full-width marks (not
「任务 approval_timeouts:{'notices': 0, …}」), every registered job named, the clock full-width."""
from __future__ import annotations

from datetime import datetime, timezone

from bot.cli.sim_text import JOB_NAMES, clock_line, job_failed, job_line
from cards.zh import halfwidth_marks
from scheduler.jobs import registered_jobs


def test_every_job_has_a_chinese_name() -> None:
    assert set(registered_jobs()) <= set(JOB_NAMES)
    assert all(not name.isascii() for name in JOB_NAMES.values())


def test_a_jobs_result_reads_as_labels() -> None:
    assert job_line("approval_timeouts", {"notices": 0, "sent": 0}) == "任务「审批超时」：提醒 0 条，已发送 0 条"
    assert job_line("morning_checkin", {"cards": 3, "sent": 3}) == "任务「晨会打卡」：卡片 3 张，已发送 3 条"
    assert job_line("heartbeat", {"channels": {"wecom": "ok"}}) == "任务「渠道巡检」：渠道 企业微信 正常"
    assert job_line("outbox_sweep", None) == "任务「消息补发」：完成"
    for line in (job_line("clv_nightly", {"orders": 2, "unattributed": 0, "seconds": 0.4}),
                 job_failed("fuse_scan", "数据库连接失败")):
        assert "{" not in line and "_" not in line and not halfwidth_marks(line), line


def test_the_clock_is_full_width() -> None:
    line = clock_line(datetime(2026, 12, 4, 2, 0, tzinfo=timezone.utc), "Asia/Shanghai")
    assert line == "机器人时间：2026-12-04 10:00（北京时间）"
    assert clock_line(datetime(2026, 12, 4, 2, 0, tzinfo=timezone.utc), "Europe/Berlin").endswith("03:00（Europe/Berlin）")
