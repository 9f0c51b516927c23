"""The cards of lead capture: the confirm card (确认 / 修改 / 取消), the question card for an
ambiguous message, the card asking what to do with the open draft when a new note arrives,
and how fields read."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cards.model import Button, Card, Field, Level
from cards.zh import clip_at_boundary
from crm_core.clock import local
from handlers.drafts import Draft

LABELS = {"company": "公司", "contact_name": "联系人", "phone": "电话", "product": "产品",
          "budget_cny": "预算", "timeline": "时间", "next_action": "下一步", "industry": "行业"}
QUESTIONS = {
    "company": "请问客户是哪家公司?", "contact_name": "请问联系人怎么称呼?(例如:李经理)",
    "phone": "请问联系人的手机号是多少?", "product": "客户想要什么产品?",
    "budget_cny": "客户预算大概多少?(例如:50万)", "timeline": "大概什么时候?(例如:3月、下周三)",
    "next_action": "下一步做什么?(例如:演示、报价、招标)", "industry": "客户属于哪个行业?",
}


def stamp(now: datetime) -> str:
    return local(now).strftime("%m-%d %H:%M")


def money(v: int | None) -> str:
    if v is None:
        return "—"
    if v >= 100_000_000 and v % 1_000_000 == 0:
        return f"¥{v / 100_000_000:g}亿"
    if v >= 10_000 and v % 100 == 0:
        return f"¥{v / 10_000:g}万"
    return f"¥{v:,}"


def field_text(name: str, value: object) -> str:
    if value in (None, ""):
        return "—"
    return money(value) if name == "budget_cny" and isinstance(value, int) else str(value)


REVIEW_MARK = "（请核对）"
REVIEW_FOOTER = "标「请核对」的内容是语音里没听清或按客户名单补全的,请核对后再确认。"


def draft_field_text(draft: Draft, name: str) -> str:
    """A field as the confirm card shows it: marked 「请核对」 when the voice note left it unsure."""
    value = draft.fields.get(name)
    text = field_text(name, value)
    return f"{text}{REVIEW_MARK}" if name in draft.review and value not in (None, "") else text


def confirm_card(draft: Draft) -> Card:
    fields = tuple(Field(LABELS[k], draft_field_text(draft, k)) for k in LABELS)
    unsure = any(k in draft.review and draft.fields.get(k) not in (None, "") for k in LABELS)
    value = {"draft": draft.id}
    subtitle = "语音记录" if draft.source == "voice" else None
    card_id = f"draft-{draft.id}-{draft.version}" if draft.version else f"draft-{draft.id}"
    return Card(card_id=card_id, title="新线索,请确认", level=Level.INFO, subtitle=subtitle,
                text=(draft.transcript and f"识别内容:「{clip_at_boundary(draft.transcript, 600)}」") or None,
                fields=fields,
                buttons=(Button("确认", "lead.confirm", value, style="primary"),
                         Button("修改", "lead.edit", value), Button("取消", "lead.cancel", value, style="danger")),
                footer=(REVIEW_FOOTER if unsure else "") + "回复「预算改成200万」这样的话可以直接修改")


def question_card(draft: Draft, number: str, question: str, labels: Sequence[str]) -> Card:
    """「「李明」是联系人还是公司?」 with one button per reading."""
    buttons = tuple(Button(label[:16], "draft.pick", {"draft": draft.id, "pick": str(i)},
                           style="primary" if i == 0 else "default") for i, label in enumerate(labels))
    return Card(card_id=f"draft-ask-{draft.id}-{number}", title="请确认一下", level=Level.INFO, text=question,
                buttons=buttons, footer="也可以直接回复按钮上的字,或者换个说法再说一遍")


def new_note_card(draft: Draft, number: str, new_text: str, can_save: bool) -> Card:
    """A new note arrived while this draft is open: save it, drop it, or keep working on it."""
    who = draft.fields.get("company") or draft.fields.get("contact_name") or "当前线索"
    value = {"draft": draft.id}
    buttons = ((Button("保存当前，再记新的", "draft.save", value, style="primary"),) if can_save else ()) + (
        Button("放弃当前，改记新的", "draft.drop", value, style="danger"),
        Button("继续编辑当前", "draft.keep", value))
    excerpt = new_text if len(new_text) <= 60 else new_text[:60] + "…"
    return Card(card_id=f"draft-new-{draft.id}-{number}", title="还有一条线索没保存", level=Level.WARNING,
                text=f"「{who}」这条线索还没保存。新消息:「{excerpt}」\n要怎么处理当前这条?",
                fields=tuple(Field(LABELS[k], field_text(k, draft.fields.get(k))) for k in LABELS
                             if draft.fields.get(k) not in (None, "")),
                buttons=buttons)
