"""Monthly merge report: customer records before/after deduplication, groups merged, duplicates by
channel source and by trigger, reviews, and the rep time saved; plus the supervisors' notices.

Time saved assumes MINUTES_PER_DUPLICATE = 6 minutes per duplicate removed or avoided: finding which
of two records is current, re-reading both histories, and one wasted double call or e-mail.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.config.schema import AppConfig
from crm_core.db.models import AuditLog, Customer, DedupReview, MergeRecord
from crm_core.notices import MergeReport, Notice
from crm_core.services.lead_input import CHANNEL_LABELS

MINUTES_PER_DUPLICATE = 6
TRIGGER_LABELS = {"entry": "录入时自动关联", "prompt": "销售确认关联", "review": "数据管理员合并", "scan": "批量扫描",
                  "import": "导入时去重", "manual": "手动合并"}


def month_bounds(month: str, tz: str = "Asia/Shanghai") -> tuple[datetime, datetime]:
    """UTC [start, end) of a business-time-zone month "2026-11"."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=ZoneInfo(tz))
    except ValueError:
        raise ValueError(f"月份格式应为 YYYY-MM,例如 2026-11(收到 {month!r})") from None
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=ZoneInfo(tz))
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def previous_month(now: datetime, tz: str = "Asia/Shanghai") -> str:
    """The month before `now` in the business time zone (what the 1st-of-month job reports)."""
    local = now.astimezone(ZoneInfo(tz))
    year, mon = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{mon:02d}"


def _label(source: str | None) -> str:
    return CHANNEL_LABELS.get(source or "", source or "未知来源")


def _merged_before(session: Session, end: datetime) -> int:
    """Customers that stood merged at `end` (by merges made before it and not undone by then)."""
    rows = session.execute(select(MergeRecord.merged_ids, MergeRecord.undone_at).where(MergeRecord.created_at < end))
    return sum(len(ids or []) for ids, undone in rows if undone is None or undone >= end)


def _entry_joins(session: Session, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """(channel code, count) of duplicates that never became a record: joined at entry (by the
    duplicate check, or to the customer of the same company) or at import."""
    out = []
    window = (AuditLog.created_at >= start, AuditLog.created_at < end)
    joins = ("dedup.join", "customer.join", "import.file")
    for action, detail in session.execute(select(AuditLog.action, AuditLog.detail)
                                          .where(AuditLog.action.in_(joins), *window)):
        if action != "import.file":
            out.append((detail.get("source"), 1))
        else:
            out.append((detail.get("source"), int(detail.get("joined_existing", 0)) + int(detail.get("joined_in_file", 0))))
    return [(s, n) for s, n in out if n]


def merge_report(session: Session, month: str, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """Figures of one month (see the module docstring for the minutes-saved assumption)."""
    start, end = month_bounds(month, tz)
    merges = session.scalars(select(MergeRecord).where(MergeRecord.created_at >= start, MergeRecord.created_at < end)
                             .order_by(MergeRecord.id)).all()
    kept = [m for m in merges if m.undone_at is None]
    by_source: Counter[str] = Counter()
    by_trigger: Counter[str] = Counter()
    for merge in kept:
        before = (merge.snapshot or {}).get("before", {}).get("customers", {})
        for cid in merge.merged_ids:
            by_source[_label(before.get(str(cid), {}).get("source"))] += 1
        trigger = merge.source or "manual"
        by_trigger[TRIGGER_LABELS.get(trigger, trigger)] += len(merge.merged_ids)
    avoided = 0
    for source, count in _entry_joins(session, start, end):
        by_source[_label(source)] += count
        by_trigger[TRIGGER_LABELS["entry"]] += count
        avoided += count
    merged = sum(len(m.merged_ids) for m in kept)
    after = (session.scalar(select(func.count()).select_from(Customer).where(Customer.created_at < end)) or 0) \
        - _merged_before(session, end)
    return {
        "month": month, "records_after": after, "records_before": after + merged + avoided,
        "groups_merged": len(kept), "duplicates_merged": merged, "duplicates_avoided": avoided,
        "undone": len(merges) - len(kept),
        "by_source": dict(by_source.most_common()), "by_trigger": dict(by_trigger.most_common()),
        "reviews": _review_counts(session, start, end),
        "minutes_per_duplicate": MINUTES_PER_DUPLICATE,
        "minutes_saved": (merged + avoided) * MINUTES_PER_DUPLICATE,
    }


def _review_counts(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    opened = session.scalar(select(func.count()).select_from(DedupReview).where(
        DedupReview.created_at >= start, DedupReview.created_at < end)) or 0
    decided = dict(session.execute(select(DedupReview.status, func.count()).where(
        DedupReview.decided_at >= start, DedupReview.decided_at < end).group_by(DedupReview.status)).all())
    waiting = session.scalar(select(func.count()).select_from(DedupReview).where(DedupReview.status == "open")) or 0
    return {"opened": opened, "merged": decided.get("merged", 0), "rejected": decided.get("rejected", 0),
            "open": waiting}


def supervisors(cfg: AppConfig) -> list[str]:
    """Every team supervisor and every active rep with the supervisor role, once each."""
    ids = [t.supervisor for t in cfg.org.teams]
    ids += [r.id for r in cfg.org.reps if "supervisor" in r.roles and r.availability == "active"]
    return list(dict.fromkeys(ids))


def merge_report_notices(session: Session, cfg: AppConfig, month: str) -> list[Notice]:
    """One `merge.report` notice per supervisor; the dedupe key makes a re-run send nothing new."""
    report = merge_report(session, month, cfg.app.timezone)
    return [MergeReport(to_rep=sup, report=report, dedupe_key=f"merge-report:{month}:{sup}", as_supervisor=True)
            for sup in supervisors(cfg)]
