"""我的线索 and 查线索 #12 at handler level (real DB + KV, both databases): the rep's open
leads nearest deadline first; the detail card shows the owner and the owner's supervisor full
phones and everyone else masked ones; bad input gets a Chinese hint and changes nothing."""
from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card
from cards.render.text import render_text
from crm_core.db.models import Lead
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.load import build_registry

REGISTRY = build_registry()
_ids = itertools.count(1)
USERS = {"zhang.wei": "zhangwei", "li.na": "lina", "wang.fang": "ou_wangfang", "chen.jie": "ou_chenjie"}


def say(runtime, rep_id: str, text: str) -> list[Reply]:  # noqa: ANN001
    platform = "feishu" if USERS[rep_id].startswith("ou_") else "wecom"
    ev = InboundEvent(platform=platform, kind=EventKind.TEXT, event_id=f"v{next(_ids)}", sender_id=USERS[rep_id],
                      conversation_id=USERS[rep_id], text=text)
    rep = runtime.cfg.org.rep(rep_id)
    return delivered(runtime, ev, rep, dispatch(Context(services=runtime.services, event=ev, rep=rep,
                                                        now=runtime.clock()), REGISTRY))


def tap(runtime, card: Card, action: str) -> list[Reply]:  # noqa: ANN001
    button = next(b for b in card.buttons if b.action == action)
    ev = InboundEvent(platform="wecom", kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}", sender_id="zhangwei",
                      conversation_id="zhangwei", action=CardAction(action, dict(button.value), card.card_id))
    rep = runtime.cfg.org.rep("zhang.wei")
    return delivered(runtime, ev, rep, dispatch(Context(services=runtime.services, event=ev, rep=rep,
                                                        now=runtime.clock()), REGISTRY))


def delivered(runtime, ev: InboundEvent, rep, replies: list[Reply]) -> list[Reply]:  # noqa: ANN001
    """Queued in the outbox as the worker would (a tapped card's record must exist)."""
    for i, reply in enumerate(replies):
        Pipeline(runtime).deliver(ev, rep, reply, i)
    return replies


def capture(runtime, text: str) -> int:  # noqa: ANN001
    """zhang.wei saves a lead from one sentence; returns its id."""
    card = next(r.item for r in say(runtime, "zhang.wei", text) if isinstance(r.item, Card))
    tap(runtime, card, "lead.confirm")
    with runtime.db.uow() as s:
        return max(s.scalars(select(Lead.id)))


def text_of(replies: list[Reply]) -> str:
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def test_my_leads_lists_open_leads_nearest_deadline_first(runtime) -> None:  # noqa: ANN001
    assert "没有跟进中的线索" in text_of(say(runtime, "zhang.wei", "我的线索"))
    first = capture(runtime, "记录杭州优品科技有限公司李经理13912345678要采购CRM,预算50万")
    second = capture(runtime, "记录宁波华通机械有限公司王总13800001111要采购ERP,预算80万")
    with runtime.db.uow() as s:                       # the second lead's fuse is nearer
        s.get(Lead, second).fuse_deadline = runtime.clock() + timedelta(hours=3)
        s.get(Lead, first).fuse_deadline = runtime.clock() + timedelta(hours=30)
    out = text_of(say(runtime, "zhang.wei", "我的线索"))
    assert out.index(f"#{second} ") < out.index(f"#{first} ")
    assert "华通" in out and "还剩 3 小时" in out and "还剩 30 小时" in out
    assert "没有跟进中的线索" in text_of(say(runtime, "li.na", "我的线索"))      # only one's own


def test_lead_detail_shows_phones_to_owner_and_supervisor_only(runtime) -> None:  # noqa: ANN001
    lead_id = capture(runtime, "记录杭州优品科技有限公司李经理13912345678要采购CRM,预算50万,下周三演示")
    owner = text_of(say(runtime, "zhang.wei", f"查线索 #{lead_id}"))
    assert f"线索 #{lead_id}" in owner and "杭州优品" in owner and "¥50万" in owner
    assert "13912345678" in owner and "需求确认" in owner and "待办" in owner
    assert "13912345678" in text_of(say(runtime, "wang.fang", f"查线索 {lead_id}"))  # her team's lead
    other = text_of(say(runtime, "chen.jie", f"查线索 #{lead_id}"))                 # another team
    assert "13912345678" not in other and "139****5678" in other


def test_lead_detail_bad_input_gets_a_chinese_hint(runtime) -> None:  # noqa: ANN001
    assert "请这样写" in text_of(say(runtime, "zhang.wei", "查线索 优品"))
    assert "没有找到线索 #999" in text_of(say(runtime, "zhang.wei", "查线索 #999"))
