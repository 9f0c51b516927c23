"""Feishu/Lark (飞书) in the sandbox: the part of open.feishu.cn crm-bot calls.

tenant_access_token, image upload (`im/v1/images`: the image_keys cards and image messages must
hold), IM send / reply / PATCH (with `uuid` idempotency for one hour), the
delayed card update (`interactive/v1/card/update`, token from a card callback: 30 min, 2 uses),
resource download, and the custom-bot webhook with its timestamp+sign check. Errors are
`{"code","msg"}`; token errors HTTP 400 + 99991663, rate limits HTTP 429 + 99991400.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from bot.platforms.feishu.crypto import custom_bot_sign
from sandbox import images
from sandbox.cardjson import card_ids
from sandbox.feishu_cards import card_problem
from sandbox.server import ApiRequest, ApiResponse, PlatformApi, Route, json_response
from sandbox.state import SandboxState, TokenStatus, new_id

PLATFORM = "feishu"
CARD_TOKEN = "feishu_card_token"
CARD_TOKEN_TTL, CARD_TOKEN_USES = 1800, 2
UUID_WINDOW = 3600
RECEIVE_ID_TYPES = {"open_id", "user_id", "union_id", "email", "chat_id"}
MSG_TYPES = {"text", "post", "image", "file", "audio", "media", "sticker", "interactive",
             "share_chat", "share_user"}
TEXT_LIMIT, CARD_LIMIT = 150 * 1024, 30 * 1024
HOOK_WINDOW = 3600
# [verify] the three codes below are plausible stand-ins; Feishu documents no exact value.
MESSAGE_NOT_FOUND = 230011
CARD_TOKEN_INVALID = 300110
FILE_NOT_IN_MESSAGE = 234003


def _err(status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> ApiResponse:
    return json_response({"code": code, "msg": msg}, status, headers=headers or {})


def _ok(data: dict[str, Any] | None = None, recipient: str = "", **kw: Any) -> ApiResponse:
    return json_response({"code": 0, "msg": "success", "data": data or {}}, recipient=recipient, **kw)


def _auth(state: SandboxState, req: ApiRequest) -> ApiResponse | None:
    scheme, _, token = req.header("authorization").partition(" ")
    if scheme != "Bearer" or not token:
        return _err(400, 99991661, "Missing access token for authorization")
    if state.check_token(PLATFORM, token) is not TokenStatus.OK:
        return _err(400, 99991663, "Invalid access token for authorization")
    return None


def p2p_chat_id(user_id: str) -> str:
    """The stable one-to-one chat id between the bot and a user."""
    return "oc_" + hashlib.sha256(f"p2p:{user_id}".encode()).hexdigest()[:32]


def tenant_token(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body = req.json_object() or {}
    app_id, secret = body.get("app_id"), body.get("app_secret")
    if not isinstance(app_id, str) or not isinstance(secret, str) or not app_id or not secret:
        return json_response({"code": 10003, "msg": "invalid param"})
    creds = state.creds
    if app_id != creds.feishu_app_id or not creds.feishu_app_id:
        return json_response({"code": 10014, "msg": "app id not exists"})
    if not hmac.compare_digest(secret.encode(), creds.feishu_app_secret.encode()):
        return json_response({"code": 10014, "msg": "app secret invalid"})
    token, ttl = state.issue_token(PLATFORM, prefix="t-")
    return json_response({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": ttl})


def _content_error(state: SandboxState, body: dict[str, Any]) -> ApiResponse | None:
    msg_type, content = body.get("msg_type"), body.get("content")
    if msg_type not in MSG_TYPES:
        return _err(400, 230001, f"invalid msg_type {msg_type!r}")
    if not isinstance(content, str):
        return _err(400, 230001, "content must be a JSON string")
    try:
        parsed = json.loads(content)
    except ValueError:
        return _err(400, 230001, "content is not valid JSON")
    if not isinstance(parsed, dict):
        return _err(400, 230001, "content must hold a JSON object")
    limit = TEXT_LIMIT if msg_type in ("text", "post") else CARD_LIMIT
    if len(content.encode()) > limit:
        return _err(400, 230025, f"message content exceeds {limit} bytes")
    if msg_type == "interactive" and (problem := card_problem(parsed)):      # schema 2.0: strict
        return _err(400, *problem)
    if (problem := _image_keys_problem(state, msg_type, parsed)):
        return _err(400, *problem)
    if len(str(body.get("uuid") or "")) > 50:
        return _err(400, 99992402, "field validation failed: uuid is longer than 50 characters")
    return None


IMAGE_LIMIT = 10 * 1024 * 1024          # im/v1/images: ≤ 10 MB
IMAGE_TYPES = {"message", "avatar"}
IMAGE_NOT_FOUND = 234009                # [verify] no published code for an unknown image_key


def upload_image(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """POST /open-apis/im/v1/images: multipart `image_type` (message | avatar) and `image`
    -> image_key, which `img` elements of cards and image messages take."""
    denied = _auth(state, req)
    if denied:
        return denied
    form = images.multipart(req)
    if isinstance(form, str):
        return _err(400, 99992402, f"field validation failed: {form}")
    kind = form["image_type"].data.decode("utf-8", "replace") if "image_type" in form else ""
    if kind not in IMAGE_TYPES:
        return _err(400, 99992402, f"field validation failed: image_type {kind!r}")
    problem = images.image_problem(form.get("image"), IMAGE_LIMIT,
                                   ("image/png", "image/jpeg", "image/gif", "image/bmp"))
    if problem:
        return _err(400, 234006 if "bytes" in problem else 234011, f"invalid image: {problem}")
    return _ok({"image_key": images.issue(state, PLATFORM, form["image"], "img_v3_")})


def _image_keys_problem(state: SandboxState, msg_type: Any, content: dict[str, Any]) -> tuple[int, str] | None:
    """Every image_key a message or card shows must be one this app uploaded."""
    if msg_type == "image":
        keys = [content.get("image_key")]
    elif msg_type == "interactive":
        keys = [n.get("img_key") for n in _walk(content) if n.get("tag") == "img"]
    else:
        return None
    bad = [k for k in keys if not images.issued(state, PLATFORM, k)]
    return (IMAGE_NOT_FOUND, f"image_key {bad[0]!r} not found: upload it with im/v1/images first") if bad else None


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(d for v in node.values() for d in _walk(v))]
    if isinstance(node, list):
        return [d for v in node for d in _walk(v)]
    return []


def _deliver(state: SandboxState, body: dict[str, Any], recipient: str, chat_id: str,
             parent_id: str = "") -> ApiResponse:
    """Create the message once per uuid (1 h); a repeated uuid returns the first message."""
    def create() -> dict[str, Any]:
        message_id = new_id("om_", 16)
        content = json.loads(body["content"])
        state.put_object(PLATFORM, message_id, {
            "recipient": recipient, "chat_id": chat_id, "msg_type": body["msg_type"],
            "card": content if body["msg_type"] == "interactive" else None})
        for card_id in card_ids("feishu", content) if body["msg_type"] == "interactive" else ():
            state.index_card(PLATFORM, card_id, message_id)
        now_ms = str(int(state.now() * 1000))
        return {"message_id": message_id, "root_id": parent_id, "parent_id": parent_id,
                "msg_type": body["msg_type"], "create_time": now_ms, "update_time": now_ms,
                "deleted": False, "updated": False, "chat_id": chat_id,
                "sender": {"id": state.creds.feishu_app_id, "id_type": "app_id",
                           "sender_type": "app", "tenant_key": "sandbox-tenant"},
                "body": {"content": body["content"]}}
    uuid = str(body.get("uuid") or "")
    if not uuid:
        return _ok(create(), recipient)
    data, repeated = state.once(PLATFORM, f"uuid:{uuid}", UUID_WINDOW, create)
    return _ok(data, recipient, record=not repeated)


def send_message(state: SandboxState, req: ApiRequest) -> ApiResponse:
    denied = _auth(state, req)
    if denied:
        return denied
    id_type = req.query.get("receive_id_type", "")
    if id_type not in RECEIVE_ID_TYPES:
        return _err(400, 99992402, f"field validation failed: receive_id_type {id_type!r}")
    body = req.json_object()
    if body is None or not body.get("receive_id"):
        return _err(400, 99992402, "field validation failed: receive_id is required")
    error = _content_error(state, body)
    if error:
        return error
    receive_id = str(body["receive_id"])
    chat_id = receive_id if id_type == "chat_id" else p2p_chat_id(receive_id)
    return _deliver(state, body, receive_id, chat_id)


def reply_message(state: SandboxState, req: ApiRequest) -> ApiResponse:
    denied = _auth(state, req)
    if denied:
        return denied
    parent = state.get_object(PLATFORM, req.params["message_id"])
    if parent is None:
        return _err(400, MESSAGE_NOT_FOUND, "message not found")
    body = req.json_object()
    if body is None:
        return _err(400, 99992402, "body is not a JSON object")
    error = _content_error(state, body)
    if error:
        return error
    return _deliver(state, body, parent["recipient"], parent["chat_id"], req.params["message_id"])


def patch_message(state: SandboxState, req: ApiRequest) -> ApiResponse:
    denied = _auth(state, req)
    if denied:
        return denied
    obj = state.get_object(PLATFORM, req.params["message_id"])
    if obj is None or obj.get("msg_type") != "interactive":
        return _err(400, MESSAGE_NOT_FOUND, "no card message with this id")
    body = req.json_object() or {}
    error = _content_error(state, {"msg_type": "interactive", "content": body.get("content")})
    if error:
        return error
    state.update_object(PLATFORM, req.params["message_id"], card=json.loads(body["content"]))
    return _ok(recipient=obj["recipient"])


def issue_card_token(state: SandboxState, message_id: str, operator: str) -> str:
    """The delayed-update token a card.action.trigger callback carries (sandbox client)."""
    return state.issue_code(CARD_TOKEN, ttl=CARD_TOKEN_TTL, uses=CARD_TOKEN_USES,
                            data={"message_id": message_id, "operator": operator}, prefix="c-")


def card_update(state: SandboxState, req: ApiRequest) -> ApiResponse:
    denied = _auth(state, req)
    if denied:
        return denied
    body = req.json_object() or {}
    if not isinstance(body.get("card"), dict):
        return _err(400, 99992402, "field validation failed: card must be an object")
    if problem := card_problem(body["card"]) or _image_keys_problem(state, "interactive", body["card"]):
        return _err(400, *problem)
    token = state.consume_code(CARD_TOKEN, str(body.get("token") or ""))
    if token is None:
        return _err(400, CARD_TOKEN_INVALID, "card update token is invalid, expired or used twice")
    state.update_object(PLATFORM, token["message_id"], card=body["card"])
    return json_response({"code": 0, "msg": "success"}, recipient=token["operator"])


def resource(state: SandboxState, req: ApiRequest) -> ApiResponse:
    denied = _auth(state, req)
    if denied:
        return denied
    if req.query.get("type") not in ("file", "image"):
        return _err(400, 234001, "invalid request param: type must be file or image")
    media = state.get_media(PLATFORM, req.params["file_key"])
    if media is None or media.message_id not in (None, req.params["message_id"]):
        return _err(400, FILE_NOT_IN_MESSAGE, "file not in message")
    return ApiResponse(raw=media.data, content_type=media.content_type)


def hook(state: SandboxState, req: ApiRequest) -> ApiResponse:
    token = req.params["token"]
    if token not in state.creds.feishu_hooks:
        return json_response({"code": 19001, "data": {},
                              "msg": "param invalid: incoming webhook access token invalid"})
    body = req.json_object()
    if body is None:
        return json_response({"code": 9499, "data": {}, "msg": "Bad Request"}, 400)
    secret = state.creds.feishu_hooks[token]
    if secret:
        ts = str(body.get("timestamp", ""))
        fresh = ts.isdigit() and abs(state.now() - int(ts)) <= HOOK_WINDOW
        if not fresh or not hmac.compare_digest(custom_bot_sign(secret, ts).encode(),
                                                str(body.get("sign", "")).encode()):
            return json_response({"code": 19021, "data": {}, "msg":
                                  "sign match fail or timestamp is not within one hour from current time"})
    if body.get("msg_type") not in MSG_TYPES or not (body.get("content") or body.get("card")):
        return json_response({"code": 9499, "data": {}, "msg": "Bad Request: msg_type/content"}, 400)
    return json_response({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {},
                          "msg": "success"}, recipient=token)


def failure(mode: str, api: str) -> ApiResponse:
    code = mode.partition(":")[2]
    if mode == "5xx":
        return _err(503, -1, "service unavailable (sandbox 5xx)")
    if mode == "token_expired":
        return _err(400, 99991663, "Invalid access token for authorization")
    if mode == "rate_limit":
        if api == "webhook":   # custom bots: 100/min, 5/s
            return json_response({"code": 11232, "data": {}, "msg": "frequency limited"})
        return _err(429, 99991400, "request trigger frequency limit",
                    {"x-ogw-ratelimit-limit": "50", "x-ogw-ratelimit-reset": "1"})
    return _err(400, int(code) if code.lstrip("-").isdigit() else -1, f"sandbox injected error {code}")


def _route(method: str, path: str, api: str, handler: Any, recorded: bool = False) -> Route:
    return Route(method, re.compile(path), api, handler, recorded)


_MSG = r"/open-apis/im/v1/messages/(?P<message_id>[^/]+)"
API = PlatformApi(prefix="feishu", platform=PLATFORM, failure=failure, routes=(
    _route("POST", r"/open-apis/auth/v3/tenant_access_token/internal", "tenant_access_token",
           tenant_token),
    _route("POST", r"/open-apis/im/v1/messages", "im/messages", send_message, True),
    _route("POST", r"/open-apis/im/v1/images", "im/images", upload_image),
    _route("POST", _MSG + r"/reply", "im/reply", reply_message, True),
    _route("PATCH", _MSG, "im/patch", patch_message, True),
    _route("POST", r"/open-apis/interactive/v1/card/update", "card/update", card_update, True),
    _route("GET", _MSG + r"/resources/(?P<file_key>[^/]+)", "resources", resource),
    _route("POST", r"/open-apis/bot/v2/hook/(?P<token>[^/]+)", "webhook", hook, True),
))
