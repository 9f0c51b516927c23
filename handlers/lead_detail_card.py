"""The lead detail card (查线索 #12): customer, stage with the time left before its fuse,
contacts, open to-dos and the latest activities. Phones are shown in full only to the people
who work the lead (its owner and the owner's supervisor); everyone else sees them masked."""
from __future__ import annotations

import uuid
from datetime import datetime

from cards.model import Button, Card, Field, Level
from cards.zh import clip_at_boundary
from crm_core.config.schema import AppConfig
from crm_core.extract.phone import mask_phones_in_text
from crm_core.normalize import mask_phone
from crm_core.services.lead_view import LeadDetail
from handlers.lead_card import money
from handlers.workflow_cards import rep_name, stage_label, when, without_label

STATUS_LABELS = {"open": "跟进中", "won": "已赢单", "lost": "已输单", "pool": "在公海"}
ACTIVITY_LABELS = {"follow_up": "跟进", "voice_note": "语音", "note": "备注", "stage": "阶段变更",
                   "call": "电话", "visit": "拜访", "assigned": "分配", "created": "新建", "handover": "交接",
                   "merged": "合并", "postpone": "延期", "edit": "修改",
                   "visit_note": "拜访纪要", "stage_entry": "进阶段"}


def time_left(deadline: datetime | None, now: datetime) -> str:
    """"还剩 5 小时" / "已超时 2 小时" before / after a stage deadline."""
    if deadline is None:
        return "不限时"
    hours = (deadline - now).total_seconds() / 3600
    if hours >= 0:
        return f"还剩 {hours:.0f} 小时" if hours < 48 else f"还剩 {hours / 24:.0f} 天"
    return f"已超时 {-hours:.0f} 小时" if -hours < 48 else f"已超时 {-hours / 24:.0f} 天"


def lead_detail_card(cfg: AppConfig, lead: LeadDetail, now: datetime, *, full_phones: bool,
                     editable: bool = False) -> Card:
    """`editable`: the viewer may change the lead (the policy's EDIT_LEAD), so it carries 修改.
    A lead read for a viewer (crm_core/visibility.py) comes with its phones already as they may
    see them (pass `full_phones=True`) and its hidden fields left out here."""
    owner, budget = lead.shown("owner", rep_name(cfg, lead.owner_rep_id)), lead.shown("budget", money(lead.budget_cny))
    fields = [Field("客户", lead.customer, short=False),
              Field("状态", STATUS_LABELS.get(lead.status, "—")),
              Field("阶段", stage_label(cfg, lead.stage))]
    fields += [Field("负责人", owner or "—")] if "owner" not in lead.hidden else []
    fields += [Field("产品", lead.product or "—")]
    fields += [Field("预算", budget or "—")] if "budget" not in lead.hidden else []
    fields += [Field("时间", lead.timeline or "—")]
    if lead.pain_points and (pains := lead.shown("pain_points", lead.pain_points)):
        fields.append(Field("痛点/异议", pains, short=False))
    if lead.status == "open":
        fields.append(Field("本阶段", time_left(lead.fuse_deadline, now)))
    for c in lead.contacts[:3]:
        phone = (c.phone if full_phones else mask_phone(c.phone)) if c.phone else "无电话"
        who = " ".join(p for p in (c.name, c.title) if p) or "联系人"
        fields.append(Field("联系人", who if "phone" in lead.hidden else f"{who} {phone}", short=False))
    lines = [f"· 待办{f' T{t.id}' if t.id else ''}:{t.title}(截止 {t.due_date.isoformat() if t.due_date else '未定'})"
             for t in lead.todos[:3]]
    for a in lead.activities:
        kind = ACTIVITY_LABELS.get(a.kind, "动态")
        # no 「阶段变更:阶段:」 or 「修改:修改:」: the text may start with its own label
        note = without_label(without_label((a.text or "").strip(), kind), "阶段")
        note = note if full_phones else mask_phones_in_text(note)
        lines.append(f"· {when(cfg, a.at)} {kind}:{clip_at_boundary(note, 180)}")
    # one card per view: two people looking at the same lead at once get cards of their own
    return Card(card_id=f"lead-detail-{lead.id}-{uuid.uuid4().hex[:12]}", title=f"线索 #{lead.id} · {lead.title}",
                level=Level.INFO if lead.status == "open" else Level.SUCCESS, fields=tuple(fields),
                text="\n".join(lines) or None, footer=f"记跟进:回复「跟进 #{lead.id} 内容」",
                buttons=(Button("修改", "edit.start", {"lead": str(lead.id)}),
                         Button("拜访纪要", "visit.start", {"lead": str(lead.id)}),
                         *([Button("提交审批", "approval.start", {"lead": str(lead.id)})]      # issue 17
                           if cfg.approvals.flows and lead.status == "open" else [])) if editable else ())
