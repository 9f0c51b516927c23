"""拜访纪要 in chat: 「拜访纪要 #12 今天和王总聊了…」 (or 「拜访纪要 #12」, or the 拜访纪要 button on the
lead detail card, then one message; 「拜访纪要」 alone takes the rep's one open lead or asks which)
fills the template 今日沟通主题 / 客户核心诉求 / 我方承诺事项 /
下次跟进时间 from one free message (crm_core/extract/visit_note.py) and asks only for the parts
it could not read (`visit_notes.ask_for`), one question each: text for the first three, a card
with day buttons (`visit_notes.time_choices`) for the next follow-up. The note is saved as a
`visit_note` activity and a to-do due on the next follow-up day (crm_core/services/visit_note.py).

While a note is open its state waits in the KV (`visit_note:<rep>`, two hours): the rep's next
free message answers the question (a command still runs as a command), 「取消」 drops the note.
Every step asks the policy (Action.FOLLOW_UP on the lead)."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from bot.events import EventKind
from cards.model import CardError, card_from_dict
from crm_core.authz import Action
from crm_core.extract.draft_intent import DraftState, is_acknowledgement, read_draft_message
from crm_core.extract.visit_note import PARTS, first_day, read_visit_note
from crm_core.refs import show_lead
from crm_core.services.lead_view import open_leads_of
from crm_core.services.visit_note import VisitNoteError, VisitParts, save_visit_note
from crm_core.voice import VoiceError
from handlers.capture import stamp
from handlers.commands import lead_for
from handlers.context import Context, Reply, UserError
from handlers.draft_flow import extract, known_companies, typed_pick
from handlers.drafts import DraftStore
from handlers.registry import HandlerFn, HandlerResult, Registry, as_replies
from handlers.small_talk import is_small_talk
from handlers.visit_cards import QUESTIONS, day_label, saved_card, when_card
from handlers.voice import heard_note
from handlers.which import lead_ref

STATE_TTL = 2 * 3600
CLAIM_TTL = 7 * 86400.0
USAGE = "拜访纪要 #线索编号 纪要内容,例如「拜访纪要 #12 今天和王总聊了二期方案,他最关心价格,我们答应周五给报价,下周三再去」"
NONE_WORDS = {"无", "没有", "暂无", "没", "无承诺", "-"}
BODY_PROMPT = ("请发送{lead}的拜访纪要,一条消息说清:今日沟通主题、客户核心诉求、我方承诺事项、下次跟进时间。"
               "例如「今天聊了二期方案,客户最关心价格,我们答应周五给报价,下周三再去」。发送「取消」放弃。")


@dataclass
class VisitState:
    lead: int                         # 0 while the bot asks which lead
    title: str
    parts: dict[str, Any] = field(default_factory=dict)     # topic / needs / commitments / next_date (ISO)
    awaiting: str = "body"            # lead | body | topic | needs | commitments | next_follow_up
    said: str | None = None           # a 「下次…」 without a day
    card_id: str | None = None        # the time question's card

    def visit_parts(self) -> VisitParts:
        day = self.parts.get("next_date")
        return VisitParts(self.parts.get("topic"), self.parts.get("needs"), self.parts.get("commitments"),
                          date.fromisoformat(day) if day else None)


class VisitStore:
    def __init__(self, ctx: Context):
        self.kv, self.key = ctx.kv, f"visit_note:{ctx.me.id}"

    def get(self) -> VisitState | None:
        raw = self.kv.get(self.key)
        try:
            return VisitState(**json.loads(raw)) if raw else None
        except (ValueError, TypeError):        # an old or damaged state: start over
            self.kv.delete(self.key)
            return None

    def save(self, state: VisitState) -> None:
        self.kv.set(self.key, json.dumps(asdict(state), ensure_ascii=False), ttl=STATE_TTL)

    def clear(self) -> None:
        self.kv.delete(self.key)


def _lead_title(ctx: Context, lead_id: int) -> str:
    with ctx.db.uow() as s:
        return lead_for(ctx, s, lead_id, Action.FOLLOW_UP).title


def _missing(ctx: Context, state: VisitState) -> list[str]:
    have = {"topic": state.parts.get("topic"), "needs": state.parts.get("needs"),
            "commitments": state.parts.get("commitments"), "next_follow_up": state.parts.get("next_date")}
    return [p for p in PARTS if p in ctx.cfg.visit_notes.ask_for and not have[p]]


def _next_step(ctx: Context, state: VisitState) -> list[Reply]:
    """Ask the first missing part, or save the note."""
    store = VisitStore(ctx)
    missing = _missing(ctx, state)
    if not missing:
        return _save(ctx, state)
    state.awaiting = missing[0]
    if state.awaiting == "next_follow_up":
        card = when_card(state.lead, state.title, ctx.cfg.visit_notes.time_choices, state.said)
        state.card_id = card.card_id
        store.save(state)
        return [Reply(card)]
    store.save(state)
    return [Reply(QUESTIONS[state.awaiting])]


def _save(ctx: Context, state: VisitState) -> list[Reply]:
    parts = state.visit_parts()
    try:
        with ctx.db.uow() as s:
            lead = lead_for(ctx, s, state.lead, Action.FOLLOW_UP)
            saved = save_visit_note(s, ctx.cfg, lead, parts, ctx.me.id, ctx.event.platform, ctx.now)
    except VisitNoteError as err:
        raise UserError(str(err)) from None
    VisitStore(ctx).clear()
    return [Reply(saved_card(state.lead, state.title, parts, saved.task_id))]


def _read_body(ctx: Context, state: VisitState, text: str) -> list[Reply]:
    note = read_visit_note(text, ctx.now)
    state.parts = {"topic": note.topic, "needs": note.needs, "commitments": note.commitments,
                   "next_date": note.next_date.isoformat() if note.next_date else None}
    state.said = note.next_said if note.next_date is None else None
    replies = _next_step(ctx, state)
    if VisitStore(ctx).get() is not None:      # still open: what was understood, before the question
        got = [label for label, value in state.visit_parts().lines() if value != "未填写"]
        if got:
            replies.insert(0, Reply(f"已记下:{'、'.join(got)}。"))
    return replies


def visit_cmd(ctx: Context) -> list[Reply]:
    args = ctx.data.get("args", "").strip()
    before = VisitStore(ctx).get()
    replies = _which_lead(ctx) if not args else _start(ctx, args)
    if before is not None and before.lead:      # said so (and on WeCom a repeated question would be dropped)
        replies.insert(0, Reply(f"{show_lead(before.lead)}还没记完的拜访纪要已放弃,按这条重新记录。"))
    return replies


def _start(ctx: Context, args: str) -> list[Reply]:
    """「#12 纪要内容」 / 「#12」 / 「C3 …」: the lead (handlers/which.py), then the note or the prompt."""
    lead_id, rest, note = lead_ref(ctx, args, USAGE)
    title = _lead_title(ctx, lead_id)
    replies = [Reply(note.strip("()()"))] if note else []
    state = VisitState(lead=lead_id, title=title)
    if not rest.strip():
        VisitStore(ctx).save(state)
        return [*replies, Reply(BODY_PROMPT.format(lead=f"{show_lead(lead_id)} {title}"))]
    return [*replies, *_read_body(ctx, state, rest)]


def _which_lead(ctx: Context) -> list[Reply]:
    """「拜访纪要」 alone: the rep's one open lead, else the question which (their open leads listed)."""
    ctx.require(Action.VIEW_OWN_WORK)
    with ctx.db.uow() as s:
        leads = open_leads_of(s, ctx.me.id, limit=6)
    if len(leads) == 1:
        return _start(ctx, f"#{leads[0].id}")
    VisitStore(ctx).save(VisitState(lead=0, title="", awaiting="lead"))
    listed = "、".join(f"#{x.id} {x.title}" for x in leads[:5])
    return [Reply("记哪条线索的拜访纪要?请回复线索编号,可以连同纪要内容一起发,例如「#12 今天聊了二期方案…」。"
                  + (f"\n你跟进中的线索:{listed}" if listed else ""))]


def _answer(ctx: Context, state: VisitState, text: str) -> list[Reply]:
    if state.awaiting == "lead":        # a wrong number keeps the question open (_start saves the next state)
        try:
            return _start(ctx, text)
        except UserError as err:
            raise UserError(f"{err.message}\n请回复要记拜访纪要的线索编号,例如「#12」;发送「取消」放弃。") from None
    if state.awaiting == "body":
        if is_small_talk(text):         # 「你好」「在吗」 while the note's content is awaited
            return [Reply(f"「{text[:20]}」没有记进纪要。"
                          + BODY_PROMPT.format(lead=f"{show_lead(state.lead)} {state.title}"))]
        return _read_body(ctx, state, text)
    if state.awaiting == "next_follow_up":
        day = first_day(text, ctx.now)
        if day is None:
            return [Reply(f"没看懂「{text}」是哪天。请回复日期,例如「12月10日」「周五」「下周一」,或点卡片上的按钮。")]
        state.parts["next_date"] = day.isoformat()
        return _next_step(ctx, state)
    if text not in NONE_WORDS and (is_acknowledgement(text) or is_small_talk(text)   # 「好的」「你好」「在吗」
                                   or not _WORDS.search(text)):                      # 「👍」
        return [Reply(f"「{text[:20]}」没有记进纪要。{QUESTIONS[state.awaiting]}")]
    state.parts[state.awaiting] = "无" if text in NONE_WORDS else text[:500]
    if not state.parts.get("next_date"):          # 「…,下周一前反馈」 answers the day as well
        day = read_visit_note(text, ctx.now).next_date
        state.parts["next_date"] = day.isoformat() if day else None
    return _next_step(ctx, state)


def _still_allowed(ctx: Context, state: VisitState) -> None:
    """The note's lead may still be followed up by the rep (a lead handed over meanwhile may not):
    else the note is dropped and the rep told why."""
    if state.awaiting == "lead":
        return
    try:
        _lead_title(ctx, state.lead)
    except UserError as err:
        VisitStore(ctx).clear()
        raise UserError(f"{err.message}{show_lead(state.lead)}的拜访纪要未保存。") from None


_WORDS = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
NEW_LEAD_RE = re.compile(r"^(?:记录(?:一下)?|记一下|新建|新客户|新线索|又一个客户|另一个客户)")
DRAFT_RULES = {"explicit", "explicit-unparsed", "not-but", "not-but-extracted", "change-value", "change-left"}


def _elsewhere(ctx: Context, state: VisitState, text: str) -> str | None:
    """What a message sent while the note's question is open is, when it is not the answer: a new
    lead (「记录…」 with a phone, or a company other than the note's) or, while a lead draft is
    open, its correction, confirmation or question's answer ("lead" / "draft"); else None."""
    draft = DraftStore(ctx.kv).get(ctx.me.id)
    if draft is not None:
        if draft.pending and typed_pick(draft.pending, text) is not None:
            return "draft"
        reading = read_draft_message(text, DraftState(draft.awaiting, dict(draft.fields)), now=ctx.now,
                                     industries=ctx.cfg.industries, known_companies=known_companies(ctx))
        if reading.kind in ("confirm", "new_note") or reading.why in DRAFT_RULES:
            return "draft"
    if NEW_LEAD_RE.match(text):
        fields = extract(ctx, text)
        company = fields.get("company")
        if fields.get("phone") or (company and company not in state.title):
            return "lead"
    return None


def with_visit_notes(fallback: HandlerFn | None) -> HandlerFn:
    """The free-text handler, preceded by the answer to an open visit note's question (a new lead
    or a lead draft's correction goes on to the draft; the note keeps waiting)."""
    def read(ctx: Context) -> HandlerResult:
        state = VisitStore(ctx).get()
        text = (ctx.event.text or "").strip()
        if state is not None and text:
            _still_allowed(ctx, state)
            other = _elsewhere(ctx, state, text)
            if other is None or fallback is None:
                return _answer(ctx, state, text)
            replies = as_replies(fallback(ctx))
            if other == "lead" and state.lead:
                replies.append(Reply(f"{show_lead(state.lead)}的拜访纪要还在等你补充,直接回复即可;发送「取消」放弃纪要。"))
            return replies
        return fallback(ctx) if fallback is not None else None
    return read


def with_visit_voice(voice: HandlerFn | None) -> HandlerFn:
    """A voice message while a note is open answers its question (transcribed as voice notes
    are, handlers/voice.py), instead of starting a lead draft."""
    def run(ctx: Context) -> HandlerResult:
        state = VisitStore(ctx).get()
        if state is None:
            return voice(ctx) if voice is not None else None
        _still_allowed(ctx, state)
        try:
            text, _ = heard_note(ctx)
        except VoiceError as err:
            return [Reply(err.user_message)]
        if not text.strip():
            return [Reply("没听清,请再说一遍,或直接打字。")]
        return [Reply(f"识别到:「{text}」"), *_answer(ctx, state, text.strip())]
    return run


def cancelling_visit(cancel: HandlerFn) -> HandlerFn:
    """取消: an open visit note first, else what 取消 did before."""
    def run(ctx: Context) -> HandlerResult:
        state = VisitStore(ctx).get()
        if state is None:
            return cancel(ctx)
        VisitStore(ctx).clear()
        which = f"{show_lead(state.lead)}的" if state.lead else "这份"
        return f"好的,{which}拜访纪要已放弃,没有保存。"
    return run


def start_tap(ctx: Context) -> str:
    """拜访纪要 on the lead detail card: wait for the note (a second tap changes nothing)."""
    lead_id = ctx.verified_tap.lead_id
    if lead_id is None:
        raise UserError("这张卡片已经失效,请重新发送「查线索 #编号」。")
    title = _lead_title(ctx, lead_id)
    store = VisitStore(ctx)
    current = store.get()
    if current is not None and current.lead == lead_id:
        return f"正在记录{show_lead(lead_id)}的拜访纪要,请直接发送内容;发送「取消」放弃。"
    store.save(VisitState(lead=lead_id, title=title))
    return BODY_PROMPT.format(lead=f"{show_lead(lead_id)} {title}")


def when_tap(ctx: Context) -> list[Reply]:
    """A day button on the 下次跟进时间 card: once per card."""
    tap = ctx.verified_tap
    store = VisitStore(ctx)
    state = store.get()
    if state is None or state.card_id != tap.card_id or state.awaiting != "next_follow_up":
        raise UserError("这份拜访纪要已经保存或放弃了,这张卡片不再有效。")
    if not ctx.kv.claim(f"visit:tap:{tap.card_id}", CLAIM_TTL):
        return [Reply("这张卡片已经处理过了,无需重复操作。")]
    day = first_day(tap.values.get("day", ""), ctx.now)
    if day is None:
        ctx.kv.delete(f"visit:tap:{tap.card_id}")
        raise UserError("没看懂这个日期,请直接回复日期,例如「12月10日」。")
    state.parts["next_date"] = day.isoformat()
    try:
        replies = _next_step(ctx, state)
    except BaseException:
        ctx.kv.delete(f"visit:tap:{tap.card_id}")
        raise
    try:
        card = card_from_dict(tap.card.content).resolved(f"下次跟进:{day_label(day)} · {stamp(ctx.now)}")
    except (CardError, TypeError, ValueError):
        return replies
    return [Reply(card, update=True), *replies]


def register(registry: Registry) -> None:
    registry.add_command(visit_cmd, "拜访纪要", "visit", usage="记录拜访纪要(主题、诉求、承诺、下次跟进时间)",
                         example="拜访纪要 #12 今天聊了二期方案,客户最关心价格,我们答应周五给报价,下周三再去")
    registry.add_action("visit.start", start_tap)
    registry.add_action("visit.when", when_tap)
    # Registered after handlers/capture.py and handlers/lead_edit.py (handlers/load.py): the answer
    # to an open note's question is not a new lead draft, and 取消 drops the note first.
    registry.set_fallback(with_visit_notes(registry.fallback))
    registry.add_kind(EventKind.VOICE, with_visit_voice(registry.kinds.get(EventKind.VOICE)))
    for cmd in registry.commands:
        if cmd.name == "取消":
            cmd.fn = cancelling_visit(cmd.fn)
