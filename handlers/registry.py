"""Where handlers are found: by command word (Chinese first, English aliases), by card action
key, or by event kind, with one free-text fallback. Each handler module fills a `Registry` in
its `register(registry)`; handlers.load.build_registry() builds the one the bot uses.
`dispatch` picks a handler and normalizes its result."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.events import EventKind
from handlers.context import Context, Reply

HandlerResult = list[Reply] | Reply | str | None
HandlerFn = Callable[[Context], HandlerResult]


@dataclass
class Command:
    name: str
    aliases: tuple[str, ...]
    fn: HandlerFn
    usage: str
    example: str


@dataclass
class Registry:
    commands: list[Command] = field(default_factory=list)
    actions: dict[str, HandlerFn] = field(default_factory=dict)    # action key prefix → handler
    kinds: dict[EventKind, HandlerFn] = field(default_factory=dict)
    fallback: HandlerFn | None = None                              # free text
    # sentences that don't start with a command word (「李娜 已离职」): tried before the fallback
    patterns: list[tuple[re.Pattern[str], HandlerFn]] = field(default_factory=list)

    def add_command(self, fn: HandlerFn, *words: str, usage: str = "", example: str = "") -> None:
        """`words[0]` is the command's name (帮助 lists commands in the order they were added)."""
        self.commands.append(Command(words[0], tuple(words), fn, usage, example))

    def add_action(self, prefix: str, fn: HandlerFn) -> None:
        self.actions[prefix] = fn

    def add_kind(self, kind: EventKind, fn: HandlerFn) -> None:
        self.kinds[kind] = fn

    def set_fallback(self, fn: HandlerFn) -> None:
        self.fallback = fn

    def add_pattern(self, pattern: str, fn: HandlerFn) -> None:
        """A whole message matching `pattern` (its named groups reach the handler as ctx.data)."""
        self.patterns.append((re.compile(pattern), fn))

    def match_pattern(self, text: str) -> tuple[HandlerFn, dict[str, str]] | None:
        t = text.strip()
        for pattern, fn in self.patterns:
            m = pattern.fullmatch(t)
            if m:
                return fn, {k: v for k, v in m.groupdict().items() if v is not None}
        return None

    def match_command(self, text: str) -> tuple[Command, str] | None:
        """The command a message starts with (longest alias first) and the rest of it; a
        leading slash is ignored (「/help」 as other bots taught people)."""
        t = text.strip().lstrip("/／").strip()
        best: tuple[Command, str, int] | None = None
        for cmd in self.commands:
            for alias in cmd.aliases:
                if _starts_with_word(t, alias) and (best is None or len(alias) > best[2]):
                    best = (cmd, t[len(alias):].strip(" :：,，"), len(alias))
        return (best[0], best[1]) if best else None

    def match_action(self, key: str) -> HandlerFn | None:
        for prefix in sorted(self.actions, key=len, reverse=True):
            if key == prefix or key.startswith(prefix + "."):
                return self.actions[prefix]
        return None


def _starts_with_word(text: str, alias: str) -> bool:
    if not text.lower().startswith(alias.lower()):
        return False
    rest = text[len(alias):]
    # English aliases must end at a word boundary ("help" but not "helpful"); Chinese need not.
    return not (alias.isascii() and rest and re.match(r"[A-Za-z0-9]", rest))


def as_replies(result: HandlerResult) -> list[Reply]:
    if result is None:
        return []
    if isinstance(result, Reply):
        return [result]
    if isinstance(result, str):
        return [Reply(result)]
    return [r if isinstance(r, Reply) else Reply(r) for r in result]
