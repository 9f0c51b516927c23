"""WeCom (企业微信) in the sandbox: the part of qyapi.weixin.qq.com crm-bot calls.

`gettoken`, `message/send` (text / markdown / template_card / image of an uploaded media_id;
interactive cards get a single-use `response_code`; the duplicate check: an identical message
within the interval is accepted but not delivered twice), `update_template_card`,
`media/upload` (type=image), `media/get` and the group-robot `webhook/send`, with WeCom's
errcodes (HTTP 200 + errcode, as the real API answers).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from sandbox import images
from sandbox.server import ApiRequest, ApiResponse, PlatformApi, Route, json_response
from sandbox.state import SandboxState, TokenStatus

PLATFORM = "wecom"
RESPONSE_CODE = "wecom_response_code"
RESPONSE_CODE_TTL = 72 * 3600            # valid 72 h, usable once
TEXT_LIMIT = 2048                        # bytes, app text / markdown
WEBHOOK_MARKDOWN_LIMIT = 4096
CARD_TYPES = {"text_notice", "news_notice", "button_interaction", "vote_interaction",
              "multiple_interaction"}
UPDATABLE = {"button_interaction", "vote_interaction", "multiple_interaction"}
TASK_ID_RE = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
APP_MSGTYPES = {"text", "markdown", "template_card", "textcard", "news", "image", "file", "voice"}
WEBHOOK_MSGTYPES = {"text", "markdown", "markdown_v2", "template_card", "news", "image", "file"}
# [verify] WeCom publishes no dedicated code for a bad response_code; 40058 is its "bad parameter".
BAD_PARAM = 40058
DUPLICATE_CHECK_DEFAULT, DUPLICATE_CHECK_MAX = 1800.0, 4 * 3600


def _err(code: int, msg: str) -> ApiResponse:
    return json_response({"errcode": code, "errmsg": msg})


def _ok(extra: dict[str, Any] | None = None, recipient: str = "", record: bool = True) -> ApiResponse:
    return json_response({"errcode": 0, "errmsg": "ok", **(extra or {})}, recipient=recipient, record=record)


def _auth(state: SandboxState, req: ApiRequest) -> ApiResponse | None:
    status = state.check_token(PLATFORM, req.query.get("access_token"))
    return {
        TokenStatus.OK: None,
        TokenStatus.MISSING: _err(41001, "access_token missing"),
        TokenStatus.INVALID: _err(40014, "invalid access_token"),
        TokenStatus.EXPIRED: _err(42001, "access_token expired"),
    }[status]


def gettoken(state: SandboxState, req: ApiRequest) -> ApiResponse:
    creds = state.creds
    if not creds.wecom_corp_id or req.query.get("corpid") != creds.wecom_corp_id:
        return _err(40013, "invalid corpid")
    if not creds.wecom_secret or not hmac.compare_digest(
            req.query.get("corpsecret", "").encode(), creds.wecom_secret.encode()):
        return _err(40001, "invalid credential: corpsecret is wrong")
    token, ttl = state.issue_token(PLATFORM)
    return _ok({"access_token": token, "expires_in": ttl})


def _body_or_error(state: SandboxState, req: ApiRequest) -> dict[str, Any] | ApiResponse:
    """The authenticated request's JSON body, or the error WeCom answers instead."""
    denied = _auth(state, req)
    if denied:
        return denied
    body = req.json_object()
    if body is None:
        return _err(47001, "data format error: body is not a JSON object")
    agent = state.creds.wecom_agent_id
    if agent is not None and str(body.get("agentid", "")) != str(agent):
        return _err(40056, f"invalid agentid {body.get('agentid')!r}")
    return body


def _content_error(msgtype: str, body: dict[str, Any], markdown_limit: int) -> ApiResponse | None:
    if msgtype not in ("text", "markdown", "markdown_v2"):
        return None
    content = (body.get(msgtype) or {}).get("content")
    if not isinstance(content, str) or not content:
        return _err(44004, "empty content")
    limit = TEXT_LIMIT if msgtype == "text" else markdown_limit
    if len(content.encode()) > limit:
        return _err(45002, f"content exceeds {limit} bytes")
    return None


def card_error(card: Any, allowed: set[str]) -> str | None:
    """What is wrong with a template_card, or None."""
    if not isinstance(card, dict) or card.get("card_type") not in allowed:
        return f"card_type must be one of {sorted(allowed)}"
    ctype = card["card_type"]
    if not (card.get("main_title") or {}).get("title") and not card.get("sub_title_text"):
        return "main_title.title or sub_title_text is required"
    if ctype in UPDATABLE and not TASK_ID_RE.match(str(card.get("task_id", ""))):
        return "task_id is required: 1-128 chars of [0-9A-Za-z_-@]"
    if ctype == "text_notice" and (card.get("card_action") or {}).get("type") not in (1, 2):
        return "text_notice needs card_action of type 1 (url) or 2 (mini program)"
    for key, most in (("horizontal_content_list", 6), ("jump_list", 3)):   # documented list caps
        if len(card.get(key) or []) > most:
            return f"{key} takes at most {most} items"
    if ctype == "button_interaction":
        buttons = card.get("button_list")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
            return "button_list needs 1-6 buttons"
        keys = [b.get("key") for b in buttons if isinstance(b, dict) and b.get("type", 0) != 1]
        if any(not isinstance(k, str) or not k or len(k.encode()) > 1024 for k in keys):
            return "every button needs a key of 1-1024 bytes"
        if len(set(keys)) != len(keys):
            return "button keys must be unique"
    return None


def message_send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body = _body_or_error(state, req)
    if isinstance(body, ApiResponse):
        return body
    touser = str(body.get("touser") or "")
    if not (touser or body.get("toparty") or body.get("totag")):
        return _err(40058, "touser, toparty and totag are all empty")
    msgtype = str(body.get("msgtype", ""))
    if msgtype not in APP_MSGTYPES:
        return _err(40008, f"invalid message type {msgtype!r}")
    error = _content_error(msgtype, body, TEXT_LIMIT) or _image_error(state, msgtype, body)
    card = body.get("template_card")
    if error is None and msgtype == "template_card" and (problem := card_error(card, CARD_TYPES)):
        error = _err(BAD_PARAM, f"invalid template_card: {problem}")
    if error:
        return error

    def deliver() -> dict[str, Any]:
        if _task_id_taken(state, card):
            raise _TaskIdTaken
        msgid = secrets.token_urlsafe(24)
        extra: dict[str, Any] = {"invaliduser": "", "invalidparty": "", "invalidtag": "",
                                 "unlicenseduser": "", "msgid": msgid}
        info: dict[str, Any] = {"recipient": touser, "msgtype": msgtype, "card": card, "disabled": False}
        if msgtype == "template_card" and isinstance(card, dict):    # card_error has checked it
            if card["card_type"] in UPDATABLE:
                extra["response_code"] = info["response_code"] = _issue_response_code(state, msgid)
            if card.get("task_id"):
                state.index_card(PLATFORM, str(card["task_id"]), msgid)
                state.put_object(TASK_IDS, str(card["task_id"]), {"msgid": msgid})
            for key in _button_keys(card):       # our card id, whatever the send's task_id
                state.index_card(PLATFORM, key.split("~")[1], msgid)
        state.put_object(PLATFORM, msgid, info)
        return extra

    # Duplicate check: with enable_duplicate_check 1, a message identical (recipient, type and
    # content) to one delivered within its duplicate_check_interval (default 1800 s, at most
    # 4 h) is accepted but not delivered again. [verify] WeCom does not say whether messages
    # sent without the flag count; here every delivered message does.
    key = "dup:" + _fingerprint(touser, msgtype, body)
    try:
        if str(body.get("enable_duplicate_check", 0)) == "1":
            interval = _check_interval(body.get("duplicate_check_interval"))
            if isinstance(interval, ApiResponse):
                return interval
            extra, repeated = state.once(PLATFORM, key, interval, deliver)
            return _ok(extra, recipient=touser, record=not repeated)
        extra = deliver()
    except _TaskIdTaken:
        task_id = card.get("task_id") if isinstance(card, dict) else None
        return _err(BAD_PARAM, f"invalid template_card: task_id {task_id!r} already used by this app")
    state.remember(PLATFORM, key, extra)
    return _ok(extra, recipient=touser)


class _TaskIdTaken(Exception):
    """WeCom: "task_id … 同一个应用任务id不能重复" (no dedicated error code is published;
    the sandbox answers its bad-parameter code). A message deduplicated by the duplicate check
    is not delivered again, so it does not count as a repeat."""


TASK_IDS = "wecom_task_id"


def _task_id_taken(state: SandboxState, card: Any) -> bool:
    return isinstance(card, dict) and bool(card.get("task_id")) and \
        state.get_object(TASK_IDS, str(card["task_id"])) is not None


def _button_keys(card: dict[str, Any]) -> list[str]:
    return [str(b["key"]) for b in card.get("button_list") or []
            if isinstance(b, dict) and str(b.get("key", "")).count("~") == 2]


def _fingerprint(touser: str, msgtype: str, body: dict[str, Any]) -> str:
    content = json.dumps(body.get(msgtype), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(f"{touser}\n{msgtype}\n{content}".encode()).hexdigest()


def _check_interval(value: Any) -> float | ApiResponse:
    if value in (None, ""):
        return DUPLICATE_CHECK_DEFAULT
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return _err(BAD_PARAM, f"invalid duplicate_check_interval {value!r}")
    if not 0 < seconds <= DUPLICATE_CHECK_MAX:
        return _err(BAD_PARAM, f"duplicate_check_interval must be 1-{DUPLICATE_CHECK_MAX} seconds")
    return float(seconds)


def _issue_response_code(state: SandboxState, msgid: str) -> str:
    return state.issue_code(RESPONSE_CODE, ttl=RESPONSE_CODE_TTL, uses=1, data={"msgid": msgid})


def response_code_for_tap(state: SandboxState, msgid: str) -> str:
    """The ResponseCode a click callback carries: the send's code while unused, else a new one
    (WeCom issues a fresh single-use code with every click)."""
    obj = state.get_object(PLATFORM, msgid) or {}
    code = obj.get("response_code")
    if code and state.peek_code(RESPONSE_CODE, code) is not None:
        return code
    code = _issue_response_code(state, msgid)
    state.update_object(PLATFORM, msgid, response_code=code)
    return code


def update_template_card(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body = _body_or_error(state, req)
    if isinstance(body, ApiResponse):
        return body
    card, button = body.get("template_card"), body.get("button")
    if not isinstance(button, dict) and not isinstance(card, dict):
        return _err(BAD_PARAM, "either button or template_card is required")
    if isinstance(card, dict) and (problem := card_error(card, CARD_TYPES)):
        return _err(BAD_PARAM, f"invalid template_card: {problem}")
    if isinstance(button, dict) and not button.get("replace_name"):
        return _err(BAD_PARAM, "button.replace_name is required")
    code = state.consume_code(RESPONSE_CODE, str(body.get("response_code") or ""))
    if code is None:
        return _err(BAD_PARAM, "invalid response_code: unknown, expired or already used")
    msgid = code["msgid"]
    obj = state.get_object(PLATFORM, msgid) or {}
    disabled = isinstance(button, dict) or bool((card or {}).get("replace_text"))
    state.update_object(PLATFORM, msgid, card=card if isinstance(card, dict) else obj.get("card"),
                        disabled=disabled, replace_name=(button or {}).get("replace_name"))
    userids = body.get("userids") or []
    recipient = "|".join(userids) if isinstance(userids, list) and userids else obj.get("recipient", "")
    return _ok({"invaliduser": []}, recipient=recipient)


MEDIA_EXT = {"audio/amr": "amr", "audio/ogg": "ogg", "audio/wav": "wav", "audio/mpeg": "mp3",
             "image/png": "png", "image/jpeg": "jpg"}


IMAGE_LIMIT = 10 * 1024 * 1024           # type=image: JPG/PNG, more than 5 bytes, at most 10 MB
MEDIA_TYPES = {"image", "voice", "video", "file"}


def media_upload(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """POST /cgi-bin/media/upload?access_token&type=image: multipart, field "media" with a
    filename -> media_id (temporary media, 3 days). Only images are taken here."""
    denied = _auth(state, req)
    if denied:
        return denied
    kind = req.query.get("type", "")
    if kind not in MEDIA_TYPES:
        return _err(40004, f"invalid media type {kind!r}")
    if kind != "image":
        return _err(40004, f"the sandbox takes type=image uploads only, not {kind!r}")
    form = images.multipart(req)
    if isinstance(form, str):
        return _err(41005, f"media data missing: {form}")
    problem = images.image_problem(form.get("media"), IMAGE_LIMIT)
    if problem:
        return _err(40009 if "bytes" in problem else 40113 if "image" in problem else 41005,
                    f"invalid image: {problem}")
    media_id = images.issue(state, PLATFORM, form["media"], "3")
    return _ok({"type": "image", "media_id": media_id, "created_at": str(int(state.now()))})


def _image_error(state: SandboxState, msgtype: str, body: dict[str, Any]) -> ApiResponse | None:
    """An image message must carry a media_id this app uploaded (40007 otherwise)."""
    if msgtype != "image":
        return None
    media_id = (body.get("image") or {}).get("media_id") if isinstance(body.get("image"), dict) else None
    return None if images.issued(state, PLATFORM, media_id) else _err(40007, "invalid media_id")


def media_get(state: SandboxState, req: ApiRequest) -> ApiResponse:
    denied = _auth(state, req)
    if denied:
        return denied
    media_id = req.query.get("media_id", "")
    media = state.get_media(PLATFORM, media_id)
    if media is None:
        return _err(40007, "invalid media_id")
    ext = MEDIA_EXT.get(media.content_type, "bin")
    return ApiResponse(raw=media.data, content_type=media.content_type,
                       headers={"Content-disposition": f'attachment; filename="{media_id}.{ext}"'})


def webhook_send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    team = state.creds.wecom_webhooks.get(req.query.get("key", ""))
    if team is None:
        return _err(93000, "invalid webhook url: unknown key")
    body = req.json_object()
    if body is None:
        return _err(47001, "data format error: body is not a JSON object")
    msgtype = str(body.get("msgtype", ""))
    if msgtype not in WEBHOOK_MSGTYPES:
        return _err(40008, f"invalid message type {msgtype!r}")
    error = _content_error(msgtype, body, WEBHOOK_MARKDOWN_LIMIT)
    if error is None and msgtype == "template_card":
        problem = card_error(body.get("template_card"), {"text_notice", "news_notice"})
        error = _err(BAD_PARAM, f"invalid template_card: {problem}") if problem else None
    return error or _ok(recipient=team)


def failure(mode: str, api: str) -> ApiResponse:
    """What an injected failure looks like on WeCom."""
    if mode == "5xx":
        return json_response({"errcode": -1, "errmsg": "system busy (sandbox 5xx)"}, 503)
    if mode == "token_expired":
        return _err(42001, "access_token expired")
    if mode == "rate_limit":
        return _err(45009, "api freq out of limit")
    code = mode.partition(":")[2]
    return _err(int(code) if code.lstrip("-").isdigit() else -1, f"sandbox injected error {code}")


def _route(method: str, path: str, api: str, handler: Any, recorded: bool = False) -> Route:
    return Route(method, re.compile(path), api, handler, recorded)


API = PlatformApi(prefix="wecom", platform=PLATFORM, failure=failure, routes=(
    _route("GET", r"/cgi-bin/gettoken", "gettoken", gettoken),
    _route("POST", r"/cgi-bin/message/send", "message/send", message_send, True),
    _route("POST", r"/cgi-bin/message/update_template_card", "update_template_card",
           update_template_card, True),
    _route("GET", r"/cgi-bin/media/get", "media/get", media_get),
    _route("POST", r"/cgi-bin/media/upload", "media/upload", media_upload),
    _route("POST", r"/cgi-bin/webhook/send", "webhook", webhook_send, True),
))
