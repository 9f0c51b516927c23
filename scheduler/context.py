"""What scheduler jobs are given: the deployment's config, storage, KV, clock, notice
delivery, a small view of the chat channels (`ChannelOps`) and of the outbox (`OutboxOps`). The composition root
(`bot.runtime.Runtime`) provides all of it; the scheduler never imports `bot`."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from crm_core.config.schema import AppConfig
from crm_core.db import Database
from crm_core.kv.base import KV
from crm_core.notices import Notice


class ChannelError(Exception):
    """A channel did not take a message; the text names the platform, API and code only."""


class ChannelBusy(ChannelError):
    """Rate limited: authenticated and reachable, only busy."""


class ChannelTokenError(ChannelError):
    """The app's credentials were refused."""


class ChannelOps(Protocol):
    def enabled(self) -> tuple[str, ...]:
        """Names of the platforms this deployment runs."""
        ...

    def label(self, platform: str) -> str:
        """The platform's name for people (企业微信, 钉钉, 飞书)."""
        ...

    def check_token(self, platform: str) -> None:
        """Raise ChannelError (ChannelTokenError for refused credentials) when the app can't
        authenticate."""
        ...

    def send_text(self, platform: str, target: str, text: str, uuid: str) -> None:
        """Send one text to an ops target right now (not through the outbox: the worker being
        down is one of the faults reported). Raises ChannelError, or ValueError for a target
        no route can reach."""
        ...


class OutboxOps(Protocol):
    def requeue_stalled(self, older_than: datetime, limit: int = ...) -> int:
        """Put outbound messages that have made no progress since `older_than` back on their
        queue (their queue message was lost); returns how many. Sends nothing twice."""
        ...


class JobContext(Protocol):
    # read-only members, so any object that has them (the runtime's dataclass fields) fits
    @property
    def cfg(self) -> AppConfig: ...

    @property
    def db(self) -> Database: ...

    @property
    def kv(self) -> KV: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def channel_ops(self) -> ChannelOps: ...

    @property
    def outbox(self) -> OutboxOps: ...

    def deliver(self, notices: Iterable[Notice]) -> int: ...
