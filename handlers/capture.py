"""Free text about a customer becomes a draft lead: extract the fields, ask for a missing
required one, show the confirm card; "预算改成200万" corrects a field; 取消 cancels."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from crm_core.authz import Action
from crm_core.clock import local
from crm_core.extract import extract_lead_fields
from handlers.context import Context, Reply
from handlers.drafts import FIELDS, Draft, DraftStore
from handlers.lead_card import LABELS, QUESTIONS, confirm_card
from handlers.registry import Registry
from handlers.small_talk import small_talk_reply

HINT = ("没太看懂这条消息 🙂 直接说客户情况就能建线索,例如:\n"
        "「刚跟杭州优品的李经理通了电话,想上CRM,预算五十万,下周三约演示」\n发送「帮助」查看全部用法。")
HINT_EN = ("I couldn't find a customer in that. Describe the customer, e.g. \"Met Mr. Wang from Acme Ltd, "
           "budget 500k, demo next Tuesday\". Send \"help\" for all commands.")
FIELD_WORDS = {"预算": "budget_cny", "金额": "budget_cny", "电话": "phone", "手机": "phone", "手机号": "phone",
               "公司": "company", "客户": "company", "联系人": "contact_name", "产品": "product",
               "时间": "timeline", "日期": "timeline", "下一步": "next_action", "行业": "industry",
               "budget": "budget_cny", "phone": "phone", "company": "company", "contact": "contact_name",
               "product": "product", "timeline": "timeline", "industry": "industry"}
CORRECTION_RE = re.compile(
    r"^\s*(?:把)?(?P<field>" + "|".join(sorted(FIELD_WORDS, key=len, reverse=True)) +
    r")\s*(?:改成|改为|换成|应该是|是|=|:|：|to|is)\s*(?P<value>.+?)\s*$", re.IGNORECASE)
MEANINGFUL = ("company", "contact_name", "phone", "product", "budget_cny")


def required_fields(ctx: Context) -> list[str]:
    return [f for f in ctx.cfg.funnel.capture_required if f in FIELDS]


def extract(ctx: Context, text: str) -> dict[str, Any]:
    fields = extract_lead_fields(text, now=ctx.now, industries=ctx.cfg.industries)
    return {k: fields.get(k) for k in FIELDS}


def parse_field_value(ctx: Context, name: str, text: str) -> object | None:
    """One field's value from a short answer: numbers and dates parsed, names taken as said."""
    found = extract(ctx, text).get(name)
    if found not in (None, ""):
        return found
    if name in ("budget_cny", "timeline", "phone"):
        return None                      # must parse; free text is not a budget
    cleaned = text.strip(" 。.!！,，")
    return cleaned[:100] or None


def advance(ctx: Context, store: DraftStore, draft: Draft) -> list[Reply]:
    """Ask for the first missing required field, or show the confirm card."""
    missing = draft.missing(required_fields(ctx))
    if missing:
        draft.awaiting, draft.editing = missing[0], False
        store.save(ctx.me.id, draft)
        return [Reply(QUESTIONS[missing[0]] + "(回复「取消」放弃这条线索)")]
    draft.awaiting, draft.editing = None, False
    card = confirm_card(draft)
    draft.card_id = card.card_id
    store.save(ctx.me.id, draft)
    return [Reply(card)]


def new_draft(ctx: Context, text: str, *, source: str = "chat", transcript: str | None = None,
              audio_ref: str | None = None, empty_reply: str | None = None) -> list[Reply]:
    ctx.require(Action.CREATE_LEAD)
    fields = extract(ctx, text)
    if not any(fields.get(k) for k in MEANINGFUL):
        return [Reply(empty_reply or small_talk_reply(text) or (HINT_EN if ctx.english() else HINT))]
    draft = Draft(fields=fields, note=text, source=source, transcript=transcript, audio_ref=audio_ref,
                  platform=ctx.event.platform)
    return advance(ctx, DraftStore(ctx.kv), draft)


def apply_answer(ctx: Context, store: DraftStore, draft: Draft, name: str, text: str) -> list[Reply]:
    value = parse_field_value(ctx, name, text)
    if value is None:
        return [Reply(f"没能识别这个{LABELS[name]},请再说一次。{QUESTIONS[name]}")]
    draft.fields[name] = value
    return advance(ctx, store, draft)


def capture_text(ctx: Context) -> list[Reply]:
    text = (ctx.event.text or "").strip()
    store = DraftStore(ctx.kv)
    draft = store.get(ctx.me.id)
    correction = CORRECTION_RE.match(text)
    if draft is not None and correction:
        return apply_answer(ctx, store, draft, FIELD_WORDS[correction["field"].lower()], correction["value"])
    if draft is not None and draft.awaiting:
        return apply_answer(ctx, store, draft, draft.awaiting, text)
    if draft is not None and draft.editing:
        return [Reply("请告诉我要改哪一项,例如:「预算改成200万」「联系人改成王总」。")]
    return new_draft(ctx, text)


def cancel(ctx: Context) -> list[Reply]:
    store = DraftStore(ctx.kv)
    draft = store.get(ctx.me.id)
    if draft is None:
        return [Reply("当前没有待确认的线索。")]
    store.clear(ctx.me.id)
    replies = [Reply("已取消这条线索草稿。")]
    if draft.card_id:
        replies.append(Reply(confirm_card(draft).resolved(f"已取消 · {stamp(ctx.now)}"), update=True))
    return replies


def stamp(now: datetime) -> str:
    return local(now).strftime("%m-%d %H:%M")


def register(registry: Registry) -> None:
    registry.set_fallback(capture_text)
    registry.add_command(cancel, "取消", "cancel", usage="取消", example="取消")
