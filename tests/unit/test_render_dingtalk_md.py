"""DingTalk markdown shows a masked phone as written: its stars become full-width (DingTalk
documents no escape, and 138****5678 would read as an empty bold), in the card's markdown
variable and in every markdown message body; text messages keep them as they are."""
from __future__ import annotations

import json

from bot.platforms.dingtalk.client import _msg, _webhook_body
from cards.model import Card
from cards.render.dingtalk import md_safe, render_dingtalk


def test_mask_stars_become_full_width() -> None:
    assert md_safe("李经理 138****5678，**重点**") == "李经理 138＊＊＊＊5678，**重点**"
    assert md_safe("no phone *here*") == "no phone *here*"


def test_every_markdown_body_is_safe() -> None:
    text = "### 查客户\n李经理 138****5678"
    assert "138＊＊＊＊5678" in _msg(text, True)[1]["text"]
    assert "138＊＊＊＊5678" in _webhook_body(text, True)["markdown"]["text"]
    assert _msg(text, False)[1]["content"].endswith("138****5678")
    assert _webhook_body(text, False)["text"]["content"].endswith("138****5678")


def test_card_markdown_variable_is_safe() -> None:
    card = Card(card_id="c1", title="客户", text="联系人 李经理 138****5678")
    rendered = json.dumps(render_dingtalk(card), ensure_ascii=False)
    assert "138＊＊＊＊5678" in rendered and "138****5678" not in rendered


def test_the_transcript_scan_catches_eaten_stars_in_dingtalk_markdown() -> None:
    from sandbox.state import SentCall
    from tests.helpers.transcript_scan import scan_call

    def call(text: str) -> SentCall:
        body = {"robotCode": "r", "userIds": ["u"], "msgKey": "sampleMarkdown",
                "msgParam": json.dumps({"title": "查客户", "text": text}, ensure_ascii=False)}
        return SentCall("dingtalk", "oToMessages/batchSend", "u", body, 200, {}, 0.0)

    raw = "李经理 138****5678"
    found = scan_call(call(raw), set(), set(), english_ok=False)
    assert [f.kind for f in found] == ["phone_markdown"]
    assert scan_call(call(md_safe(raw)), set(), set(), english_ok=False) == []
    assert scan_call(call(_msg(raw, True)[1]["text"]), set(), set(), english_ok=False) == []
