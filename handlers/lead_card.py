"""The cards of lead capture: the confirm card (确认 / 修改 / 取消) and how fields read."""
from __future__ import annotations

from cards.model import Button, Card, Field, Level
from cards.zh import clip_at_boundary
from handlers.drafts import Draft

LABELS = {"company": "公司", "contact_name": "联系人", "phone": "电话", "product": "产品",
          "budget_cny": "预算", "timeline": "时间", "next_action": "下一步", "industry": "行业"}
QUESTIONS = {
    "company": "请问客户是哪家公司?", "contact_name": "请问联系人怎么称呼?(例如:李经理)",
    "phone": "请问联系人的手机号是多少?", "product": "客户想要什么产品?",
    "budget_cny": "客户预算大概多少?(例如:50万)", "timeline": "大概什么时候?(例如:3月、下周三)",
    "next_action": "下一步做什么?(例如:演示、报价、招标)", "industry": "客户属于哪个行业?",
}


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


def confirm_card(draft: Draft) -> Card:
    fields = tuple(Field(LABELS[k], field_text(k, draft.fields.get(k))) for k in LABELS)
    value = {"draft": draft.id}
    subtitle = "语音记录" if draft.source == "voice" else None
    return Card(card_id=f"draft-{draft.id}", title="新线索,请确认", level=Level.INFO, subtitle=subtitle,
                text=(draft.transcript and f"识别内容:「{clip_at_boundary(draft.transcript, 600)}」") or None,
                fields=fields,
                buttons=(Button("确认", "lead.confirm", value, style="primary"),
                         Button("修改", "lead.edit", value), Button("取消", "lead.cancel", value, style="danger")),
                footer="回复「预算改成200万」这样的话可以直接修改")
