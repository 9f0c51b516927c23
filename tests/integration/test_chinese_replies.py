"""A rep's and a supervisor's day of chat replayed at handler level (real database and KV, no
HTTP; cheap next to the e2e suite): every command, chit-chat, mistakes and the notices they
cause. Everything that lands in the outbox — replies and notices, texts and cards as each
platform's renderer would carry them — is read like tests/e2e/conftest.py reads the sandbox:
no English the rep did not write, no raw config key, no half-width mark in Chinese."""
from __future__ import annotations

import itertools
import re

from sqlalchemy import select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card, card_from_dict
from cards.render import render_dingtalk, render_feishu, render_wecom
from crm_core.db.models import OutboundMessage
from handlers.context import Context
from handlers.dispatch import dispatch
from handlers.load import build_registry
from tests.helpers.transcript_scan import (Finding, config_vocabulary, markdown_of, scan_text, strings_of, user_words,
                                          wrote_english)

REGISTRY = build_registry()
_ids = itertools.count(1)
PLATFORM_IDS = {"zhang.wei": "zhangwei", "wang.fang": "wangfang", "li.na": "lina"}

REP_DAY = [
    "帮助", "/help", "hello", "👍", "好的", "谢谢", "#6", "在吗", "随便说点什么吧",
    "记录张总要采购CT设备,预算300万,3月招标", "杭州优品", "tap:lead.confirm",
    "我的线索", "查线索 #1", "查线索 #999", "查线索 优品", "我的待办", "我的客户", "查客户 优品", "查客户 火星公司",
    "跟进 #1 今天电话沟通了报价,客户下周回复", "跟进", "推进阶段 #1 定制方案发送", "推进阶段 #1 火星",
    "推进阶段 #1", "修改 #1 电话 13900001111", "修改 #1", "完成 T1", "延期 T1 到周五", "完成 T999",
    "静音提醒 优品", "取消静音 优品", "静音提醒", "公海", "领取 #1", "转派 #1 李娜", "查记录 #1", "待审重复",
    "新建", "新建 宁波甬达 王经理 13812345678 想上CRM 预算50万", "取消", "取消",
    "推进阶段 #1 输单",
]
SUPERVISOR_DAY = ["查线索 #1", "转派 #1 李娜", "转派 #1 火星人", "查记录 #1", "设置休假 李娜 到12月10日",
                  "恢复在岗 李娜", "推进阶段 #1 赢单"]


def send(runtime, user: str, text: str, last_card: dict[str, Card]) -> None:  # noqa: ANN001
    if text.startswith("tap:"):
        card = last_card[user]
        button = next(b for b in card.buttons if b.action == text[4:])
        ev = InboundEvent(platform="wecom", kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}",
                          sender_id=PLATFORM_IDS[user], conversation_id=PLATFORM_IDS[user],
                          action=CardAction(button.action, dict(button.value), card.card_id))
    else:
        ev = InboundEvent(platform="wecom", kind=EventKind.TEXT, event_id=f"m{next(_ids)}",
                          sender_id=PLATFORM_IDS[user], conversation_id=PLATFORM_IDS[user], text=text)
    rep = runtime.cfg.org.rep_by_platform_id(ev.platform, ev.sender_id)
    replies = dispatch(Context(services=runtime.services, event=ev, rep=rep, now=runtime.clock()), REGISTRY)
    for i, reply in enumerate(replies):          # into the outbox as the worker would send them
        Pipeline(runtime).deliver(ev, rep, reply, i)
        if isinstance(reply.item, Card) and reply.item.buttons and not reply.update:
            last_card[user] = reply.item


def outbox_texts(runtime) -> list[str]:  # noqa: ANN001
    """Every message in the outbox as its reader gets it (a card as its text rendering)."""
    with runtime.db.uow() as s:
        rows = list(s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
        bodies = [(row.kind, dict(row.body)) for row in rows]
    texts = []
    for kind, body in bodies:
        if "card" in body:
            card = card_from_dict(body["card"])
            texts.append(_card_words(card))
            # a masked phone in Feishu markdown must keep its stars (138****5678, not 1385678)
            assert not [md for md in markdown_of(render_feishu(card)) if re.search(r"\d\*{2,}\d", md)]
            texts += [s for render in RENDERERS for s in strings_of(render(card))
                      if any("\u4e00" <= ch <= "\u9fff" for ch in s)]   # as each platform gets it
        else:
            texts.append(str(body.get("text", "")))
    return texts


RENDERERS = (lambda c: render_wecom(c, 1), render_dingtalk, render_feishu)


def _card_words(card: Card) -> str:
    """A card's words with full-width "标签：值" (a platform shows label and value apart)."""
    parts = [card.title, card.subtitle, card.text, card.footer, card.result,
             *(f"{f.label}：{f.value}" for f in card.fields), *(b.text for b in card.buttons)]
    return "\n".join(p for p in parts if p)


def test_a_day_of_chat_reads_as_chinese(runtime) -> None:  # noqa: ANN001
    assert runtime.cfg.org.rep("zhang.wei") and runtime.cfg.org.rep("wang.fang")
    last_card: dict[str, Card] = {}
    for text in REP_DAY:
        send(runtime, "zhang.wei", text, last_card)
    for text in SUPERVISOR_DAY:
        send(runtime, "wang.fang", text, last_card)
    said = [t for t in REP_DAY + SUPERVISOR_DAY if not t.startswith("tap:")]
    assert not any(wrote_english(t) for t in said)        # nobody wrote English: every reply must be Chinese
    words = user_words(said)
    vocab = config_vocabulary(runtime.cfg)
    texts = outbox_texts(runtime)
    assert len(texts) >= len(said)                        # every message got an answer (or more)
    found: list[Finding] = []
    for text in texts:
        found += scan_text(text, "wecom", "", words, vocab)
    assert not found, "\n".join(map(str, found))
