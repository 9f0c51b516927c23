"""An open lead draft and the rep's next message, as a person would take it: the message is
read first as an addition or correction (crm_core/extract/draft_intent.py); it becomes the
company only when it reads as one or plainly answers the question; an ambiguous message gets a
question with buttons; a new note about another customer asks whether to save, drop or keep
the open draft; 「好的」「谢谢」 leave it alone; 「确认」 typed saves it. Each confirm card is a new
version (its own card id), so the newest is the live one. The question cards' taps
(`draft.pick`, `draft.save`, `draft.drop`, `draft.keep`) come here too."""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from cards.model import CardError, card_from_dict, card_to_dict
from crm_core.extract import extract_lead_fields
from crm_core.extract.draft_intent import DraftState, Reading, read_draft_message
from crm_core.services.queries import rep_customers
from handlers.context import Context, Reply
from handlers.drafts import FIELDS, Draft, DraftStore
from handlers.lead_actions import save_draft
from handlers.lead_card import LABELS, QUESTIONS, confirm_card, new_note_card, question_card
from handlers.small_talk import is_small_talk, small_talk_reply

log = logging.getLogger("crm_bot.capture")

NOTE_LIMIT = 5000                 # LeadInput.note
KNOWN_LIMIT = 300                 # the rep's customers the reader knows by name
_THANKS_RE = re.compile(r"谢|辛苦|感谢|thank|thx", re.IGNORECASE)
_PUNCT_RE = re.compile(r"[\s,.;:!?，。；：！？、~～…·\"'“”‘’「」()（）]+")
_NEW_NOTE_WORDS = {"save": ("保存", "保存当前", "存", "先保存", "保存当前再记新的", "保存当前，再记新的"),
                   "drop": ("放弃", "放弃当前", "不要了", "删掉", "放弃当前，改记新的", "放弃当前改记新的"),
                   "keep": ("继续", "继续编辑", "继续当前", "继续编辑当前", "保留", "先不管新的")}
GONE = "这条线索草稿已经保存或取消了,这个问题不用再回答。"


def required_fields(ctx: Context) -> list[str]:
    return [f for f in ctx.cfg.funnel.capture_required if f in FIELDS]


def extract(ctx: Context, text: str) -> dict[str, Any]:
    fields = extract_lead_fields(text, now=ctx.now, industries=ctx.cfg.industries)
    return {k: fields.get(k) for k in FIELDS}


def known_companies(ctx: Context) -> tuple[str, ...]:
    """The names of the rep's customers: a message naming one reads as that company."""
    with ctx.db.uow() as s:
        return tuple(c.name for c in rep_customers(s, ctx.me.id, limit=KNOWN_LIMIT) if c.name)


def advance(ctx: Context, store: DraftStore, draft: Draft) -> list[Reply]:
    """Ask for the first missing required field, or show the confirm card (a new version)."""
    missing = draft.missing(required_fields(ctx))
    if missing:
        draft.awaiting, draft.editing = missing[0], False
        store.save(ctx.me.id, draft)
        return [Reply(QUESTIONS[missing[0]] + "(回复「取消」放弃这条线索)")]
    draft.awaiting, draft.editing = None, False
    draft.version += 1
    card = confirm_card(draft)
    draft.card_id = card.card_id
    store.save(ctx.me.id, draft)
    return [Reply(card)]


def start_draft(ctx: Context, store: DraftStore, text: str, fields: dict[str, Any], *, source: str = "chat",
                transcript: str | None = None, audio_ref: str | None = None,
                review: Sequence[str] = ()) -> list[Reply]:
    draft = Draft(fields=fields, note=text, source=source, transcript=transcript, audio_ref=audio_ref,
                  platform=ctx.event.platform, review=[k for k in review if k in FIELDS])
    return advance(ctx, store, draft)


def who(draft: Draft) -> str:
    return str(draft.fields.get("company") or draft.fields.get("contact_name") or "当前线索")


def status_line(ctx: Context, draft: Draft) -> str:
    missing = draft.missing(required_fields(ctx))
    name = draft.awaiting or (missing[0] if missing else None)
    if name:
        return f"「{who(draft)}」这条线索还差{LABELS[name]}:{QUESTIONS[name]}"
    return "确认卡片在上面,核对无误点「确认」就保存;要改直接说,例如「预算改成200万」。"


def add_note(draft: Draft, words: str | None) -> None:
    if not words:
        return
    note = f"{draft.note}\n{words}" if draft.note else words
    draft.note = note[:NOTE_LIMIT]


def apply_changes(ctx: Context, store: DraftStore, draft: Draft, changes: dict[str, Any],
                  note: str | None) -> list[Reply]:
    draft.fields.update({k: v for k, v in changes.items() if k in FIELDS})
    draft.review = [k for k in draft.review if k not in changes]      # the rep said it: checked
    add_note(draft, note)
    named = [LABELS[k] for k in changes if k in LABELS and k != "industry"] or (
        [LABELS["industry"]] if "industry" in changes else [])
    said = f"已更新:{'、'.join(named)}。" if named else ("已补充到这条线索的备注。" if note else "")
    replies = advance(ctx, store, draft)
    if said and replies and isinstance(replies[0].item, str):
        # one message: WeCom drops a text identical to one sent in the last minute (the question)
        return [Reply(f"{said}{replies[0].item}"), *replies[1:]]
    return ([Reply(said)] if said else []) + replies


def continue_draft(ctx: Context, store: DraftStore, draft: Draft, text: str, *, source: str = "chat",
                   transcript: str | None = None, audio_ref: str | None = None) -> list[Reply]:
    """The rep's message while `draft` is open."""
    if draft.pending:
        pick = typed_pick(draft.pending, text)
        if pick is not None:
            return resolve_pending(ctx, store, draft, pick)
        draft.pending = None                      # the rep moved on: the question lapses
    if is_small_talk(text):              # 「hello」「#6」「好的」 (handlers/small_talk.py) answer no question
        reading = Reading("chitchat", why="small-talk")
    else:
        reading = read_draft_message(text, DraftState(draft.awaiting, dict(draft.fields)), now=ctx.now,
                                     industries=ctx.cfg.industries, known_companies=known_companies(ctx))
    log.info("draft %s: message read as %s (%s)", draft.id, reading.kind, reading.why)
    if reading.kind == "chitchat":
        store.save(ctx.me.id, draft)
        lead_ref = small_talk_reply(text) if text.strip().startswith("#") else None
        opener = lead_ref or ("不客气!" if _THANKS_RE.search(text) else "好的。")
        return [Reply(opener + status_line(ctx, draft))]
    if reading.kind == "confirm":
        if draft.missing(required_fields(ctx)) or draft.card_id is None:
            return advance(ctx, store, draft)
        # text only: a card is updated in place after a tap on it, not after a typed word
        return [r for r in save_draft(ctx, store, draft) if not r.update]
    if reading.kind == "unclear":
        store.save(ctx.me.id, draft)
        return [Reply(unclear_text(reading, draft))]
    if reading.kind == "new_note":
        return ask_new_note(ctx, store, draft, text, source=source, transcript=transcript, audio_ref=audio_ref)
    if reading.kind == "ask":
        return ask_choice(ctx, store, draft, text, reading)
    return apply_changes(ctx, store, draft, reading.changes, reading.note)


def unclear_text(reading: Reading, draft: Draft) -> str:
    name = reading.question or draft.awaiting or "company"
    if reading.why == "dont-know":
        return f"没关系。{LABELS[name]}是保存线索必须的,问到后直接回复我;这条不要了就回复「取消」。"
    return f"没能识别这个{LABELS[name]},请再说一次。{QUESTIONS[name]}"


def _number() -> str:
    return uuid.uuid4().hex[:8]


def ask_choice(ctx: Context, store: DraftStore, draft: Draft, text: str, reading: Reading) -> list[Reply]:
    card = question_card(draft, _number(), reading.question or "这条消息要记到哪一项?", [c.label for c in reading.choices])
    draft.pending = {"kind": "choice", "card_id": card.card_id, "card": card_to_dict(card), "text": text,
                     "choices": [asdict(c) for c in reading.choices]}
    store.save(ctx.me.id, draft)
    return [Reply(card)]


def ask_new_note(ctx: Context, store: DraftStore, draft: Draft, text: str, *, source: str = "chat",
                 transcript: str | None = None, audio_ref: str | None = None) -> list[Reply]:
    """A note about another customer while `draft` is open: save, drop or keep the open one."""
    can_save = not draft.missing(required_fields(ctx))
    card = new_note_card(draft, _number(), text, can_save)
    draft.pending = {"kind": "new_note", "card_id": card.card_id, "card": card_to_dict(card), "text": text,
                     "source": source, "transcript": transcript, "audio_ref": audio_ref, "can_save": can_save}
    store.save(ctx.me.id, draft)
    return [Reply(card)]


def typed_pick(pending: dict[str, Any], text: str) -> str | None:
    """A typed answer to the pending question: a button's words (「公司」「联系人」「保存」「继续」) or its number."""
    t = _PUNCT_RE.sub("", text).lower()
    if not t:
        return None
    if pending.get("kind") == "new_note":
        for pick, words in _NEW_NOTE_WORDS.items():
            if t in {_PUNCT_RE.sub("", w) for w in words} and (pick != "save" or pending.get("can_save")):
                return pick
        return None
    choices = pending.get("choices") or []
    if t.isdigit() and 1 <= int(t) <= len(choices):
        return str(int(t) - 1)
    for i, choice in enumerate(choices):
        label = _PUNCT_RE.sub("", str(choice.get("label", "")))
        head = str(choice.get("label", "")).split("：")[0]
        if t in {label, head, f"是{head}", f"{head}吧", f"是{head}吧", f"记{head}"}:
            return str(i)
    return None


def _resolved_card(pending: dict[str, Any], result: str) -> list[Reply]:
    try:
        card = card_from_dict(pending["card"])
    except (CardError, KeyError, TypeError, ValueError):   # an old or damaged record: say it in text
        return []
    return [Reply(card.resolved(result), update=True)]


def resolve_pending(ctx: Context, store: DraftStore, draft: Draft, pick: str) -> list[Reply]:
    """Act on the rep's answer (a tap or typed words) to the question the draft is waiting on."""
    pending = draft.pending or {}
    draft.pending = None
    if pending.get("kind") == "choice":
        choices = pending.get("choices") or []
        if not pick.isdigit() or int(pick) >= len(choices):
            store.save(ctx.me.id, draft)
            return [Reply(status_line(ctx, draft))]
        choice = choices[int(pick)]
        done = _resolved_card(pending, f"已选:{choice['label']}")
        if choice.get("new_note"):
            return done + ask_new_note(ctx, store, draft, str(pending.get("text") or ""))
        return done + apply_changes(ctx, store, draft, dict(choice.get("changes") or {}), choice.get("note"))
    text = str(pending.get("text") or "")
    source = str(pending.get("source") or "chat")
    transcript, audio_ref = pending.get("transcript"), pending.get("audio_ref")
    if pick == "keep":
        store.save(ctx.me.id, draft)
        return _resolved_card(pending, "继续编辑当前线索") + [
            Reply(f"好的,继续编辑「{who(draft)}」这条。新的那条稍后再发给我就行。"), Reply(status_line(ctx, draft))]
    if pick == "save":
        saved = [r for r in save_draft(ctx, store, draft) if not r.update]   # this tap updates its own card
        return (_resolved_card(pending, "已保存当前线索,开始记新的") + saved
                + start_draft(ctx, store, text, extract(ctx, text), source=source, transcript=transcript,
                          audio_ref=audio_ref))
    store.clear(ctx.me.id)
    return (_resolved_card(pending, "已放弃当前线索,开始记新的") + [Reply(f"已放弃「{who(draft)}」这条草稿。")]
            + start_draft(ctx, store, text, extract(ctx, text), source=source, transcript=transcript,
                          audio_ref=audio_ref))


def draft_tap(ctx: Context) -> list[Reply]:
    """A button on a question card about the open draft (handlers/taps.py checked it first)."""
    tap = ctx.verified_tap
    store = DraftStore(ctx.kv)
    draft = store.get(ctx.me.id)
    if draft is None or draft.id != tap.values.get("draft"):
        return [Reply(GONE)]
    if not draft.pending or draft.pending.get("card_id") != tap.card_id:
        return [Reply("这个问题已经过时了(之后又收到了新的消息)。" + status_line(ctx, draft))]
    pick = tap.values.get("pick", "") if tap.key == "draft.pick" else tap.key.rpartition(".")[2]
    return resolve_pending(ctx, store, draft, pick)
