"""DingTalk (钉钉) renderer: `Card` → robot interactive card ("StandardCard") data, and the tap decoder.

The card is sent with `POST /v1.0/im/v1.0/robot/interactiveCards/send` and updated with
`PUT /v1.0/im/robots/interactiveCards`; `cardBizId` is our card_id and every button is an
`actionType: request` button whose `id` is the compact action token, because the callback only
returns the tapped button's id (`cardPrivateData.actionIds`).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from cards.model import (
    json_object,
    ACTION_RE, CARD_ID_RE, RESERVED_VALUE_KEYS, Card, CardDecodeError, DecodedAction, Level,
    clip_bytes, coerce_values, decode_action_token, fit_to_size,
)

TEMPLATE_ID = "StandardCard"
# The robot APIs cap a message parameter at 15,000 bytes; the card data is held to the same.
MAX_CARD_DATA_BYTES = 15_000
LIMITS = {"title": 200, "subtitle": 300, "label": 60, "value": 600, "text": 6000,
          "footer": 300, "result": 600, "button": 60}
# Card colour tokens; common_level3_base_color (grey) is the one the official SDK samples use.
LEVEL_COLOR = {Level.SUCCESS: "common_green1_color", Level.WARNING: "common_orange1_color",
               Level.DANGER: "common_red1_color"}   # [verify] the three colour token names
FOOTER_COLOR = "common_level3_base_color"
BUTTON_STATUS = {"primary": "primary", "default": "normal", "danger": "warning"}


def dingtalk_card_data(card: Card) -> dict[str, Any]:
    """The StandardCard JSON as a dict (what `cardData` holds once JSON-encoded)."""
    return fit_to_size(lambda scale: _card_data(card, scale), _json_size, MAX_CARD_DATA_BYTES)


def render_dingtalk(card: Card) -> dict[str, Any]:
    """Body fields for interactiveCards/send; the caller adds robotCode and the receiver."""
    return {
        "cardTemplateId": TEMPLATE_ID,
        "cardBizId": card.card_id,
        "cardData": _dumps(dingtalk_card_data(card)),
    }


def render_dingtalk_update(card: Card) -> dict[str, Any]:
    """Body for `PUT /v1.0/im/robots/interactiveCards`: a resolved card loses its buttons."""
    return {"cardBizId": card.card_id, "cardData": _dumps(dingtalk_card_data(card))}


def decode_dingtalk_callback_params(payload: Mapping[str, Any] | str) -> DecodedAction:
    """A card callback (Stream `data` or HTTP body; `content`/`value` may be JSON strings) → tap.

    The tapped button id (our token) gives action, card and values; `params`, which a card
    built on the card platform fills from its template, add to them; `outTrackId` is the
    fallback card id.
    """
    data = _as_dict(payload)
    private = _private_data(data)
    params = _as_dict(private.get("params") or {})
    action_ids = private.get("actionIds") or []
    fallback_id = str(data.get("outTrackId") or data.get("cardBizId") or "")
    if action_ids:
        card_id, action, values = decode_action_token(str(action_ids[0]))
    elif isinstance(params.get("action"), str):
        card_id, action, values = str(params.get("card_id") or fallback_id), params["action"], {}
    else:
        raise CardDecodeError("钉钉卡片回调中没有按钮标识")
    if not ACTION_RE.match(action) or not CARD_ID_RE.match(card_id):
        raise CardDecodeError("钉钉卡片回调中的按钮标识不合法")
    extra = coerce_values({k: v for k, v in params.items() if k not in RESERVED_VALUE_KEYS})
    return DecodedAction(card_id, action, {**extra, **values})


def _as_dict(value: Any) -> dict[str, Any]:
    return json_object(value, "钉钉卡片回调")


def _private_data(data: dict[str, Any]) -> dict[str, Any]:
    """Find `cardPrivateData` wherever this delivery put it (content/value strings or inline)."""
    for key in ("content", "value"):
        if data.get(key):
            inner = _as_dict(data[key])
            if "cardPrivateData" in inner:
                return _as_dict(inner["cardPrivateData"])
    if "cardPrivateData" in data:
        return _as_dict(data["cardPrivateData"])
    if "actionIds" in data or "params" in data:
        return data
    raise CardDecodeError("钉钉卡片回调中没有 cardPrivateData")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _json_size(obj: Any) -> int:
    return len(_dumps(obj).encode())


def _card_data(card: Card, scale: float) -> dict[str, Any]:
    def cap(name: str) -> int:
        return max(int(LIMITS[name] * scale), 12)

    contents: list[dict[str, Any]] = []
    if card.level in LEVEL_COLOR:
        contents.append(_markdown("level", f"<font color={LEVEL_COLOR[card.level]}>● {card.level.label}</font>"))
    if card.subtitle:
        contents.append(_text("subtitle", clip_bytes(card.subtitle, cap("subtitle"))))
    for i, f in enumerate(card.fields):
        # plain text, not markdown: field values are user data and must show verbatim
        line = f"{clip_bytes(f.label, cap('label'))}：{clip_bytes(f.value or '—', cap('value'))}"
        contents.append(_text(f"field_{i}", line))
    if card.text:
        contents.append({"type": "divider", "id": "divider_text"})
        contents.append(_markdown("text", clip_bytes(card.text, cap("text"))))
    if card.footer:
        footer = clip_bytes(card.footer, cap("footer"))
        contents.append(_markdown("footer", f"<font color={FOOTER_COLOR}>{footer}</font>"))
    if card.is_resolved:
        contents.append({"type": "divider", "id": "divider_result"})
        contents.append(_markdown("result", f"**处理结果：** {clip_bytes(card.result or '', cap('result'))}"))
    elif card.buttons:
        contents.append({"type": "action", "id": "actions", "actions": [
            _button(card, i, b, cap("button")) for i, b in enumerate(card.buttons)]})
    return {
        "config": {"autoLayout": True, "enableForward": True},
        "header": {"title": {"type": "text", "text": clip_bytes(card.title, LIMITS["title"])}},
        "contents": contents,
    }


def _text(node_id: str, text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "id": node_id}


def _markdown(node_id: str, text: str) -> dict[str, Any]:
    return {"type": "markdown", "text": text, "id": node_id}


def _button(card: Card, index: int, button: Any, text_cap: int) -> dict[str, Any]:
    return {
        "type": "button",
        "label": {"type": "text", "text": clip_bytes(button.text, text_cap), "id": f"button_label_{index}"},
        "actionType": "request",
        "status": BUTTON_STATUS[button.style],
        "id": button.token(card.card_id),
    }
