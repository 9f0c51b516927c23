"""The capture conversation at handler level (real DB + KV, no HTTP): one sentence →
draft; a missing required field is asked for; corrections; 取消; a double tap on 确认
saves one lead; strangers create nothing. Replies go through the outbox as the worker sends
them, so a card's record exists when it is tapped (taps are checked against it)."""
from __future__ import annotations

import itertools

from sqlalchemy import func, select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card
from crm_core.db.models import Customer, Lead, Task
from handlers.context import Context
from handlers.dispatch import dispatch
from handlers.load import build_registry

REGISTRY = build_registry()
_ids = itertools.count(1)


def say(runtime, text: str, user: str = "zhangwei"):  # noqa: ANN001, ANN201
    ev = InboundEvent(platform="wecom", kind=EventKind.TEXT, event_id=f"m{next(_ids)}", sender_id=user,
                      conversation_id=user, text=text)
    return run(runtime, ev)


def tap(runtime, card: Card, action: str, user: str = "zhangwei"):  # noqa: ANN001, ANN201
    button = next(b for b in card.buttons if b.action == action)
    ev = InboundEvent(platform="wecom", kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}", sender_id=user,
                      conversation_id=user, action=CardAction(action, dict(button.value), card.card_id))
    return run(runtime, ev)


def run(runtime, ev: InboundEvent):  # noqa: ANN001, ANN201
    rep = runtime.cfg.org.rep_by_platform_id(ev.platform, ev.sender_id)
    replies = dispatch(Context(services=runtime.services, event=ev, rep=rep, now=runtime.clock()), REGISTRY)
    for i, reply in enumerate(replies):          # queued in the outbox as the worker would
        Pipeline(runtime).deliver(ev, rep, reply, i)
    return replies


def card_of(replies) -> Card:  # noqa: ANN001
    return next(r.item for r in replies if isinstance(r.item, Card))


def count(runtime, model) -> int:  # noqa: ANN001
    with runtime.db.uow() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_seed_sentence_asks_for_company_then_confirms(runtime):
    first = say(runtime, "记录张总要采购CT设备,预算300万,3月招标")
    assert "哪家公司" in first[0].item
    card = card_of(say(runtime, "杭州优品科技有限公司"))
    values = {f.label: f.value for f in card.fields}
    assert values["联系人"] == "张总" and values["预算"] == "¥300万" and values["时间"] == "2027-03"
    saved = tap(runtime, card, "lead.confirm")
    assert saved[0].update and "已保存为线索" in saved[0].item.result
    with runtime.db.uow() as s:
        lead = s.scalar(select(Lead))
        task = s.scalar(select(Task))
    assert (lead.budget_cny, lead.next_action, lead.owner_rep_id) == (3_000_000, "招标", "zhang.wei")
    assert task.due_date.isoformat() == "2027-02-22" and "招标" in task.title


def test_correction_and_unparseable_answer(runtime):
    say(runtime, "刚跟杭州优品的李经理通了电话 想上CRM 下周三约演示")
    card = card_of(say(runtime, "预算改成200万"))
    assert {f.label: f.value for f in card.fields}["预算"] == "¥200万"
    assert "联系人" in {f.label for f in card.fields}
    again = say(runtime, "电话改成 12345")
    assert "没能识别这个电话" in again[0].item


def test_cancel_drops_draft_and_double_tap_saves_once(runtime):
    card = card_of(say(runtime, "记录杭州优品科技的王总 13912345678 预算50万"))
    assert "已取消" in say(runtime, "取消")[0].item
    assert count(runtime, Lead) == 0
    card = card_of(say(runtime, "记录杭州优品科技的王总 13912345678 预算50万"))
    tap(runtime, card, "lead.confirm")
    second = tap(runtime, card, "lead.confirm")
    assert "已经处理过" in second[0].item
    assert count(runtime, Lead) == 1 and count(runtime, Customer) == 1


def test_edit_button_then_reply(runtime):
    card = card_of(say(runtime, "记录杭州优品科技的王总 13912345678 预算50万"))
    assert "预算改成200万" in tap(runtime, card, "lead.edit")[0].item
    card = card_of(say(runtime, "联系人改成李总"))
    assert {f.label: f.value for f in card.fields}["联系人"] == "李总"


def test_stranger_gets_access_hint_and_nothing_is_created(runtime):
    replies = say(runtime, "记录杭州优品的李经理 预算50万", user="outsider")
    assert "还没有开通" in replies[0].item
    assert count(runtime, Customer) == 0 and count(runtime, Lead) == 0


def test_small_talk_gets_a_short_chinese_answer_and_english_sentences_english(runtime):
    assert "帮助" in say(runtime, "在吗")[0].item
    for text in ("hello there", "/help", "#6", "🙂", "好的", "谢谢"):      # Chinese unless whole English sentences
        reply = say(runtime, text)[0].item
        assert "没太看懂" not in reply and any("\u4e00" <= ch <= "\u9fff" for ch in reply), text
    assert "help" in say(runtime, "what can you do for me")[0].item


def test_help_lists_commands_with_examples(runtime):
    text = say(runtime, "help")[0].item
    for word in ("新建", "查客户", "我的待办", "跟进"):
        assert word in text
