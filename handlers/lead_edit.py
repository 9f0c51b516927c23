"""Editing a saved lead in chat, three ways, one service (crm_core/services/lead_edit.py):

- in a sentence: 「#12 电话改成13900001111」「线索12 预算改成80万」「把#12的联系人改为王总」 (a lead
  number, a field word and 改成/改为/是/: …) — read before the free-text capture, so it never
  becomes a draft;
- as a command: 「修改 #12 电话 13900001111 预算 80万」 (the verb may be left out), 「修改 #12」
  alone shows the field buttons;
- guided: the 修改 button on a lead card → a field button → the bot asks for the value and
  takes the next short reply (「取消」 drops it).

Each reply says what changed and what the stage gate now needs."""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from cards.model import Button, Card, Field, Level
from crm_core.authz import Action, LeadFacts
from crm_core.normalize import mask_phone
from crm_core.refs import Ref, parse_ref, show_customer, show_lead
from crm_core.services.lead_edit import (FIELDS, EditError, EditResult, GateState, InvalidEdit, customer_leads,
                                         edit_lead, parse_value)
from crm_core.services.lead_view import lead_detail
from crm_core.visibility import NotInScope
from handlers.context import Context, Reply, UserError
from handlers.lead_card import money
from handlers.registry import HandlerFn, HandlerResult, Registry

# What reps call each field (longest first when matching).
FIELD_WORDS: dict[str, str] = {
    "公司名称": "company", "客户名称": "company", "公司": "company", "单位": "company",
    "联系人职务": "contact_title", "职务": "contact_title", "职位": "contact_title",
    "联系人姓名": "contact_name", "联系人": "contact_name", "姓名": "contact_name",
    "手机号码": "phone", "手机号": "phone", "手机": "phone", "电话号码": "phone", "联系电话": "phone",
    "电话": "phone", "号码": "phone",
    "邮箱": "email", "邮件": "email", "email": "email",
    "微信号": "wechat_id", "微信": "wechat_id",
    "线索名称": "title", "标题": "title",
    "产品": "product", "预算": "budget_cny", "金额": "budget_cny",
    "时间计划": "timeline", "时间": "timeline", "日期": "timeline",
    "下一步": "next_action", "行业": "industry", "地区": "region", "区域": "region",
}
_WORDS = "|".join(sorted(map(re.escape, FIELD_WORDS), key=len, reverse=True))
_VERB = r"(?:改成|改为|改到|换成|更正为|更新为|更改为|变成|应该是|应为|是|为|=|:|：)"
_SEGMENT = re.compile(rf"^(?P<field>{_WORDS})\s*(?:的)?\s*(?P<verb>{_VERB})?\s*(?P<value>.*)$", re.S | re.I)
_SPLIT = re.compile(rf"\s*[,，;；、]\s*(?=(?:{_WORDS}))|\s+(?=(?:{_WORDS})\s*(?:{_VERB}|\s))", re.I)
# A message that starts with a lead (or customer) number, then a field word and 改成/是/: …
EDIT_SENTENCE = (rf"(?is)\s*(?:把\s*)?(?:线索\s*[#＃]?\s*\d{{1,9}}|[#＃]\s*\d{{1,9}}|L\d{{1,9}}|C\d{{1,9}}"
                 rf"|客户\s*[#＃C]?\s*\d{{1,9}})\s*(?:的|里的)?\s*(?:{_WORDS})\s*(?:的)?\s*{_VERB}.+")
_EDIT_SENTENCE = re.compile(EDIT_SENTENCE)

PENDING_TTL = 15 * 60
GUIDED_MAX_CHARS = 40          # a longer reply is a new message, not the value asked for
GUIDED_FIELDS = ("phone", "contact_name", "budget_cny", "product", "timeline", "company")
CANCEL_WORDS = frozenset({"取消", "算了", "不改了", "cancel"})
USAGE = "请这样写:修改 #线索编号 字段 新内容,例如「修改 #12 电话 13900001111」或「#12 预算改成80万」。"


@dataclass(frozen=True)
class EditRequest:
    ref: Ref
    changes: tuple[tuple[str, str], ...]      # (field, value as typed), in order


def parse_changes(text: str, *, need_verb: bool) -> tuple[tuple[str, str], ...] | None:
    """"电话改成139… 预算 80万" → (("phone", "139…"), ("budget_cny", "80万")); None when a part
    does not start with a field word, a value is missing, or (`need_verb`) the first part has no
    改成/是/: between field and value."""
    t = re.sub(r"^(?:的|里的|中的)\s*", "", text.strip())
    out: list[tuple[str, str]] = []
    for i, part in enumerate(p for p in _SPLIT.split(t) if p.strip()):
        m = _SEGMENT.match(part.strip())
        if not m or not m.group("value").strip():
            return None
        if i == 0 and need_verb and not m.group("verb"):
            return None
        field = FIELD_WORDS[m.group("field").lower()]
        value = m.group("value").strip()
        if any(f == field for f, _ in out):
            return None                           # the same field twice: ask instead of guessing
        out.append((field, value))
    return tuple(out) or None


def parse_edit(text: str, *, command: bool) -> EditRequest | None:
    """An edit request in a message (`command`: the text after 修改, where the verb is optional
    and a bare number is a lead), else None."""
    t = re.sub(r"^\s*把\s*", "", text or "")
    got = parse_ref(t)
    if got is None:
        return None
    ref, rest = got
    if ref.form == "bare" and not command:
        return None
    changes = parse_changes(rest, need_verb=not command)
    return EditRequest(ref, changes) if changes else None


# ---- applying an edit -------------------------------------------------------------------------

def gate_line(lead_id: int, gate: GateState | None) -> str:
    if gate is None or gate.next_stage is None:
        return ""
    if gate.ready:
        return f"推进到「{gate.next_stage}」的条件已满足,可以发送「推进阶段 #{lead_id} {gate.next_stage}」。"
    return f"推进到「{gate.next_stage}」还缺:{'、'.join(gate.missing)}。"


def result_text(res: EditResult, full_phone: bool) -> str:
    if not res.changes:
        return f"{show_lead(res.lead_id)} 的内容没有变化。"
    lines = []
    for c in res.changes:
        new = c.new
        if c.field == "phone" and new and not full_phone:
            new = mask_phone(str(new))
        shown = money(new) if c.field == "budget_cny" and isinstance(new, int) else (new if new not in (None, "") else "—")
        lines.append(f"{c.label}:{shown}")
    text = f"已修改{show_lead(res.lead_id)} {res.title}:" + ";".join(lines) + "。"
    gate = gate_line(res.lead_id, res.gate)
    return f"{text}\n{gate}" if gate else text


def lead_id_of(ctx: Context, ref: Ref) -> int:
    """Edits are made on leads: a customer or to-do number gets a clear question, never a guess."""
    if ref.kind == "lead":
        return ref.id
    if ref.kind == "task":
        raise UserError(f"T{ref.id} 是待办编号;修改线索请写线索编号,例如「#12 电话改成13900001111」。")
    with ctx.db.uow() as s:
        leads = customer_leads(s, ref.id)
    if not leads:
        raise UserError(f"没有找到{show_customer(ref.id)}的线索。")
    names = "、".join(f"#{lead_id} {title}" for lead_id, title in leads[:5])
    raise UserError(f"{show_customer(ref.id)}是客户编号,修改要指明线索:{names}。例如「#{leads[0][0]} 电话改成…」。")


def apply_edit(ctx: Context, lead_id: int, typed: dict[str, str]) -> str:
    """Read the typed values, then the one service (policy, validation, audit, gate)."""
    try:
        values = {field: parse_value(field, raw, ctx.now) for field, raw in typed.items()}
        with ctx.db.uow() as s:
            res = edit_lead(s, ctx.cfg, ctx.principal, lead_id, values, actor=ctx.me.id,
                            platform=ctx.event.platform, now=ctx.now)
    except InvalidEdit as err:
        raise UserError(f"没有修改:{err}。") from None
    except EditError as err:
        raise UserError(str(err)) from None
    return result_text(res, full_phone=True)      # the editor works the lead: the policy shows them phones


def edit_message(ctx: Context) -> str:
    """「#12 电话改成139…」 (read before the free-text capture)."""
    req = parse_edit(ctx.event.text or "", command=False)
    if req is None:
        raise UserError(USAGE)
    PendingEdits(ctx).clear()
    return apply_edit(ctx, lead_id_of(ctx, req.ref), dict(req.changes))


def edit_command(ctx: Context, fallback: HandlerFn | None) -> HandlerResult:
    """修改 #12 电话 139… / 修改 #12 (field buttons). Without a lead number the message is not
    ours (「修改预算为200万」 corrects an open draft): it goes to the free-text capture."""
    args = ctx.data.get("args", "")
    got = parse_ref(re.sub(r"^\s*把\s*", "", args))
    if got is None:
        if fallback is not None:
            return fallback(ctx)
        raise UserError(USAGE)
    ref, rest = got
    lead_id = lead_id_of(ctx, ref)
    if not rest.strip():
        return Reply(field_card(ctx, lead_id))
    req = parse_edit(args, command=True)
    if req is None:
        raise UserError(USAGE)
    PendingEdits(ctx).clear()
    return apply_edit(ctx, lead_id, dict(req.changes))


# ---- guided edit: 修改 button → field button → the value ----------------------------------------

class PendingEdits:
    """The field a rep tapped and the bot now waits for, kept in the KV for 15 minutes."""

    def __init__(self, ctx: Context):
        self.kv, self.key = ctx.kv, f"lead_edit:{ctx.me.id}"

    def get(self) -> tuple[int, str] | None:
        raw = self.kv.get(self.key)
        try:
            data = json.loads(raw) if raw else None
            return (int(data["lead"]), str(data["field"])) if data and data.get("field") in FIELDS else None
        except (ValueError, TypeError, KeyError):
            return None

    def set(self, lead_id: int, field: str) -> None:
        self.kv.set(self.key, json.dumps({"lead": lead_id, "field": field}), ttl=PENDING_TTL)

    def clear(self) -> None:
        self.kv.delete(self.key)


def current_value(ctx: Context, lead_id: int, field: str) -> str:
    """A field's value as the editor may see it (crm_core/visibility.py: a hidden field shows —,
    a masked one its mask; an editor may still replace it)."""
    try:
        with ctx.db.uow() as s:
            lead = lead_detail(s, lead_id, viewer=ctx.viewer)
    except NotInScope as err:
        raise UserError(str(err)) from None
    if lead is None:
        raise UserError(f"没有找到线索#{lead_id}。")
    if field == "budget_cny" and "budget" in lead.hidden | frozenset(lead.masked):
        return lead.shown("budget", "") or "—"
    contact = lead.contacts[0] if lead.contacts else None
    value: object = {"company": lead.customer, "product": lead.product, "budget_cny": lead.budget_cny,
                     "timeline": lead.timeline, "title": lead.title,
                     "contact_name": contact.name if contact else None,
                     "contact_title": contact.title if contact else None,
                     "phone": contact.phone if contact else None}.get(field)
    if value in (None, ""):
        return "—"
    return money(value) if field == "budget_cny" and isinstance(value, int) else str(value)


def field_card(ctx: Context, lead_id: int) -> Card:
    """修改线索#12: the current values and one button per common field."""
    with ctx.db.uow() as s:
        lead = lead_detail(s, lead_id)
    if lead is None:
        raise UserError(f"没有找到线索#{lead_id}。")
    ctx.require(Action.EDIT_LEAD, LeadFacts(id=lead.id, owner=lead.owner_rep_id, team_id=lead.team_id,
                                            status=lead.status))
    fields = tuple(Field(FIELDS[f][0], current_value(ctx, lead_id, f)) for f in GUIDED_FIELDS)
    buttons = tuple(Button(FIELDS[f][0], "edit.field", {"lead": str(lead_id), "field": f}) for f in GUIDED_FIELDS)
    return Card(card_id=f"lead-edit-{lead_id}-{uuid.uuid4().hex[:12]}", title=f"修改{show_lead(lead_id)} · {lead.title}",
                level=Level.INFO, fields=fields, buttons=buttons,
                footer=f"点要改的项;其他项直接回复,例如「#{lead_id} 邮箱改成 li@youpin.com」")


def edit_tap(ctx: Context) -> Reply | str:
    tap = ctx.verified_tap
    lead_id = tap.lead_id
    if lead_id is None:
        raise UserError("这张卡片缺少线索编号,无法修改。")
    if tap.key == "edit.start":
        return Reply(field_card(ctx, lead_id))
    field = tap.values.get("field", "")
    if field not in FIELDS:
        raise UserError("这个按钮暂不支持,请回复「修改 #编号 字段 新内容」。")
    now = current_value(ctx, lead_id, field)
    PendingEdits(ctx).set(lead_id, field)
    return f"请回复{show_lead(lead_id)}的新{FIELDS[field][0]}(现在是:{now})。回复「取消」不改。"


def guided_value(ctx: Context) -> str:
    pending = PendingEdits(ctx)
    got = pending.get()
    if got is None:
        raise UserError(USAGE)
    lead_id, field = got
    text = (ctx.event.text or "").strip()
    if text.lower() in CANCEL_WORDS:
        pending.clear()
        return f"好的,{show_lead(lead_id)}没有修改。"
    try:
        reply = apply_edit(ctx, lead_id, {field: text})
    except UserError as err:     # a bad value: nothing written, ask again
        raise UserError(f"{err.message}\n请重新回复{FIELDS[field][0]},或回复「取消」。") from None
    pending.clear()
    return reply


def cancelling_edit(cancel: HandlerFn) -> HandlerFn:
    """取消: a pending guided edit first, else what 取消 did before (the draft)."""
    def run(ctx: Context) -> HandlerResult:
        got = PendingEdits(ctx).get()
        if got is None:
            return cancel(ctx)
        PendingEdits(ctx).clear()
        return f"好的,{show_lead(got[0])}没有修改。"
    return run


def with_edits(fallback: HandlerFn | None) -> HandlerFn:
    """The free-text handler, preceded by the value of a guided edit the bot is waiting for and by
    edit sentences (「#12 电话改成…」), so neither becomes a draft."""
    def read(ctx: Context) -> HandlerResult:
        text = (ctx.event.text or "").strip()
        pending = PendingEdits(ctx)
        if pending.get() is not None:
            if len(text) <= GUIDED_MAX_CHARS and "\n" not in text:
                return guided_value(ctx)
            pending.clear()            # a long message is something new: the edit is dropped
        if _EDIT_SENTENCE.fullmatch(text):
            return edit_message(ctx)
        return fallback(ctx) if fallback is not None else None
    return read


def register(registry: Registry) -> None:
    def command(ctx: Context) -> HandlerResult:
        return edit_command(ctx, registry.fallback)

    registry.add_command(command, "修改", "编辑", "更正", "edit", usage="修改已保存线索的内容",
                         example="修改 #12 电话 13900001111")
    registry.add_action("edit", edit_tap)
    # Registered after handlers/capture.py (handlers/load.py): wraps its free-text handler so an
    # edit sentence and the reply to 「请回复新的电话」 are edits, not new drafts, and its 取消 so
    # that it drops a pending edit first.
    registry.set_fallback(with_edits(registry.fallback))
    for cmd in registry.commands:
        if cmd.name == "取消":
            cmd.fn = cancelling_edit(cmd.fn)
