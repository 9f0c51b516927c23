"""Unit tests for the neutral card model, the four renderers and the tap decoders."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from cards import Button, Card, CardDecodeError, CardError, Field, Level
from cards.model import (
    clip_bytes, clip_chars, encode_action_token, instance_id, instance_of, strip_markdown,
)
from cards.render import (
    decode_dingtalk_callback_params, decode_feishu_action_value, decode_wecom_event_key,
    decode_wecom_key, dingtalk_card_params, render_dingtalk, render_dingtalk_update,
    render_feishu, render_text, render_wecom, render_wecom_update,
)
from cards.render import dingtalk as dt_mod, feishu as fs_mod, wecom as wc_mod

RESULT = "已由 王经理 转派给 李娜 · 11-22 14:03"
VALUE_SETS = [
    {},
    {"lead_id": "123"},
    {"lead_id": "L-9", "assignee": "李娜", "note": "客户说：周五~再联系 & 报价=5万 😀"},
    {"x": "a" * 300},
]


def make_card(buttons: int = 3, values: dict[str, str] | None = None, **kw: Any) -> Card:
    styles = ("primary", "default", "danger")
    base = dict(
        card_id="lead_20241122-0001@org", title="新线索：杭州云图科技", subtitle="来自 张伟 的语音",
        text="客户要 **50 套**，预算约 20 万", footer="线索编号 L-123",
        fields=(Field("客户", "杭州云图科技"), Field("电话", "138****5678"),
                Field("需求", "CRM 系统 50 套", short=False)),
        buttons=tuple(Button(f"按钮{i}", f"lead.act{i}", dict(values or {"lead_id": "123"}),
                             styles[i % 3], confirm="确定吗？" if i == 2 else None)
                      for i in range(buttons)),
    )
    base.update(kw)
    return Card(**base)


# ---- model validation -----------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: make_card(buttons=7),
    lambda: make_card(title=""),
    lambda: make_card(title="   "),
    lambda: make_card(card_id="卡片1"),
    lambda: make_card(card_id="lead/1"),
    lambda: make_card(card_id="lead 1"),
    lambda: make_card(card_id=""),
    lambda: make_card(card_id="a" * 129),
    lambda: make_card(level="urgent"),
    lambda: make_card(fields=tuple(Field(f"f{i}", "v") for i in range(13))),
    lambda: Button("确认", "Lead.Confirm"),
    lambda: Button("确认", "lead confirm"),
    lambda: Button("确认", ""),
    lambda: Button("", "lead.confirm"),
    lambda: Button("确认", "lead.confirm", style="green"),
    lambda: Button("确认", "lead.confirm", {"card_id": "x"}),
    lambda: Button("确认", "lead.confirm", {"action": "x"}),
    lambda: Button("确认", "lead.confirm", {"n": 1}),          # type: ignore[dict-item]
    lambda: Button("确认", "lead.confirm", {"bad key": "1"}),
    lambda: Card("c1", "t", buttons=(Button("a", "x.y"), Button("b", "x.y"))),   # same tap twice
    lambda: Card("c1", "t", buttons=(Button("a", "x.y", {"v": "长" * 400}),)),    # key > 1024 B
    lambda: make_card().resolved(""),
])
def test_invalid_cards_are_rejected(build):
    with pytest.raises(CardError):
        build()


@pytest.mark.parametrize("card_id", ["abc", "A-b_c@1", "x" * 128, "0123456789"])
def test_valid_card_ids_become_wecom_task_id(card_id):
    card = make_card(card_id=card_id)
    assert render_wecom(card, 1)["template_card"]["task_id"] == card_id


def test_resolved_returns_new_card_and_button_values_are_copied():
    value = {"lead_id": "1"}
    button = Button("确认", "lead.confirm", value)
    value["lead_id"] = "2"
    card = Card("c1", "标题", buttons=(button,))
    done = card.resolved(RESULT)
    assert button.value == {"lead_id": "1"}
    assert card.result is None and card.active_buttons == (button,)
    assert done.result == RESULT and done.active_buttons == () and done.buttons == card.buttons


# ---- renderer shapes ------------------------------------------------------------------

def test_wecom_button_interaction_shape():
    card = make_card()
    body = render_wecom(card, "1000002")
    tc = body["template_card"]
    assert body["msgtype"] == "template_card" and body["agentid"] == 1000002
    assert tc["card_type"] == "button_interaction" and tc["task_id"] == card.card_id
    assert tc["main_title"] == {"title": card.title, "desc": card.subtitle}
    assert [r["keyname"] for r in tc["horizontal_content_list"]] == ["客户", "电话", "需求"]
    assert [b["text"] for b in tc["button_list"]] == ["按钮0", "按钮1", "按钮2"]
    assert all(b["type"] == 0 and 1 <= b["style"] <= 4 and b["key"] for b in tc["button_list"])
    assert len({b["key"] for b in tc["button_list"]}) == 3
    assert "**" not in tc["sub_title_text"] and "50 套" in tc["sub_title_text"]


@pytest.mark.parametrize("opts, url", [({}, wc_mod.DEFAULT_CARD_ACTION_URL),
                                       ({"card_action_url": "https://crm.example.com/l/1"},
                                        "https://crm.example.com/l/1")])
def test_wecom_text_notice_needs_card_action(opts, url):
    tc = render_wecom(make_card(buttons=0), 7, **opts)["template_card"]
    assert tc["card_type"] == "text_notice" and "button_list" not in tc
    assert tc["card_action"] == {"type": 1, "url": url}


def test_wecom_overflow_fields_go_to_sub_title():
    fields = tuple(Field(f"字段{i}", f"值{i}") for i in range(9))
    tc = render_wecom(make_card(fields=fields, text=None, footer=None), 1)["template_card"]
    assert len(tc["horizontal_content_list"]) == 6
    assert tc["sub_title_text"].splitlines() == ["字段6：值6", "字段7：值7", "字段8：值8"]


def test_wecom_update_fragment():
    card = make_card()
    live = render_wecom_update(card, 5)
    assert live["agentid"] == 5 and "replace_text" not in live["template_card"]
    done = render_wecom_update(card.resolved(RESULT))
    assert "agentid" not in done
    assert done["template_card"]["card_type"] == "button_interaction"
    assert done["template_card"]["replace_text"] == wc_mod.RESOLVED_BUTTON_TEXT


def test_wecom_task_id_per_send_still_decodes():
    card = make_card()
    task_id = instance_id(card.card_id, "crm-17")
    tc = render_wecom(card, 1, task_id=task_id)["template_card"]
    assert tc["task_id"] == task_id and render_wecom_update(card, task_id=task_id)["template_card"]["task_id"] == task_id
    tap = decode_wecom_event_key(tc["button_list"][0]["key"], task_id)
    assert tap.card_id == card.card_id and tap.action == "lead.act0"
    with pytest.raises(CardDecodeError):
        decode_wecom_event_key(tc["button_list"][0]["key"], "other-card@crm-17")


def test_dingtalk_template_params_shape():
    card = make_card()
    params = dingtalk_card_params(card)
    assert render_dingtalk(card) == {"cardData": {"cardParamMap": params}}
    assert set(params) == set(dt_mod.TEMPLATE_VARIABLES)
    assert all(isinstance(v, str) for v in params.values())        # the card API takes strings only
    assert params["title"] == card.title and params["resolved"] == "false"
    assert params["fields"].splitlines() == ["客户：杭州云图科技", "电话：138****5678", "需求：CRM 系统 50 套"]
    assert [params[f"btn{i}_text"] for i in range(1, 7)] == ["按钮0", "按钮1", "按钮2", "", "", ""]
    assert [params[f"btn{i}_color"] for i in range(1, 4)] == ["blue", "gray", "red"]
    assert params["btn1_token"] == card.buttons[0].token(card.card_id)
    update = render_dingtalk_update(card)
    assert update["cardData"] == {"cardParamMap": params}
    assert update["cardUpdateOptions"] == {"updateCardDataByKey": True}


def test_dingtalk_template_contract_file_matches_the_renderer():
    from pathlib import Path
    doc = json.loads((Path(__file__).resolve().parents[2] / "config" / "dingtalk-card-template.json")
                     .read_text(encoding="utf-8"))
    declared = {v["name"]: (v["type"], v["description"]) for v in doc["variables"]}
    assert declared == dt_mod.TEMPLATE_VARIABLES
    assert set(doc["mockData"]) == set(declared) and doc["buttons"]["slots"] == dt_mod.BUTTON_SLOTS
    assert [p["name"] for p in doc["buttons"]["callback_parameters"]] == [dt_mod.TOKEN_PARAM]
    taps = [decode_dingtalk_callback_params({"outTrackId": "x", "content": json.dumps(
        {"cardPrivateData": {"params": {"token": doc["mockData"][f"btn{i}_token"]}}})})
        for i in (1, 2)]
    assert [t.action for t in taps] == ["lead.reassign", "lead.followed"]


def test_dingtalk_cards_have_six_button_slots():
    assert dt_mod.BUTTON_SLOTS == 6 and len(dingtalk_card_params(make_card(buttons=6))) == len(dt_mod.TEMPLATE_VARIABLES)


@pytest.mark.parametrize("card_id, key", [("lead-1", "crm-42"), ("a" * 128, "crm-123456"), ("x@y", "crm-7-2")])
def test_instance_ids_are_per_send_and_point_back_to_the_card(card_id, key):
    one = instance_id(card_id, key)
    assert len(one.encode()) <= 128 and one != card_id and one == instance_id(card_id, key)
    assert instance_id(card_id, "crm-99") != one
    assert instance_of(one, card_id) and instance_of(card_id, card_id)
    assert not instance_of(one, "other-card") and not instance_of("other@1", card_id)


def test_feishu_v2_shape():
    card = make_card()
    out = render_feishu(card)
    assert out["schema"] == "2.0" and out["config"]["update_multi"] is True
    assert out["header"]["title"] == {"tag": "plain_text", "content": card.title}
    buttons = list(_feishu_buttons(out))
    assert [b["text"]["content"] for b in buttons] == ["按钮0", "按钮1", "按钮2"]
    assert [b["type"] for b in buttons] == ["primary", "default", "danger"]
    assert buttons[2]["confirm"]["text"]["content"] == "确定吗？"
    assert all(b["behaviors"][0]["type"] == "callback" for b in buttons)


def test_feishu_v1_shape():
    out = render_feishu(make_card(), schema="1.0")
    assert out["config"] == {"wide_screen_mode": True, "update_multi": True}
    (action,) = [e for e in out["elements"] if e["tag"] == "action"]
    assert all("value" in b and b["tag"] == "button" for b in action["actions"])
    (fields,) = [e for e in out["elements"] if "fields" in e]
    assert [f["is_short"] for f in fields["fields"]] == [True, True, False]
    with pytest.raises(ValueError):
        render_feishu(make_card(), schema="3.0")


@pytest.mark.parametrize("level, wecom, feishu", [
    (Level.INFO, 0, "blue"), (Level.SUCCESS, 3, "green"),
    (Level.WARNING, 2, "orange"), (Level.DANGER, 2, "red"),
])
def test_level_colours(level, wecom, feishu):
    card = make_card(level=level)
    assert render_wecom(card, 1)["template_card"]["source"]["desc_color"] == wecom
    assert render_feishu(card)["header"]["template"] == feishu
    assert render_feishu(card, "1.0")["header"]["template"] == feishu
    assert dingtalk_card_params(card)["tag"] == level.label
    assert render_text(card).startswith(f"【{level.label}】" if level.label else card.title)


def test_feishu_user_data_cannot_inject_markup():
    card = make_card(text="<at id=all></at> 看这里", fields=(Field("客户", "<at id=all></at>"),))
    for schema in ("2.0", "1.0"):
        nodes = list(_text_nodes(render_feishu(card, schema)))
        risky = [n for n in nodes if "<at" in n["content"]]
        assert risky and all(n["tag"] == "plain_text" for n in risky), schema
        assert any("&#60;at id=all&#62;" in n["content"] for n in nodes), schema


def _text_nodes(obj: Any) -> Iterator[dict[str, Any]]:
    """Every {"tag": ..., "content": str} node in a Feishu card."""
    if isinstance(obj, dict):
        if isinstance(obj.get("content"), str) and "tag" in obj:
            yield obj
        for v in obj.values():
            yield from _text_nodes(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _text_nodes(v)


# ---- callbacks round-trip through the decoders ------------------------------------------

def _feishu_buttons(card_json: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for el in card_json.get("body", {}).get("elements", card_json.get("elements", [])):
        for col in el.get("columns", []):
            yield from (e for e in col["elements"] if e["tag"] == "button")
        yield from el.get("actions", [])


def _taps(card: Card) -> dict[str, list]:
    """Each platform's decoded taps, from the rendered JSON as the platform would echo it."""
    tc = render_wecom(card, 1)["template_card"]
    wecom = [decode_wecom_event_key(b["key"], tc["task_id"]) for b in tc["button_list"]]
    params = dingtalk_card_params(card)
    slots = [i for i in range(1, 7) if params[f"btn{i}_text"]]
    dingtalk = [decode_dingtalk_callback_params({
        "type": "actionCallback", "outTrackId": instance_id(card.card_id, "crm-1"), "userId": "0457",
        "content": json.dumps({"cardPrivateData": {"actionIds": [f"btn{i}"],
                                                   "params": {"token": params[f"btn{i}_token"]}}})})
        for i in slots]
    v2 = [decode_feishu_action_value(b["behaviors"][0]["value"]) for b in _feishu_buttons(render_feishu(card))]
    v1 = [decode_feishu_action_value(json.dumps(b["value"]))
          for b in _feishu_buttons(render_feishu(card, "1.0"))]
    return {"wecom": wecom, "dingtalk": dingtalk, "feishu2": v2, "feishu1": v1}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_button_values_round_trip_on_every_platform(values):
    card = make_card(values=values)
    expected = [(card.card_id, b.action, b.value) for b in card.buttons]
    for platform, taps in _taps(card).items():
        assert [tuple(t) for t in taps] == expected, platform
    for b in card.buttons:
        assert decode_wecom_key(b.token(card.card_id)) == (b.action, b.value)


@pytest.mark.parametrize("payload", [
    {"outTrackId": "c1@crm-5", "content": json.dumps({"cardPrivateData": {
        "actionIds": ["btn1"], "params": {"token": encode_action_token("c1", "lead.ok", {"k": "值"})}}})},
    {"outTrackId": "c1", "value": json.dumps({"cardPrivateData": {
        "actionIds": [encode_action_token("c1", "lead.ok", {"k": "值"})], "params": {}}})},
    {"outTrackId": "c1", "cardPrivateData": {
        "actionIds": [encode_action_token("c1", "lead.ok", {"k": "值"})]}},
    json.dumps({"outTrackId": "c1", "content": {"cardPrivateData": {
        "actionIds": [], "params": {"action": "lead.ok", "k": "值"}}}}),
])
def test_dingtalk_callback_variants(payload):
    assert tuple(decode_dingtalk_callback_params(payload)) == ("c1", "lead.ok", {"k": "值"})


def test_feishu_accepts_whole_action_object():
    value = {"card_id": "c1", "action": "lead.ok", "lead_id": "9"}
    assert tuple(decode_feishu_action_value({"tag": "button", "value": value})) == \
        ("c1", "lead.ok", {"lead_id": "9"})


@pytest.mark.parametrize("decode", [
    lambda: decode_wecom_key("lead.ok"),
    lambda: decode_wecom_key("lead.ok~c1~!!!notbase64"),
    lambda: decode_wecom_key("lead.ok~c1~" + encode_action_token("c", "a", {"k": "v"}).split("~")[2][:-2]),
    lambda: decode_wecom_key("Lead.OK~c1~"),
    lambda: decode_wecom_key("lead.ok~c 1~"),
    lambda: decode_wecom_event_key(encode_action_token("c1", "lead.ok", {}), "c2"),
    lambda: decode_feishu_action_value({"action": "lead.ok"}),
    lambda: decode_feishu_action_value({"card_id": "c1"}),
    lambda: decode_feishu_action_value("not json"),
    lambda: decode_feishu_action_value({"card_id": "c1", "action": "x", "k": {"nested": 1}}),
    lambda: decode_dingtalk_callback_params({"outTrackId": "c1"}),
    lambda: decode_dingtalk_callback_params({"content": "{bad json"}),
    lambda: decode_dingtalk_callback_params({"cardPrivateData": {"actionIds": ["btn_123"]}}),
    lambda: decode_dingtalk_callback_params({"cardPrivateData": {"params": {"action": "x"}}}),
    lambda: decode_dingtalk_callback_params({"cardPrivateData": {"params": {"token": "btn1"}}}),
    lambda: decode_dingtalk_callback_params({"cardPrivateData": {"params": {"token": "lead.ok~c 1~"}}}),
])
def test_foreign_payloads_raise_decode_error(decode):
    with pytest.raises(CardDecodeError):
        decode()


# ---- resolved cards ----------------------------------------------------------------------

def test_resolved_card_has_no_active_buttons_and_shows_result_everywhere():
    done = make_card().resolved(RESULT)
    tc = render_wecom(done, 1)["template_card"]
    assert tc["card_type"] == "text_notice" and "button_list" not in tc
    assert tc["quote_area"]["quote_text"] == RESULT
    upd = render_wecom_update(done)["template_card"]
    assert upd["replace_text"] and upd["quote_area"]["quote_text"] == RESULT
    params = render_dingtalk_update(done)["cardData"]["cardParamMap"]
    assert params["resolved"] == "true" and params["result"] == RESULT
    assert not any(params[f"btn{i}_{part}"] for i in range(1, 7) for part in ("text", "token"))
    v2 = render_feishu(done)
    assert all(b["disabled"] is True for b in _feishu_buttons(v2)) and len(list(_feishu_buttons(v2))) == 3
    assert RESULT in json.dumps(v2, ensure_ascii=False)
    v1 = render_feishu(done, "1.0")
    assert not list(_feishu_buttons(v1)) and RESULT in json.dumps(v1, ensure_ascii=False)
    text = render_text(done)
    assert "[按钮0]" not in text and text.endswith(f"结果: {RESULT}")


# ---- limits and text --------------------------------------------------------------------

LONG_TEXTS = ["客户需求很多" * 400, "😀👨‍👩‍👧" * 300, "ab中文" * 500, "e\u0301" * 800]


@pytest.mark.parametrize("text", LONG_TEXTS)
def test_wecom_long_text_truncated_by_bytes(text):
    tc = render_wecom(make_card(text=text, footer=None, fields=()), 1)["template_card"]
    sub = tc["sub_title_text"]
    assert len(sub.encode()) <= wc_mod.LIMITS["sub_title_text"]
    assert sub.endswith("…") and text.startswith(sub[:-1])
    assert not sub[:-1].endswith("\u200d")


@pytest.mark.parametrize("text", LONG_TEXTS)
@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4, 5, 17, 100, 481])
def test_clip_bytes_never_breaks_characters(text, limit):
    out = clip_bytes(text, limit)
    assert len(out.encode()) <= limit
    body = out[:-1] if out.endswith("…") else out
    assert text.startswith(body)
    assert clip_bytes("短", 10) == "短" and len(clip_chars(text, 10)) <= 10


def test_whole_cards_stay_under_platform_size_limits():
    big = tuple(Field(f"字段{i}", "很长的值" * 300, short=i % 2 == 0) for i in range(12))
    values = {"note": "备注" * 100}
    card = make_card(buttons=6, values=values, fields=big, text="正文" * 20000, footer="脚" * 500)
    assert dt_mod._size(dingtalk_card_params(card)) <= dt_mod.MAX_CARD_DATA_BYTES
    for schema in ("2.0", "1.0"):
        size = len(json.dumps(render_feishu(card, schema), ensure_ascii=False).encode())
        assert size <= fs_mod.MAX_CARD_BYTES
    assert len(_taps(card)["dingtalk"]) == 6   # buttons survive the shrinking intact


def test_chinese_text_is_intact():
    card = make_card(values={"customer": "杭州云图科技"})
    for out in (render_wecom(card, 1), render_dingtalk(card), render_feishu(card)):
        dumped = json.dumps(out, ensure_ascii=False)
        assert "新线索：杭州云图科技" in dumped and "\\u" not in dumped
    assert _taps(card)["wecom"][0].values == {"customer": "杭州云图科技"}


def test_text_fallback_format():
    card = make_card()
    lines = render_text(card).splitlines()
    assert lines[0] == card.title and lines[1] == card.subtitle
    assert lines[2:5] == ["客户: 杭州云图科技", "电话: 138****5678", "需求: CRM 系统 50 套"]
    assert "客户要 50 套，预算约 20 万" in lines and "[按钮0] [按钮1] [按钮2]" in lines


@pytest.mark.parametrize("max_bytes, keeps_result", [(40, False), (100, True), (300, True), (2048, True)])
def test_text_fallback_clip_keeps_result(max_bytes, keeps_result):
    done = make_card(text="很长" * 500).resolved(RESULT)
    out = render_text(done, max_bytes=max_bytes)
    assert len(out.encode()) <= max_bytes and out.startswith("新线索")
    assert out.endswith(RESULT) == keeps_result


@pytest.mark.parametrize("src, plain", [
    ("**重点** 客户", "重点 客户"), ("## 标题\n正文", "标题\n正文"),
    ("[详情](https://crm/1)", "详情 (https://crm/1)"), ("`代码` ~~删除~~", "代码 删除"),
    ("检测到潜在重复:李明 139****5678", "检测到潜在重复:李明 139****5678"), ("**李明** 139****5678", "李明 139****5678"),
])
def test_strip_markdown(src, plain):
    assert strip_markdown(src) == plain
