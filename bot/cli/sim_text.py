"""What `crm-bot simulate` says about its own commands, in the words a sales manager reads: a
job's result as 任务「审批超时」：提醒 0 条，已发送 0 条 (not the job's config key and its raw
dict), the bot's clock as 2026-12-04 10:00（北京时间） with full-width marks."""
from __future__ import annotations

from datetime import datetime

from cards.zh import polish
from crm_core.clock import local

JOB_NAMES = {
    "heartbeat": "渠道巡检", "fuse_scan": "阶段超时检查", "health_scores": "客户健康分",
    "health_refresh": "健康分刷新", "rep_digest": "销售日报", "supervisor_digest": "主管汇总",
    "merge_report": "合并月报", "followup_scan": "跟进检查", "pool_scan": "公海检查",
    "routing_check": "首次联系分配检查", "first_contact_scan": "首次联系提醒", "clv_nightly": "客户价值计算",
    "clv_dashboard": "客户价值月报", "morning_checkin": "晨会打卡", "outbox_sweep": "消息补发",
    "approval_timeouts": "审批超时", "coaching_scan": "辅导推送",
}
# result key → (label, unit); a job may call its notices something more exact
RESULT_LABELS = {
    "notices": ("通知", "条"), "sent": ("已发送", "条"), "customers": ("客户", "个"), "digests": ("摘要", "份"),
    "month": ("月份", ""), "requeued": ("重新排队", "条"), "cards": ("卡片", "张"), "orders": ("订单", "笔"),
    "unattributed": ("未归属订单", "笔"), "seconds": ("用时", "秒"), "channels": ("渠道", ""),
    "recheck_in_seconds": ("复查倒计时", "秒"),
}
NOTICE_WORDS = {"approval_timeouts": "提醒", "fuse_scan": "提醒", "followup_scan": "提醒",
                "first_contact_scan": "提醒", "coaching_scan": "辅导卡片"}
TZ_NAMES = {"Asia/Shanghai": "北京时间", "Asia/Chongqing": "北京时间", "Asia/Hong_Kong": "香港时间",
            "Asia/Taipei": "台北时间"}


def job_name(job: str) -> str:
    return JOB_NAMES.get(job, job)


PLATFORMS = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书"}


def _value(value: object) -> str:
    if isinstance(value, dict):            # heartbeat's channels: {"wecom": "ok"}
        return "、".join(f"{PLATFORMS.get(str(k), k)} {'正常' if v == 'ok' else _value(v)}"
                        for k, v in value.items()) or "无"
    if isinstance(value, (list, tuple)):
        return "、".join(map(str, value)) or "无"
    return str(value)


def job_line(job: str, result: object) -> str:
    """任务「审批超时」：提醒 0 条，已发送 0 条 — a result that is not a mapping shown as it is."""
    head = f"任务「{job_name(job)}」"
    if not isinstance(result, dict):
        return polish(f"{head}:{'完成' if result is None else _value(result)}")
    parts = []
    for key, value in result.items():
        label, unit = RESULT_LABELS.get(key, (key, ""))
        if key == "notices":
            label = NOTICE_WORDS.get(job, label)
        parts.append(f"{label} {_value(value)}" + (f" {unit}" if unit else ""))
    return polish(f"{head}:{','.join(parts) or '完成'}")


def clock_line(now: datetime, tz: str) -> str:
    """机器人时间：2026-12-04 10:00（北京时间）."""
    return f"机器人时间：{local(now, tz):%Y-%m-%d %H:%M}（{TZ_NAMES.get(tz, tz)}）"


def job_failed(job: str, error: object) -> str:
    return polish(f"任务「{job_name(job)}」失败:{error}")
