"""`PlatformSimulator`: the platforms' side towards a running crm-bot. It sends the callbacks a
user's text, voice note or card tap would produce (signed/encrypted for real, media stored in the
sandbox), waits for what crm-bot sent back, and renders that as text for `crm-bot simulate`.
Works with an in-process `SandboxServer` or, through `RemoteSandbox`, one in another process.
"""
from __future__ import annotations

import base64
import functools
import time
from dataclasses import dataclass
from typing import Any, Callable

import requests

from crm_core.config.schema import AppConfig
from sandbox.callbacks import (
    CallbackRequest, DingTalkCallbacks, FeishuCallbacks, Tamper, WeComCallbacks, stable_id,
)
from sandbox.cardjson import FoundButton, card_buttons, card_ids, card_of_call, sent_as_text
from sandbox.feishu_api import p2p_chat_id
from sandbox.state import SentCall, new_id

AUDIO_TYPES = {"amr": "audio/amr", "opus": "audio/ogg", "ogg": "audio/ogg", "wav": "audio/wav",
               "mp3": "audio/mpeg", "silk": "audio/silk", "m4a": "audio/mp4"}
POLL_INTERVAL = 0.02


class CardNotTappable(LookupError):
    """The card or button cannot be tapped (unknown card, no such button, already resolved)."""


@dataclass(frozen=True)
class Handshake:
    """A URL-verification round trip: crm-bot's answer and what the platform expects in it."""
    response: requests.Response
    expected: str

    @property
    def ok(self) -> bool:
        if self.response.status_code != 200:
            return False
        if self.response.headers.get("Content-Type", "").startswith("application/json"):
            return self.response.json().get("challenge") == self.expected
        return self.response.text == self.expected


@dataclass(frozen=True)
class StreamDelivery:
    """A DingTalk Stream frame pushed to crm-bot: in Stream mode the 'answer' is the frame's ack
    (status_code 200 once acked, 504 when no ack came), not an HTTP response."""
    message_id: str
    ack: dict[str, Any] | None

    @property
    def status_code(self) -> int:
        return 200 if self.ack is not None else 504

    @property
    def ok(self) -> bool:
        return self.ack is not None


# What sending crm-bot a message or tap gives back: the HTTP response, or in Stream mode the ack.
Delivered = requests.Response | StreamDelivery


class RemoteSandbox:
    """The simulator's handle on a sandbox running elsewhere (`crm-bot sandbox`), over /_sandbox/."""

    def __init__(self, url: str, session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = session or requests.Session()
        self._timeout = timeout

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        resp = self._http.post(f"{self.url}/_sandbox{path}", json=payload, timeout=self._timeout)
        resp.raise_for_status()
        return resp.json()

    def _sent(self, **params: Any) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v not in (None, False)}
        resp = self._http.get(f"{self.url}/_sandbox/sent", params=query, timeout=self._timeout)
        resp.raise_for_status()
        return resp.json()

    def sent(self, platform: str | None = None, api: str | None = None, *, after: int | None = None,
             include_failed: bool = False) -> list[SentCall]:
        data = self._sent(platform=platform, api=api, after=after, include_failed=int(include_failed))
        return [SentCall.from_dict(c) for c in data["calls"]]

    def last_seq(self) -> int:
        return int(self._sent(after=2 ** 62)["last_seq"])

    def put_media(self, platform: str, key: str, data: bytes, content_type: str,
                  message_id: str | None = None) -> None:
        self._post("/media", {"platform": platform, "key": key, "content_type": content_type,
                              "data": base64.b64encode(data).decode(), "message_id": message_id})

    def open_session(self, user_id: str, conversation_id: str, group: bool) -> str:
        return self._post("/session", {"user_id": user_id, "conversation_id": conversation_id,
                                       "group": group})["session"]

    def register_message(self, platform: str, message_id: str, info: dict[str, Any]) -> None:
        self._post("/message", {"platform": platform, "message_id": message_id, "info": info})

    def find_card(self, platform: str, ids: list[str]) -> dict[str, Any] | None:
        return self._post("/card", {"platform": platform, "card_ids": ids})["card"]

    def push_stream(self, platform: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._post("/stream", {"platform": platform, "kind": kind, "data": data})

    def tap_code(self, platform: str, ref: str, operator: str) -> str:
        return self._post("/tap_code", {"platform": platform, "ref": ref, "operator": operator})["code"]


class PlatformSimulator:
    """Sends platform callbacks to crm-bot at `bot_base_url`; `sandbox` is the fake platform API."""

    def __init__(self, cfg: AppConfig, bot_base_url: str, sandbox: Any, *,
                 clock: Callable[[], float] = time.time, timeout: float = 10.0,
                 feishu_card_path: str = "/callback/feishu/card") -> None:
        self.cfg, self.sandbox, self.clock, self.timeout = cfg, sandbox, clock, timeout
        self.base_url = bot_base_url.rstrip("/")
        self.http = requests.Session()
        self._feishu_card_path = feishu_card_path
        # (platform, user id, text) people wrote or said: on a local sandbox, its list (the e2e check reads it)
        shared = getattr(sandbox, "said", None)
        self.said: list[tuple[str, str, str]] = shared if isinstance(shared, list) else []

    # built lazily: a platform that is not configured cannot build its crypto
    @functools.cached_property
    def wecom(self) -> WeComCallbacks:
        return WeComCallbacks(self.cfg)

    @functools.cached_property
    def dingtalk(self) -> DingTalkCallbacks:
        return DingTalkCallbacks(self.cfg)

    @functools.cached_property
    def feishu(self) -> FeishuCallbacks:
        return FeishuCallbacks(self.cfg, self._feishu_card_path)

    def streamed(self, platform: str) -> bool:
        """DingTalk Stream / Feishu long-connection mode: messages and taps go as frames over
        crm-bot's own connection to the sandbox's gateway, not as signed HTTP callbacks."""
        p = getattr(self.cfg.platforms, platform)
        return p.enabled and getattr(p, "mode", "http") in ("stream", "long_connection")

    def _stream(self, platform: str, kind: str, payload: dict[str, Any]) -> StreamDelivery:
        got = self.sandbox.push_stream(platform, kind, payload)
        return StreamDelivery(got["message_id"], got.get("ack") if got.get("acked") else None)

    # ---- messages ----------------------------------------------------------------------
    def send_text(self, platform: str, user_id: str, text: str, *, msg_id: str | None = None,
                  chat_id: str | None = None, forge_signature: bool = False,
                  timestamp: float | None = None, raw_body: bytes | None = None) -> Delivered:
        """A user's text message (WeCom app chats are one-to-one: `chat_id` is ignored there)."""
        tamper, now = Tamper(forge_signature, timestamp, raw_body), self.clock()
        self.said.append((platform, user_id, text))
        if platform == "wecom":
            return self.post(self.wecom.request(self.wecom.text(user_id, text, msg_id, int(now)), now, tamper))
        return self._send_json(platform, user_id, "text", {"text": text}, msg_id, chat_id, now, tamper)

    def send_voice(self, platform: str, user_id: str, audio: bytes, *, fmt: str, duration_ms: int,
                   recognition: str | None = None, msg_id: str | None = None, chat_id: str | None = None,
                   forge_signature: bool = False, timestamp: float | None = None,
                   raw_body: bytes | None = None) -> Delivered:
        """A voice note: the audio goes into the sandbox media store under a fresh key."""
        tamper, now = Tamper(forge_signature, timestamp, raw_body), self.clock()
        content_type = AUDIO_TYPES.get(fmt.lower(), "application/octet-stream")
        if recognition:
            self.said.append((platform, user_id, recognition))
        if platform == "wecom":
            media_id = new_id("sbx-media-", 16)
            self.sandbox.put_media("wecom", media_id, audio, content_type)
            xml = self.wecom.voice(user_id, media_id, fmt, int(now))
            return self.post(self.wecom.request(xml, now, tamper))
        if platform == "dingtalk":
            code = new_id("sbx-dl-", 16)
            self.sandbox.put_media("dingtalk", code, audio, content_type)
            content = {"duration": duration_ms, "downloadCode": code}
            if recognition:
                content["recognition"] = recognition
            return self._send_json(platform, user_id, "audio", content, msg_id, chat_id, now, tamper)
        message_id = msg_id or new_id("om_", 16)
        file_key = new_id("file_v3_", 16)
        self.sandbox.put_media("feishu", file_key, audio, content_type, message_id)
        return self._send_json(platform, user_id, "audio", {"file_key": file_key, "duration": duration_ms},
                               message_id, chat_id, now, tamper)

    def _send_json(self, platform: str, user_id: str, kind: str, content: dict[str, Any],
                   msg_id: str | None, chat_id: str | None, now: float, tamper: Tamper) -> Delivered:
        if platform == "dingtalk":
            conversation = chat_id or stable_id("cid", self.dingtalk.robot_code, user_id)
            session = self.sandbox.open_session(user_id, conversation, bool(chat_id))
            body = {"text": {"content": content["text"]}} if kind == "text" else {"content": content}
            payload = self.dingtalk.message(user_id, kind, body, msg_id=msg_id, chat_id=chat_id, now=now,
                                            session_url=f"{self.sandbox.url}/dingtalk/session/{session}")
            if self.streamed("dingtalk"):
                return self._stream("dingtalk", "message", payload)
            return self.post(self.dingtalk.request(payload, now, tamper))
        if platform != "feishu":
            raise ValueError(f"未知平台：{platform!r}")
        message_id, chat = msg_id or new_id("om_", 16), chat_id or p2p_chat_id(user_id)
        self.sandbox.register_message("feishu", message_id, {
            "recipient": chat_id or user_id, "chat_id": chat, "msg_type": kind, "inbound": True})
        payload = self.feishu.message(user_id, message_id, chat, bool(chat_id), kind, content, now)
        if self.streamed("feishu"):
            return self._stream("feishu", "message", payload)
        return self.post(self.feishu.request(payload, now, tamper))

    # ---- card taps ------------------------------------------------------------------------
    def tap(self, platform: str, user_id: str, card_payload_or_sent_call: SentCall | dict[str, Any],
            action: str, *, forge_signature: bool = False, timestamp: float | None = None,
            raw_body: bytes | None = None, stale_ok: bool = False, **values: Any) -> Delivered:
        """Tap the button `action` (the action key or the button text; `values` narrow it down)
        on a card crm-bot sent. The card's latest state counts: a resolved card cannot be
        tapped again unless `stale_ok` (a second client still showing the old card)."""
        sent = card_payload_or_sent_call
        platform = sent.platform if isinstance(sent, SentCall) else platform
        card = _card_json(platform, sent)
        found = self._find(platform, sent, card)
        current = card if stale_ok else (found.get("card") or card)
        disabled = bool(found.get("disabled")) and not stale_ok
        buttons = card_buttons(platform, current, disabled)
        if not _matching(buttons, action, values) and _matching(card_buttons(platform, card), action, values):
            raise CardNotTappable(f"卡片已更新，按钮 {action!r} 已处理，不可再点")
        button = pick_button(buttons, action, values)
        tamper, now, ref = Tamper(forge_signature, timestamp, raw_body), self.clock(), found["ref"]
        code = self.sandbox.tap_code(platform, ref, user_id)
        if platform == "wecom":
            xml = self.wecom.card_event(user_id, button.payload, str(current.get("task_id") or button.card_id),
                                        str(current.get("card_type", "button_interaction")), code, int(now))
            return self.post(self.wecom.request(xml, now, tamper))
        if platform == "dingtalk":
            return self._tap_dingtalk(user_id, found, button, tamper)
        payload = self.feishu.card_action(user_id, button.payload, ref, found.get("chat_id", ""), code, now)
        if self.streamed("feishu"):
            return self._stream("feishu", "card", payload)
        return self.post(self.feishu.request(payload, now, tamper, self.feishu.card_path))

    def _tap_dingtalk(self, user_id: str, found: dict[str, Any], button: FoundButton,
                      tamper: Tamper) -> Delivered:
        """DingTalk reports a tap only for a card created with callback settings: over the
        app's Stream connection (callbackType STREAM), or POSTed to the URL registered for the
        card's route key (HTTP; the ordinary robot card: its callbackUrl)."""
        callback = found.get("callback")
        if not callback:
            raise CardNotTappable("这张钉钉卡片创建时没有回调设置（callbackType），点击不会回传给应用")
        group = found["recipient"] if found.get("group") else None
        payload = self.dingtalk.card_callback(user_id, found["ref"], str(button.payload), group,
                                              button.extra.get("slot"))
        if callback.get("type") == "STREAM":
            return self._stream("dingtalk", "card", payload)
        url = found.get("callback_url")
        if not url:
            raise CardNotTappable(f"卡片的回调路由 {callback.get('route')!r} 没有注册地址")
        return self.post(self.dingtalk.card_request(payload, str(url), tamper))

    def _find(self, platform: str, sent: Any, card: dict[str, Any]) -> dict[str, Any]:
        ids = [str(card.get("task_id") or "")] if platform == "wecom" else []
        body = sent.body if isinstance(sent, SentCall) else sent if isinstance(sent, dict) else {}
        ids += [str(body.get(k) or "") for k in ("outTrackId", "cardBizId")]
        found = self.sandbox.find_card(platform, [i for i in ids if i] + card_ids(platform, card))
        if found is None:
            raise CardNotTappable("沙箱里找不到这张卡片：它不是通过这个沙箱发出的")
        return found

    # ---- handshakes, retries ----------------------------------------------------------------
    def verify_url(self, platform: str, *, forge_signature: bool = False,
                   timestamp: float | None = None) -> Handshake:
        """WeCom's GET echostr handshake / Feishu's url_verification challenge."""
        tamper, now, expected = Tamper(forge_signature, timestamp), self.clock(), new_id("", 10)
        if platform == "wecom":
            return Handshake(self.post(self.wecom.handshake(expected, now, tamper)), expected)
        if platform == "feishu":
            req = self.feishu.request(self.feishu.challenge(expected), now, tamper)
            return Handshake(self.post(req), expected)
        raise ValueError(f"{platform} 的 HTTP 回调没有 URL 校验握手")

    def post(self, req: CallbackRequest) -> requests.Response:
        """Send one built callback to crm-bot."""
        prepared = self.http.prepare_request(requests.Request(
            req.method, self.base_url + req.path, params=req.params, headers=req.headers,
            data=req.body if req.method != "GET" else None))
        return self.http.send(prepared, timeout=self.timeout)

    def resend(self, response_or_request: requests.Response | requests.PreparedRequest) -> requests.Response:
        """Deliver the exact same request again, as a platform retry does."""
        prepared = (response_or_request.request if isinstance(response_or_request, requests.Response)
                    else response_or_request)
        return self.http.send(prepared.copy(), timeout=self.timeout)

    # ---- what crm-bot sent ------------------------------------------------------------------
    def mark(self) -> int:
        """A position in the sandbox record: pass it as `after` to see only newer calls."""
        return self.sandbox.last_seq()

    def wait_for_sent(self, platform: str | None = None, api: str | None = None, count: int = 1,
                      timeout: float = 10.0, *, after: int | None = None) -> list[SentCall]:
        """Poll until `count` delivered calls match, then return all matching calls."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.sandbox.sent(platform, api, after=after)
            if len(calls) >= count:
                return calls
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{timeout:g} 秒内只等到 {len(calls)} 条发出的消息（需要 {count} 条）")
            time.sleep(POLL_INTERVAL)

    @staticmethod
    def sent_as_text(calls: list[SentCall]) -> str:
        return sent_as_text(calls)


def _card_json(platform: str, sent: SentCall | dict[str, Any]) -> dict[str, Any]:
    """The platform card JSON from a recorded call, a recorded body, or the card itself."""
    call = sent if isinstance(sent, SentCall) else SentCall(platform, "", "", dict(sent), 200, {}, 0.0)
    card = card_of_call(call)
    if card is None and isinstance(sent, dict) and card_buttons(platform, sent):
        card = sent
    if card is None:
        raise CardNotTappable("这条消息里没有卡片")
    return card


def pick_button(buttons: list[FoundButton], action: str, values: dict[str, Any]) -> FoundButton:
    """The one live button whose action key (or text) is `action` and whose values match."""
    matching = _matching(buttons, action, values)
    live = [b for b in matching if not b.disabled]
    if len(live) == 1:
        return live[0]
    offer = "、".join(f"{b.text}({b.action})" for b in buttons if not b.disabled) or "无"
    if not live:
        why = "已处理，按钮不可再点" if matching else "没有这个按钮"
        raise CardNotTappable(f"卡片上{why}：{action!r}（可点的按钮：{offer}）")
    raise CardNotTappable(f"卡片上有 {len(live)} 个 {action!r} 按钮，请用按钮参数区分（{offer}）")


def _matching(buttons: list[FoundButton], action: str, values: dict[str, Any]) -> list[FoundButton]:
    return [b for b in buttons if action in (b.action, b.text)
            and all(b.values.get(k) == str(v) for k, v in values.items())]
