"""The minimum effective action on entering a stage (`stage_entry` config): 「推进阶段 #12 谈判」 into a
listed stage gets a card instead of the move. The card asks 沟通方式 (a button per configured
channel), then, updated in place, 核心异议点 (the presets, five a page with 「更多」 when there are
more than six); the last tap makes the move through the one stage service
(crm_core/services/stages.py `advance_stage`, which writes the move and a `stage_entry` activity
together) and resolves the card. The move waits for the answers, so a stage is never entered
without them. Typed works too: 「推进阶段 #12 谈判 沟通方式:电话 核心异议:价格」, 「推进阶段 #12 谈判 电话 价格」,
and, while the card waits (KV `stage_entry:<rep>`, two hours), a message of the buttons' words
(「电话」, then 「价格」; or 「电话 价格」) answers it as the taps would.

Each tap passes the stored-card check and the policy (Action.ADVANCE_STAGE on the lead); the
final tap is claimed once per card in the KV and the card is resolved, so a repeat changes
nothing."""
from __future__ import annotations

import json
import re
import uuid

from cards.model import MAX_BUTTONS, Button, Card, CardError, Level, card_from_dict
from crm_core.authz import Action
from crm_core.config.coaching import objection_presets
from crm_core.refs import show_lead
from crm_core.services.stages import EntryActionNeeded, StageError, advance_stage
from handlers.capture import stamp
from handlers.commands import lead_for
from handlers.context import Context, Reply, UserError
from handlers.registry import HandlerFn, HandlerResult, Registry

PAGE = MAX_BUTTONS - 1            # objections a page when they need more than one: the 6th is 「更多」
CLAIM_TTL = 7 * 86400.0
STATE_TTL = 2 * 3600
LABEL_WORDS = {"沟通方式", "方式", "核心异议", "核心异议点", "异议点", "异议"}
_TOKENS = re.compile(r"[\s,，、;；:：=]+")


def entry_card(lead_id: int, title: str, err: EntryActionNeeded) -> Card:
    """Step 1: 沟通方式."""
    base = {"lead": str(lead_id), "stage": err.stage.key}
    return Card(card_id=f"stage-entry-{lead_id}-{uuid.uuid4().hex[:12]}",
                title=f"{show_lead(lead_id)} {title} 进入「{err.stage.name}」", level=Level.INFO,
                text="进入这个阶段要先记录本次沟通:\n1. 沟通方式\n2. 核心异议点",
                buttons=tuple(Button(c, "entry.channel", {**base, "channel": c}) for c in err.channels),
                footer="第 1 步:这次是怎么沟通的?选完再选核心异议点,选完即推进阶段")


def objection_page(card: Card, lead_id: int, stage_key: str, channel: str, objections: list[str],
                   page: int) -> Card:
    """Step 2: 核心异议点, page `page` (0-based); the same card, updated in place."""
    base = {"lead": str(lead_id), "stage": stage_key, "channel": channel}
    if len(objections) <= MAX_BUTTONS:
        shown, more = objections, None
    else:
        pages = (len(objections) + PAGE - 1) // PAGE
        page %= pages
        shown = objections[page * PAGE:(page + 1) * PAGE]
        more = Button("更多…" if page + 1 < pages else "回到第一页", "entry.more", {**base, "page": str((page + 1) % pages)})
    buttons = tuple(Button(o, "entry.pick", {**base, "objection": o}) for o in shown) + ((more,) if more else ())
    return Card(card_id=card.card_id, title=card.title, level=card.level,
                text=f"沟通方式:{channel}\n可选核心异议点:{'、'.join(objections)}", buttons=buttons,
                footer="第 2 步:客户的核心异议点是什么?选完即推进阶段")


def _presets(ctx: Context, lead_id: int, stage_key: str) -> EntryActionNeeded:
    """The choices as the stage service sees them now (a stage taken off the list: the card is stale)."""
    stage = ctx.cfg.funnel.stage(stage_key)
    if stage is None or stage_key not in ctx.cfg.stage_entry.stages:
        raise UserError(f"这张卡片已经失效,请重新发送「推进阶段 #{lead_id} 阶段名称」。")
    return EntryActionNeeded(stage, list(ctx.cfg.stage_entry.channels),
                             objection_presets(ctx.cfg.stage_entry, ctx.cfg.funnel.objection_categories))


def _tapped_card(ctx: Context) -> Card:
    try:
        return card_from_dict(ctx.verified_tap.card.content)
    except (CardError, TypeError, ValueError):
        raise UserError("这张卡片已经失效,请重新发送「推进阶段 #编号 阶段名称」。") from None


def _lead_id(ctx: Context) -> int:
    lead_id = ctx.verified_tap.lead_id
    if lead_id is None:
        raise UserError("这张卡片已经失效,请重新发送「推进阶段 #编号 阶段名称」。")
    with ctx.db.uow() as s:
        lead_for(ctx, s, lead_id, Action.ADVANCE_STAGE)
    return lead_id


def step_tap(ctx: Context) -> Reply:
    """沟通方式 chosen, or 「更多」: the card shows (the next page of) 核心异议点."""
    values = ctx.verified_tap.values
    lead_id = _lead_id(ctx)
    need = _presets(ctx, lead_id, values.get("stage", ""))
    channel = values.get("channel", "")
    if channel not in need.channels:
        raise UserError(f"“{channel}”已不是可选的沟通方式,请重新发送「推进阶段 #{lead_id} {need.stage.name}」。")
    page = int(values["page"]) if values.get("page", "").isdigit() else 0
    card = objection_page(_tapped_card(ctx), lead_id, need.stage.key, channel, need.objections, page)
    state = _waiting(ctx)
    if state is not None and state.get("lead") == lead_id:      # a typed 「价格」 next completes this tap
        ctx.kv.set(_state_key(ctx), json.dumps({**state, "channel": channel}, ensure_ascii=False), ttl=STATE_TTL)
    return Reply(card, update=True)


def pick_tap(ctx: Context) -> list[Reply]:
    """核心异议点 chosen: the move, once."""
    tap = ctx.verified_tap
    values = tap.values
    lead_id = _lead_id(ctx)
    stage = ctx.cfg.funnel.stage(values.get("stage", ""))
    if stage is None:
        raise UserError(f"这张卡片已经失效,请重新发送「推进阶段 #{lead_id} 阶段名称」。")
    key = f"entry:tap:{tap.card_id}"
    if not ctx.kv.claim(key, CLAIM_TTL):
        return [Reply("这张卡片已经处理过了,无需重复操作。")]
    try:
        done = _move(ctx, lead_id, stage.key, values.get("channel", ""), values.get("objection", ""))
    except BaseException:
        ctx.kv.delete(key)
        raise
    card = _tapped_card(ctx).resolved(f"已推进:{values.get('channel')} · {values.get('objection')} · {stamp(ctx.now)}")
    return [Reply(card, update=True), Reply(done)]


def _move(ctx: Context, lead_id: int, stage_key: str, channel: str, objection: str) -> str:
    """The move with its answers (the stage service writes both); the reply. The waiting card's state ends."""
    try:
        with ctx.db.uow() as s:
            lead = lead_for(ctx, s, lead_id, Action.ADVANCE_STAGE)
            act = advance_stage(s, ctx.cfg, lead, stage_key, ctx.me.id, ctx.event.platform, ctx.now,
                                {"entry_channel": channel, "entry_objection": objection})
            title, moved = lead.title, (act.text or "").removeprefix("阶段:")
    except StageError as err:
        raise UserError(str(err)) from None
    state = _waiting(ctx)
    if state is not None and state.get("lead") == lead_id:
        ctx.kv.delete(_state_key(ctx))
    return f"已推进 #{lead_id} {title}:{moved}(沟通方式:{channel},核心异议点:{objection})"


# ---- typed answers ---------------------------------------------------------------------------

def typed_entry(ctx: Context, word: str) -> tuple[str, dict[str, str]]:
    """「定制方案发送 电话 价格」 / 「谈判 沟通方式 面谈 核心异议点 竞品」: a stage listed in
    `stage_entry.stages` followed by its answers → (the stage word, the answers); else (word, {})."""
    tokens = [t for t in _TOKENS.split(word) if t]
    stage = next((x for x in ctx.cfg.funnel.stages if tokens and tokens[0] in (x.key, x.name)), None)
    if stage is None or len(tokens) < 2 or stage.key not in ctx.cfg.stage_entry.stages:
        return word, {}
    answers = _answers(ctx, tokens[1:], lenient=True)
    return (tokens[0], answers) if answers is not None else (word, {})


def _answers(ctx: Context, tokens: list[str], lenient: bool = False) -> dict[str, str] | None:
    """The buttons' words in `tokens` (labels like 沟通方式 skipped), or None when a word is neither
    (`lenient`: such a word fills the first empty answer, so the stage service names the wrong one)."""
    channels = list(ctx.cfg.stage_entry.channels)
    objections = objection_presets(ctx.cfg.stage_entry, ctx.cfg.funnel.objection_categories)
    found: dict[str, str] = {}
    for t in tokens:
        if t in LABEL_WORDS:
            continue
        if t in channels and "entry_channel" not in found:
            found["entry_channel"] = t
        elif t in objections and "entry_objection" not in found:
            found["entry_objection"] = t
        elif lenient and len(found) < 2:
            found["entry_channel" if "entry_channel" not in found else "entry_objection"] = t
        else:
            return None
    return found


def _state_key(ctx: Context) -> str:
    return f"stage_entry:{ctx.me.id}"


def _waiting(ctx: Context) -> dict[str, object] | None:
    raw = ctx.kv.get(_state_key(ctx))
    try:
        state = json.loads(raw) if raw else None
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def remember_card(ctx: Context, lead_id: int, stage_key: str, card: Card) -> None:
    """The entry card just sent waits for the rep: typed button words answer it."""
    ctx.kv.set(_state_key(ctx), json.dumps({"lead": lead_id, "stage": stage_key, "card": card.card_id},
                                           ensure_ascii=False), ttl=STATE_TTL)


def with_typed_answers(fallback: HandlerFn | None) -> HandlerFn:
    """The free-text handler, preceded by the entry card's answers typed as its buttons' words."""
    def read(ctx: Context) -> HandlerResult:
        state = _waiting(ctx)
        answers = _answers(ctx, [t for t in _TOKENS.split((ctx.event.text or "").strip()) if t]) if state else None
        if state is None or not answers:
            return fallback(ctx) if fallback is not None else None
        lead_id, stage_key = int(str(state["lead"])), str(state["stage"])
        need = _presets(ctx, lead_id, stage_key)
        channel = answers.get("entry_channel") or str(state.get("channel") or "")
        objection = answers.get("entry_objection") or str(state.get("objection") or "")
        if channel and objection:
            if not ctx.kv.claim(f"entry:tap:{state['card']}", CLAIM_TTL):     # the card's last tap won
                ctx.kv.delete(_state_key(ctx))
                return fallback(ctx) if fallback is not None else None
            try:
                return _move(ctx, lead_id, stage_key, channel, objection)
            except BaseException:
                ctx.kv.delete(f"entry:tap:{state['card']}")
                raise
        ctx.kv.set(_state_key(ctx), json.dumps({**state, "channel": channel, "objection": objection},
                                               ensure_ascii=False), ttl=STATE_TTL)
        if objection:
            return f"核心异议点:{objection}。这次是怎么沟通的?请回复{'、'.join(need.channels)}之一,或点卡片上的按钮。"
        with ctx.db.uow() as s:
            title = lead_for(ctx, s, lead_id, Action.ADVANCE_STAGE).title
        card = objection_page(entry_card(lead_id, title, need), lead_id, stage_key, channel, need.objections, 0)
        return Reply(card)
    return read


def register(registry: Registry) -> None:
    registry.add_action("entry.channel", step_tap)
    registry.add_action("entry.more", step_tap)
    registry.add_action("entry.pick", pick_tap)
    registry.set_fallback(with_typed_answers(registry.fallback))
