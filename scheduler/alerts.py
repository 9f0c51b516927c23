"""Alert delivery for the channel heartbeat: one message over the route configured for the
failing platform — another platform's ops chat, a webhook (POST JSON) or e-mail (SMTP).
Sent synchronously, not through the outbox queue: the worker being down is one of the
faults being reported. Raises `AlertFailed` so the caller retries on its next tick."""
from __future__ import annotations

import logging
import smtplib
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

import requests

from bot.outbound.message import Recipient

log = logging.getLogger("crm_bot.alerts")

WEBHOOK_TIMEOUT = (3.05, 10.0)
SMTP_TIMEOUT = 10.0
PLATFORM_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书"}


class AlertFailed(Exception):
    """The alert route did not take the message (text never holds URLs or secrets)."""


@dataclass(frozen=True)
class AlertMessage:
    kind: str                  # "alert" | "reminder" | "recovery"
    platform: str              # the channel the alert is about
    leg: str                   # root-cause leg: token | send | callback | backlog | worker
    title: str
    text: str
    since: float               # epoch seconds the incident began
    duration_seconds: float

    def payload(self) -> dict[str, Any]:
        """The webhook body."""
        return {"source": "crm-bot", "event": f"channel.{self.kind}", **asdict(self)}


def ops_recipient(cfg: Any, platform: str, target: str) -> Recipient:
    """A configured ops target as a Recipient: chats are told apart by their id shape
    (Feishu oc_…, DingTalk cid… open conversation ids, WeCom group-robot team ids)."""
    if platform == "feishu" and target.startswith("oc_"):
        return Recipient(platform, chat_id=target)
    if platform == "dingtalk" and target.startswith("cid"):
        return Recipient(platform, chat_id=target)
    if platform == "wecom" and target in cfg.platforms.wecom.group_webhooks:
        return Recipient(platform, chat_id=target)
    return Recipient(platform, user_id=target)


def send_platform_text(rt: Any, platform: str, target: str, text: str, uuid: str | None = None) -> dict[str, Any]:
    """Send one text right now with the platform's client (raises OutboundError)."""
    from bot.outbound.delivery import PLATFORMS, client_for
    mod = PLATFORMS[platform]
    to = ops_recipient(rt.cfg, platform, target)
    route = mod.route(rt.cfg, to, "text", now=rt.clock().timestamp())
    return mod.send_text_to(client_for(rt, platform), rt.cfg, to, route, text, False, uuid=uuid)


def deliver_alert(rt: Any, route: Any, msg: AlertMessage) -> None:
    """Send `msg` over `route` (an AlertRoute); AlertFailed if it did not go out."""
    try:
        if route.type == "platform":
            _via_platform(rt, route, msg)
        elif route.type == "webhook":
            _via_webhook(route, msg)
        else:
            _via_smtp(route, msg)
    except AlertFailed:
        raise
    except Exception as err:  # noqa: BLE001 - any failure means "try again next tick"
        # str(err) of a requests/smtplib error may contain the URL or server reply: type only
        text = str(err) if type(err).__module__.startswith("bot.outbound") else type(err).__name__
        raise AlertFailed(f"{route.type} route: {text}") from None
    log.info("%s about %s sent via %s route", msg.kind, msg.platform, route.type)


def _via_platform(rt: Any, route: Any, msg: AlertMessage) -> None:
    if not getattr(rt.cfg.platforms, route.platform).enabled:
        raise AlertFailed(f"alert route platform {route.platform} is not enabled")
    uuid = f"alert-{msg.platform}-{msg.kind}-{int(msg.since)}-{int(msg.duration_seconds)}"[:50]
    send_platform_text(rt, route.platform, route.chat_id, f"{msg.title}\n{msg.text}", uuid=uuid)


def _via_webhook(route: Any, msg: AlertMessage) -> None:
    resp = requests.post(route.url, json=msg.payload(), timeout=WEBHOOK_TIMEOUT)
    if resp.status_code >= 300:
        raise AlertFailed(f"webhook answered HTTP {resp.status_code}")


def _via_smtp(route: Any, msg: AlertMessage) -> None:
    mail = EmailMessage()
    mail["Subject"] = f"[crm-bot] {msg.title}"
    mail["From"] = route.mail_from
    mail["To"] = ", ".join(route.mail_to)
    mail.set_content(msg.text)
    with smtplib.SMTP(route.smtp_host, route.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
        if route.smtp_starttls:
            smtp.starttls()
        if route.smtp_user:
            password = route.smtp_password.get_secret_value() if route.smtp_password else ""
            smtp.login(route.smtp_user, password)
        smtp.send_message(mail)
