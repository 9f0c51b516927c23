"""Route one neutral event to its handler: card taps by action key, voice by kind, text by
command word or to the free-text capture. Unknown senders get a polite way in; a card tap runs
its handler only once handlers/taps.py has checked it against the stored card."""
from __future__ import annotations

import logging

from bot.events import EventKind
from handlers.context import Context, Reply, UserError
from handlers.registry import HandlerFn, Registry, as_replies
from handlers.taps import verify_tap

log = logging.getLogger("crm_bot.handlers")

CONVERSATIONAL = (EventKind.TEXT, EventKind.VOICE, EventKind.CARD_ACTION, EventKind.MEDIA)
APOLOGY = "抱歉,处理您的消息时出错了,我们已记录下来,请稍后再试。"


def no_access_text(ctx: Context) -> str:
    ev = ctx.event
    if ctx.english():
        return (f"Hello! You don't have access to crm-bot yet. Please ask your CRM admin to add your "
                f"account ({ev.platform} user id: {ev.sender_id}) to the configuration.")
    return (f"您好!您还没有开通 crm-bot 的使用权限。请联系 CRM 管理员把您的账号加入配置"
            f"({ctx.services.platform_label(ev.platform)} 用户 ID:{ev.sender_id})。")


def route(ctx: Context, registry: Registry) -> HandlerFn | None:
    ev = ctx.event
    if ev.kind == EventKind.CARD_ACTION and ev.action is not None:
        return registry.match_action(ev.action.key)
    if ev.kind == EventKind.TEXT:
        match = registry.match_command(ev.text or "")
        if match:
            ctx.data["command"], ctx.data["args"] = match[0].name, match[1]
            return match[0].fn
        said = registry.match_pattern(ev.text or "")
        if said:
            ctx.data.update(said[1])
            return said[0]
        return registry.fallback
    return registry.kinds.get(ev.kind)


def dispatch(ctx: Context, registry: Registry) -> list[Reply]:
    """Run the matching handler; a UserError becomes a polite reply."""
    ev = ctx.event
    if ctx.rep is None:
        return [Reply(no_access_text(ctx))] if ev.kind in CONVERSATIONAL else []
    fn = route(ctx, registry)
    if fn is None:
        log.info("no handler for %s %s (%s)", ev.platform, ev.kind.value, ev.raw_type)
        return []
    try:
        if ev.kind == EventKind.CARD_ACTION:
            refused = verify_tap(ctx)          # on the stored card, never the payload
            if refused is not None:
                return [Reply(refused)]
        return as_replies(fn(ctx))
    except UserError as err:
        return [Reply(err.message)]
