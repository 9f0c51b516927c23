"""DingTalk (钉钉) renderer: `Card` → the string variables (`cardParamMap`) of crm-bot's card
template on DingTalk's card platform (互动卡片高级版), and the tap decoder.

Why a template: the robot's ordinary interactive card (StandardCard, `interactiveCards/send`)
never calls back over Stream ("消息卡片普通版是否支持 Stream 模式回调？暂不支持"), so crm-bot
creates and delivers instances of a card-platform template (`POST /v1.0/card/instances/
createAndDeliver`, `callbackType` STREAM or HTTP) and updates them with `PUT /v1.0/card/instances`.
The template is built once per organisation from the contract below (`TEMPLATE_VARIABLES`,
shipped as `config/dingtalk-card-template.json`, steps in `docs/dingtalk-card-template.md`);
the client adds the template id, the instance id and the addressing.

Every value of `cardParamMap` is a string (the card API's rule; booleans are "true"/"false").
Buttons are six fixed slots: `btnN_text` (empty: the slot is hidden), `btnN_color` and
`btnN_token`, our compact action token. The template's button "回传请求" passes the slot's token
as the callback parameter `token`, so a tap arrives as
`content = {"cardPrivateData": {"actionIds": [...], "params": {"token": "<token>"}}}`.
"""
from __future__ import annotations

from typing import Any, Mapping

from cards.model import (
    ACTION_RE, CARD_ID_RE, MAX_BUTTONS, RESERVED_VALUE_KEYS, Card, CardDecodeError, CardError,
    DecodedAction, Level, clip_bytes, coerce_values, decode_action_token, fit_to_size, json_object,
)
from cards.zh import MASK_STARS, clip_at_boundary

TOKEN_PARAM = "token"                # the callback parameter each template button passes
BUTTON_SLOTS = MAX_BUTTONS           # btn1…btn6 in the template
# The card API documents no size limit for cardParamMap; the robot message APIs cap a message
# parameter at 15,000 bytes and the card data is held to the same.
MAX_CARD_DATA_BYTES = 15_000
LIMITS = {"title": 200, "summary": 60, "subtitle": 300, "label": 60, "value": 600, "text": 6000,
          "footer": 300, "result": 600, "button": 60}
BUTTON_COLOR = {"primary": "blue", "default": "gray", "danger": "red"}


def md_safe(text: str) -> str:
    """Text for DingTalk markdown, shown as written: the stars of a masked phone (138****5678)
    would be read as an empty bold and vanish. DingTalk documents no escape, so they become
    full-width stars (138＊＊＊＊5678), which no markdown reads."""
    return MASK_STARS.sub(lambda m: "＊" * len(m.group(0)), text)

# The template contract: every variable the renderer fills (name → type and meaning). A test
# checks it against config/dingtalk-card-template.json, which the admin builds the template from.
TEMPLATE_VARIABLES: dict[str, tuple[str, str]] = {
    "lastMessage": ("string", "会话列表里显示的摘要 / summary in the chat list"),
    "title": ("string", "标题 / title"),
    "tag": ("string", "级别标签（完成/注意/紧急，空 = 不显示）/ level tag, empty = hidden"),
    "subtitle": ("string", "副标题 / subtitle"),
    "fields": ("string", "字段，每行「标签：值」，原样显示 / fields, one 'label：value' per line, shown verbatim"),
    "markdown": ("markdown", "正文（Markdown）/ body text (markdown)"),
    "footer": ("string", "脚注 / footer"),
    "result": ("string", "处理结果（空 = 未处理）/ result, empty until acted upon"),
    "resolved": ("boolean", "已处理：隐藏全部按钮 / resolved: hide every button"),
    "chart": ("image", "图表图片的 mediaId（空 = 不显示）/ chart picture: an uploaded mediaId, empty = hidden"),
    **{f"btn{i}_{part}": kind for i in range(1, BUTTON_SLOTS + 1) for part, kind in (
        ("text", ("string", f"第 {i} 个按钮文字，空 = 不显示 / button {i} text, empty = hidden")),
        ("color", ("string", f"第 {i} 个按钮颜色 blue/gray/red / button {i} colour")),
        ("token", ("string", f"第 {i} 个按钮回传参数 token 的值 / button {i}: value of callback parameter token")),
    )},
}


def dingtalk_card_params(card: Card, image: str | None = None) -> dict[str, str]:
    """The template's `cardParamMap` for `card`: strings only, every variable present.
    `image`: the mediaId of `card.chart`'s uploaded picture (`/media/upload`), else empty."""
    if len(card.buttons) > BUTTON_SLOTS:
        raise CardError(f"钉钉卡片模板只有 {BUTTON_SLOTS} 个按钮位")
    chart = image if image and card.chart is not None else ""
    return fit_to_size(lambda scale: {**_params(card, scale), "chart": chart}, _size, MAX_CARD_DATA_BYTES)


def render_dingtalk(card: Card, image: str | None = None) -> dict[str, Any]:
    """`cardData` for createAndDeliver; the client adds the template, instance id and space."""
    return {"cardData": {"cardParamMap": dingtalk_card_params(card, image)}}


def render_dingtalk_update(card: Card, image: str | None = None) -> dict[str, Any]:
    """`cardData` + options for `PUT /v1.0/card/instances`: every variable is sent, so a
    resolved card's button slots are emptied and `resolved` hides them."""
    return {"cardData": {"cardParamMap": dingtalk_card_params(card, image)},
            "cardUpdateOptions": {"updateCardDataByKey": True}}


def decode_dingtalk_callback_params(payload: Mapping[str, Any] | str) -> DecodedAction:
    """A card callback (Stream `data` or HTTP body; `content`/`value` may be JSON strings) → tap.

    The template passes the tapped slot's token as `params.token`; a button id that is itself
    a token (older cards) is read the same way; `params.action` (+ `card_id`, falling back to
    `outTrackId`) covers templates that pass plain parameters. Other `params` add values.
    """
    data = _as_dict(payload)
    private = _private_data(data)
    params = _as_dict(private.get("params") or {})
    action_ids = private.get("actionIds") or []
    token = params.get(TOKEN_PARAM)
    if isinstance(token, str) and token:
        card_id, action, values = decode_action_token(token)
    elif action_ids and isinstance(action_ids, list) and _is_token(action_ids[0]):
        card_id, action, values = decode_action_token(str(action_ids[0]))
    elif isinstance(params.get("action"), str):
        fallback_id = str(data.get("outTrackId") or data.get("cardBizId") or "")
        card_id, action, values = str(params.get("card_id") or fallback_id), params["action"], {}
    else:
        raise CardDecodeError("钉钉卡片回调中没有按钮标识")
    if not ACTION_RE.match(action) or not CARD_ID_RE.match(card_id):
        raise CardDecodeError("钉钉卡片回调中的按钮标识不合法")
    skip = RESERVED_VALUE_KEYS | {TOKEN_PARAM}
    extra = coerce_values({k: v for k, v in params.items() if k not in skip})
    return DecodedAction(card_id, action, {**extra, **values})


def _is_token(value: Any) -> bool:
    try:
        decode_action_token(value)
    except CardDecodeError:
        return False
    return True


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


def _size(params: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in params.items())


def _params(card: Card, scale: float) -> dict[str, str]:
    def cap(name: str) -> int:
        return max(int(LIMITS[name] * scale), 12)

    fields = "\n".join(f"{clip_bytes(f.label, cap('label'))}：{clip_at_boundary(f.value or '—', cap('value'))}"
                       for f in card.fields)
    params = {
        "lastMessage": clip_bytes(card.title, LIMITS["summary"]),
        "title": clip_bytes(card.title, LIMITS["title"]),
        "tag": card.level.label if card.level is not Level.INFO else "",
        "subtitle": clip_at_boundary(card.subtitle or "", cap("subtitle")),
        "fields": fields,
        "markdown": clip_at_boundary(md_safe(card.text or ""), cap("text")),      # never mid-word
        "footer": clip_at_boundary(card.footer or "", cap("footer")),
        "result": clip_at_boundary(card.result or "", cap("result")) if card.is_resolved else "",
        "resolved": "true" if card.is_resolved else "false",
    }
    live = card.active_buttons
    for i in range(1, BUTTON_SLOTS + 1):
        button = live[i - 1] if i <= len(live) else None
        params[f"btn{i}_text"] = clip_bytes(button.text, cap("button")) if button else ""
        params[f"btn{i}_color"] = BUTTON_COLOR[button.style] if button else ""
        # the token is never clipped: a cut token would not decode
        params[f"btn{i}_token"] = button.token(card.card_id) if button else ""
    return params
