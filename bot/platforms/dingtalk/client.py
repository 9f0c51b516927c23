"""DingTalk (钉钉) API client: robot one-to-one and group messages, interactive cards (instances
of crm-bot's card-platform template: create-and-deliver, update, and in HTTP mode the callback
route registration), message-file download, session-webhook replies and signed custom group
robots. `_call` adds `x-acs-dingtalk-access-token` and refreshes-and-retries once on HTTP 401 /
InvalidAuthentication; `flowControlledStaffIdList` becomes `RateLimited`.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlparse

from bot.platforms.dingtalk.signing import custom_robot_sign
from cards.model import Card, clip_bytes, instance_id
from cards.render.dingtalk import md_safe, render_dingtalk, render_dingtalk_update
from crm_core.config.schema import DingTalkConfig
from crm_core.kv.base import KV

from bot.outbound.http import (
    ClientBase, PermanentError, RateLimited, TokenError, TransientError, detail, image_part,
)
from bot.outbound.tokens import TokenCache

PLATFORM = "dingtalk"
TEXT_LIMIT = 12_000                 # msgParam ≤ 15,000 bytes once JSON-escaped
TOKEN_CODES = frozenset({"InvalidAuthentication", "40014", "88"})
# app QPS (90018) / global (90002) limits and the new API's throttling code names
RATE_CODES = frozenset({"90018", "90002", "Forbidden.AccessDenied.QpsLimitForApi",
                        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "Throttling",
                        "send.too.fast"})
QUOTA_CODES = frozenset({"90020", "Forbidden.AccessDenied.ApiCountLimitForOrg"})
# custom robot: over 20/min throttles the robot for 10 min  [verify the exact errcodes]
ROBOT_RATE_CODES = {410100: 600.0, 130101: 600.0}
FLOW_CONTROL_RETRY = 60.0
CALLBACK_REGISTERED_TTL = 6 * 3600.0   # re-register the card callback route this often at most
USER_ID_TYPE = 1                       # userIds are staff ids (userid), not unionIds
IMAGE_LIMIT = 20 * 1024 * 1024         # oapi media/upload type=image: jpg/gif/png/bmp ≤ 20 MB


class DingTalkClient(ClientBase):
    platform = PLATFORM

    def __init__(self, cfg: DingTalkConfig, kv: KV, *, clock: Callable[[], float] = time.time,
                 card_callback_url: str = "", **kw: Any) -> None:
        """`card_callback_url`: where HTTP-mode card taps go (registered before the first card)."""
        super().__init__(**kw)
        self.cfg = cfg
        self.kv = kv
        self.card_callback_url = card_callback_url
        self.base = cfg.api_base.rstrip("/")
        self.oapi = cfg.oapi_base.rstrip("/")
        self.clock = clock
        self.tokens = TokenCache(kv, PLATFORM, self._fetch_token, clock=clock, scope=cfg.app_key)
        # media upload is an oapi.dingtalk.com API: its token comes from the legacy gettoken
        self.oapi_tokens = TokenCache(kv, PLATFORM, self._fetch_oapi_token, clock=clock,
                                      scope=f"oapi:{cfg.app_key}")

    # ---- token ------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, int]:
        """POST /v1.0/oauth2/accessToken {appKey, appSecret}."""
        body = {"appKey": self.cfg.app_key, "appSecret": self.cfg.app_secret.get_secret_value()}
        resp = self._send("POST", f"{self.base}/v1.0/oauth2/accessToken", "accessToken", json=body)
        data = self._json(resp, "accessToken")
        if resp.status_code >= 400 or not data.get("accessToken"):
            raise PermanentError(f"token refused: {_code(data) or resp.status_code}",
                                 platform=PLATFORM, api="accessToken", code=_code(data))
        return str(data["accessToken"]), int(data.get("expireIn") or 7200)

    def _fetch_oapi_token(self) -> tuple[str, int]:
        """GET {oapi}/gettoken?appkey&appsecret (legacy; for oapi.dingtalk.com APIs)."""
        params = {"appkey": self.cfg.app_key, "appsecret": self.cfg.app_secret.get_secret_value()}
        resp = self._send("GET", f"{self.oapi}/gettoken", "gettoken", params=params)
        data = self._json(resp, "gettoken")
        if _code(data) or not data.get("access_token"):
            raise PermanentError(f"token refused: {_code(data) or resp.status_code}",
                                 platform=PLATFORM, api="gettoken", code=_code(data))
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    # ---- the choke point ----------------------------------------------------------------
    def _call(self, method: str, path: str, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """One api.dingtalk.com call with the token header; retried once on a token error."""
        for retried in (False, True):
            token = self.tokens.get()
            resp = self._send(method, f"{self.base}{path}", api, json=body,
                              headers={"x-acs-dingtalk-access-token": token})
            data = self._json(resp, api) if resp.content else {}
            code = _code(data)
            if resp.status_code == 401 or code in TOKEN_CODES:
                if not retried:
                    self.tokens.invalidate(token)
                    continue
                raise TokenError("token rejected", platform=PLATFORM, api=api, code=code or 401)
            if resp.status_code >= 400 or (code and code != "0"):
                raise _error(code or str(resp.status_code), data, api)
            return data
        raise AssertionError("unreachable")

    # ---- robot messages -----------------------------------------------------------------
    def _batch_send(self, user_ids: list[str], msg_key: str, param: dict[str, Any]) -> dict[str, Any]:
        body = {"robotCode": self.cfg.robot_code, "userIds": list(user_ids), "msgKey": msg_key,
                "msgParam": json.dumps(param, ensure_ascii=False)}
        data = self._call("POST", "/v1.0/robot/oToMessages/batchSend", "batchSend", body)
        throttled = [u for u in data.get("flowControlledStaffIdList") or [] if u in user_ids]
        if throttled:    # DingTalk answers 200 but did not deliver to these users
            raise RateLimited("flow controlled", retry_after=FLOW_CONTROL_RETRY, users=throttled,
                              platform=PLATFORM, api="batchSend", code="flowControlled")
        invalid = set(data.get("invalidStaffIdList") or [])
        if invalid and invalid >= set(user_ids):
            raise PermanentError("no valid recipient", platform=PLATFORM, api="batchSend",
                                 code="invalidStaffIdList")
        return {"processQueryKey": data.get("processQueryKey")} if data.get("processQueryKey") else {}

    def send_text(self, user_ids: str | list[str], text: str) -> dict[str, Any]:
        """POST /v1.0/robot/oToMessages/batchSend (msgKey sampleText, ≤ 20 users)."""
        return self._batch_send(_as_list(user_ids), "sampleText", {"content": clip_bytes(text, TEXT_LIMIT)})

    def send_markdown(self, user_ids: str | list[str], text: str, title: str = "") -> dict[str, Any]:
        """POST /v1.0/robot/oToMessages/batchSend (msgKey sampleMarkdown)."""
        return self._batch_send(_as_list(user_ids), "sampleMarkdown",
                                {"title": title or _title_of(text), "text": clip_bytes(md_safe(text), TEXT_LIMIT)})

    def send_group(self, open_conversation_id: str, text: str, markdown: bool = False) -> dict[str, Any]:
        """POST /v1.0/robot/groupMessages/send (robot in a group chat)."""
        key, param = _msg(text, markdown)
        body = {"robotCode": self.cfg.robot_code, "openConversationId": open_conversation_id,
                "msgKey": key, "msgParam": json.dumps(param, ensure_ascii=False)}
        data = self._call("POST", "/v1.0/robot/groupMessages/send", "groupMessages/send", body)
        return {"processQueryKey": data.get("processQueryKey")} if data.get("processQueryKey") else {}

    # ---- cards --------------------------------------------------------------------------
    def send_card(self, user: str, card: Card, open_conversation_id: str | None = None,
                  send_key: str = "", image: str | None = None) -> dict[str, Any]:
        """POST /v1.0/card/instances/createAndDeliver: an instance of the configured template
        (outTrackId = card id + a per-send suffix from `send_key`, the same on every retry),
        delivered by the robot to one user (IM_ROBOT) or a group (IM_GROUP), with the callback
        type of the connection mode: STREAM, or HTTP through the registered route key."""
        out_track_id = instance_id(card.card_id, send_key) if send_key else card.card_id
        body: dict[str, Any] = {"cardTemplateId": self.cfg.card_template_id, "outTrackId": out_track_id,
                                **render_dingtalk(card, image), "userIdType": USER_ID_TYPE}
        if self.cfg.mode == "stream":
            body["callbackType"] = "STREAM"
        else:
            self.ensure_card_callback()
            body.update(callbackType="HTTP", callbackRouteKey=self.cfg.card_callback_route_key)
        if open_conversation_id:
            body.update(openSpaceId=f"dtv1.card//IM_GROUP.{open_conversation_id}",
                        imGroupOpenSpaceModel={"supportForward": False},
                        imGroupOpenDeliverModel={"robotCode": self.cfg.robot_code})
        else:
            body.update(openSpaceId=f"dtv1.card//IM_ROBOT.{user}",
                        imRobotOpenSpaceModel={"supportForward": False},
                        imRobotOpenDeliverModel={"spaceType": "IM_ROBOT", "robotCode": self.cfg.robot_code})
        data = self._call("POST", "/v1.0/card/instances/createAndDeliver", "card/createAndDeliver", body)
        nested = data.get("result")
        result: dict[str, Any] = nested if isinstance(nested, dict) else {}
        failed = [r for r in result.get("deliverResults") or [] if isinstance(r, dict) and r.get("success") is False]
        if failed or data.get("success") is False:
            why = detail(failed[0].get("errorMsg")) if failed else "success: false"
            raise PermanentError(f"card not delivered: {why}", platform=PLATFORM,
                                 api="card/createAndDeliver", code="deliverFailed")
        return {"outTrackId": out_track_id}

    def update_card(self, card: Card, out_track_id: str | None = None, image: str | None = None) -> dict[str, Any]:
        """PUT /v1.0/card/instances: every template variable anew (a resolved card's button
        slots empty, `resolved` true, the chart's mediaId kept), for the instance the send created."""
        body = {"outTrackId": out_track_id or card.card_id, **render_dingtalk_update(card, image),
                "userIdType": USER_ID_TYPE}
        data = self._call("PUT", "/v1.0/card/instances", "card/update", body)
        if data.get("success") is False:
            raise PermanentError("card update refused: success: false", platform=PLATFORM, api="card/update")
        return {"outTrackId": body["outTrackId"]}

    def register_card_callback(self, url: str) -> None:
        """POST /v1.0/card/callbacks/register: taps on HTTP-mode cards of our route key go to
        `url`; `apiSecret` is card_callback_secret; forceUpdate replaces an older URL."""
        body = {"callbackRouteKey": self.cfg.card_callback_route_key, "callbackUrl": url,
                "apiSecret": self.cfg.card_callback_secret.get_secret_value(), "forceUpdate": True}
        data = self._call("POST", "/v1.0/card/callbacks/register", "card/callbacks/register", body)
        if data.get("success") is False:
            raise PermanentError("card callback route refused", platform=PLATFORM, api="card/callbacks/register")

    def ensure_card_callback(self) -> None:
        """Register the HTTP callback route unless this URL and secret were registered within
        the last hours (remembered in the KV, so one instance registers for all)."""
        if not self.card_callback_url:
            raise PermanentError("no card callback URL (HTTP mode needs card_callback_secret and "
                                 "app.public_base_url)", platform=PLATFORM, api="card/callbacks/register")
        secret = self.cfg.card_callback_secret.get_secret_value()
        digest = hashlib.sha256(f"{self.card_callback_url}\n{secret}".encode()).hexdigest()[:32]
        key = f"dingtalk:card-callback:{self.cfg.app_key}:{self.cfg.card_callback_route_key}"
        if self.kv.get(key) == digest:
            return
        self.register_card_callback(self.card_callback_url)
        self.kv.set(key, digest, ttl=CALLBACK_REGISTERED_TTL)

    # ---- media --------------------------------------------------------------------------
    def upload_image(self, data: bytes, filename: str = "chart.png") -> str:
        """POST {oapi}/media/upload?access_token&type=image (multipart, field "media") ->
        media_id ("@lA…"), which card template image variables and markdown take. Retried
        once with a fresh token on 40014 / 42001 / 88."""
        part = image_part(data, filename, sizes=(0, IMAGE_LIMIT), platform=PLATFORM, api="media/upload",
                          limit_text="DingTalk takes up to 20 MB")
        for retried in (False, True):
            token = self.oapi_tokens.get()
            resp = self._send("POST", f"{self.oapi}/media/upload", "media/upload",
                              params={"access_token": token, "type": "image"},
                              files={"media": part})
            answer = self._json(resp, "media/upload")
            code = _code(answer)
            if code in ("40014", "42001", "88") and not retried:
                self.oapi_tokens.invalidate(token)
                continue
            if code in ("40014", "42001", "88"):
                raise TokenError("token rejected", platform=PLATFORM, api="media/upload", code=code)
            if code or resp.status_code >= 400 or not answer.get("media_id"):
                raise _error(code or str(resp.status_code), answer, "media/upload")
            return str(answer["media_id"])
        raise AssertionError("unreachable")

    def download(self, download_code: str) -> bytes:
        """POST /v1.0/robot/messageFiles/download -> downloadUrl, then GET it right away
        (the URL is short-lived and pre-signed: no token header)."""
        data = self._call("POST", "/v1.0/robot/messageFiles/download", "messageFiles/download",
                          {"downloadCode": download_code, "robotCode": self.cfg.robot_code})
        url = str(data.get("downloadUrl") or "")
        if not url:
            raise PermanentError("no downloadUrl", platform=PLATFORM, api="messageFiles/download")
        resp = self._send("GET", url, "files")
        if resp.status_code != 200:
            raise PermanentError(f"HTTP {resp.status_code}", platform=PLATFORM, api="files",
                                 code=resp.status_code)
        return resp.content

    # ---- webhooks -----------------------------------------------------------------------
    def reply_session(self, session_webhook: str, text: str, markdown: bool = False) -> dict[str, Any]:
        """POST the message's sessionWebhook (no token while it is valid, ~1.5 h)."""
        if urlparse(session_webhook).scheme not in ("http", "https"):
            raise PermanentError("bad sessionWebhook", platform=PLATFORM, api="sessionWebhook")
        resp = self._send("POST", session_webhook, "sessionWebhook", json=_webhook_body(text, markdown))
        self._check_robot(self._json(resp, "sessionWebhook"), "sessionWebhook")
        return {}

    def custom_robot_send(self, access_token: str, secret: str | None, text: str,
                          markdown: bool = False) -> dict[str, Any]:
        """POST {oapi}/robot/send?access_token=&timestamp=&sign= (custom group robot; the
        sign is URL-encoded exactly once, so the query string is built here, not by requests)."""
        url = f"{self.oapi}/robot/send?access_token={quote_plus(access_token)}"
        if secret:
            ts = int(self.clock() * 1000)
            url += f"&timestamp={ts}&sign={custom_robot_sign(secret, ts)}"
        resp = self._send("POST", url, "robot/send", json=_webhook_body(text, markdown))
        self._check_robot(self._json(resp, "robot/send"), "robot/send")
        return {}

    def _check_robot(self, data: dict[str, Any], api: str) -> None:
        """Legacy {errcode, errmsg} answers of oapi robots and session webhooks."""
        try:
            code = int(data.get("errcode") or 0)
        except (TypeError, ValueError):
            code = -1
        if code == 0:
            return
        if code in ROBOT_RATE_CODES:
            raise RateLimited(f"errcode {code}", retry_after=ROBOT_RATE_CODES[code],
                              platform=PLATFORM, api=api, code=code)
        if code == -1:
            raise TransientError("system busy", platform=PLATFORM, api=api, code=code)
        raise PermanentError(f"errcode {code}: {detail(data.get('errmsg'))}", platform=PLATFORM,
                             api=api, code=code)


def _code(data: dict[str, Any]) -> str:
    code = data.get("code", data.get("errcode"))
    return "" if code in (None, "", 0) else str(code)


def _error(code: str, data: dict[str, Any], api: str) -> Exception:
    msg = detail(data.get("message") or data.get("errmsg"))
    if code in RATE_CODES:
        return RateLimited(f"rate limited ({code})", retry_after=1.0, platform=PLATFORM, api=api, code=code)
    if code in QUOTA_CODES:   # the org's monthly API quota: retrying soon cannot help
        return PermanentError(f"API quota exhausted ({code})", platform=PLATFORM, api=api, code=code)
    if code in ("-1", "ServiceUnavailable", "InternalError"):
        return TransientError(f"busy ({code})", platform=PLATFORM, api=api, code=code)
    return PermanentError(f"{code}: {msg}", platform=PLATFORM, api=api, code=code)


def _as_list(users: str | list[str]) -> list[str]:
    return [users] if isinstance(users, str) else list(users)


def _title_of(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "消息")
    return clip_bytes(first.lstrip("#* ").strip() or "消息", 60)


def _msg(text: str, markdown: bool) -> tuple[str, dict[str, Any]]:
    if markdown:
        return "sampleMarkdown", {"title": _title_of(text), "text": clip_bytes(md_safe(text), TEXT_LIMIT)}
    return "sampleText", {"content": clip_bytes(text, TEXT_LIMIT)}


def _webhook_body(text: str, markdown: bool) -> dict[str, Any]:
    if markdown:
        return {"msgtype": "markdown", "markdown": {"title": _title_of(text),
                                                    "text": clip_bytes(md_safe(text), TEXT_LIMIT)}}
    return {"msgtype": "text", "text": {"content": clip_bytes(text, TEXT_LIMIT)}}
