"""The only list of chat platforms. Everything that needs "each platform" (callback routes,
connections, clients, CLI choices, labels) asks a `PlatformRegistry`; the composition root
holds the deployment's one instance. Adding a platform is one package plus one
`register` call."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from bot.platforms.dingtalk.platform import DingTalkPlatform
from bot.platforms.feishu.platform import FeishuPlatform
from bot.platforms.interface import Platform
from bot.platforms.wecom.platform import WeComPlatform


class UnknownPlatform(KeyError):
    pass


class PlatformRegistry:
    def __init__(self, platforms: Iterable[Platform] = ()) -> None:
        self._by_name: dict[str, Platform] = {}
        for p in platforms:
            self.register(p)

    def register(self, platform: Platform) -> None:
        if not platform.name or platform.name in self._by_name:
            raise ValueError(f"platform name {platform.name!r} is empty or taken")
        self._by_name[platform.name] = platform

    def get(self, name: str) -> Platform:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownPlatform(name) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def label(self, name: str) -> str:
        p = self._by_name.get(name)
        return p.label if p else name

    def __iter__(self) -> Iterator[Platform]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def default_registry() -> PlatformRegistry:
    """WeCom, DingTalk and Feishu: the platforms crm-bot ships."""
    return PlatformRegistry([WeComPlatform(), DingTalkPlatform(), FeishuPlatform()])
