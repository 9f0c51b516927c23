"""Feishu/Lark (飞书) renderer: `Card` → interactive card JSON (schema 2.0 or 1.0), and the tap decoder.

Every card is shared (`update_multi: true`) so an update after a tap shows for everyone. Each
button's callback value is `{"card_id", "action", **value}` (2.0: `behaviors[callback].value`,
1.0: `value`). User data goes into plain_text elements so it can never trigger mentions/markup.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from cards.model import (
    json_object,
    ACTION_RE, CARD_ID_RE, RESERVED_VALUE_KEYS, Button, Card, CardDecodeError, DecodedAction,
    Field, Level, coerce_values, fit_to_size,
)
from cards.zh import MASK_STARS, clip_at_boundary

SCHEMAS = ("2.0", "1.0")
# Cards are limited to 30 KB; keep headroom for the JSON-string escaping of `content`.
MAX_CARD_BYTES = 28_000
LIMITS = {"title": 300, "subtitle": 300, "label": 60, "value": 1000, "text": 10_000,
          "footer": 500, "result": 600, "button": 60, "confirm": 300}
LEVEL_TEMPLATE = {Level.INFO: "blue", Level.SUCCESS: "green", Level.WARNING: "orange",
                  Level.DANGER: "red"}
RESOLVED_TIPS = "已处理"


def render_feishu(card: Card, schema: str = "2.0", *, image_key: str | None = None) -> dict[str, Any]:
    """Card JSON for `msg_type: interactive` (send, PATCH, or a callback's `card.data`).
    `image_key`: the uploaded picture of `card.chart` (`POST /open-apis/im/v1/images`), shown
    as an `img` element under the fields; without it the card is the text version."""
    if schema not in SCHEMAS:
        raise ValueError(f"不支持的飞书卡片 schema：{schema!r}")
    build = _card_v2 if schema == "2.0" else _card_v1
    image = _image(card, image_key)
    return fit_to_size(lambda scale: build(card, _Caps(scale), image), _json_size, MAX_CARD_BYTES)


def _image(card: Card, image_key: str | None) -> dict[str, Any] | None:
    """The chart's `img` element (same shape in schema 1.0 and 2.0), or None."""
    if not image_key or card.chart is None:
        return None
    return {"tag": "img", "img_key": image_key, "alt": _plain(card.chart.title)}


def decode_feishu_action_value(value: Mapping[str, Any] | str) -> DecodedAction:
    """`event.action.value` of card.action.trigger (dict, or a JSON string on some SDKs) → tap.

    The whole `action` object (`{"tag": "button", "value": {...}}`) is accepted as well.
    """
    data = _as_dict(value)
    if "card_id" not in data and isinstance(data.get("value"), (dict, str)):
        data = _as_dict(data["value"])
    card_id, action = data.get("card_id"), data.get("action")
    if not isinstance(card_id, str) or not CARD_ID_RE.match(card_id):
        raise CardDecodeError("飞书卡片回调中缺少合法的 card_id")
    if not isinstance(action, str) or not ACTION_RE.match(action):
        raise CardDecodeError("飞书卡片回调中缺少合法的 action")
    values = coerce_values({k: v for k, v in data.items() if k not in RESERVED_VALUE_KEYS})
    return DecodedAction(card_id, action, values)


def _as_dict(value: Any) -> dict[str, Any]:
    return json_object(value, "飞书卡片回调 value ")


def _json_size(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


class _Caps:
    """Byte budgets scaled down when the whole card would exceed the size limit."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def clip(self, name: str, text: str) -> str:
        return clip_at_boundary(text, max(int(LIMITS[name] * self.scale), 12))    # never mid-word




def md_safe(text: str) -> str:
    """Text for a Feishu markdown element, shown as written: angle brackets would open
    <at id=all>, <font>, <a> tags, and the stars of a masked phone (138****5678) would be
    read as empty bold and vanish; HTML entities show both literally."""
    text = text.replace("<", "&#60;").replace(">", "&#62;")
    return MASK_STARS.sub(lambda m: "&#42;" * len(m.group(0)), text)



def _plain(content: str) -> dict[str, str]:
    return {"tag": "plain_text", "content": content}


def _field_line(f: Field, caps: _Caps) -> str:
    return f"{caps.clip('label', f.label)}：{caps.clip('value', f.value or '—')}"


def _header(card: Card, caps: _Caps) -> dict[str, Any]:
    header: dict[str, Any] = {"title": _plain(caps.clip("title", card.title)),
                              "template": LEVEL_TEMPLATE[card.level]}
    if card.subtitle:
        header["subtitle"] = _plain(caps.clip("subtitle", card.subtitle))
    return header


def _callback_value(card: Card, button: Button) -> dict[str, str]:
    return button.callback_value(card.card_id)


def _confirm(button: Button, caps: _Caps) -> dict[str, Any]:
    return {"title": _plain("请确认"), "text": _plain(caps.clip("confirm", button.confirm or ""))}


# ---- schema 2.0 ---------------------------------------------------------------------------

def _card_v2(card: Card, caps: _Caps, image: dict[str, Any] | None = None) -> dict[str, Any]:
    elements: list[dict[str, Any]] = _fields_v2(card, caps)
    if image:
        elements.append({**image, "preview": True, "scale_type": "fit_horizontal"})
    if card.text:
        elements.append({"tag": "markdown", "content": md_safe(caps.clip("text", card.text))})
    if card.footer:
        elements.append(_div_v2(caps.clip("footer", card.footer), size="notation", color="grey"))
    if card.buttons:   # kept when resolved, but disabled, so the card keeps its shape
        elements.append({"tag": "column_set", "flex_mode": "flow", "columns": [
            {"tag": "column", "width": "auto", "elements": [_button_v2(card, b, caps)]}
            for b in card.buttons]})
    if card.is_resolved:
        elements.append({"tag": "hr"})
        elements.append(_div_v2(f"处理结果：{caps.clip('result', card.result or '')}"))
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": caps.clip("title", card.title)}},
        "header": _header(card, caps),
        "body": {"elements": elements},
    }


def _div_v2(content: str, size: str = "normal", color: str = "default") -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "plain_text", "content": content,
                                   "text_size": size, "text_color": color}}


def _fields_v2(card: Card, caps: _Caps) -> list[dict[str, Any]]:
    """Consecutive short fields share a row (two columns); long fields take a full row."""
    out: list[dict[str, Any]] = []
    pending: list[Field] = []

    def flush() -> None:
        for i in range(0, len(pending), 2):
            pair = pending[i:i + 2]
            out.append({"tag": "column_set", "flex_mode": "bisect", "columns": [
                {"tag": "column", "width": "weighted", "weight": 1,
                 "elements": [_div_v2(_field_line(f, caps))]} for f in pair]})
        pending.clear()

    for f in card.fields:
        if f.short:
            pending.append(f)
            continue
        flush()
        out.append(_div_v2(_field_line(f, caps)))
    flush()
    return out


def _button_v2(card: Card, button: Button, caps: _Caps) -> dict[str, Any]:
    el: dict[str, Any] = {
        "tag": "button",
        "text": _plain(caps.clip("button", button.text)),
        "type": button.style,
        "behaviors": [{"type": "callback", "value": _callback_value(card, button)}],
    }
    if button.confirm:
        el["confirm"] = _confirm(button, caps)
    if card.is_resolved:
        el["disabled"] = True
        el["disabled_tips"] = _plain(RESOLVED_TIPS)
    return el


# ---- schema 1.0 (what legacy card.action.trigger_v1 callbacks expect) ----------------------

def _card_v1(card: Card, caps: _Caps, image: dict[str, Any] | None = None) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    if card.fields:
        elements.append({"tag": "div", "fields": [
            {"is_short": f.short, "text": _plain(_field_line(f, caps))} for f in card.fields]})
    if image:
        elements.append(image)
    if card.text:
        elements.append({"tag": "div", "text": {"tag": "lark_md",
                                                "content": md_safe(caps.clip("text", card.text))}})
    if card.is_resolved:
        # 1.0 has no reliable disabled state: the buttons go and a result line replaces them
        elements.append({"tag": "hr"})
        elements.append({"tag": "div", "text": _plain(f"处理结果：{caps.clip('result', card.result or '')}")})
    elif card.buttons:
        elements.append({"tag": "action", "actions": [_button_v1(card, b, caps) for b in card.buttons]})
    if card.footer:
        elements.append({"tag": "note", "elements": [_plain(caps.clip("footer", card.footer))]})
    return {
        "config": {"wide_screen_mode": True, "update_multi": True},
        "header": _header(card, caps),
        "elements": elements,
    }


def _button_v1(card: Card, button: Button, caps: _Caps) -> dict[str, Any]:
    el: dict[str, Any] = {
        "tag": "button",
        "text": _plain(caps.clip("button", button.text)),
        "type": button.style,
        "value": _callback_value(card, button),
    }
    if button.confirm:
        el["confirm"] = _confirm(button, caps)
    return el
