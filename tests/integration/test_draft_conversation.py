"""Issue 14, handler level (real DB + KV, replies through the outbox so every card has its record):
a draft survives follow-ups. A phone sent while the bot waits for the company is a phone; the
real answer is the company; 「好的」 leaves the draft alone; an ambiguous name is asked about
(buttons, or typed); a new note asks save / drop / keep; the newest confirm card is the live
one; 「确认」 typed saves; a voice note shows what was heard before any question."""
from __future__ import annotations

import itertools

from sqlalchemy import select

from bot.events import CardAction, EventKind, InboundEvent, MediaRef
from cards.model import Card
from crm_core.db.models import Activity, Contact, Customer, Lead
from handlers.drafts import Draft, DraftStore
from tests.integration.test_capture_handlers import card_of, count, run, say, tap

_ids = itertools.count(1)


def draft_of(runtime, rep: str = "zhang.wei") -> Draft | None:  # noqa: ANN001
    return DraftStore(runtime.kv).get(rep)


def tap_button(runtime, card: Card, text: str):  # noqa: ANN001, ANN201
    button = next(b for b in card.buttons if b.text == text)
    ev = InboundEvent(platform="wecom", kind=EventKind.CARD_ACTION, event_id=f"b{next(_ids)}", sender_id="zhangwei",
                      conversation_id="zhangwei", action=CardAction(button.action, dict(button.value), card.card_id))
    return run(runtime, ev)


def texts(replies) -> str:  # noqa: ANN001
    return "\n".join(r.item if isinstance(r.item, str) else f"[{r.item.title}] {r.item.text or ''}" for r in replies)


def leads(runtime) -> list[tuple[str, str | None, int | None]]:  # noqa: ANN001
    with runtime.db.uow() as s:
        rows = s.execute(select(Customer.name, Contact.phone, Lead.budget_cny)
                         .join(Lead, Lead.customer_id == Customer.id).join(Contact, Contact.id == Lead.contact_id))
        return [tuple(r) for r in rows]


def test_a_phone_while_waiting_for_the_company_is_a_phone(runtime):
    assert "哪家公司" in texts(say(runtime, "记录张总要采购CT设备,预算300万,3月招标"))
    replies = say(runtime, "张总手机是13912345678")
    assert "已更新:电话" in texts(replies) and "哪家公司" in texts(replies)
    draft = draft_of(runtime)
    assert draft.fields["phone"] == "13912345678" and draft.fields["company"] is None
    assert draft.awaiting == "company"
    card = card_of(say(runtime, "杭州优品"))
    values = {f.label: f.value for f in card.fields}
    assert values["公司"] == "杭州优品" and values["电话"] == "13912345678" and values["联系人"] == "张总"
    tap(runtime, card, "lead.confirm")
    assert leads(runtime) == [("杭州优品", "13912345678", 3_000_000)]
    with runtime.db.uow() as s:
        note = s.scalar(select(Activity.text).where(Activity.kind == "created"))
    assert "张总手机是13912345678" in note and "3月招标" in note      # the follow-up joins the note


def test_supplement_moves_the_date_and_is_never_the_company(runtime):
    say(runtime, "记录张总要采购CT设备,预算300万,3月招标")
    say(runtime, "补充:下周三演示改到周五")
    draft = draft_of(runtime)
    assert draft.fields["company"] is None and draft.fields["timeline"] == "2026-11-27"
    assert "下周三演示改到周五" in draft.note


def test_chit_chat_leaves_the_draft_alone(runtime):
    say(runtime, "记录张总要采购CT设备,预算300万,3月招标")
    before = draft_of(runtime)
    for word in ("好的", "谢谢", "👍", "hello", "#6"):
        reply = texts(say(runtime, word))
        assert "哪家公司" in reply and "没太看懂" not in reply
    assert "查线索 #6" in texts(say(runtime, "#6"))
    after = draft_of(runtime)
    assert (after.fields, after.note, after.awaiting) == (before.fields, before.note, before.awaiting)


def test_the_newest_confirm_card_is_the_live_one(runtime):
    first = card_of(say(runtime, "记录杭州优品科技的王总 13912345678 预算50万"))
    second = card_of(say(runtime, "预算改成80万"))
    assert first.card_id != second.card_id
    old_tap = tap(runtime, first, "lead.confirm")
    assert "最新" in texts(old_tap) and "已经处理过" not in texts(old_tap)
    assert card_of([r for r in old_tap if not r.update]).card_id == second.card_id   # the newest, sent again
    assert count(runtime, Lead) == 0
    tap(runtime, second, "lead.confirm")
    assert leads(runtime) == [("杭州优品科技", "13912345678", 800_000)]


def test_typed_confirmation_saves(runtime):
    card_of(say(runtime, "记录杭州优品科技的王总 13912345678 预算50万"))
    assert "已保存线索" in texts(say(runtime, "没问题,保存吧"))
    assert count(runtime, Lead) == 1 and draft_of(runtime) is None


def test_a_bare_name_is_asked_about_by_buttons_or_words(runtime):
    say(runtime, "记录张总要采购CT设备,预算300万,3月招标")
    ask = card_of(say(runtime, "李明"))
    assert "联系人还是公司" in ask.text and {b.text for b in ask.buttons} >= {"公司：李明", "联系人：李明"}
    assert draft_of(runtime).fields["company"] is None
    picked = tap_button(runtime, ask, "公司：李明")
    assert picked[0].update and "已选" in picked[0].item.result
    assert card_of(picked[1:]).title == "新线索,请确认" and draft_of(runtime).fields["company"] == "李明"
    # typed: 「联系人」 answers the question
    say(runtime, "取消")
    say(runtime, "记录张总要采购CT设备,预算300万,3月招标")
    card_of(say(runtime, "王芳"))
    typed = say(runtime, "联系人")
    assert typed[0].update and "联系人：王芳" in typed[0].item.result and "哪家公司" in texts(typed)
    draft = draft_of(runtime)
    assert draft.fields["contact_name"] == "王芳" and draft.fields["company"] is None and draft.pending is None
    # a question the rep moved on from: its buttons say so and change nothing
    lapsed = card_of(say(runtime, "李明"))
    say(runtime, "手机13800001111")
    reply = texts(tap(runtime, lapsed, lapsed.buttons[0].action))
    assert "过时" in reply and "哪家公司" in reply
    draft = draft_of(runtime)
    assert (draft.fields["contact_name"], draft.fields["company"], draft.fields["phone"]) == ("王芳", None, "13800001111")


def test_new_note_while_a_draft_is_open_save_drop_keep(runtime):
    card_of(say(runtime, "记录杭州优品科技的王总 13912345678 预算50万"))
    ask = card_of(say(runtime, "记录华西医院李主任想采购CT,预算500万"))
    assert {b.action for b in ask.buttons} == {"draft.save", "draft.drop", "draft.keep"}
    assert count(runtime, Lead) == 0 and draft_of(runtime).fields["company"] == "杭州优品科技"
    kept = tap(runtime, ask, "draft.keep")
    assert "继续编辑" in texts(kept) and draft_of(runtime).fields["company"] == "杭州优品科技"
    ask = card_of(say(runtime, "记录华西医院李主任想采购CT,预算500万"))
    saved = tap(runtime, ask, "draft.save")
    assert "已保存线索" in texts(saved) and card_of([r for r in saved if not r.update]).title == "新线索,请确认"
    assert leads(runtime) == [("杭州优品科技", "13912345678", 500_000)]
    assert draft_of(runtime).fields["company"] == "华西医院"
    ask = card_of(say(runtime, "新客户:锐达科技周总要买50台服务器"))
    dropped = tap(runtime, ask, "draft.drop")
    assert "已放弃「华西医院」" in texts(dropped)
    assert draft_of(runtime).fields["company"] == "锐达科技" and count(runtime, Lead) == 1


def test_new_note_when_the_open_draft_cannot_be_saved_yet(runtime):
    say(runtime, "记录张总要采购CT设备,预算300万,3月招标")
    ask = card_of(say(runtime, "另一个客户,美团的刘经理想做智能客服"))
    assert {b.action for b in ask.buttons} == {"draft.drop", "draft.keep"}      # no company: nothing to save
    assert "继续编辑" in texts(say(runtime, "继续"))
    assert draft_of(runtime).fields["contact_name"] == "张总" and draft_of(runtime).pending is None


def voice(runtime, recognition: str):  # noqa: ANN001, ANN201
    ev = InboundEvent(platform="dingtalk", kind=EventKind.VOICE, event_id=f"v{next(_ids)}", sender_id="manager7002",
                      conversation_id="manager7002",
                      media=MediaRef(key=f"dl{next(_ids)}", format="amr", recognition=recognition))
    return run(runtime, ev)


def test_a_voice_note_shows_what_was_heard_before_asking(runtime):
    rep = runtime.cfg.org.rep_by_platform_id("dingtalk", "manager7002").id
    first = voice(runtime, "记录张总要采购CT设备预算300万3月招标")
    assert first[0].item == "识别到:「记录张总要采购CT设备预算300万3月招标」" and "哪家公司" in first[1].item
    follow = voice(runtime, "张总手机是13912345678")
    assert follow[0].item.startswith("识别到:「张总手机是13912345678」")
    draft = draft_of(runtime, rep)
    assert draft.fields["phone"] == "13912345678" and draft.fields["company"] is None
    card = card_of(voice(runtime, "杭州优品"))
    assert isinstance(card, Card) and {f.label: f.value for f in card.fields}["公司"] == "杭州优品"


def test_new_command_while_a_draft_is_open_asks_first(runtime):
    card_of(say(runtime, "记录杭州优品科技的王总 13912345678 预算50万"))
    ask = card_of(say(runtime, "新建 华西医院李主任 13800001111 预算500万"))
    assert ask.title == "还有一条线索没保存" and count(runtime, Lead) == 0
    assert draft_of(runtime).fields["company"] == "杭州优品科技"
    assert "已放弃「杭州优品科技」" in texts(say(runtime, "放弃"))      # typed: the button's word
    assert draft_of(runtime).fields["company"] == "华西医院" and draft_of(runtime).pending is None
    assert "已取消" in texts(say(runtime, "取消")) and draft_of(runtime) is None and count(runtime, Lead) == 0
