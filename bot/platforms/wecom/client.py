"""WeCom (企业微信) API client: app messages (text, markdown, template_card), card updates,
media download and the group-robot webhook, through one `_call` that adds the access token,
maps errcodes to typed errors and refreshes-and-retries once on 40014/42001/41001. App messages
carry WeCom's duplicate check (`enable_duplicate_check`), its only send idempotency.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from cards.model import Card, clip_bytes
from cards.render.wecom import render_wecom, render_wecom_update
from crm_core.config.schema import WeComConfig
from crm_core.kv.base import KV

from bot.outbound.http import (
    ClientBase, PermanentError, RateLimited, TokenError, TransientError, detail, image_part, is_json,
)
from bot.outbound.tokens import TokenCache

PLATFORM = "wecom"
TEXT_LIMIT = 2048                       # app text and markdown: bytes
IMAGE_LIMIT = 10 * 1024 * 1024          # media/upload type=image: JPG/PNG, > 5 bytes, ≤ 10 MB
ROBOT_MARKDOWN_LIMIT = 4096
TOKEN_CODES = frozenset({40014, 42001, 41001})   # invalid / expired / missing token
# 45009: per-minute frequency breach (WeCom locks the minute window for 60 s);
# 45033: too many concurrent calls (back off briefly)
RATE_CODES = {45009: 60.0, 45033: 2.0}
TRANSIENT_CODES = frozenset({-1})       # "system busy"
DUPLICATE_CHECK_MIN = 60                # seconds; see duplicate_check_interval()
DUPLICATE_CHECK_MAX = 4 * 3600          # WeCom: default 1800 s, at most 4 hours


class WeComClient(ClientBase):
    platform = PLATFORM

    def __init__(self, cfg: WeComConfig, kv: KV, *, clock: Callable[[], float] = time.time,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.cfg = cfg
        self.base = cfg.api_base.rstrip("/")
        self.tokens = TokenCache(kv, PLATFORM, self._fetch_token, clock=clock,
                                 scope=f"{cfg.corp_id}:{cfg.agent_id}")

    # ---- token ------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, int]:
        """GET /cgi-bin/gettoken?corpid&corpsecret."""
        params = {"corpid": self.cfg.corp_id, "corpsecret": self.cfg.secret.get_secret_value()}
        data = self._json(self._send("GET", f"{self.base}/cgi-bin/gettoken", "gettoken",
                                     params=params), "gettoken")
        self._check(data, "gettoken")
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    # ---- the choke point ----------------------------------------------------------------
    def _call(self, method: str, path: str, api: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None, raw: bool = False, files: dict[str, Any] | None = None) -> Any:
        """One API call with the token; the JSON result, or the response when `raw` and the
        body is not JSON (media). Retries once with a fresh token on a token errcode."""
        for retried in (False, True):
            token = self.tokens.get()
            resp = self._send(method, f"{self.base}{path}", api,
                              params={**(params or {}), "access_token": token}, json=body, files=files)
            if raw and resp.status_code == 200 and not is_json(resp):
                return resp
            data = self._json(resp, api)
            code = _errcode(data)
            if code in TOKEN_CODES and not retried:
                self.tokens.invalidate(token)
                continue
            self._check(data, api)
            return data
        raise AssertionError("unreachable")

    def _check(self, data: dict[str, Any], api: str) -> None:
        code = _errcode(data)
        if code == 0:
            return
        msg = detail(data.get("errmsg"))
        if code in TOKEN_CODES:
            raise TokenError(f"token rejected ({code})", platform=PLATFORM, api=api, code=code)
        if code in RATE_CODES:
            raise RateLimited(f"rate limited ({code})", retry_after=RATE_CODES[code],
                              platform=PLATFORM, api=api, code=code)
        if code in TRANSIENT_CODES:
            raise TransientError(f"system busy ({code})", platform=PLATFORM, api=api, code=code)
        raise PermanentError(f"errcode {code}: {msg}", platform=PLATFORM, api=api, code=code)

    # ---- app messages -------------------------------------------------------------------
    def _message(self, users: str | list[str], body: dict[str, Any], resend_window: float = 0.0) -> dict[str, Any]:
        touser = users if isinstance(users, str) else "|".join(users)
        payload = {"touser": touser, "agentid": self.cfg.agent_id, "safe": 0, **body,
                   "enable_duplicate_check": 1, "duplicate_check_interval": duplicate_check_interval(resend_window)}
        data = self._call("POST", "/cgi-bin/message/send", "message/send", body=payload)
        invalid = [u for u in str(data.get("invaliduser") or "").split("|") if u]
        if invalid and set(invalid) >= set(touser.split("|")):
            raise PermanentError("no valid recipient", platform=PLATFORM, api="message/send",
                                 code="invaliduser")
        return {k: data[k] for k in ("msgid", "response_code") if data.get(k)}

    def send_text(self, user: str | list[str], text: str, resend_window: float = 0.0) -> dict[str, Any]:
        """POST /cgi-bin/message/send (msgtype text; content clipped to 2048 bytes)."""
        return self._message(user, {"msgtype": "text", "text": {"content": clip_bytes(text, TEXT_LIMIT)}},
                             resend_window)

    def send_markdown(self, user: str | list[str], text: str, resend_window: float = 0.0) -> dict[str, Any]:
        """POST /cgi-bin/message/send (msgtype markdown; content clipped to 2048 bytes)."""
        return self._message(user, {"msgtype": "markdown",
                                    "markdown": {"content": clip_bytes(text, TEXT_LIMIT)}}, resend_window)

    def send_card(self, user: str | list[str], card: Card, resend_window: float = 0.0,
                  task_id: str | None = None) -> dict[str, Any]:
        """POST /cgi-bin/message/send (msgtype template_card) -> {msgid, response_code, task_id}.
        `task_id` must be unique per app: the channel passes one per send."""
        body = render_wecom(card, agent_id=self.cfg.agent_id or "", task_id=task_id)
        refs = self._message(user, body, resend_window)
        return {**refs, "task_id": body["template_card"]["task_id"]}

    def send_image(self, user: str | list[str], media_id: str, resend_window: float = 0.0) -> dict[str, Any]:
        """POST /cgi-bin/message/send (msgtype image, an uploaded media_id)."""
        return self._message(user, {"msgtype": "image", "image": {"media_id": media_id}}, resend_window)

    def upload_image(self, data: bytes, filename: str = "chart.png") -> str:
        """POST /cgi-bin/media/upload?type=image (multipart, field "media") -> media_id, valid
        3 days and shared by the corp's apps."""
        part = image_part(data, filename, sizes=(5, IMAGE_LIMIT), platform=PLATFORM, api="media/upload",
                          limit_text="WeCom takes 6 B – 10 MB")
        data_ = self._call("POST", "/cgi-bin/media/upload", "media/upload", params={"type": "image"},
                           files={"media": part})
        media_id = str(data_.get("media_id") or "")
        if not media_id:
            raise PermanentError("upload answered without media_id", platform=PLATFORM, api="media/upload")
        return media_id

    def update_card(self, response_code: str, card: Card, users: list[str],
                    task_id: str | None = None) -> dict[str, Any]:
        """POST /cgi-bin/message/update_template_card (response_code is single-use, 72 h)."""
        body = {**render_wecom_update(card, agent_id=self.cfg.agent_id, task_id=task_id),
                "userids": list(users), "partyids": [], "tagids": [], "atall": 0,
                "agentid": self.cfg.agent_id, "response_code": response_code}
        data = self._call("POST", "/cgi-bin/message/update_template_card",
                          "update_template_card", body=body)
        return {k: data[k] for k in ("msgid", "invaliduser") if data.get(k)}

    def download_media(self, media_id: str) -> tuple[bytes, str]:
        """GET /cgi-bin/media/get (temporary media, 3 days) -> (bytes, content type).
        A JSON body is an error (e.g. 40007 unknown media id)."""
        resp = self._call("GET", "/cgi-bin/media/get", "media/get", params={"media_id": media_id},
                          raw=True)
        if not hasattr(resp, "content"):
            raise PermanentError("media API answered JSON without data", platform=PLATFORM,
                                 api="media/get")
        return resp.content, resp.headers.get("Content-Type", "application/octet-stream")

    # ---- group robot --------------------------------------------------------------------
    def group_webhook(self, key: str, text: str | None = None, markdown: str | None = None) -> dict[str, Any]:
        """POST /cgi-bin/webhook/send?key= (group robot, no token; the key is the secret).
        The robot API has no duplicate check and no idempotency key: a retry after a timeout
        may post twice."""
        if (text is None) == (markdown is None):
            raise ValueError("give exactly one of text / markdown")
        if text is not None:
            body = {"msgtype": "text", "text": {"content": clip_bytes(text, TEXT_LIMIT)}}
        else:
            body = {"msgtype": "markdown",
                    "markdown": {"content": clip_bytes(markdown or "", ROBOT_MARKDOWN_LIMIT)}}
        resp = self._send("POST", f"{self.base}/cgi-bin/webhook/send", "webhook",
                          params={"key": key}, json=body)
        data = self._json(resp, "webhook")
        self._check(data, "webhook")
        return {}


def duplicate_check_interval(resend_window: float) -> int:
    """WeCom's `duplicate_check_interval` for a send: app messages go out with
    `enable_duplicate_check: 1`, and WeCom drops a message identical (recipient and content)
    to one sent within the interval. A first call looks back one minute only (so a rep asking
    the same thing twice a few minutes apart gets both answers); a retry looks back to the
    first call of the same message (`resend_window`), at most WeCom's 4 hours."""
    return int(min(DUPLICATE_CHECK_MAX, DUPLICATE_CHECK_MIN + math.ceil(max(0.0, resend_window))))


def _errcode(data: dict[str, Any]) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1
