"""Taps on the confirm card: 确认 saves the draft as a lead (+ to-do), 修改 lets the rep
correct a field by replying, 取消 drops it; 确认标签 on an assigned lead's card. handlers/taps.py
has checked each tap against the stored card and the policy first; the draft and lead ids are
the ones the card was sent with. A second tap changes nothing."""
from __future__ import annotations

from pydantic import ValidationError

from cards.model import CardError, card_from_dict
from crm_core.services.access import lead_facts
from crm_core.services.activity import record_voice_note
from crm_core.services.intake import MissingFields, intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.services.lead_marks import confirm_lead_tags
from crm_core.services.queries import get_lead
from handlers.context import Context, Reply, UserError
from handlers.drafts import Draft, DraftStore
from handlers.lead_card import LABELS, confirm_card, stamp
from handlers.registry import Registry

STALE = "这张卡片已经处理过或已过期,无需重复操作。"


def lead_input(draft: Draft) -> LeadInput:
    values = {k: v for k, v in draft.fields.items() if v not in (None, "")}
    try:
        return LeadInput(source="voice" if draft.source == "voice" else "chat", note=draft.note, **values)
    except ValidationError as err:
        names = "、".join(LABELS.get(str(e["loc"][0]), "某一项") for e in err.errors())
        raise UserError(f"{names}的格式不对,请回复更正,例如「电话改成13912345678」。") from None


def save_draft(ctx: Context, store: DraftStore, draft: Draft) -> list[Reply]:
    data = lead_input(draft)
    if not ctx.kv.claim(f"draft:saved:{draft.id}", ttl=24 * 3600):
        return [Reply(STALE)]
    try:
        with ctx.db.uow() as s:
            res = intake_lead(s, ctx.cfg, data, actor=ctx.me.id, platform=ctx.event.platform,
                              now=ctx.now, owner_rep_id=ctx.me.id)
            if draft.source == "voice":
                record_voice_note(s, res.lead, draft.note, draft.transcript, draft.audio_ref, ctx.me.id,
                                  ctx.event.platform, ctx.now)
            lead_id, title = res.lead.id, res.lead.title
            task = (res.task.title, res.task.due_date) if res.task else None
            notes, notices = list(res.notes), list(res.notices)
    except MissingFields as err:
        ctx.kv.delete(f"draft:saved:{draft.id}")
        raise UserError("还缺少:" + "、".join(LABELS.get(f, "必填信息") for f in err.fields)) from None
    except Exception:
        ctx.kv.delete(f"draft:saved:{draft.id}")   # nothing was stored: allow another tap
        raise
    store.clear(ctx.me.id)
    ctx.deliver(notices)          # e.g. a possible-duplicate card, after the commit
    text = f"已保存线索 #{lead_id}:{title}"
    if task:
        text += f"\n已创建待办:{task[0]}(截止 {task[1].isoformat() if task[1] else '未定'})"
    card = confirm_card(draft).resolved(f"已保存为线索 #{lead_id} · {stamp(ctx.now)}")
    return [Reply(card, update=True), Reply("\n".join([text, *notes]))]


def lead_card_tap(ctx: Context) -> list[Reply]:
    tap = ctx.verified_tap
    store = DraftStore(ctx.kv)
    draft = store.get(ctx.me.id)
    if draft is None or draft.id != tap.values.get("draft"):
        return [Reply(STALE)]
    if draft.card_id and tap.card_id != draft.card_id:
        return older_card(ctx, draft)
    if tap.key == "lead.confirm":
        return save_draft(ctx, store, draft)
    if tap.key == "lead.edit":
        draft.editing = True
        store.save(ctx.me.id, draft)
        return [Reply("请直接回复要修改的内容,例如「预算改成200万」「联系人改成王总」,改完我会再发确认卡片。")]
    store.clear(ctx.me.id)
    return [Reply(confirm_card(draft).resolved(f"已取消 · {stamp(ctx.now)}"), update=True),
            Reply("已取消这条线索草稿。")]


def older_card(ctx: Context, draft: Draft) -> list[Reply]:
    """A tap on an earlier confirm card of the open draft: the newest card is the live one."""
    replies = [Reply("这张是之前的确认卡片,之后内容有过修改。请在最新的这张上操作:"), Reply(confirm_card(draft))]
    try:
        older = card_from_dict(ctx.verified_tap.card.content)
    except (CardError, TypeError, ValueError):      # an old or foreign card: answer in text only
        return replies
    return [Reply(older.resolved(f"内容已更新,请看最新的确认卡片 · {stamp(ctx.now)}"), update=True), *replies]


def confirm_tags(ctx: Context) -> list[Reply]:
    """Leads from forms and expo scans are saved without asking; the owner only confirms tags."""
    tap = ctx.verified_tap
    lead_id = tap.lead_id
    if lead_id is None:
        return [Reply("这张卡片缺少线索编号,无法处理。")]
    with ctx.db.uow() as s:
        lead = get_lead(s, lead_id)
        if lead is None:
            return [Reply(f"没有找到线索 #{lead_id}。")]
        ctx.require(tap.action, lead_facts(lead))
        if confirm_lead_tags(s, lead, ctx.me.id, ctx.now) == "already_confirmed":
            return [Reply(STALE)]
    replies = [Reply(f"已确认线索 #{lead_id} 的标签。")]
    try:
        card = card_from_dict(tap.card.content)
    except (CardError, TypeError, ValueError):      # an old or foreign card: answer in text
        return replies
    replies.insert(0, Reply(card.resolved(f"标签已由 {ctx.me.name} 确认 · {stamp(ctx.now)}"), update=True))
    return replies


def register(registry: Registry) -> None:
    registry.add_action("lead", lead_card_tap)
    registry.add_action("lead.tags", confirm_tags)
