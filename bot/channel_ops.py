"""The scheduler's view of the chat channels (`scheduler.context.ChannelOps`): platform
names and labels, a token check and one immediate text to an ops target, with the outbound
error classes mapped onto the scheduler's own."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.outbound.http import OutboundError, RateLimited, TokenError
from bot.platforms.interface import Channel
from bot.platforms.registry import PlatformRegistry
from cards.zh import polish
from scheduler.context import ChannelBusy, ChannelError, ChannelTokenError


class PlatformChannelOps:
    def __init__(self, registry: PlatformRegistry, channels: Mapping[str, Channel],
                 now: Callable[[], float]) -> None:
        self.registry = registry
        self.channels = channels
        self.now = now

    def enabled(self) -> tuple[str, ...]:
        return tuple(self.channels)

    def label(self, platform: str) -> str:
        return self.registry.label(platform)

    def _channel(self, platform: str) -> Channel:
        channel = self.channels.get(platform)
        if channel is None:
            raise ChannelError(f"platform {platform} is not enabled")
        return channel

    def check_token(self, platform: str) -> None:
        try:
            self._channel(platform).check_token()
        except OutboundError as err:
            raise _mapped(err) from None

    def send_text(self, platform: str, target: str, text: str, uuid: str) -> None:
        channel = self._channel(platform)
        to = channel.ops_recipient(target)
        try:
            # not through the outbox (an alert must not queue behind what it reports): polish here
            channel.send_text(to, channel.route(to, "text", self.now()), polish(text), False, uuid)
        except OutboundError as err:
            raise _mapped(err) from None


def _mapped(err: OutboundError) -> ChannelError:
    if isinstance(err, RateLimited):
        return ChannelBusy(str(err))
    if isinstance(err, TokenError):
        return ChannelTokenError(str(err))
    return ChannelError(str(err))
