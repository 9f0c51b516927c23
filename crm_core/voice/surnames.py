"""A title names a person, so the character before it is a surname: Whisper often writes the title
with the wrong tone (王经历 for 王经理) and the surname with another character of the same sound
(流老板 for 刘老板, 前经理 for 钱经理), which the extractor cannot read as a contact at all.

`fix_titles` repairs both by sound alone, without any list of the rep's customers: a stretch that
sounds like a title (tones ignored) right after a surname becomes the title, and a character that
is no surname right before a title becomes the commonest surname read the same way (same tone
first); a rare surname there becomes a common one read exactly alike (路经理 → 陆经理, as 陆 is
the likelier name). The surname is a guess, so its position is returned for the card to ask 「请核对」.
"""
from __future__ import annotations

import functools
import re

from pypinyin import Style, lazy_pinyin, pinyin

from crm_core.extract.gazetteer import SURNAMES_BY_FREQUENCY
from crm_core.extract.segment import word_frequency

# Titles said after a surname (王经理, 李总); one-character ones need a clear start before the surname.
TITLES = ("总经理", "总监", "经理", "主任", "主管", "院长", "处长", "科长", "局长", "部长", "厂长", "校长", "园长",
          "所长", "馆长", "行长", "店长", "站长", "书记", "老板", "老师", "医生", "教授", "工程师", "女士", "先生",
          "总", "工")
_SHORT_TITLE_AFTER = set("，。、；：！？,.;:!? 的了跟和与见是个位找约问给叫")
# Characters before a title that are not a surname slip: function words and words' first halves.
_NEVER = set("的了是在和跟与及或个位这那有我你他她们副正总老小大新原现该本贵其各某每")
# Conjunctions (in _NEVER) that cannot join anything right after 的: before a title they are a surname's sound.
_CONJUNCTIONS = set("和与跟")
# A surname of the heard tone wins over a commoner one only among this many commonest surnames
# (验 yàn → 闫 yán, not the rare 晏 yàn; 时 shí → 石 shí).
_COMMON = 100
# A character and the title's first one making a word this common are that word (银行 7684).
_COMMON_WORD = 1000
_TITLE_SET = frozenset(TITLES)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_TITLE_RE = re.compile("(?:" + "|".join(sorted(TITLES, key=len, reverse=True)) + ")")


@functools.lru_cache(maxsize=4096)
def _readings(char: str) -> frozenset[str]:
    return frozenset(pinyin(char, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True)[0])


def _toneless(reading: str) -> str:
    return reading.rstrip("12345")


@functools.lru_cache(maxsize=4096)
def usual_reading(char: str) -> str:
    """The usual reading of a character (toned: wang2)."""
    return str(pinyin(char, style=Style.TONE3, neutral_tone_with_five=True)[0][0])


@functools.lru_cache(maxsize=1)
def _surnames_by_sound() -> dict[str, list[str]]:
    """toneless syllable → surnames read so, commonest first."""
    table: dict[str, list[str]] = {}
    for surname in SURNAMES_BY_FREQUENCY:
        table.setdefault(_toneless(usual_reading(surname)), []).append(surname)
    return table


def surname_like(char: str) -> str | None:
    """The commonest surname read like `char` in its usual reading: of its tone if a common one is,
    else of any tone."""
    if not _CJK.fullmatch(char):
        return None
    reading = usual_reading(char)
    alike = _surnames_by_sound().get(_toneless(reading), [])
    same_tone = [s for s in alike if usual_reading(s) == reading and SURNAMES_BY_FREQUENCY.index(s) < _COMMON]
    chosen = same_tone or alike
    return chosen[0] if chosen else None


def _sounds_like(window: str, word: str) -> bool:
    wanted = lazy_pinyin(word, style=Style.NORMAL)
    return len(window) == len(word) and all(
        _CJK.fullmatch(ch) is not None and any(_toneless(r) == want for r in _readings(ch))
        for ch, want in zip(window, wanted))


def _is_surname(char: str) -> bool:
    return char in SURNAMES_BY_FREQUENCY


def fix_titles(text: str) -> tuple[str, list[int]]:
    """The text with titles and the surnames before them repaired; the positions of guessed surnames."""
    chars = list(text)
    # 1. a title written with other characters (tones ignored) right after a surname or its sound-alike
    for title in TITLES:
        if len(title) < 2:
            continue
        size = len(title)
        for start in range(1, len(chars) - size + 1):
            window = "".join(chars[start:start + size])
            before = chars[start - 1]
            if window in _TITLE_SET or not _sounds_like(window, title) or before in _NEVER \
                    or word_frequency(before + window[0]) > _COMMON_WORD:     # 银行张江 is no 尹行长
                continue
            if _is_surname(before) or surname_like(before) is not None:
                chars[start:start + size] = list(title)
    text = "".join(chars)
    # 2. a character that is no surname right before a title: the commonest surname of its sound
    guessed: list[int] = []
    for match in _TITLE_RE.finditer(text):
        pos = match.start() - 1
        if pos < 0:
            continue
        char = chars[pos]
        if char in _CONJUNCTIONS and pos > 0 and chars[pos - 1] == "的" and len(match.group()) > 1:
            surname = _commoner_same_sound(char)    # 那边的和行长: no 和 joins anything after 的 → 何
            if surname is not None:
                chars[pos] = surname
                guessed.append(pos)
            continue
        if _common_surname(char) or char in _NEVER or not _CJK.fullmatch(char):
            continue
        if len(match.group()) == 1 and pos > 0 and chars[pos - 1] not in _SHORT_TITLE_AFTER:
            continue
        if pos > 0 and word_frequency(chars[pos - 1] + char) > 0:    # 采购经理, 项目经理: part of a word
            continue
        if word_frequency(char + match.group()) > 0 or word_frequency(char + match.group()[0]) > _COMMON_WORD:
            continue                    # 总经理, 老板 are words themselves; 银行长 is 银行 + 长
        surname = surname_like(char) if not _is_surname(char) else _commoner_same_sound(char)
        if surname is not None and surname != char:
            chars[pos] = surname
            guessed.append(pos)
    return "".join(chars), guessed


def _common_surname(char: str) -> bool:
    return char in SURNAMES_BY_FREQUENCY[:_COMMON]


def _commoner_same_sound(char: str) -> str | None:
    """A rare surname heard before a title (路经理, 卫经理) is far more often a common one read exactly
    alike (陆, 魏): the commonest surname of the same toned reading among the commonest, if any."""
    reading = usual_reading(char)
    return next((s for s in SURNAMES_BY_FREQUENCY[:_COMMON] if usual_reading(s) == reading), None)
