"""Chinese text as people should read it: full-width punctuation in Chinese sentences
(`polish`, `halfwidth_marks`), a card polished the same way (`polish_card`) and a cut that
never splits a word (`clip_at_boundary`). Applied once where every message leaves the bot
(bot/outbound/delivery.py `Outbox.send`), so handlers, notices and service errors need not
each remember it. English sentences, numbers, times, URLs and markdown links stay as written."""
from __future__ import annotations

import dataclasses
import re

from cards.model import ELLIPSIS, Card, Field

# Han characters and the CJK / full-width punctuation that only Chinese text uses.
_ZH = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff5e\u2014\u2026\u201c\u201d"
_ZH_CHAR = re.compile(f"[{_ZH}]")
# The stars of a masked phone (138****5678), which markdown would read as an empty bold.
MASK_STARS = re.compile(r"(?<=\d)\*+(?=\d)")
FULL = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", "(": "（", ")": "）"}
# a half-width mark with a Chinese character (spaces between allowed) on one side
_MARK = re.compile(r"[,;:!?]")
_PAREN = re.compile(r"\(([^()\n]{0,200})\)")


def is_zh(ch: str) -> bool:
    return bool(ch) and _ZH_CHAR.match(ch) is not None


def _prev(text: str, i: int) -> str:
    return text[i - 1] if i > 0 else ""


def _next_visible(text: str, i: int) -> str:
    j = i
    while j < len(text) and text[j] == " ":
        j += 1
    return text[j] if j < len(text) else ""


def _mark_is_zh(text: str, i: int) -> bool:
    """Whether the mark at `i` punctuates a Chinese sentence."""
    mark, before, after = text[i], _prev(text, i), _next_visible(text, i + 1)
    if text.startswith("//", i + 1):                       # http://
        return False
    if before.isdigit() and (i + 1 < len(text) and text[i + 1].isdigit()):
        return False                                       # 1,000 · 14:03
    if mark in "!?" and before in ("", " ", "\n"):
        return False                                       # a lone "?" (a command) or "!important"
    return is_zh(before) or (mark in ",;:" and is_zh(after))


def _paren_is_zh(text: str, m: re.Match[str]) -> bool:
    inner, before = m.group(1), _prev(text, m.start())
    after = text[m.end()] if m.end() < len(text) else ""
    if "://" in inner or before == "]":                    # a markdown link's target
        return False
    return bool(_ZH_CHAR.search(inner)) or is_zh(before) or is_zh(after)


def polish(text: str) -> str:
    """`text` with half-width , ; : ! ? ( ) turned full-width where they punctuate Chinese;
    a space next to a full-width mark is dropped ("好的, 谢谢" → "好的，谢谢")."""
    if not text or not _ZH_CHAR.search(text):
        return text
    for _ in range(3):          # inner pairs first: 「(转派(王芳))」 takes two rounds
        done = _PAREN.sub(lambda m: f"（{m.group(1)}）" if _paren_is_zh(m.string, m) else m.group(0), text)
        if done == text:
            break
        text = done
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch in FULL and _MARK.match(ch) and _mark_is_zh(text, i):
            while out and out[-1] == " ":
                out.pop()
            out.append(FULL[ch])
        elif ch == " " and out and out[-1] in "，；：！？":
            continue
        else:
            out.append(ch)
    return "".join(out)


def halfwidth_marks(text: str) -> list[str]:
    """Where `text` has half-width punctuation inside Chinese (a few characters around each),
    empty when it reads right."""
    if not text or not _ZH_CHAR.search(text):
        return []
    spots = [m.start() for m in _MARK.finditer(text) if _mark_is_zh(text, m.start())]
    for m in _PAREN.finditer(text):
        if _paren_is_zh(text, m):
            spots.append(m.start())
    return [text[max(0, i - 8): i + 8].replace("\n", " ") for i in sorted(spots)]


def polish_card(card: Card) -> Card:
    """The card with every text people read polished (button labels and values untouched)."""
    def p(value: str | None) -> str | None:
        return polish(value) if value else value
    return dataclasses.replace(
        card, title=polish(card.title), subtitle=p(card.subtitle), text=p(card.text), footer=p(card.footer),
        result=p(card.result), fields=tuple(Field(polish(f.label), polish(f.value), f.short) for f in card.fields))


# ---- cutting without splitting a word ---------------------------------------------------------

_BREAKS = ("\n", " · ", "。", "；", ";", "，", ",", "、", " ", "：")


def boundary_cut(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-8 bytes, ending at the last line,
    sentence, clause or word break that fits (mid-word only when one word is longer than the room)."""
    if len(text.encode()) <= limit:
        return len(text)
    head = text.encode()[:max(limit, 0)].decode("utf-8", "ignore")
    floor = len(head) // 3                  # don't throw away most of the room for a break
    for sep in _BREAKS:
        cut = head.rfind(sep)
        if cut > floor:
            return cut + (len(sep) if sep in "。；;，,、：" else 0)
    return len(head)


def clip_at_boundary(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` cut to ≤ `limit` UTF-8 bytes at a break (`boundary_cut`), the cut marked."""
    if len(text.encode()) <= limit:
        return text
    room = limit - len(ellipsis.encode())
    if room <= 0:
        return ""
    return text[:boundary_cut(text, room)].rstrip(" ·\n") + ellipsis


def clip_lines(text: str, limit: int) -> str:
    """`text` cut to ≤ `limit` bytes keeping whole lines, with a note of how many were left
    out; a first line longer than the room is cut at a break."""
    if len(text.encode()) <= limit:
        return text
    lines = text.split("\n")
    for keep in range(len(lines) - 1, 0, -1):
        note = f"\n…（另有 {len(lines) - keep} 行未显示）"
        head = "\n".join(lines[:keep]).rstrip()
        if len((head + note).encode()) <= limit:
            return head + note
    return clip_at_boundary(text, limit)
