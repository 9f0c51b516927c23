"""帮助 lists every command in one message on every platform, and 「帮助 词」 gives examples."""
from __future__ import annotations

from bot.platforms.registry import default_registry
from cards.zh import polish
from handlers.commands import help_text
from handlers.load import build_registry

REGISTRY = build_registry()


def test_the_command_list_fits_one_text_on_every_platform() -> None:
    text = polish(help_text(REGISTRY))          # as the outbox sends it (full-width marks are 3 bytes)
    for platform in default_registry():
        for route in ("app", "robot"):
            assert len(text.encode()) <= platform.text_limit(route), (platform.name, route)
    names = [cmd.name for cmd in REGISTRY.commands if cmd.example and cmd.name not in ("帮助", "取消")]
    assert all(f"· {name}:" in help_text(REGISTRY) for name in names)
    assert "例:" not in help_text(REGISTRY)


def test_a_word_after_help_shows_those_commands_with_examples() -> None:
    text = help_text(REGISTRY, "审批")
    assert "· 提交审批:" in text and "例:提交审批 #12" in text and "· 新建:" not in text
    assert help_text(REGISTRY, "飞机") == "没有叫「飞机」的命令。发「帮助」查看全部命令。"
