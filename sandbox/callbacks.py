"""The platform's side of a callback: the exact HTTP request WeCom, DingTalk or Feishu would send
to crm-bot, signed and encrypted with the configured secrets through the inbound adapters' own
helpers. Payload builders are pure; `Tamper` produces the bad requests tests need.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.platforms.dingtalk.signing import robot_headers, robot_sign
from bot.platforms.feishu.inbound import FeishuInbound
from bot.platforms.wecom.crypto import new_nonce
from bot.platforms.wecom.inbound import WeComInbound
from crm_core.config.schema import AppConfig

FORGED = "forged-secret"
TENANT_KEY = "sandbox-tenant"
BOT_NAME = "CRM助手"


@dataclass(frozen=True)
class Tamper:
    """Ways to spoil a request: a wrong signature, a chosen timestamp (epoch seconds), a body."""
    forge_signature: bool = False
    timestamp: float | None = None
    raw_body: bytes | None = None


@dataclass(frozen=True)
class CallbackRequest:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _digits(n: int = 19) -> str:
    return str(secrets.randbelow(9 * 10 ** (n - 1)) + 10 ** (n - 1))


def stable_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


class WeComCallbacks:
    """Encrypted XML callbacks to `/callback/wecom` (and the GET echostr handshake)."""

    path = "/callback/wecom"

    def __init__(self, cfg: AppConfig) -> None:
        w = cfg.platforms.wecom
        self.corp_id, self.agent_id = w.corp_id, str(w.agent_id or "")
        self._inbound = WeComInbound(w.token.get_secret_value(), w.encoding_aes_key.get_secret_value(),
                                     w.corp_id)
        self._forged = WeComInbound(FORGED, w.encoding_aes_key.get_secret_value(), w.corp_id)

    def xml(self, user_id: str, created: int, fields: dict[str, str]) -> str:
        """Inner plaintext XML of one message or event."""
        head = {"ToUserName": self.corp_id, "FromUserName": user_id}
        body = "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in head.items())
        body += f"<CreateTime>{created}</CreateTime>"
        body += "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in fields.items())
        return f"<xml>{body}<AgentID>{self.agent_id}</AgentID></xml>"

    def text(self, user_id: str, text: str, msg_id: str | None, created: int) -> str:
        return self.xml(user_id, created, {"MsgType": "text", "Content": text, "MsgId": msg_id or _digits()})

    def voice(self, user_id: str, media_id: str, fmt: str, created: int) -> str:
        return self.xml(user_id, created, {"MsgType": "voice", "MediaId": media_id, "Format": fmt,
                                           "MsgId": _digits()})

    def card_event(self, user_id: str, key: str, task_id: str, card_type: str,
                   response_code: str, created: int) -> str:
        return self.xml(user_id, created, {"MsgType": "event", "Event": "template_card_event",
                                           "EventKey": key, "TaskId": task_id, "CardType": card_type,
                                           "ResponseCode": response_code})

    def request(self, plain_xml: str, now: float, tamper: Tamper) -> CallbackRequest:
        ts = str(int(tamper.timestamp if tamper.timestamp is not None else now))
        signer = self._forged if tamper.forge_signature else self._inbound
        body, params = signer.encrypt_callback(plain_xml, new_nonce(10), ts, self.agent_id)
        payload = tamper.raw_body if tamper.raw_body is not None else body.encode()
        return CallbackRequest("POST", self.path, params, {"Content-Type": "text/xml"}, payload)

    def handshake(self, echo: str, now: float, tamper: Tamper) -> CallbackRequest:
        ts = str(int(tamper.timestamp if tamper.timestamp is not None else now))
        signer = self._forged if tamper.forge_signature else self._inbound
        return CallbackRequest("GET", self.path, signer.encrypt_echostr(echo, new_nonce(10), ts))


class DingTalkCallbacks:
    """HTTP robot callbacks to `/callback/dingtalk`: JSON body, `timestamp` + `sign` headers."""

    path = "/callback/dingtalk"

    def __init__(self, cfg: AppConfig) -> None:
        d = cfg.platforms.dingtalk
        self._secret, self.robot_code = d.app_secret.get_secret_value(), d.robot_code
        self.corp_id = stable_id("ding", d.app_key)
        self._last_ms, self._lock = 0, threading.Lock()

    def message(self, user_id: str, msgtype: str, content: dict[str, Any], *, msg_id: str | None,
                chat_id: str | None, session_url: str, now: float) -> dict[str, Any]:
        created = int(now * 1000)
        payload = {
            "msgtype": msgtype, "msgId": msg_id or stable_id("msg", _digits()), "createAt": created,
            "conversationType": "2" if chat_id else "1",
            "conversationId": chat_id or stable_id("cid", self.robot_code, user_id),
            "senderId": stable_id("$:LWCP_v1:$", user_id), "senderNick": user_id,
            "senderCorpId": self.corp_id, "senderStaffId": user_id,
            "chatbotUserId": stable_id("$:LWCP_v1:$", self.robot_code), "chatbotCorpId": self.corp_id,
            "robotCode": self.robot_code, "isAdmin": False, "isInAtList": True,
            "sessionWebhook": session_url, "sessionWebhookExpiredTime": created + 5400 * 1000,
            **content,
        }
        if chat_id:
            payload.update(conversationTitle="销售群", atUsers=[{"dingtalkId": payload["chatbotUserId"]}])
        return payload

    def card_callback(self, user_id: str, out_track_id: str, token: str, group_id: str | None,
                      slot: int | None = None) -> dict[str, Any]:
        """A tap as DingTalk reports it (Stream `data` / HTTP body). On a template instance
        (`slot` given) the slot's button passes its token as the callback parameter `token`;
        on the robot's ordinary card the button id itself comes back in `actionIds`."""
        private = ({"actionIds": [f"btn{slot}"], "params": {"token": token}} if slot is not None
                   else {"actionIds": [token], "params": {}})
        return {"type": "actionCallback", "outTrackId": out_track_id, "corpId": self.corp_id,
                "userId": user_id, "userIdType": 1, "robotCode": self.robot_code,
                "spaceType": "IM_GROUP" if group_id else "IM_ROBOT",
                "spaceId": group_id or stable_id("cid", self.robot_code, user_id),
                "extension": "{}", "content": json.dumps({"cardPrivateData": private}, ensure_ascii=False)}

    @staticmethod
    def card_request(payload: dict[str, Any], registered_url: str, tamper: Tamper) -> CallbackRequest:
        """An HTTP card callback: a plain JSON POST to the URL registered for the card's route
        key (path and query; the simulator sends it to crm-bot's address). No sign headers: the
        card-callback docs describe none. `forge_signature` spoils the URL's token."""
        parts = urlsplit(registered_url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if tamper.forge_signature:
            params["token"] = FORGED
        body = (tamper.raw_body if tamper.raw_body is not None
                else json.dumps(payload, ensure_ascii=False).encode())
        return CallbackRequest("POST", parts.path or "/", params,
                               {"Content-Type": "application/json; charset=utf-8"}, body)

    def request(self, payload: dict[str, Any], now: float, tamper: Tamper) -> CallbackRequest:
        ts_ms = int(tamper.timestamp * 1000) if tamper.timestamp is not None else self._next_ms(now)
        headers = robot_headers(self._secret, ts_ms)
        if tamper.forge_signature:
            headers["sign"] = robot_sign(FORGED, ts_ms)
        headers["Content-Type"] = "application/json; charset=utf-8"
        body = (tamper.raw_body if tamper.raw_body is not None
                else json.dumps(payload, ensure_ascii=False).encode())
        return CallbackRequest("POST", self.path, {}, headers, body)

    def _next_ms(self, now: float) -> int:
        """`now` in ms, but never the same as an earlier request's: crm-bot takes a (timestamp,
        sign) pair with one body only, and two messages sent within a millisecond (or under a
        frozen test clock) would share one."""
        with self._lock:
            self._last_ms = max(int(now * 1000), self._last_ms + 1)
            return self._last_ms


class FeishuCallbacks:
    """Event subscription v2 pushes (encrypted and signed when an Encrypt Key is configured)."""

    path = "/callback/feishu"

    def __init__(self, cfg: AppConfig, card_path: str = "/callback/feishu/card") -> None:
        f = cfg.platforms.feishu
        self.app_id, self.card_path = f.app_id, card_path
        self._token = f.verification_token.get_secret_value()
        key = f.encrypt_key.get_secret_value() or None
        self._inbound = FeishuInbound(self._token, key)
        self._forged = FeishuInbound(FORGED, FORGED) if key else None
        self.encrypted = key is not None

    def envelope(self, event_type: str, event: dict[str, Any], now: float) -> dict[str, Any]:
        header = {"event_id": secrets.token_hex(16), "event_type": event_type,
                  "create_time": str(int(now * 1000)), "token": self._token,
                  "app_id": self.app_id, "tenant_key": TENANT_KEY}
        return {"schema": "2.0", "header": header, "event": event}

    @staticmethod
    def user_ids(user_id: str) -> dict[str, str]:
        return {"open_id": user_id, "user_id": user_id, "union_id": stable_id("on_", user_id)}

    def message(self, user_id: str, message_id: str, chat_id: str, group: bool, msg_type: str,
                content: dict[str, Any], now: float) -> dict[str, Any]:
        mentions = []
        if group and msg_type == "text":   # in a group the bot only hears @-mentions
            content = {**content, "text": f"@_user_1 {content.get('text', '')}"}
            mentions = [{"key": "@_user_1", "name": BOT_NAME, "tenant_key": TENANT_KEY,
                         "id": {"open_id": stable_id("ou_", self.app_id), "user_id": "", "union_id": ""}}]
        ms = str(int(now * 1000))
        message = {"message_id": message_id, "root_id": "", "parent_id": "", "create_time": ms,
                   "update_time": ms, "chat_id": chat_id, "chat_type": "group" if group else "p2p",
                   "message_type": msg_type, "content": json.dumps(content, ensure_ascii=False),
                   "mentions": mentions}
        sender = {"sender_id": self.user_ids(user_id), "sender_type": "user", "tenant_key": TENANT_KEY}
        return self.envelope("im.message.receive_v1", {"sender": sender, "message": message}, now)

    def card_action(self, user_id: str, value: Any, message_id: str, chat_id: str, token: str,
                    now: float) -> dict[str, Any]:
        event = {"operator": {"tenant_key": TENANT_KEY, **self.user_ids(user_id)}, "token": token,
                 "action": {"value": value, "tag": "button"}, "host": "im_message",
                 "context": {"open_message_id": message_id, "open_chat_id": chat_id}}
        return self.envelope("card.action.trigger", event, now)

    def challenge(self, challenge: str) -> dict[str, Any]:
        return {"challenge": challenge, "token": self._token, "type": "url_verification"}

    def request(self, payload: dict[str, Any], now: float, tamper: Tamper,
                path: str | None = None) -> CallbackRequest:
        ts = str(int(tamper.timestamp if tamper.timestamp is not None else now))
        if tamper.forge_signature and not self.encrypted:
            # plain mode authenticates by the verification token inside the body
            payload = _with_token(payload, FORGED)
        plain = json.dumps(payload, ensure_ascii=False)
        body = (tamper.raw_body if tamper.raw_body is not None
                else (self._inbound.encrypt_body(plain) if self.encrypted else plain).encode())
        signer = self._forged if tamper.forge_signature and self._forged else self._inbound
        headers = {"Content-Type": "application/json; charset=utf-8",
                   **signer.signed_headers(body, ts, new_nonce(12))}
        return CallbackRequest("POST", path or self.path, {}, headers, body)


def _with_token(payload: dict[str, Any], token: str) -> dict[str, Any]:
    """A copy of a Feishu payload carrying another verification token (v2 header or v1 body)."""
    copy = json.loads(json.dumps(payload))
    if isinstance(copy.get("header"), dict):
        copy["header"]["token"] = token
    else:
        copy["token"] = token
    return copy
