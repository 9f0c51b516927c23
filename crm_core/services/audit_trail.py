"""Reading the audit log (crm_core/audit.py writes it): the entries about one lead (its own rows,
its customer's, the duplicate reviews of that customer), one customer (with its leads), one rep
(what they did, what was given to them), in a time range; each with a plain Chinese sentence.
Used by `crm-bot audit`, `GET /api/v1/audit` and the chat command 查记录."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from crm_core.config.live import AVAILABILITY_LABELS
from crm_core.config.schema import AppConfig
from crm_core.config.vocabulary import CHANNELS, GATE_ITEMS
from crm_core.db.models import Approval, AuditLog, DedupReview, Lead
from crm_core.visibility import MASKED_TEXT, Viewer

MAX_LIMIT = 500

ACTION_LABELS: dict[str, str] = {
    "lead.create": "新建线索", "lead.assign": "分配", "lead.stage": "推进阶段", "lead.postpone": "延期",
    "lead.follow_up": "跟进", "lead.assist": "标记需协同", "lead.nudge": "催办", "lead.help": "请求支援",
    "lead.fuse": "超时提醒", "lead.handover": "离职交接", "dedup.join": "并入已有客户",
    "dedup.link": "关联到已有客户", "dedup.merge": "合并客户", "dedup.keep": "仍然新建",
    "dedup.reject": "不是重复", "dedup.scan": "查重扫描", "customer.merge": "客户合并",
    "customer.merge_undo": "撤销合并", "import.file": "导入文件", "reminder.mute": "静音提醒",
    "reminder.unmute": "取消静音", "lead.edit": "修改线索", "task.complete": "完成待办", "task.postpone": "待办延期",
    "rep.availability": "设置在岗状态", "customer.join": "新联系人并入已有客户",
    "token.create": "创建接口令牌", "token.revoke": "作废接口令牌", "customer.fields": "修改客户敏感字段",
    "export.customers": "导出客户", "export.leads": "导出线索",
}
ACTION_LABELS.update({      # approvals (issue 17)
    "approval.submit": "提交审批", "approval.approve": "审批同意", "approval.reject": "审批驳回",
    "approval.comment": "审批意见", "approval.withdraw": "撤回审批", "approval.escalate": "审批超时升级",
    "approval.auto_approve": "审批自动通过",
    "approval.flow_version": "审批流程新版本", "approval.flow_rollback": "审批流程回退",
})
TARGET_LABELS = {"lead": "线索", "customer": "客户", "rep": "销售", "dedup_review": "重复审核",
                 "merge": "合并记录", "import": "导入批次", "customers": "客户", "task": "待办",
                 "approval": "审批", "approval_flow": "审批流程", "leads": "线索"}
PLATFORM_LABELS = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书", "api": "接口", "cli": "命令行"}
DETAIL_SHOWN = ("reason", "note", "text", "file", "count")
# an edited lead field → the visibility field its values fall under (crm_core/visibility.py)
EDIT_FIELDS = {"budget_cny": "budget", "phone": "phone", "objection_category": "pain_points",
               "pain_points": "pain_points"}
EXPORT_FORMATS = {"csv": "CSV", "xlsx": "Excel"}
FUSE_STEPS = {1: "已提醒负责人", 2: "已通知主管", 3: "已把诊断发给主管"}
SYSTEM_ACTORS = {"system": "系统", "api": "接口", "cli": "命令行", "scheduler": "定时任务"}


@dataclass(frozen=True)
class AuditQuery:
    """What to read: any combination of filters (all must hold), newest `limit` entries after
    skipping the `offset` newest (the next page of an earlier answer)."""
    lead_id: int | None = None
    customer_id: int | None = None
    rep: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}")
        if self.offset < 0:
            raise ValueError("offset must be 0 or more")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    platform: str | None
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "platform": self.platform,
                "action": self.action, "target_type": self.target_type, "target_id": self.target_id,
                "detail": self.detail}


def _target(kind: str, ids: list[str] | set[str]) -> ColumnElement[bool]:
    return and_(AuditLog.target_type == kind, AuditLog.target_id.in_(sorted(ids))) if ids else false()


def _about_customer(session: Session, customer_id: int) -> ColumnElement[bool]:
    """The customer's own rows and the rows of the duplicate reviews it is part of."""
    reviews = {str(r) for r in session.scalars(select(DedupReview.id).where(
        or_(DedupReview.customer_id == customer_id, DedupReview.candidate_id == customer_id)))}
    return or_(_target("customer", {str(customer_id)}), _target("dedup_review", reviews))


def _conditions(session: Session, q: AuditQuery) -> list[ColumnElement[bool]] | None:
    """The WHERE clauses of `q`; None when a lead or customer it names does not exist."""
    where: list[ColumnElement[bool]] = []
    if q.lead_id is not None:
        lead = session.get(Lead, q.lead_id)
        if lead is None:
            return None
        approvals = {str(i) for i in session.scalars(select(Approval.id).where(Approval.lead_id == lead.id))}
        where.append(or_(_target("lead", {str(lead.id)}), _about_customer(session, lead.customer_id),
                         _target("approval", approvals)))
    if q.customer_id is not None:
        leads = {str(i) for i in session.scalars(select(Lead.id).where(Lead.customer_id == q.customer_id))}
        where.append(or_(_about_customer(session, q.customer_id), _target("lead", leads)))
    if q.rep is not None:
        where.append(or_(AuditLog.actor == q.rep, _target("rep", {q.rep}),
                         AuditLog.detail["rep"].as_string() == q.rep))
    if q.since is not None:
        where.append(AuditLog.created_at >= q.since)
    if q.until is not None:
        where.append(AuditLog.created_at < q.until)
    return where


def audit_entries(session: Session, q: AuditQuery) -> list[AuditEntry]:
    """The newest `q.limit` entries matching `q`, oldest first (a story reads forward)."""
    where = _conditions(session, q)
    if where is None:
        return []
    rows = session.scalars(select(AuditLog).where(*where)
                           .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
                           .offset(q.offset).limit(q.limit)).all()
    return [AuditEntry(r.id, r.created_at, r.actor, r.platform, r.action, r.target_type, r.target_id,
                       dict(r.detail or {})) for r in reversed(rows)]


# ---- plain words -------------------------------------------------------------------------------

def person(cfg: AppConfig, rep_id: str | None) -> str:
    if not rep_id:
        return "公海"
    rep = cfg.org.rep(rep_id)
    return rep.name if rep else SYSTEM_ACTORS.get(rep_id, "已不在名单的同事")      # never an id


def _stage(cfg: AppConfig, key: Any) -> str:
    stage = cfg.funnel.stage(str(key))
    return stage.name if stage else str(key)


def platform_label(platform: str | None) -> str:
    return PLATFORM_LABELS.get(platform, platform) if platform else "—"


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, "其他操作")         # never the code itself


def target_text(entry: AuditEntry) -> str:
    if entry.target_type is None:
        return ""
    label = TARGET_LABELS.get(entry.target_type, "记录")
    if entry.target_id is None:
        return label
    if entry.target_type == "approval":
        return f"审批A{entry.target_id}"
    return f"{label} #{entry.target_id}" if entry.target_type not in ("rep", "approval_flow") else label


def _edit_item(k: str, v: dict[str, Any], viewer: Viewer | None) -> str | None:
    """One edited field (its values as the reader may see them: `***` when masked, the item left
    out when hidden; issue 18)."""
    name = EDIT_FIELDS.get(k)
    level = viewer.level(name) if viewer is not None and name else "visible"
    if level == "hidden":
        return None
    old, new = (v.get("from") or "—", v.get("to") or "—") if level == "visible" else (MASKED_TEXT, MASKED_TEXT)
    return f"{GATE_ITEMS.get(k, '其他信息')} {old} → {new}"


def summary(cfg: AppConfig, entry: AuditEntry, viewer: Viewer | None = None) -> str:
    """What the entry changed, in a short Chinese phrase (no phone numbers are ever stored here);
    with `viewer`, edited values as they may see them."""
    d, a = entry.detail, entry.action
    if a == "lead.stage":
        return f"{_stage(cfg, d.get('from'))} → {_stage(cfg, d.get('to'))}"
    if a == "lead.assign":
        return f"给 {person(cfg, d.get('rep'))}" + (f"({d['reason']})" if d.get("reason") else "")
    if a == "lead.fuse":
        return f"{_stage(cfg, d.get('stage'))}阶段超时,{FUSE_STEPS.get(d.get('level') or 0, '已提醒')}"
    if a == "lead.handover":
        return f"{person(cfg, entry.target_id)} 的 {d.get('count', 0)} 条线索交给 {person(cfg, d.get('to'))}"
    if a == "lead.postpone":
        return f"截止时间延到 {d.get('until', '')[:16].replace('T', ' ')}(UTC)"
    if a == "lead.create":
        return f"来源 {CHANNELS.get(str(d.get('source')), '其他渠道')}" if d.get("source") else ""
    if a == "lead.edit":
        return ";".join(i for k, v in d.items() if isinstance(v, dict) and (i := _edit_item(k, v, viewer)))
    if a == "lead.follow_up":
        return ""
    if a == "task.postpone":
        return f"延到 {str(d.get('after') or '')[:10]}"
    if a == "rep.availability":
        return f"{person(cfg, entry.target_id)}:{AVAILABILITY_LABELS.get(str(d.get('availability')), '已更新')}"
    if a == "dedup.join":
        return f"线索 #{d.get('lead_id')} 并入,相似度 {d.get('score')}"
    if a.startswith("dedup.") and "score" in d:
        return f"相似度 {d.get('score')}" + (f",合并记录 #{d['merge_id']}" if d.get("merge_id") else "")
    if a == "customer.merge":
        return f"并入客户 {', '.join('#' + str(i) for i in d.get('merged_ids') or [])}"
    if a.startswith("reminder."):
        return f"{person(cfg, d.get('rep'))} 的提醒"
    if a.startswith("approval."):
        parts = [str(d[k]) for k in ("node", "reply", "comment", "reason") if d.get(k)]
        if a == "approval.submit":
            parts = ["、".join(d.get("nodes") or [])]
        if a == "approval.escalate":
            parts = [f"{d.get('node')} 等待 {d.get('waited_hours')} 小时,转给 "
                     + "、".join(person(cfg, r) for r in d.get("to") or [])]
        if a in ("approval.flow_version", "approval.flow_rollback"):
            parts = [f"第{d.get('version') or d.get('to')}版"]
        return ",".join(p for p in parts if p)
    if a.startswith("export."):
        done = "" if d.get("complete", True) else ",未写完"
        return (f"按{person(cfg, d.get('rep'))}的查看范围导出 {d.get('rows', 0)} 行"
                f"({EXPORT_FORMATS.get(str(d.get('format')), '文件')}{done})")
    if a == "import.file":
        return f"{d.get('file')}:{d.get('rows')} 行,新建 {d.get('created')}"
    # anything else: the values people can read, never the detail's key names
    return ",".join(str(v) for k, v in d.items() if k in DETAIL_SHOWN and v not in (None, ""))


def entry_line(cfg: AppConfig, entry: AuditEntry, tz: str, viewer: Viewer | None = None) -> str:
    """One line for chat: 12-02 14:05 张伟 推进阶段 线索 #12:需求确认 → 定制方案发送"""
    when = entry.at.astimezone(ZoneInfo(tz))
    text = summary(cfg, entry, viewer)
    return (f"{when:%m-%d %H:%M} {person(cfg, entry.actor)} {action_label(entry.action)} {target_text(entry)}"
            + (f":{text}" if text else "")).replace("  ", " ")


# ---- reading the filters from outside (CLI options, API query parameters) -----------------------

def parse_time(text: str, tz: str, *, end: bool = False) -> datetime:
    """An ISO date or date-time; without a zone it is the org's local time. A bare date as the
    `end` of a range means the end of that day. ValueError with a plain reason otherwise."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = datetime.fromisoformat(raw).replace(tzinfo=ZoneInfo(tz))
            return day + timedelta(days=1) if end else day
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"'{text}' is not a date or time (use 2026-12-02 or 2026-12-02T14:00)") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=ZoneInfo(tz))


def rep_id(cfg: AppConfig, word: str) -> str:
    """A rep by id or name (ValueError otherwise); the system actors (system, api, cli) too."""
    rep = cfg.org.rep(word) or next((r for r in cfg.org.reps if r.name == word), None)
    if rep is not None:
        return rep.id
    if word in SYSTEM_ACTORS:
        return word
    raise ValueError(f"unknown rep '{word}' (give a rep id or name from the config)")
