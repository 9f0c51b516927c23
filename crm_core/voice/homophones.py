"""Words Whisper wrote with other characters of exactly the same sound (采超 for 彩超, 登光 for 灯光,
依愿 for 医院), repaired with the segmentation dictionary alone: no list of the rep's customers or
products, no word list of our own.

A stretch of two or three characters that is no dictionary word, made of whole words (no word of
the dictionary is cut at its edges), becomes the commonest dictionary word that differs from it in
one character only, read exactly like it there, tone for tone (the other characters vouch for the
word: 宫腔积 is no repair of 公控机, 工控机 is). A stretch right before an organisation ending
(优品 in 杭州优品电子商务) is a name's own word, rare on purpose, and stays. Names are left alone: the word must not be a person's name or
a place (the gazetteer's places have their own pass, `places.py`), nor a function or time word,
and a stretch holding a particle, pronoun or digit, or ending in a verb (before 了, 过, 着), is never
touched. Rare words are no evidence
(at least `_MIN_FREQ` in the dictionary).
"""
from __future__ import annotations

import functools
import re

from pypinyin.contrib.tone_convert import to_tone3
from pypinyin.pinyin_dict import pinyin_dict

from crm_core.extract.gazetteer import ORG_SUFFIXES
from crm_core.extract.segment import dictionary, segment

_MIN_FREQ = 3
# Tags of words that never stand for what was misheard here: names, places, time, function words.
_SKIP_TAGS = ("nr", "ns", "t", "r", "p", "c", "u", "d", "m", "q", "f", "y", "e", "o", "x", "a", "z", "s", "b")
# Characters that carry grammar, not content: a stretch holding one is left as heard.
_GRAMMAR = set("的了是在和跟与及或我你他她它们这那个一有就也都要想说把被让给对从向很还又再吗呢吧啊呀嗯哦")
_ASPECT = set("了过着")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_ORG_AFTER = re.compile("|".join(map(re.escape, ORG_SUFFIXES)))


@functools.lru_cache(maxsize=1)
def _chars_by_reading() -> dict[str, frozenset[str]]:
    """toned syllable (yi1) → the Han characters whose usual reading it is (意 has an old yī too)."""
    table: dict[str, set[str]] = {}
    for code, readings in pinyin_dict.items():
        char = chr(code)
        if _HAN.fullmatch(char):
            table.setdefault(to_tone3(readings.split(",")[0], neutral_tone_with_five=True), set()).add(char)
    return {reading: frozenset(chars) for reading, chars in table.items()}


@functools.lru_cache(maxsize=8192)
def _alike(char: str) -> frozenset[str]:
    """The characters with a reading that is `char`'s usual one (the first the table lists)."""
    raw = pinyin_dict.get(ord(char), "")
    return _chars_by_reading().get(to_tone3(raw.split(",")[0], neutral_tone_with_five=True), frozenset()) \
        if raw else frozenset()


def best_word(window: str) -> str | None:
    """The commonest dictionary word that differs from `window` in exactly one character, read
    exactly like it, or None."""
    freq, tags = dictionary()
    prefixes = [""]
    for index, char in enumerate(window):   # the dictionary holds every prefix of its words (as 0)
        prefixes = [p + c for p in prefixes for c in ((char,) if p != window[:index] else _alike(char))
                     if p + c in freq]
        if not prefixes:
            return None
    best: tuple[int, str] | None = None
    for word in prefixes:
        count = freq.get(word) or 0
        if word == window or count < _MIN_FREQ or tags.get(word, "").startswith(_SKIP_TAGS):
            continue
        if best is None or count > best[0]:
            best = (count, word)
    return best[1] if best else None


def correct_homophones(text: str, keep: list[tuple[int, int]] | None = None) -> str:
    """`text` with non-words replaced by the dictionary word read exactly alike; the same length.
    `keep`: spans left as they are (names the CRM put in)."""
    keep = keep or []
    seg = segment(text)
    chars = list(text)
    done: list[tuple[int, int]] = list(keep)
    for size in (3, 2):
        for start in range(0, len(text) - size + 1):
            end = start + size
            window = text[start:end]
            if not all(_HAN.fullmatch(c) and c not in _GRAMMAR for c in window) \
                    or any(start < b and a < end for a, b in done) or not seg.aligned(start, end):
                continue
            if _ORG_AFTER.match(text, end):
                continue                    # 杭州优品电子商务: a name's own words, rare on purpose
            if text[end:end + 1] in _ASPECT:
                continue                    # 就试见了: a verb before 了 is what was said
            words = seg.words_in(start, end)
            if len(words) == 1 and words[0].known or (dictionary()[0].get(window) or 0) > 0:
                continue                    # a word already
            word = best_word(window)
            if word is None:
                continue
            chars[start:end] = list(word)
            done.append((start, end))
    return "".join(chars)
