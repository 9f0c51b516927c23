"""A WeCom card whose text is longer than the template card shows (the daily digest with many
to-dos): the card carries whole lines and says how many follow, the rest arrives right after as
text, split at line breaks; every line once, none cut mid-word (SQLite and PostgreSQL)."""
from __future__ import annotations

from bot.outbound import Recipient
from cards import Card, Field
from cards.render.wecom import LIMITS
from tests.integration.test_outbound import USERS, api_cfg, drain, rt, sandbox_cfg, srv  # noqa: F401  (fixtures)

LINES = [f"{i}. T{i} 演示：杭州优品电子商务有限公司 · CRM 第{i}期 · ¥{i * 10}万 · 已逾期 {i} 天" for i in range(1, 41)]


def test_long_wecom_card_sends_the_rest_as_text(rt, srv) -> None:  # noqa: ANN001, F811
    card = Card("digest-rep-7-abc", "今日工作摘要 · 11月23日", fields=(Field("今日待办", "40"),),
                text="\n".join(LINES), footer="张伟，祝今天顺利！")
    rt.outbox.send(card, Recipient("wecom", USERS["wecom"]), kind="digest.rep")
    drain(rt)
    calls = srv.sent("wecom", "message/send")
    assert [c.body["msgtype"] for c in calls][:1] == ["template_card"] and len(calls) >= 2
    shown = calls[0].body["template_card"]["sub_title_text"].split("\n")
    rest = [line for c in calls[1:] for line in c.body["text"]["content"].split("\n")]
    assert all(c.body["msgtype"] == "text" and len(c.body["text"]["content"].encode()) <= 2048 for c in calls[1:])
    assert len("\n".join(shown).encode()) <= LIMITS["sub_title_text"]
    assert shown[-1] == f"…（另有 {len(rest)} 行，见下一条消息）"
    assert shown[:-1] + rest == [*LINES, "张伟，祝今天顺利！"]      # every line once, whole, in order
