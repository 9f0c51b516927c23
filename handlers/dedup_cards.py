"""Cards of deduplication: the rep's possible-duplicate prompt (关联到已有客户 / 仍然新建), the data
steward's review (合并 / 不是重复) and the supervisors' monthly merge report. Phones are masked
before they get here; these builders only lay out what the services computed. `register` adds
the notice renderers to a Renderers (handlers/notify.py)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from cards.model import Button, Card, Field, Level
from crm_core.config.schema import AppConfig
from crm_core.notices import DuplicatePrompt, DuplicateReview, MergeReport
from handlers.report_charts import merge_chart

if TYPE_CHECKING:
    from handlers.notify import Renderers

DECISION_WORDS = {"merged": "合并", "rejected": "标记为不是重复"}
KEEP_WORDS = {"merged": "关联到已有客户", "rejected": "选择仍然新建"}


def card_id_part(text: str) -> str:
    """Rep ids may hold dots; card ids allow only [0-9A-Za-z_-@]."""
    return re.sub(r"[^0-9A-Za-z_\-@]", "_", text)


def _side_fields(label: str, side: dict[str, Any]) -> list[Field]:
    origin = " · ".join(x for x in (side.get("source"), side.get("created") and f"创建于 {side['created']}") if x)
    fields = [Field(label, side.get("line") or side.get("name") or "—", short=False)]
    if origin:
        fields.append(Field(f"{label}来源", origin))
    return fields


def review_card(view: dict[str, Any]) -> Card:
    """The card of one DedupReview (`dedup_entry.review_view`); rebuilt the same way after a tap."""
    rid = str(view["review_id"])
    value = {"review": rid}
    fields = _side_fields("新录入", view["new"]) + _side_fields("已有客户", view["existing"])
    fields.append(Field("相似度", f"{view['score']:.0f} 分"))
    if view.get("kind") == "prompt":
        return Card(card_id=f"dedup-{rid}", title="检测到潜在重复", level=Level.WARNING,
                    text=f"检测到潜在重复:{view['existing']['line']}", fields=tuple(fields),
                    buttons=(Button("关联到已有客户", "dedup.link", value, style="primary"),
                             Button("仍然新建", "dedup.keep", value)),
                    footer="关联后两条记录合并为一个客户,跟进记录和待办都会保留")
    return Card(card_id=f"dedup-{rid}", title="疑似重复客户待审核", level=Level.WARNING,
                text=f"这两条客户记录可能是同一个客户:{view['new']['line']} / {view['existing']['line']}",
                fields=tuple(fields),
                buttons=(Button("合并", "dedup.merge", value, style="primary", confirm="确认合并这两条客户记录?"),
                         Button("不是重复", "dedup.reject", value)),
                footer="合并不会删除任何数据;需要时管理员可用命令「crm-bot merge undo」撤销")


def resolution(view: dict[str, Any]) -> str:
    """已由 王芳 合并 · 11-22 14:03"""
    words = KEEP_WORDS if view.get("kind") == "prompt" else DECISION_WORDS
    what = words.get(view["status"], view["status"])
    stamp = f" · {view['decided_at']}" if view.get("decided_at") else ""
    return f"已由 {view.get('reviewer') or '系统'} {what}{stamp}"


def render_prompt(_cfg: AppConfig, notice: DuplicatePrompt) -> Card:
    return review_card({**notice.view, "kind": "prompt"})


def render_review(_cfg: AppConfig, notice: DuplicateReview) -> Card:
    return review_card({**notice.view, "kind": "review"})


def _hours(minutes: int) -> str:
    return f"约 {minutes / 60:.1f} 小时" if minutes >= 60 else f"{minutes} 分钟"


def merge_report_card(report: dict[str, Any], recipient: str) -> Card:
    """The monthly figures for one supervisor."""
    month = report["month"]
    reviews = report.get("reviews", {})
    fields = [
        Field("去重前记录", str(report["records_before"])), Field("去重后记录", str(report["records_after"])),
        Field("合并组数", str(report["groups_merged"])), Field("合并重复记录", str(report["duplicates_merged"])),
        Field("录入时拦截", str(report["duplicates_avoided"])), Field("节省时间", _hours(report["minutes_saved"])),
        Field("待审核", str(reviews.get("open", 0))), Field("撤销合并", str(report.get("undone", 0))),
    ]
    top = list(report.get("by_source", {}).items())[:6]
    text = "按来源:" + "、".join(f"{label} {count}" for label, count in top) if top else "本月没有重复记录。"
    return Card(card_id=f"merge-report-{card_id_part(month)}-{card_id_part(recipient)}",
                title=f"{month} 客户去重月报", level=Level.INFO, text=text, fields=tuple(fields),
                footer=f"节省时间按每条重复记录 {report['minutes_per_duplicate']} 分钟估算",
                chart=merge_chart(report))


def render_merge_report(_cfg: AppConfig, notice: MergeReport) -> Card:
    return merge_report_card(notice.report, notice.to_rep)


def register(renderers: Renderers) -> None:
    renderers.register(DuplicatePrompt, render_prompt)
    renderers.register(DuplicateReview, render_review)
    renderers.register(MergeReport, render_merge_report)
