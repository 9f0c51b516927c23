"""Feishu/Lark (飞书) API client: IM send / reply / card PATCH with `uuid` idempotency, message
resource download and signed custom bots. `_call` adds the tenant_access_token and
refreshes-and-retries once on the token codes; 429 / 99991400 / 230020 become `RateLimited`
honouring `x-ogw-ratelimit-reset`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from bot.platforms.feishu.crypto import custom_bot_sign
from cards.model import Card, clip_bytes
from cards.render.feishu import md_safe, render_feishu
from crm_core.config.schema import FeishuConfig
from crm_core.kv.base import KV

from bot.outbound.http import (
    ClientBase, PermanentError, RateLimited, TokenError, TransientError, detail, image_part, is_json,
    retry_after_of,
)
from bot.outbound.tokens import TokenCache

PLATFORM = "feishu"
TEXT_LIMIT = 100_000                # text ≤ 150 KB once wrapped in the JSON content string
BOT_TEXT_LIMIT = 18_000             # custom bot body ≤ 20 KB
UUID_LIMIT = 50
IMAGE_LIMIT = 10 * 1024 * 1024       # im/v1/images: ≤ 10 MB
TOKEN_CODES = frozenset({99991663, 99991664, 99991661, 99991668, 99991677, 99991671})
RATE_CODES = frozenset({99991400, 230020})
BOT_RATE_CODES = frozenset({11232})
TRANSIENT_CODES = frozenset({-1})    # unparseable code: treat as a hiccup, retry later


def receive_id_type(receive_id: str) -> str:
    """Feishu id prefixes: ou_ open_id, oc_ chat_id, on_ union_id; anything else a user_id."""
    for prefix, kind in (("ou_", "open_id"), ("oc_", "chat_id"), ("on_", "union_id")):
        if receive_id.startswith(prefix):
            return kind
    return "email" if "@" in receive_id else "user_id"


class FeishuClient(ClientBase):
    platform = PLATFORM

    def __init__(self, cfg: FeishuConfig, kv: KV, *, clock: Callable[[], float] = time.time,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.cfg = cfg
        self.base = cfg.api_base.rstrip("/")
        self.clock = clock
        self.tokens = TokenCache(kv, PLATFORM, self._fetch_token, clock=clock, scope=cfg.app_id)

    # ---- token ------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, int]:
        """POST /open-apis/auth/v3/tenant_access_token/internal {app_id, app_secret}."""
        body = {"app_id": self.cfg.app_id, "app_secret": self.cfg.app_secret.get_secret_value()}
        resp = self._send("POST", f"{self.base}/open-apis/auth/v3/tenant_access_token/internal",
                          "tenant_access_token", json=body)
        data = self._json(resp, "tenant_access_token")
        if _code(data) != 0 or not data.get("tenant_access_token"):
            raise PermanentError(f"token refused: code {_code(data)}", platform=PLATFORM,
                                 api="tenant_access_token", code=_code(data))
        return str(data["tenant_access_token"]), int(data.get("expire") or 7200)

    # ---- the choke point ----------------------------------------------------------------
    def _call(self, method: str, path: str, api: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None, raw: bool = False,
              form: dict[str, str] | None = None, files: dict[str, Any] | None = None) -> Any:
        """One open-apis call with `Authorization: Bearer`; `data` of the answer, or the
        response itself when `raw` and the body is not JSON (resources). `form` + `files`
        make it a multipart upload."""
        for retried in (False, True):
            token = self.tokens.get()
            resp = self._send(method, f"{self.base}{path}", api, params=params, json=body,
                              data=form, files=files, headers={"Authorization": f"Bearer {token}"})
            if raw and resp.status_code == 200 and not is_json(resp):
                return resp
            data = self._json(resp, api)
            code = _code(data)
            if code in TOKEN_CODES and not retried:
                self.tokens.invalidate(token)
                continue
            _check(resp, data, api)
            return data.get("data") if isinstance(data.get("data"), dict) else {}
        raise AssertionError("unreachable")

    # ---- messages -----------------------------------------------------------------------
    def _create(self, receive_id: str, msg_type: str, content: dict[str, Any], uuid: str | None,
                id_type: str | None) -> dict[str, Any]:
        body = {"receive_id": receive_id, "msg_type": msg_type,
                "content": json.dumps(content, ensure_ascii=False)}
        if uuid:
            body["uuid"] = uuid[:UUID_LIMIT]
        data = self._call("POST", "/open-apis/im/v1/messages", "im/messages", body=body,
                          params={"receive_id_type": id_type or receive_id_type(receive_id)})
        return {"message_id": data.get("message_id")} if data.get("message_id") else {}

    def send_text(self, open_id: str, text: str, uuid: str | None = None, *,
                  id_type: str | None = None) -> dict[str, Any]:
        """POST /open-apis/im/v1/messages (msg_type text; same `uuid` within 1 h = sent once)."""
        return self._create(open_id, "text", {"text": clip_bytes(text, TEXT_LIMIT)}, uuid, id_type)

    def send_markdown(self, open_id: str, text: str, uuid: str | None = None, *,
                      id_type: str | None = None) -> dict[str, Any]:
        """POST /open-apis/im/v1/messages (msg_type post with one `md` element)."""
        return self._create(open_id, "post", _post(text), uuid, id_type)

    def send_card(self, open_id: str, card: Card, uuid: str | None = None, *,
                  id_type: str | None = None, image_key: str | None = None) -> dict[str, Any]:
        """POST /open-apis/im/v1/messages (msg_type interactive) -> {message_id}."""
        return self._create(open_id, "interactive", render_feishu(card, image_key=image_key), uuid, id_type)

    def upload_image(self, data: bytes, filename: str = "chart.png") -> str:
        """POST /open-apis/im/v1/images (multipart: image_type=message, image) -> image_key."""
        part = image_part(data, filename, sizes=(0, IMAGE_LIMIT), platform=PLATFORM, api="im/images",
                          limit_text="Feishu takes up to 10 MB")
        got = self._call("POST", "/open-apis/im/v1/images", "im/images", form={"image_type": "message"},
                         files={"image": part})
        key = str(got.get("image_key") or "")
        if not key:
            raise PermanentError("upload answered without image_key", platform=PLATFORM, api="im/images")
        return key

    def reply(self, message_id: str, text: str, uuid: str | None = None,
              markdown: bool = False) -> dict[str, Any]:
        """POST /open-apis/im/v1/messages/{message_id}/reply (quote reply in the same chat)."""
        msg_type, content = ("post", _post(text)) if markdown else (
            "text", {"text": clip_bytes(text, TEXT_LIMIT)})
        body = {"msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False)}
        if uuid:
            body["uuid"] = uuid[:UUID_LIMIT]
        data = self._call("POST", f"/open-apis/im/v1/messages/{message_id}/reply", "im/reply", body=body)
        return {"message_id": data.get("message_id")} if data.get("message_id") else {}

    def update_card(self, message_id: str, card: Card, image_key: str | None = None) -> dict[str, Any]:
        """PATCH /open-apis/im/v1/messages/{message_id} (shared card, within 14 days)."""
        content = json.dumps(render_feishu(card, image_key=image_key), ensure_ascii=False)
        self._call("PATCH", f"/open-apis/im/v1/messages/{message_id}", "im/patch", body={"content": content})
        return {"message_id": message_id}

    def delayed_update(self, token: str, card: Card) -> dict[str, Any]:
        """POST /open-apis/interactive/v1/card/update (a card callback's token: only after the
        callback has been answered, 30 min, 2 uses)."""
        self._call("POST", "/open-apis/interactive/v1/card/update", "card/update",
                   body={"token": token, "card": render_feishu(card)})
        return {}

    def download_resource(self, message_id: str, file_key: str, kind: str = "file") -> bytes:
        """GET /open-apis/im/v1/messages/{message_id}/resources/{file_key}?type=file|image."""
        resp = self._call("GET", f"/open-apis/im/v1/messages/{message_id}/resources/{file_key}",
                          "im/resources", params={"type": kind}, raw=True)
        if not isinstance(resp, requests.Response):
            raise PermanentError("resource API answered JSON without data", platform=PLATFORM,
                                 api="im/resources")
        return resp.content

    # ---- custom bot ---------------------------------------------------------------------
    def custom_bot_send(self, token: str, secret: str | None, text: str) -> dict[str, Any]:
        """POST /open-apis/bot/v2/hook/{token} with timestamp + sign in the body."""
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": clip_bytes(text, BOT_TEXT_LIMIT)}}
        if secret:
            ts = int(self.clock())
            body.update(timestamp=str(ts), sign=custom_bot_sign(secret, ts))
        resp = self._send("POST", f"{self.base}/open-apis/bot/v2/hook/{token}", "bot/hook", json=body)
        data = self._json(resp, "bot/hook")
        code = _code(data) if "code" in data else int(data.get("StatusCode") or 0)
        if code in BOT_RATE_CODES:
            raise RateLimited(f"code {code}", retry_after=60.0, platform=PLATFORM, api="bot/hook", code=code)
        if code != 0 or resp.status_code >= 400:
            raise PermanentError(f"code {code}: {detail(data.get('msg') or data.get('StatusMessage'))}",
                                 platform=PLATFORM, api="bot/hook", code=code)
        return {}


def _code(data: dict[str, Any]) -> int:
    try:
        return int(data.get("code") or 0)
    except (TypeError, ValueError):
        return -1


def _check(resp: requests.Response, data: dict[str, Any], api: str) -> None:
    code = _code(data)
    if code in TOKEN_CODES:
        raise TokenError(f"token rejected ({code})", platform=PLATFORM, api=api, code=code)
    if code in RATE_CODES:
        raise RateLimited(f"rate limited ({code})", retry_after=retry_after_of(resp),
                          platform=PLATFORM, api=api, code=code)
    if code in TRANSIENT_CODES:
        raise TransientError(f"busy ({code})", platform=PLATFORM, api=api, code=code)
    if code != 0 or resp.status_code >= 400:
        raise PermanentError(f"code {code or resp.status_code}: {detail(data.get('msg'))}",
                             platform=PLATFORM, api=api, code=code or resp.status_code)


def _post(text: str) -> dict[str, Any]:
    return {"zh_cn": {"title": "", "content": [[{"tag": "md", "text": md_safe(clip_bytes(text, TEXT_LIMIT))}]]}}
