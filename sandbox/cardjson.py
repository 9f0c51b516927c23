"""Reading what crm-bot sent, in each platform's own JSON: the buttons a user could tap on a
card, and a readable text version of messages and cards (what `crm-bot simulate` prints),
following `cards.render.render_text`: title, fields as "标签: 值", text, "[按钮]", result.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from bot.platforms.registry import default_registry
from cards.model import CardDecodeError, decode_action_token, strip_markdown
from sandbox.state import SentCall

UPDATE_APIS = {"update_template_card", "interactiveCards/update", "im/patch", "card/update"}
DINGTALK_SLOTS = 6                  # btn1…btn6 of crm-bot's DingTalk card template
_FEISHU_LEVELS = {"green": "完成", "orange": "注意", "red": "紧急"}
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class FoundButton:
    text: str
    action: str                     # our action key ("" for a button we did not make)
    values: dict[str, str]
    card_id: str
    payload: Any                    # what the platform returns on a tap: key / id / value object
    disabled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _from_token(text: str, token: str, disabled: bool) -> FoundButton:
    try:
        card_id, action, values = decode_action_token(token)
    except CardDecodeError:
        return FoundButton(text, "", {}, "", token, disabled)
    return FoundButton(text, action, dict(values), card_id, token, disabled)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON tree, depth first in document order."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _feishu_value(button: dict[str, Any]) -> dict[str, Any] | None:
    for behavior in button.get("behaviors") or []:
        if isinstance(behavior, dict) and behavior.get("type") == "callback":
            return _loads(behavior.get("value"))
    return _loads(button.get("value"))


def card_buttons(platform: str, card: dict[str, Any], disabled: bool = False) -> list[FoundButton]:
    """The tappable buttons of a platform card (`disabled`: the whole card is greyed out)."""
    if platform == "wecom":
        greyed = disabled or bool(card.get("replace_text"))
        return [_from_token(str(b.get("text", "")), str(b.get("key", "")), greyed)
                for b in card.get("button_list") or [] if isinstance(b, dict) and b.get("key")]
    if platform == "dingtalk":
        if "contents" in card:          # the robot's ordinary card (StandardCard)
            return [_from_token(str((n.get("label") or {}).get("text", "")), str(n["id"]), disabled)
                    for n in _walk(card.get("contents") or [])
                    if n.get("type") == "button" and n.get("actionType") == "request" and n.get("id")]
        # a template instance: slot N shows while btnN_text is set and the card is not resolved
        greyed = disabled or card.get("resolved") == "true"
        found = []
        for i in range(1, DINGTALK_SLOTS + 1):
            text, token = str(card.get(f"btn{i}_text") or ""), str(card.get(f"btn{i}_token") or "")
            if text and token:
                button = _from_token(text, token, greyed)
                found.append(FoundButton(button.text, button.action, button.values, button.card_id,
                                         button.payload, button.disabled, {"slot": i}))
        return found
    found = []
    for node in _walk(card):
        value = _feishu_value(node) if node.get("tag") == "button" else None
        if isinstance(value, dict):
            text = str((node.get("text") or {}).get("content", ""))
            values = {k: str(v) for k, v in value.items() if k not in ("card_id", "action")}
            found.append(FoundButton(text, str(value.get("action", "")), values,
                                     str(value.get("card_id", "")), value,
                                     disabled or bool(node.get("disabled"))))
    return found


def card_ids(platform: str, card: dict[str, Any]) -> list[str]:
    """Our card ids found in a card's buttons (WeCom also has task_id, DingTalk outTrackId)."""
    ids = [b.card_id for b in card_buttons(platform, card) if b.card_id]
    return list(dict.fromkeys(ids))


def card_of_call(call: SentCall) -> dict[str, Any] | None:
    """The card a recorded call carried, as the platform's card JSON."""
    body = call.body
    if call.platform == "wecom":
        return body.get("template_card") if isinstance(body.get("template_card"), dict) else None
    if call.platform == "dingtalk":
        card = _loads(body.get("cardData"))
        if isinstance(card, dict) and isinstance(card.get("cardParamMap"), dict):
            return card["cardParamMap"]      # a template instance: its variables
        return card if isinstance(card, dict) else None
    if isinstance(body.get("card"), dict):          # card/update, custom-bot webhooks
        return body["card"]
    if body.get("msg_type", "interactive") == "interactive":   # send/reply; PATCH has no msg_type
        card = _loads(body.get("content"))
        if isinstance(card, dict) and ({"header", "elements", "body"} & card.keys()):
            return card
    return None


# ---- readable text -----------------------------------------------------------------------

def _lines(*parts: Any) -> str:
    return "\n".join(str(p).strip() for p in parts if p is not None and str(p).strip())


def _buttons_line(buttons: list[FoundButton]) -> str:
    return " ".join(f"[{b.text}]" for b in buttons if not b.disabled)


def wecom_card_text(card: dict[str, Any]) -> str:
    desc = str((card.get("source") or {}).get("desc", ""))
    label = desc.rpartition(" · ")[2] if " · " in desc else ""
    title = str((card.get("main_title") or {}).get("title", ""))
    quote = card.get("quote_area") or {}
    result = quote.get("quote_text") if quote.get("title") == "处理结果" else None
    emphasis = card.get("emphasis_content") or {}
    return _lines(f"【{label}】{title}" if label else title,
                  (card.get("main_title") or {}).get("desc"),
                  _lines(emphasis.get("title"), emphasis.get("desc")),
                  *[f"{r.get('keyname', '')}: {r.get('value', '')}" for r in card.get("horizontal_content_list") or []],
                  card.get("sub_title_text"),
                  None if result else _lines(quote.get("title"), quote.get("quote_text")),
                  _buttons_line(card_buttons("wecom", card)),
                  f"结果: {result}" if result else None)


def _plain(text: Any) -> str:
    return strip_markdown(_TAGS.sub("", str(text or ""))).strip()


def dingtalk_card_text(card: dict[str, Any]) -> str:
    if "contents" not in card:
        return _dingtalk_template_text(card)
    return _dingtalk_standard_text(card)


def _dingtalk_template_text(params: dict[str, Any]) -> str:
    """A template instance's variables read like `render_text`."""
    title = str(params.get("title") or "")
    tag = str(params.get("tag") or "")
    result = str(params.get("result") or "") if params.get("resolved") == "true" else ""
    fields = [line.replace("：", ": ", 1) for line in str(params.get("fields") or "").splitlines()]
    return _lines(f"【{tag}】{title}" if tag else title, params.get("subtitle"), *fields,
                  _plain(params.get("markdown")), params.get("footer"),
                  _buttons_line(card_buttons("dingtalk", params)), f"结果: {result}" if result else None)


def _dingtalk_standard_text(card: dict[str, Any]) -> str:
    parts: list[str] = [_plain(((card.get("header") or {}).get("title") or {}).get("text"))]
    for node in card.get("contents") or []:
        kind = node.get("type")
        text = _plain(node.get("text")) if kind == "markdown" else str(node.get("text", "")).strip() \
            if kind == "text" else ""
        if node.get("id") == "level":
            parts[0] = f"【{text.lstrip('● ')}】{parts[0]}"
        elif text.startswith("处理结果："):
            parts.append("结果: " + text.removeprefix("处理结果：").strip())
        elif text:
            parts.append(text.replace("：", ": ", 1) if node.get("id", "").startswith("field_") else text)
    return _lines(*parts[:1], *[p for p in parts[1:] if not p.startswith("结果: ")],
                  _buttons_line(card_buttons("dingtalk", card)),
                  *[p for p in parts[1:] if p.startswith("结果: ")])


def feishu_card_text(card: dict[str, Any]) -> str:
    header = card.get("header") or {}
    title = str((header.get("title") or {}).get("content", ""))
    level = _FEISHU_LEVELS.get(str(header.get("template", "")))
    # labels, confirm prompts and disabled tips inside buttons are not card text
    in_buttons = {id(n) for b in _walk(card) if b.get("tag") == "button" for n in _walk(b)}
    parts, result = [], None
    for node in _walk(card.get("body") or card.get("elements") or []):
        tag = node.get("tag")
        if tag not in ("plain_text", "markdown", "lark_md") or id(node) in in_buttons:
            continue
        text = str(node.get("content", "")).replace("&#60;", "<").replace("&#62;", ">").replace("&#42;", "*")
        text = (text if tag == "plain_text" else strip_markdown(text)).strip()
        if text.startswith("处理结果："):
            result = text.removeprefix("处理结果：").strip()
        elif text:
            parts.append(text.replace("：", ": ", 1) if tag == "plain_text" else text)
    return _lines(f"【{level}】{title}" if level else title,
                  (header.get("subtitle") or {}).get("content"), *parts,
                  _buttons_line(card_buttons("feishu", card)), f"结果: {result}" if result else None)


def card_text(platform: str, card: dict[str, Any]) -> str:
    text = {"wecom": wecom_card_text, "dingtalk": dingtalk_card_text,
            "feishu": feishu_card_text}[platform](card)
    return f"{text}\n[图片]" if card_has_image(platform, card) else text


def card_has_image(platform: str, card: dict[str, Any]) -> bool:
    """A picture on the card: a Feishu `img` element, DingTalk's template `chart` variable."""
    if platform == "feishu":
        return any(n.get("tag") == "img" and n.get("img_key") for n in _walk(card))
    return platform == "dingtalk" and bool(card.get("chart"))


def _message_text(call: SentCall) -> str:
    body, p = call.body, call.platform
    if p == "wecom":
        kind = body.get("msgtype", "")
        if kind == "image":
            return "[图片]"
        return str((body.get(kind) or {}).get("content", "")) or f"（{kind} 消息）"
    if p == "dingtalk":
        if "msgParam" in body:
            param = _loads(body.get("msgParam")) or {}
            return _lines(param.get("title"), param.get("content") or param.get("text"))
        obj = body.get(body.get("msgtype", "")) or {}
        return _lines(obj.get("title"), obj.get("content") or obj.get("text"),
                      " ".join(f"[{b.get('title')}]" for b in obj.get("btns") or []))
    content = _loads(body.get("content")) if isinstance(body.get("content"), str) else body.get("content")
    content = content if isinstance(content, dict) else {}
    if "text" in content:
        return str(content["text"])
    post = content.get("zh_cn") or content.get("post", {}).get("zh_cn") or content
    lines = [" ".join(str(el.get("text", "")) for el in para if isinstance(el, dict))
             for para in post.get("content") or [] if isinstance(para, list)]
    return _lines(post.get("title"), *lines) or f"（{body.get('msg_type', '')} 消息）"


def call_text(call: SentCall) -> str:
    """One recorded call as "── 平台 → 接收人 ──" plus its readable text."""
    card = card_of_call(call)
    replaced = call.body.get("button", {}).get("replace_name") if call.platform == "wecom" else None
    if replaced:
        text = f"（卡片按钮已变为：{replaced}）"
    else:
        text = card_text(call.platform, card) if card is not None else _message_text(call)
    what = "卡片已更新" if call.api in UPDATE_APIS else ("卡片" if card is not None else "消息")
    head = f"── {default_registry().label(call.platform)} {what} → {call.recipient or '?'} ──"
    return f"{head}\n{text}"


def sent_as_text(calls: list[SentCall]) -> str:
    """What crm-bot sent, oldest first, as readable text."""
    return "\n\n".join(call_text(c) for c in calls)
