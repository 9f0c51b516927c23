"""Chinese as reps read it: full-width punctuation in Chinese sentences (and nowhere else),
cuts that never split a word, short answers to acknowledgements, Chinese replies unless the
rep wrote whole English sentences, and every notice card — as the outbox sends it — free of
English, raw config keys and half-width marks."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.events import EventKind, InboundEvent
from bot.outbound.message import split_text
from cards.model import Card, Field, strip_markdown
from cards.render.feishu import md_safe, render_feishu
from cards.render.text import render_text
from cards.render.wecom import LIMITS, card_overflow, render_wecom
from cards.zh import clip_at_boundary, clip_lines, halfwidth_marks, polish, polish_card
from crm_core.config import load_config
from crm_core.notices import DigestRep
from handlers.context import Context, Services
from handlers.health_cards import digest_rep
from handlers.load import build_registry
from handlers.notify import default_renderers
from handlers.small_talk import is_small_talk, small_talk_reply
from tests.conftest import EXAMPLE
from tests.helpers.transcript_scan import config_vocabulary
from tests.unit.test_notices import SAMPLES

POLISH = [
    ("我能帮你管客户,直接说就行。常用命令:", "我能帮你管客户，直接说就行。常用命令："),
    ("已推进 #3:需求确认 → 方案 恭喜赢单!", "已推进 #3：需求确认 → 方案 恭喜赢单！"),
    ("李经理 138****5678(负责人:张伟)", "李经理 138****5678（负责人：张伟）"),
    ("请问客户是哪家公司?(回复「取消」放弃)", "请问客户是哪家公司？（回复「取消」放弃）"),
    ("好的, 谢谢", "好的，谢谢"),
    ("给 李娜(转派(王芳)):原因", "给 李娜（转派（王芳））：原因"),
    ("时间 14:03,金额 1,000 元", "时间 14:03，金额 1,000 元"),            # times and thousands stay
    ("Hello, world: fine (really)!", "Hello, world: fine (really)!"),      # English stays English
    ("详情见 [文档](https://x.cn/a,b?c=1)", "详情见 [文档](https://x.cn/a,b?c=1)"),
    ("地址 https://crm.example.com:8443/x 已更新", "地址 https://crm.example.com:8443/x 已更新"),
    ("?", "?"),
]


@pytest.mark.parametrize("text, expected", POLISH)
def test_polish_makes_chinese_punctuation_full_width_and_leaves_the_rest(text: str, expected: str) -> None:
    assert polish(text) == expected
    assert halfwidth_marks(expected) == []
    assert polish(expected) == expected                      # idempotent
    assert bool(halfwidth_marks(text)) == (text != expected)


def test_polish_card_touches_what_people_read_but_not_button_values() -> None:
    from cards.model import Button
    card = Card("c-1", "标题:测试", fields=(Field("阶段", "需求确认(7 天)"),), text="还缺:电话",
                buttons=(Button("确认", "lead.confirm", {"draft": "a,b:c"}),), footer="回复「取消」,放弃")
    out = polish_card(card)
    assert (out.title, out.fields[0].value, out.text, out.footer) == ("标题：测试", "需求确认（7 天）", "还缺：电话",
                                                                      "回复「取消」，放弃")
    assert out.buttons == card.buttons


DIGEST_LINE = "{i}. 演示:杭州优品电子商务有限公司 · CRM 系统 · 已逾期 {i} 天"


def test_clip_never_cuts_inside_a_word() -> None:
    text = "\n".join(DIGEST_LINE.format(i=i) for i in range(1, 20))
    clipped = clip_lines(text, 480)
    assert len(clipped.encode()) <= 480
    kept = clipped.split("\n")[:-1]
    assert kept and all(line in text.split("\n") for line in kept)        # whole lines only
    assert clipped.endswith(f"…（另有 {19 - len(kept)} 行未显示）")
    one = "客户杭州优品电子商务有限公司想上CRM,预算五十万,下周三约演示,再谈报价和实施"
    for limit in range(60, len(one.encode()), 7):      # from where the first clause fits
        cut = clip_at_boundary(one, limit)
        assert len(cut.encode()) <= limit and cut.endswith("…")
        assert one.startswith(cut[:-1]) and (cut[-2] in ",，" or one[len(cut) - 1] in ",，")


def test_long_texts_split_at_breaks_not_mid_word() -> None:
    line = "，".join(f"杭州优品电子商务有限公司第{i}次沟通" for i in range(60))
    parts = split_text(line, 300, max_parts=20)
    assert "".join(parts) == line and all(len(p.encode()) <= 300 for p in parts)
    assert all(p.endswith("，") for p in parts[:-1])


def test_wecom_digest_keeps_whole_items_and_names_the_company_once() -> None:
    cfg = load_config(EXAMPLE, env={})
    todos = [{"task_id": i, "title": f"演示:杭州优品电子商务有限公司 · CRM 第{i}期", "customer": "杭州优品电子商务有限公司",
              "overdue_days": i} for i in range(1, 11)]
    notice = DigestRep(to_rep="zhang.wei", date="2026-11-23", todos=todos, todo_total=10, overdue=[],
                       overdue_total=0, healthy=[], new_leads=[], dedupe_key="d:1")
    card = digest_rep(cfg, notice)
    assert (card.text or "").count("杭州优品电子商务有限公司") == 10            # once per item, not twice
    sub = render_wecom(card, 1)["template_card"]["sub_title_text"]
    assert len(sub.encode()) <= LIMITS["sub_title_text"]
    whole = strip_markdown(f"{card.text}\n{card.footer}").split("\n")
    shown, rest = sub.split("\n")[:-1], card_overflow(card).split("\n")
    assert shown + rest == whole                      # every line once, none cut: the rest follows as text
    assert sub.split("\n")[-1] == f"…（另有 {len(rest)} 行，见下一条消息）"


def test_feishu_markdown_keeps_masked_phone_stars() -> None:
    assert md_safe("李明 139****5678 **重点**") == "李明 139&#42;&#42;&#42;&#42;5678 **重点**"
    body = render_feishu(Card("c-2", "线索", text="联系人 李明 139****5678"))
    assert "139&#42;&#42;&#42;&#42;5678" in str(body) and "139****5678" not in str(body)


# ---- small talk and the reply language ------------------------------------------------------

@pytest.mark.parametrize("text", ["好的", "谢谢", "收到", "ok", "OK!", "👍", "好的，谢谢", "嗯嗯", "thanks", "hello",
                                  "你好", "😀😀", "#6", "在吗"])
def test_acknowledgements_and_greetings_get_a_short_chinese_answer(text: str) -> None:
    reply = small_talk_reply(text)
    assert reply and is_small_talk(text) and len(reply) <= 60
    assert "没太看懂" not in reply and not halfwidth_marks(polish(reply))
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reply)


@pytest.mark.parametrize("text", ["杭州优品", "张总手机是13912345678", "预算改成200万", "好的客户要采购CT", "跟进 #6 已报价",
                                  "Met Mr Wang from Acme", "今天好热,客户没来", "天气原因延期到15号",
                                  "周末愉快地签了合同", "空调设备怕热"])
def test_content_is_not_small_talk(text: str) -> None:
    assert small_talk_reply(text) is None and not is_small_talk(text)


@pytest.mark.parametrize("text", ["今天天气不错", "今天天气不错!", "下雨了", "好热啊", "吃饭了吗", "哈哈哈哈",
                                  "周末愉快~", "累死了"])
def test_pleasantries_are_small_talk(text: str) -> None:
    assert is_small_talk(text) and "客户情况" in (small_talk_reply(text) or "")


def _ctx(text: str) -> Context:
    ev = InboundEvent(platform="wecom", kind=EventKind.TEXT, event_id="e1", sender_id="u", conversation_id="u",
                      text=text)
    services = Services(cfg=load_config(EXAMPLE, env={}), db=None, kv=None, deliver=lambda n: 0,  # type: ignore[arg-type]
                        transcriber=None)  # type: ignore[arg-type]
    return Context(services=services, event=ev, rep=None, now=datetime.now(timezone.utc))


@pytest.mark.parametrize("text, english", [
    ("hello", False), ("/help", False), ("#6", False), ("👍", False), ("ok thanks", False),
    ("Met Mr Wang from Acme, budget 500k", True), ("杭州优品 CRM demo next week", False),
])
def test_english_replies_only_to_whole_english_sentences(text: str, english: bool) -> None:
    assert _ctx(text).english() is english


def test_slash_commands_are_commands() -> None:
    match = build_registry().match_command("/help")
    assert match is not None and match[0].name == "帮助"


# ---- every notice card, as the outbox sends it --------------------------------------------------

def test_every_notice_card_reads_as_chinese_without_keys() -> None:
    """Each notice renders (polished as the outbox does) to text with no English word, no
    config key and no half-width mark inside Chinese."""
    import re
    cfg = load_config(EXAMPLE, env={})
    vocab = config_vocabulary(cfg)
    renderers = default_renderers()
    problems = []
    for kind, make in SAMPLES.items():
        item = renderers.render(cfg, make())
        card = polish_card(item) if isinstance(item, Card) else None
        text = render_text(card) if card else polish(str(item))
        body = text.replace("结果: ", "").replace(": ", "：")     # render_text's own "标签: 值"
        body = re.sub(r"「[^」]*」", "", body)                    # quoted verbatim (a command to type)
        body = re.sub(r"https?://[^\s)）」]+", "", body)          # a link the admin configured
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z_]+", body) if not (w.isupper() and len(w) <= 6)]
        keys = [w for w in words if w in vocab]
        problems += [f"{kind.__name__}: {w}" for w in words + keys]
        problems += [f"{kind.__name__}: {m}" for m in halfwidth_marks(body)]
    assert problems == []
