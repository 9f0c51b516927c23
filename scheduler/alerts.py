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

from crm_core.config.schema import AlertRoute
from scheduler.context import ChannelError, JobContext

log = logging.getLogger("crm_bot.alerts")

WEBHOOK_TIMEOUT = (3.05, 10.0)
SMTP_TIMEOUT = 10.0


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


def deliver_alert(rt: JobContext, route: AlertRoute, msg: AlertMessage) -> None:
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
        text = str(err) if isinstance(err, ChannelError) else type(err).__name__
        raise AlertFailed(f"{route.type} route: {text}") from None
    log.info("%s about %s sent via %s route", msg.kind, msg.platform, route.type)


def _via_platform(rt: JobContext, route: AlertRoute, msg: AlertMessage) -> None:
    if route.platform not in rt.channel_ops.enabled() or not route.chat_id:
        raise AlertFailed(f"alert route platform {route.platform} is not enabled")
    uuid = f"alert-{msg.platform}-{msg.kind}-{int(msg.since)}-{int(msg.duration_seconds)}"[:50]
    rt.channel_ops.send_text(route.platform, route.chat_id, f"{msg.title}\n{msg.text}", uuid=uuid)


def _via_webhook(route: AlertRoute, msg: AlertMessage) -> None:
    if not route.url:
        raise AlertFailed("webhook route has no url")
    resp = requests.post(route.url, json=msg.payload(), timeout=WEBHOOK_TIMEOUT)
    if resp.status_code >= 300:
        raise AlertFailed(f"webhook answered HTTP {resp.status_code}")


def _via_smtp(route: AlertRoute, msg: AlertMessage) -> None:
    mail = EmailMessage()
    mail["Subject"] = f"[crm-bot] {msg.title}"
    mail["From"] = route.mail_from
    mail["To"] = ", ".join(route.mail_to)
    mail.set_content(msg.text)
    if not route.smtp_host:
        raise AlertFailed("smtp route has no smtp_host")
    with smtplib.SMTP(route.smtp_host, route.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
        if route.smtp_starttls:
            smtp.starttls()
        if route.smtp_user:
            password = route.smtp_password.get_secret_value() if route.smtp_password else ""
            smtp.login(route.smtp_user, password)
        smtp.send_message(mail)
