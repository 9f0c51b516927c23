"""WeCom (企业微信) renderer: `Card` → app-message `template_card` JSON, and the decoder for taps.

A card with live buttons becomes `button_interaction` (each button key = the compact action
token); anything else becomes `text_notice`. `task_id` must be unique per app while a card id is
the same each time its notice is sent again, so the channel passes `instance_id(card_id, send
key)`; without one the card id is used. WeCom counts UTF-8 bytes and shows
plain text only, so every string is markdown-stripped and clipped by bytes.
"""
from __future__ import annotations

from typing import Any

from cards.model import (
    Card, CardDecodeError, DecodedAction, Level, clip_bytes, decode_action_token, instance_of,
    strip_markdown,
)
from cards.zh import clip_at_boundary, clip_lines

# Used when a text_notice card (which WeCom requires to be clickable) has nowhere better to go.
DEFAULT_CARD_ACTION_URL = "https://work.weixin.qq.com/"
DEFAULT_SOURCE_DESC = "客户管理"
RESOLVED_BUTTON_TEXT = "已处理"   # replace_text: shown on the greyed-out buttons after a tap
MAX_HORIZONTAL = 6                 # horizontal_content_list length limit

# Byte budgets: WeCom's recommended lengths (in characters) × 3 bytes for CJK. WeCom clips or
# rejects longer strings, and a clipped multi-byte character shows as garbage.
LIMITS = {
    "source_desc": 60, "title": 108, "desc": 132, "keyname": 30, "value": 90,
    "sub_title_text": 480, "button": 30, "quote_title": 60, "quote_text": 480,
}

# source.desc_color: 0 grey, 1 black, 2 red, 3 green (no orange: warnings use red too)
LEVEL_COLOR = {Level.INFO: 0, Level.SUCCESS: 3, Level.WARNING: 2, Level.DANGER: 2}
# button style 1-4; 1 is the blue default.  [verify] 2/3 against a real client
BUTTON_STYLE = {"primary": 1, "default": 2, "danger": 3}


def render_wecom(card: Card, agent_id: int | str, *, card_action_url: str = DEFAULT_CARD_ACTION_URL,
                 source_desc: str = DEFAULT_SOURCE_DESC, task_id: str | None = None) -> dict[str, Any]:
    """Body for `POST /cgi-bin/message/send` without the recipients (`touser` etc.)."""
    interactive = bool(card.active_buttons)
    return {
        "msgtype": "template_card",
        "agentid": _agent_id(agent_id),
        "template_card": _template_card(card, interactive, card_action_url, source_desc, task_id),
    }


def render_wecom_update(card: Card, agent_id: int | str | None = None, *,
                        card_action_url: str = DEFAULT_CARD_ACTION_URL,
                        source_desc: str = DEFAULT_SOURCE_DESC, task_id: str | None = None) -> dict[str, Any]:
    """Fragment for `POST /cgi-bin/message/update_template_card` (caller adds userids, response_code).

    A resolved card keeps its buttons (WeCom needs the button_list to redraw the card) with
    `replace_text`, which greys them out, and shows the result in the quote area.
    """
    tc = _template_card(card, bool(card.buttons), card_action_url, source_desc, task_id)
    if card.is_resolved and card.buttons:
        tc["replace_text"] = RESOLVED_BUTTON_TEXT
    body: dict[str, Any] = {"template_card": tc}
    if agent_id is not None:
        body["agentid"] = _agent_id(agent_id)
    return body


def render_wecom_button_replace(replace_name: str = RESOLVED_BUTTON_TEXT) -> dict[str, Any]:
    """The lighter update: the buttons become one disabled label (`button.replace_name`)."""
    return {"button": {"replace_name": clip_bytes(replace_name, LIMITS["button"])}}


def decode_wecom_key(key: str) -> tuple[str, dict[str, str]]:
    """A button key (callback `EventKey`) → (action, values)."""
    decoded = decode_action_token(key)
    return decoded.action, decoded.values


def decode_wecom_event_key(event_key: str, task_id: str | None = None) -> DecodedAction:
    """A template_card_event's `EventKey` (+ `TaskId`) → the tap; the TaskId must be the card's
    (its id, or a per-send `instance_id` of it)."""
    decoded = decode_action_token(event_key)
    if task_id and not instance_of(task_id, decoded.card_id):
        raise CardDecodeError(f"TaskId {task_id!r} 与按钮所属卡片 {decoded.card_id!r} 不一致")
    return decoded


def _agent_id(agent_id: int | str) -> int:
    try:
        return int(agent_id)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"企业微信 agentid 必须是整数：{agent_id!r}") from exc


def _template_card(card: Card, interactive: bool, card_action_url: str,
                   source_desc: str, task_id: str | None = None) -> dict[str, Any]:
    tc: dict[str, Any] = {
        "card_type": "button_interaction" if interactive else "text_notice",
        "source": _source(card, source_desc),
        "main_title": _main_title(card),
        "task_id": task_id or card.card_id,
    }
    horizontal, overflow = _fields(card)
    if horizontal:
        tc["horizontal_content_list"] = horizontal
    sub_title = _sub_title_text(card, overflow)
    if sub_title:
        tc["sub_title_text"] = sub_title
    if card.is_resolved:
        tc["quote_area"] = {
            "type": 0,
            "title": clip_bytes("处理结果", LIMITS["quote_title"]),
            "quote_text": clip_at_boundary(card.result or "", LIMITS["quote_text"]),
        }
    if interactive:
        tc["button_list"] = [_button(card, b) for b in card.buttons]
    else:
        tc["card_action"] = {"type": 1, "url": card_action_url}   # required for text_notice
    return tc


def _source(card: Card, source_desc: str) -> dict[str, Any]:
    desc = f"{source_desc} · {card.level.label}" if card.level.label else source_desc
    return {"desc": clip_bytes(desc, LIMITS["source_desc"]), "desc_color": LEVEL_COLOR[card.level]}


def _main_title(card: Card) -> dict[str, str]:
    title = {"title": clip_bytes(strip_markdown(card.title), LIMITS["title"])}
    if card.subtitle:
        title["desc"] = clip_bytes(strip_markdown(card.subtitle), LIMITS["desc"])
    return title


def _fields(card: Card) -> tuple[list[dict[str, Any]], list[str]]:
    """First six fields as key/value rows; the rest become plain lines in the sub-title."""
    rows = [
        {"type": 0, "keyname": clip_bytes(f.label, LIMITS["keyname"]),
         "value": clip_at_boundary(f.value or "—", LIMITS["value"])}
        for f in card.fields[:MAX_HORIZONTAL]
    ]
    overflow = [f"{f.label}：{f.value}" for f in card.fields[MAX_HORIZONTAL:]]
    return rows, overflow


def _sub_title_text(card: Card, overflow: list[str]) -> str:
    return _split_sub_title(card, overflow)[0]


def card_overflow(card: Card) -> str:
    """The lines of the card's text that did not fit on the card, whole, for the channel to
    send right after it as text ("" when everything fits)."""
    return _split_sub_title(card, _fields(card)[1])[1]


def _split_sub_title(card: Card, overflow: list[str]) -> tuple[str, str]:
    """(what the card shows, the rest): whole lines only, since a digest item cut in the
    middle of a company name reads wrong; the card says how many lines follow."""
    parts = list(overflow)
    if card.text:
        parts.append(strip_markdown(card.text).strip())
    if card.footer:
        parts.append(strip_markdown(card.footer).strip())
    text = "\n".join(p for p in parts if p)
    limit = LIMITS["sub_title_text"]
    if len(text.encode()) <= limit:
        return text, ""
    lines = text.split("\n")
    for keep in range(len(lines) - 1, 0, -1):
        head = "\n".join(lines[:keep]).rstrip()
        shown = f"{head}\n…（另有 {len(lines) - keep} 行，见下一条消息）"
        if len(shown.encode()) <= limit:
            return shown, "\n".join(lines[keep:])
    return clip_lines(text, limit), ""


def _button(card: Card, button: Any) -> dict[str, Any]:
    # confirm prompts have no WeCom equivalent; the tap goes straight to the callback
    return {
        "type": 0,
        "text": clip_bytes(button.text, LIMITS["button"]),
        "style": BUTTON_STYLE[button.style],
        "key": button.token(card.card_id),
    }
