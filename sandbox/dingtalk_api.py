"""DingTalk (钉钉) in the sandbox: the part of api.dingtalk.com (`/dingtalk`) and
oapi.dingtalk.com (`/dingtalk-oapi`) crm-bot calls.

New-style APIs check `x-acs-dingtalk-access-token` (HTTP 401 InvalidAuthentication) and answer
errors as HTTP 4xx `{"code","message"}`; the session webhook, custom robots and oapi's
`gettoken` / `media/upload` (images: "@lA…" mediaIds, which the card's image variables must
hold) answer `{"errcode","errmsg"}` like oapi does. Custom robots check the SEC signature of the URL.

Cards (互动卡片高级版): `createAndDeliver` checks what `alibabacloud_dingtalk`'s
CreateAndDeliverRequest requires (cardTemplateId, outTrackId, cardData.cardParamMap of strings,
openSpaceId) plus the deliver model of the space, knows one template (the configured one) and
one callback route per registered route key. A card whose template buttons would call back
but which was created without `callbackType` is refused: on DingTalk its taps would never
reach the app. Taps are delivered (by the simulator) only for cards that asked for callbacks:
STREAM over the app's Stream connection, HTTP to the URL registered for the card's route key.
Where DingTalk documents no error code, the sandbox answers `InvalidParameter.<field>`.
"""
from __future__ import annotations

import hmac
import json
import re
import secrets
from typing import Any

from bot.platforms.dingtalk.signing import robot_sign
from cards.render.dingtalk import TEMPLATE_VARIABLES
from sandbox import images
from sandbox.server import ApiRequest, ApiResponse, PlatformApi, Route, json_response
from sandbox.state import SandboxState, TokenStatus

PLATFORM = "dingtalk"
SESSION = "dingtalk_session"
SESSION_TTL = 5400                       # sessionWebhookExpiredTime is about 1.5 h out
SIGN_WINDOW_MS = 3600 * 1000
MSG_PARAM_LIMIT = 15_000
MAX_USERS = 20
MSG_KEYS = {"sampleText", "sampleMarkdown", "sampleImageMsg", "sampleLink", "sampleActionCard",
            "sampleActionCard2", "sampleActionCard3", "sampleActionCard4", "sampleActionCard5",
            "sampleActionCard6", "sampleAudio", "sampleFile", "sampleVideo"}
ROBOT_MSGTYPES = {"text": "content", "markdown": "text", "actionCard": "text", "link": "text",
                  "feedCard": "links"}   # msgtype -> a field its object must have


def _err(status: int, code: str, message: str) -> ApiResponse:
    return json_response({"code": code, "message": message, "requestid": secrets.token_hex(8)}, status)


def _oapi_err(code: int, msg: str) -> ApiResponse:
    return json_response({"errcode": code, "errmsg": msg})


def _auth(state: SandboxState, req: ApiRequest) -> ApiResponse | None:
    status = state.check_token(PLATFORM, req.header("x-acs-dingtalk-access-token"))
    if status is TokenStatus.OK:
        return None
    return _err(401, "InvalidAuthentication", f"不合法的access_token ({status.value})")


def _checked_body(state: SandboxState, req: ApiRequest,
                  robot: bool = True) -> tuple[dict[str, Any], ApiResponse | None]:
    """Auth, JSON object and (unless `robot` is False) robotCode: what robot APIs check first."""
    denied = _auth(state, req)
    if denied:
        return {}, denied
    body = req.json_object()
    if body is None:
        return {}, _err(400, "InvalidParameter", "请求体不是 JSON 对象")
    code = body.get("robotCode")
    if (robot or code is not None) and (not code or code != state.creds.dingtalk_robot_code):
        return body, _err(400, "resource.not.found", "robotCode 不存在")
    return body, None


def _json_string(value: Any) -> dict[str, Any] | None:
    """msgParam / cardData / singleChatReceiver travel as JSON strings holding an object."""
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def access_token(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body = req.json_object() or {}
    creds = state.creds
    good = (creds.dingtalk_app_key and body.get("appKey") == creds.dingtalk_app_key
            and hmac.compare_digest(str(body.get("appSecret", "")).encode(),
                                    creds.dingtalk_app_secret.encode()))
    if not good:
        return _err(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
    token, ttl = state.issue_token(PLATFORM)
    return json_response({"accessToken": token, "expireIn": ttl})


def _msg_error(body: dict[str, Any]) -> ApiResponse | None:
    if body.get("msgKey") not in MSG_KEYS:
        return _err(400, "InvalidParameter.msgKey", f"msgKey {body.get('msgKey')!r} 不存在")
    param = body.get("msgParam")
    if not isinstance(param, str) or _json_string(param) is None:
        return _err(400, "InvalidParameter.msgParam", "msgParam 必须是 JSON 对象字符串")
    if len(param.encode()) > MSG_PARAM_LIMIT:
        return _err(400, "InvalidParameter.msgParam", f"msgParam 超过 {MSG_PARAM_LIMIT} 字节")
    return None


def batch_send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body, error = _checked_body(state, req)
    users = body.get("userIds")
    if not (isinstance(users, list) and 1 <= len(users) <= MAX_USERS
            and all(isinstance(u, str) and u for u in users)):
        users = []
        error = error or _err(400, "InvalidParameter.userIds", f"userIds 需要 1-{MAX_USERS} 个用户")
    error = error or _msg_error(body)
    if error:
        return error
    return json_response({"processQueryKey": secrets.token_urlsafe(16), "invalidStaffIdList": [],
                          "flowControlledStaffIdList": []}, recipient=",".join(users))


def group_send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body, error = _checked_body(state, req)
    if error is None and not body.get("openConversationId"):
        error = _err(400, "InvalidParameter.openConversationId", "缺少 openConversationId")
    error = error or _msg_error(body)
    if error:
        return error
    return json_response({"processQueryKey": secrets.token_urlsafe(16)},
                         recipient=str(body["openConversationId"]))


def card_send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """The robot's ordinary interactive card (StandardCard). It never calls back over Stream,
    and in HTTP mode only to the `callbackUrl` given with it: a card with request buttons and
    no callbackUrl is refused (its taps could reach nobody)."""
    body, error = _checked_body(state, req)
    if error:
        return error
    card, biz_id = _json_string(body.get("cardData")), str(body.get("cardBizId") or "")
    receiver = _json_string(body.get("singleChatReceiver")) or {}
    group = str(body.get("openConversationId") or "")
    if not body.get("cardTemplateId") or not biz_id:
        return _err(400, "InvalidParameter", "cardTemplateId 和 cardBizId 必填")
    if card is None:
        return _err(400, "InvalidParameter.cardData", "cardData 必须是 JSON 对象字符串")
    if not receiver.get("userId") and not group:
        return _err(400, "InvalidParameter", "singleChatReceiver 或 openConversationId 必填其一")
    url = str(body.get("callbackUrl") or "")
    if _has_request_buttons(card) and not url:
        return _err(400, NO_CALLBACK, "卡片有回传请求按钮，但没有 callbackUrl：点击不会回调任何地址"
                                      "（普通版卡片不支持 Stream 回调）")
    recipient = group or str(receiver["userId"])
    callback = {"type": "URL", "url": url} if url else None
    state.put_object(PLATFORM, biz_id, {"recipient": recipient, "group": bool(group), "card": card,
                                        "callback": callback})
    state.index_card(PLATFORM, biz_id, biz_id)
    return json_response({"processQueryKey": secrets.token_urlsafe(16)}, recipient=recipient)


def _has_request_buttons(card: dict[str, Any]) -> bool:
    return any(n.get("type") == "button" and n.get("actionType") == "request" for n in _nodes(card))


def _nodes(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *[n for v in node.values() for n in _nodes(v)]]
    if isinstance(node, list):
        return [n for v in node for n in _nodes(v)]
    return []


# ---- card instances (互动卡片高级版) ------------------------------------------------------------

NO_CALLBACK = "sandbox.card.noCallback"
CARD_ROUTE = "dingtalk_card_route"
_SPACE = re.compile(r"dtv1\.card//(IM_ROBOT|IM_GROUP)\.(.+)")


def _card_tokens(params: dict[str, str]) -> list[str]:
    """Our button tokens among a template instance's variables (btnN_token)."""
    return [v for k, v in params.items() if k.startswith("btn") and k.endswith("_token") and v]


def _param_map(body: dict[str, Any]) -> tuple[dict[str, str] | None, ApiResponse | None]:
    data = body.get("cardData")
    params = data.get("cardParamMap") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        return None, _err(400, "InvalidParameter.cardData", "cardData.cardParamMap 必填，且是对象")
    bad = sorted(k for k, v in params.items() if not isinstance(v, str))
    if bad:   # the card API's rule: every value a string (JSON-encode lists, objects, booleans)
        return None, _err(400, "InvalidParameter.cardData",
                          f"cardParamMap 的值必须是字符串：{', '.join(bad[:5])}")
    return params, None


def _space(state: SandboxState, body: dict[str, Any]) -> tuple[tuple[str, str] | None, ApiResponse | None]:
    """(space type, id) of a one-space openSpaceId and its deliver model's checks."""
    match = _SPACE.fullmatch(str(body.get("openSpaceId") or ""))
    if match is None:
        return None, _err(400, "InvalidParameter.openSpaceId",
                          "openSpaceId 必须是 dtv1.card//IM_ROBOT.<userId> 或 dtv1.card//IM_GROUP.<openConversationId>")
    kind, space_id = match.groups()
    robot = state.creds.dingtalk_robot_code
    if kind == "IM_ROBOT":
        model = body.get("imRobotOpenDeliverModel")
        if not isinstance(model, dict) or model.get("spaceType") != "IM_ROBOT":
            return None, _err(400, "InvalidParameter.imRobotOpenDeliverModel",
                              "投放到机器人单聊需要 imRobotOpenDeliverModel.spaceType = IM_ROBOT")
        if model.get("robotCode") not in (None, robot):
            return None, _err(400, "resource.not.found", "robotCode 不存在")
    else:
        model = body.get("imGroupOpenDeliverModel")
        if not isinstance(model, dict) or model.get("robotCode") != robot:
            return None, _err(400, "InvalidParameter.imGroupOpenDeliverModel",
                              "投放到群聊需要 imGroupOpenDeliverModel.robotCode（应用的机器人）")
    return (kind, space_id), None


def _callback(state: SandboxState, body: dict[str, Any]) -> tuple[dict[str, str] | None, ApiResponse | None]:
    kind = body.get("callbackType")
    if kind in (None, ""):
        return None, None
    if kind == "STREAM":
        return {"type": "STREAM"}, None
    if kind != "HTTP":
        return None, _err(400, "InvalidParameter.callbackType", f"callbackType 只能是 STREAM 或 HTTP：{kind!r}")
    key = str(body.get("callbackRouteKey") or "")
    if state.get_object(CARD_ROUTE, key) is None:
        return None, _err(400, "InvalidParameter.callbackRouteKey",
                          f"callbackRouteKey {key!r} 未注册（先调用 /v1.0/card/callbacks/register）")
    return {"type": "HTTP", "route": key}, None


def card_create_and_deliver(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """POST /v1.0/card/instances/createAndDeliver."""
    body, error = _checked_body(state, req, robot=False)
    if error:
        return error
    missing = [k for k in ("cardTemplateId", "outTrackId", "cardData", "openSpaceId") if not body.get(k)]
    if missing:
        return _err(400, "MissingParameter", f"缺少必填参数：{', '.join(missing)}")
    out_track_id = str(body["outTrackId"])
    if body["cardTemplateId"] != state.creds.dingtalk_card_template_id:
        return _err(400, "InvalidParameter.cardTemplateId", f"卡片模板 {body['cardTemplateId']!r} 不存在")
    params, error = _param_map(body)
    error = error or _image_params_error(state, params or {})
    space, error = (None, error) if error else _space(state, body)
    callback, error = (None, error) if error else _callback(state, body)
    if error:
        return error
    assert params is not None and space is not None
    tokens = _card_tokens(params)
    if tokens and callback is None:
        return _err(400, NO_CALLBACK, "卡片有回传请求按钮，但创建时没有 callbackType：点击不会回调到应用"
                                      "（Stream 模式传 STREAM，HTTP 模式传 HTTP 和已注册的 callbackRouteKey）")
    kind, space_id = space
    old = state.get_object(PLATFORM, out_track_id)
    answer = {"success": True, "result": {"outTrackId": out_track_id, "deliverResults": [
        {"spaceType": kind, "spaceId": space_id, "success": True, "carrierId": out_track_id}]}}
    if old is not None:
        # DingTalk documents outTrackId as the instance's unique id and says nothing of a repeat;
        # the sandbox treats the same request again (a retry) as done, anything else as refused.
        if old.get("request") == body:
            return json_response(answer, recipient=space_id, record=False)
        return _err(400, "InvalidParameter.outTrackId", f"outTrackId {out_track_id!r} 已存在")
    state.put_object(PLATFORM, out_track_id, {"recipient": space_id, "group": kind == "IM_GROUP",
                                              "card": dict(params), "callback": callback, "request": body})
    for card_id in {out_track_id, *(t.split("~")[1] for t in tokens if t.count("~") == 2)}:
        state.index_card(PLATFORM, card_id, out_track_id)
    return json_response(answer, recipient=space_id)


IMAGE_LIMIT = 20 * 1024 * 1024          # media/upload type=image: jpg/gif/png/bmp ≤ 20 MB
IMAGE_VARIABLES = frozenset(k for k, (kind, _) in TEMPLATE_VARIABLES.items() if kind == "image")


def oapi_gettoken(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """GET oapi /gettoken?appkey&appsecret (legacy token, for oapi APIs such as media/upload)."""
    creds = state.creds
    if not creds.dingtalk_app_key or req.query.get("appkey") != creds.dingtalk_app_key or not hmac.compare_digest(
            req.query.get("appsecret", "").encode(), creds.dingtalk_app_secret.encode()):
        return _oapi_err(40089, "不合法的corpid或corpsecret")
    token, ttl = state.issue_token(PLATFORM)
    return json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": ttl})


def media_upload(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """POST oapi /media/upload?access_token&type=image: multipart, field "media" -> media_id
    ("@lA…"), which template image variables take."""
    status = state.check_token(PLATFORM, req.query.get("access_token"))
    if status is not TokenStatus.OK:
        return _oapi_err(42001 if status is TokenStatus.EXPIRED else 40014, "不合法的access_token")
    if req.query.get("type") != "image":
        return _oapi_err(40004, f"不合法的媒体文件类型：{req.query.get('type')!r}（沙箱只接受 image）")
    form = images.multipart(req)
    if isinstance(form, str):
        return _oapi_err(41005, f"缺少多媒体文件数据：{form}")
    problem = images.image_problem(form.get("media"), IMAGE_LIMIT,
                                   ("image/png", "image/jpeg", "image/gif", "image/bmp"))
    if problem:
        return _oapi_err(40006 if "bytes" in problem else 40005, f"不合法的图片：{problem}")
    media_id = images.issue(state, PLATFORM, form["media"], "@lADP")
    return json_response({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": media_id,
                          "created_at": int(state.now() * 1000)})


def _image_params_error(state: SandboxState, params: dict[str, str]) -> ApiResponse | None:
    """A template image variable holds a mediaId the app uploaded, or nothing."""
    bad = sorted(k for k in IMAGE_VARIABLES if params.get(k) and not images.issued(state, PLATFORM, params[k]))
    if bad:
        return _err(400, "InvalidParameter.cardData", f"图片变量 {bad[0]} 的 mediaId 不存在（先调用 /media/upload）")
    return None


def card_instance_update(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """PUT /v1.0/card/instances: by key (cardUpdateOptions.updateCardDataByKey) or whole."""
    body, error = _checked_body(state, req, robot=False)
    if error:
        return error
    out_track_id = str(body.get("outTrackId") or "")
    obj = state.get_object(PLATFORM, out_track_id) if out_track_id else None
    if obj is None or "request" not in obj:
        return _err(400, "param.outTrackId.notExist", f"卡片实例 {out_track_id!r} 不存在")
    params, error = (None, None) if "cardData" not in body else _param_map(body)
    error = error or _image_params_error(state, params or {})
    if error:
        return error
    raw_options = body.get("cardUpdateOptions")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    if params is not None:
        card = {**obj["card"], **params} if options.get("updateCardDataByKey") else dict(params)
        state.update_object(PLATFORM, out_track_id, card=card)
    return json_response({"success": True, "result": True}, recipient=obj["recipient"])


def card_callback_register(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """POST /v1.0/card/callbacks/register: a route key → the URL taps are POSTed to."""
    body, error = _checked_body(state, req, robot=False)
    if error:
        return error
    key, url = str(body.get("callbackRouteKey") or ""), str(body.get("callbackUrl") or "")
    if not key or not url:
        return _err(400, "MissingParameter", "callbackRouteKey 和 callbackUrl 必填")
    if not url.startswith(("http://", "https://")):
        return _err(400, "InvalidParameter.callbackUrl", "callbackUrl 不是 http(s) 地址")
    if state.get_object(CARD_ROUTE, key) is not None and body.get("forceUpdate") is not True:
        return _err(400, "InvalidParameter.callbackRouteKey", f"callbackRouteKey {key!r} 已注册（forceUpdate 覆盖）")
    secret = str(body.get("apiSecret") or "")
    state.put_object(CARD_ROUTE, key, {"url": url, "api_secret": secret})
    return json_response({"success": True, "result": {"callbackUrl": url, "apiSecret": secret}})


def card_route(state: SandboxState, key: str) -> dict[str, Any] | None:
    """What was registered for a callback route key: {"url", "api_secret"}."""
    return state.get_object(CARD_ROUTE, key)


def callback_url_of(state: SandboxState, card: dict[str, Any]) -> str | None:
    """Where HTTP taps on a delivered card go: the URL registered for its route key (looked up
    at tap time, as DingTalk does), or an ordinary card's callbackUrl; None for Stream / none."""
    callback = card.get("callback") or {}
    if callback.get("type") == "HTTP":
        route = card_route(state, str(callback.get("route") or ""))
        return str(route["url"]) if route else None
    return str(callback["url"]) if callback.get("type") == "URL" else None


def card_update(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body, error = _checked_body(state, req, robot=False)   # the update API takes no robotCode
    if error:
        return error
    biz_id = str(body.get("cardBizId") or "")
    obj = state.get_object(PLATFORM, biz_id)
    if obj is None:
        return _err(400, "param.cardBizId.notExist", f"卡片 {biz_id!r} 不存在")
    card = _json_string(body.get("cardData"))
    if card is None:
        return _err(400, "InvalidParameter.cardData", "cardData 必须是 JSON 对象字符串")
    state.update_object(PLATFORM, biz_id, card=card)
    return json_response({"success": True, "result": True}, recipient=obj["recipient"])


def files_download(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body, error = _checked_body(state, req)
    if error:
        return error
    code = str(body.get("downloadCode") or "")
    if state.get_media(PLATFORM, code) is None:
        return _err(400, "resource.not.found", "downloadCode 无效或已过期")
    return json_response({"downloadUrl": f"{req.base_url}/dingtalk/files/{code}"})


def file_bytes(state: SandboxState, req: ApiRequest) -> ApiResponse:
    media = state.get_media(PLATFORM, req.params["code"])
    if media is None:
        return json_response({"code": "NoSuchKey", "message": "文件不存在或已过期"}, 404)
    return ApiResponse(raw=media.data, content_type=media.content_type)


def _robot_message_error(body: dict[str, Any] | None) -> ApiResponse | None:
    if body is None:
        return _oapi_err(40035, "缺少参数 json")
    msgtype = body.get("msgtype")
    required = ROBOT_MSGTYPES.get(str(msgtype))
    if required is None:
        return _oapi_err(40035, f"不支持的 msgtype {msgtype!r}")
    if not (body.get(str(msgtype)) or {}).get(required):    # a known msgtype: str already
        return _oapi_err(40035, f"{msgtype}.{required} 不能为空")
    return None


def session_send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    session = state.peek_code(SESSION, req.params["session"])
    if session is None:
        return _oapi_err(300001, "session 不存在或已过期")
    body = req.json_object()
    return _robot_message_error(body) or json_response(
        {"errcode": 0, "errmsg": "ok"}, recipient=session["conversation"] if session["group"] else session["user"])


def open_session(state: SandboxState, user_id: str, conversation_id: str, group: bool) -> str:
    """A session webhook id for one received message (the sandbox client calls this)."""
    return state.issue_code(SESSION, ttl=SESSION_TTL, uses=None,
                            data={"user": user_id, "conversation": conversation_id, "group": group})


def robot_send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """Custom group robot: access_token must exist; with a SEC secret, timestamp+sign too."""
    robot = state.creds.dingtalk_robots.get(req.query.get("access_token", ""))
    if robot is None:
        return _oapi_err(300001, "token is not exist")
    team, secret = robot
    if secret:
        ts = req.query.get("timestamp", "")
        fresh = ts.isdigit() and abs(state.now() * 1000 - int(ts)) <= SIGN_WINDOW_MS
        # parse_qsl already undid the one URL-encoding of `sign`
        if not fresh or not hmac.compare_digest(robot_sign(secret, ts).encode(),
                                                req.query.get("sign", "").encode()):
            return _oapi_err(310000, "sign not match / timestamp is not within one hour")
    return _robot_message_error(req.json_object()) or json_response(
        {"errcode": 0, "errmsg": "ok"}, recipient=team)


def failure(mode: str, api: str) -> ApiResponse:
    """Injected failures: oapi-style errcodes for webhooks, HTTP codes for the new APIs."""
    legacy = api in ("webhook", "session", "gettoken", "media/upload")
    code = mode.partition(":")[2]
    if mode == "5xx":
        return json_response({"code": "ServiceUnavailable", "message": "sandbox 5xx"}, 503)
    if mode == "token_expired":
        return _oapi_err(300001, "token is not exist") if legacy else _auth_expired()
    if mode == "rate_limit":   # robots: 20/min, then "send too fast"; new APIs: 403 QPS limit
        return (_oapi_err(130101, "send too fast, exceed 20 times per minute") if legacy
                else _err(403, "Forbidden.AccessDenied.QpsLimitForApi", "调用接口超过 QPS 限制"))
    if legacy:
        return _oapi_err(int(code) if code.lstrip("-").isdigit() else -1, f"sandbox error {code}")
    return _err(400, code, f"sandbox injected error {code}")


def _auth_expired() -> ApiResponse:
    return _err(401, "InvalidAuthentication", "不合法的access_token (expired)")


def _route(method: str, path: str, api: str, handler: Any, recorded: bool = False) -> Route:
    return Route(method, re.compile(path), api, handler, recorded)


API = PlatformApi(prefix="dingtalk", platform=PLATFORM, failure=failure, routes=(
    _route("POST", r"/v1\.0/oauth2/accessToken", "accessToken", access_token),
    _route("POST", r"/v1\.0/robot/oToMessages/batchSend", "batchSend", batch_send, True),
    _route("POST", r"/v1\.0/robot/groupMessages/send", "groupMessages/send", group_send, True),
    _route("POST", r"/v1\.0/im/v1\.0/robot/interactiveCards/send", "interactiveCards/send",
           card_send, True),
    _route("PUT", r"/v1\.0/im/robots/interactiveCards", "interactiveCards/update", card_update, True),
    _route("POST", r"/v1\.0/card/instances/createAndDeliver", "card/createAndDeliver", card_create_and_deliver, True),
    _route("PUT", r"/v1\.0/card/instances", "card/update", card_instance_update, True),
    _route("POST", r"/v1\.0/card/callbacks/register", "card/callbacks/register", card_callback_register),
    _route("POST", r"/v1\.0/robot/messageFiles/download", "messageFiles/download", files_download),
    _route("GET", r"/files/(?P<code>[^/]+)", "files", file_bytes),
    _route("POST", r"/session/(?P<session>[^/]+)", "session", session_send, True),
))

OAPI = PlatformApi(prefix="dingtalk-oapi", platform=PLATFORM, failure=failure, routes=(
    _route("POST", r"/robot/send", "webhook", robot_send, True),
    _route("GET", r"/gettoken", "gettoken", oapi_gettoken),
    _route("POST", r"/media/upload", "media/upload", media_upload),
))
