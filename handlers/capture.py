"""Free text about a customer: with no draft open it becomes a draft lead (extract the fields,
ask for a missing required one, show the confirm card); with a draft open it goes to
handlers/draft_flow.py, which reads it as an addition, correction, answer, new note or chit-chat.
Voice notes come through `capture_message` too, the transcript shown first. 取消 cancels."""
from __future__ import annotations

from crm_core.authz import Action
from crm_core.voice.pipeline import VoiceResult as HeardFields
from handlers.context import Context, Reply
from handlers.draft_flow import advance, ask_new_note, continue_draft, draft_tap, extract, start_draft
from handlers.drafts import FIELDS, DraftStore
from handlers.lead_card import confirm_card, stamp
from handlers.registry import Registry
from handlers.small_talk import small_talk_reply

__all__ = ["advance", "cancel", "capture_message", "capture_text", "new_draft", "stamp"]

HINT = ("没太看懂这条消息 🙂 直接说客户情况就能建线索,例如:\n"
        "「刚跟杭州优品的李经理通了电话,想上CRM,预算五十万,下周三约演示」\n发送「帮助」查看全部用法。")
HINT_EN = ("I couldn't find a customer in that. Describe the customer, e.g. \"Met Mr. Wang from Acme Ltd, "
           "budget 500k, demo next Tuesday\". Send \"help\" for all commands.")
MEANINGFUL = ("company", "contact_name", "phone", "product", "budget_cny")


def new_draft(ctx: Context, text: str, *, source: str = "chat", transcript: str | None = None,
              audio_ref: str | None = None, empty_reply: str | None = None,
              heard: HeardFields | None = None) -> list[Reply]:
    """`heard`: fields a voice note's pipeline already read, with those to mark 「请核对」."""
    ctx.require(Action.CREATE_LEAD)
    fields = {k: heard.fields.get(k) for k in FIELDS} if heard is not None else extract(ctx, text)
    if not any(fields.get(k) for k in MEANINGFUL):
        return [Reply(empty_reply or small_talk_reply(text) or (HINT_EN if ctx.english() else HINT))]
    store = DraftStore(ctx.kv)
    draft = store.get(ctx.me.id)
    if draft is not None:                 # 「新建 …」 while a draft is open: save, drop or keep it?
        return ask_new_note(ctx, store, draft, text, source=source, transcript=transcript, audio_ref=audio_ref)
    return start_draft(ctx, store, text, fields, source=source, transcript=transcript, audio_ref=audio_ref,
                       review=sorted(heard.review) if heard is not None else ())


def capture_message(ctx: Context, text: str, *, source: str = "chat", transcript: str | None = None,
                    audio_ref: str | None = None, empty_reply: str | None = None,
                    heard: HeardFields | None = None) -> list[Reply]:
    """A note typed or said: a new draft, or the next message of the open one."""
    store = DraftStore(ctx.kv)
    draft = store.get(ctx.me.id)
    if draft is None:
        replies = new_draft(ctx, text, source=source, transcript=transcript, audio_ref=audio_ref,
                            empty_reply=empty_reply, heard=heard)
    else:
        ctx.require(Action.CREATE_LEAD)
        replies = continue_draft(ctx, store, draft, text, source=source, transcript=transcript, audio_ref=audio_ref)
    if source == "voice":
        replies = heard_first(text, replies)
    return replies


def heard_first(text: str, replies: list[Reply]) -> list[Reply]:
    """What the bot heard comes before anything it asks (a confirm card shows it already)."""
    first = replies[0].item if replies else None
    if isinstance(first, str) and first.startswith("识别到"):
        return replies
    if first is not None and not isinstance(first, str) and first.text and text[:20] in first.text:
        return replies
    return [Reply(f"识别到:「{text}」"), *replies]


def capture_text(ctx: Context) -> list[Reply]:
    return capture_message(ctx, (ctx.event.text or "").strip())


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


def register(registry: Registry) -> None:
    registry.set_fallback(capture_text)
    registry.add_command(cancel, "取消", "cancel", usage="取消", example="取消")
    registry.add_action("draft", draft_tap)
