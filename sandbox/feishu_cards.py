"""Feishu card JSON as strictly as Feishu takes it. Schema 2.0 cards reject properties they do not
know ("2.0 … rejects unknown properties with an error instead of ignoring them"; what the API
answers: HTTP 400, code 230099 "Failed to create card content, ext=ErrCode: 200621; ErrMsg:
parse card json err … unknown property: X, path: [...]"), and 2.0 has no `action` module and no
`note` component any more. A card is at most 30 KB (230025). Card 1.0 ignores unknown
properties, so only its size and shape are checked.

The property lists below are those of the documented card JSON 2.0 components crm-bot's
renderer uses (plus their documented siblings); a tag outside them is refused as unknown."""
from __future__ import annotations

import json
from typing import Any

CARD_LIMIT = 30 * 1024
CARD_CONTENT_FAILED = 230099          # "Failed to create card content"
CONTENT_TOO_LONG = 230025
PARSE_ERROR = 200621                  # the ext ErrCode of "parse card json err"

_TEXT = {"tag", "content", "i18n_content", "text_size", "text_color", "text_align", "lines"}
_MARGIN = {"tag", "element_id", "margin"}
# property sets per object kind; None = a free-form object (a callback value)
SCHEMA_2: dict[str, set[str] | None] = {
    "card": {"schema", "config", "card_link", "header", "body"},
    "config": {"update_multi", "enable_forward", "enable_forward_interaction", "streaming_mode",
               "streaming_config", "summary", "locales", "width_mode", "use_custom_translation", "style"},
    "summary": {"content", "i18n_content"},
    "card_link": {"url", "android_url", "ios_url", "pc_url"},
    "header": {"title", "subtitle", "text_tag_list", "i18n_text_tag_list", "template", "icon", "padding"},
    "text": _TEXT,
    "body": {"direction", "padding", "horizontal_spacing", "vertical_spacing", "horizontal_align",
             "vertical_align", "elements"},
    "div": _MARGIN | {"width", "text", "icon"},
    "markdown": _MARGIN | {"content", "i18n_content", "text_size", "text_align", "icon"},
    "hr": _MARGIN,
    "img": _MARGIN | {"img_key", "alt", "title", "transparent", "preview", "corner_radius", "scale_type",
                      "size", "mode", "compact_width", "custom_width"},
    "column_set": _MARGIN | {"horizontal_spacing", "horizontal_align", "flex_mode", "background_style",
                             "columns", "action"},
    "column": _MARGIN | {"background_style", "width", "weight", "vertical_align", "vertical_spacing",
                         "horizontal_align", "horizontal_spacing", "direction", "padding", "elements", "action"},
    "button": _MARGIN | {"type", "size", "width", "text", "icon", "hover_tips", "disabled", "disabled_tips",
                         "confirm", "behaviors", "name", "form_action_type"},
    "confirm": {"title", "text"},
    "behavior": {"type", "value", "default_url", "android_url", "ios_url", "pc_url"},
}
ELEMENT_TAGS = {"div", "markdown", "hr", "img", "column_set", "button"}
TEXT_TAGS = {"plain_text", "lark_md"}
BEHAVIOR_TYPES = {"callback", "open_url"}


def card_problem(card: Any, *, where: str = "content") -> tuple[int, str] | None:
    """(code, message) Feishu answers for this card JSON (None: it takes it)."""
    if not isinstance(card, dict):
        return CARD_CONTENT_FAILED, "card must be a JSON object"
    if card.get("type") in ("template", "card") and "data" in card:     # a template / CardKit reference
        return None
    size = len(json.dumps(card, ensure_ascii=False).encode())
    if size > CARD_LIMIT:
        return CONTENT_TOO_LONG, f"card is {size} bytes, over the {CARD_LIMIT} byte limit"
    if str(card.get("schema", "")) != "2.0":
        if not isinstance(card.get("elements", []), list):
            return CARD_CONTENT_FAILED, _parse_error("elements must be a list", ["elements"])
        return None
    problem = _check_card(card)
    return (CARD_CONTENT_FAILED, problem) if problem else None


def _parse_error(what: str, path: list[str]) -> str:
    return (f"Failed to create card content, ext=ErrCode: {PARSE_ERROR}; ErrMsg: parse card json err, "
            f"{what}, path: [{', '.join(path)}]")


def _unknown(obj: dict[str, Any], kind: str, path: list[str]) -> str | None:
    allowed = SCHEMA_2[kind]
    extra = sorted(set(obj) - allowed) if allowed is not None else []
    return _parse_error(f"unknown property: {extra[0]}", path) if extra else None


def _check_card(card: dict[str, Any]) -> str | None:
    checks: list[str | None] = [_unknown(card, "card", [])]
    config = card.get("config") or {}
    if not isinstance(config, dict):
        return _parse_error("config must be an object", ["config"])
    checks.append(_unknown(config, "config", ["config"]))
    if config.get("update_multi", True) is not True:
        checks.append(_parse_error("schema 2.0 cards are shared: update_multi must be true", ["config"]))
    if isinstance(config.get("summary"), dict):
        checks.append(_unknown(config["summary"], "summary", ["config", "summary"]))
    if isinstance(card.get("card_link"), dict):
        checks.append(_unknown(card["card_link"], "card_link", ["card_link"]))
    header = card.get("header")
    if header is not None:
        if not isinstance(header, dict):
            return _parse_error("header must be an object", ["header"])
        checks.append(_unknown(header, "header", ["header"]))
        for key in ("title", "subtitle"):
            if key in header:
                checks.append(_text(header[key], ["header", key]))
    body = card.get("body") or {}
    if not isinstance(body, dict):
        return _parse_error("body must be an object", ["body"])
    checks.append(_unknown(body, "body", ["body"]))
    checks.append(_elements(body.get("elements", []), ["body", "elements"]))
    return next((c for c in checks if c), None)


def _text(node: Any, path: list[str]) -> str | None:
    if not isinstance(node, dict) or node.get("tag") not in TEXT_TAGS:
        return _parse_error("a text needs tag plain_text or lark_md", path)
    return _unknown(node, "text", path)


def _elements(elements: Any, path: list[str]) -> str | None:
    if not isinstance(elements, list):
        return _parse_error("elements must be a list", path)
    for i, element in enumerate(elements):
        problem = _element(element, [*path, str(i)])
        if problem:
            return problem
    return None


def _element(node: Any, path: list[str]) -> str | None:
    if not isinstance(node, dict):
        return _parse_error("an element must be an object", path)
    tag = node.get("tag")
    if tag not in ELEMENT_TAGS:   # 2.0 dropped `action` and `note`; others are not modelled here
        return _parse_error(f"unknown tag: {tag}", path)
    problem = _unknown(node, str(tag), path)
    if problem:
        return problem
    if tag == "div" and "text" in node:
        return _text(node["text"], [*path, "text"])
    if tag == "column_set":
        for i, column in enumerate(node.get("columns") or []):
            where = [*path, "columns", str(i)]
            if not isinstance(column, dict) or column.get("tag") != "column":
                return _parse_error("columns hold column objects", where)
            problem = _unknown(column, "column", where) or _elements(column.get("elements", []), [*where, "elements"])
            if problem:
                return problem
    if tag == "button":
        return _button(node, path)
    return None


def _button(node: dict[str, Any], path: list[str]) -> str | None:
    checks = [_text(node.get("text"), [*path, "text"])]
    if "disabled_tips" in node:
        checks.append(_text(node["disabled_tips"], [*path, "disabled_tips"]))
    confirm = node.get("confirm")
    if confirm is not None:
        checks.append(_unknown(confirm, "confirm", [*path, "confirm"]) if isinstance(confirm, dict)
                      else _parse_error("confirm must be an object", [*path, "confirm"]))
        if isinstance(confirm, dict):
            checks += [_text(confirm.get(k), [*path, "confirm", k]) for k in ("title", "text")]
    for i, behavior in enumerate(node.get("behaviors") or []):
        where = [*path, "behaviors", str(i)]
        if not isinstance(behavior, dict) or behavior.get("type") not in BEHAVIOR_TYPES:
            checks.append(_parse_error("a behavior needs type callback or open_url", where))
        else:
            checks.append(_unknown(behavior, "behavior", where))
    return next((c for c in checks if c), None)
