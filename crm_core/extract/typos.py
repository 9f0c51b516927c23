"""Pinyin-input typos in the words the extractors key on: 采够 → 采购, 演试 → 演示, 签和同 → 签合同.

A rep typing pinyin picks a homophone now and then. A run of characters that is not a word
the dictionary knows, differs from one of KEYWORDS in exactly one character, and reads like
it there (same toneless pinyin) is replaced by the keyword. Lengths stay the same, so every
position the other extractors compute is still valid. Characters inside a common dictionary
word are left alone (讲演时 keeps its 演时).
"""
from __future__ import annotations

from functools import lru_cache

from crm_core.extract.segment import segment, word_frequency
from crm_core.normalize.text import char_readings

# Words whose loss costs a field: purchase cues, next actions, money, people's roles. Words a
# person's name could read like (方案 ~ 方安) are left out.
KEYWORDS = ("采购", "购买", "演示", "报价", "预算", "合同", "招标", "投标", "经理", "主任", "总监", "签约", "拜访",
            "回访", "试用", "交付", "验收", "付款", "下单", "联系人", "负责人", "对接人")
_COMMON = 50  # a dictionary word this frequent is what the rep meant


@lru_cache(maxsize=1)
def _index() -> dict[tuple[int, str], tuple[str, ...]]:
    """(position, character) → the keywords with that character there."""
    index: dict[tuple[int, str], list[str]] = {}
    for word in KEYWORDS:
        for position, char in enumerate(word):
            index.setdefault((position, char), []).append(word)
    return {key: tuple(words) for key, words in index.items()}


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def repair(text: str) -> str:
    """`text` with keyword typos corrected; same length."""
    index = _index()
    chars = list(text)
    seg = None
    for start in range(len(text) - 1):
        for size in (2, 3):
            window = text[start:start + size]
            words = {w for position, c in enumerate(window) for w in index.get((position, c), ()) if len(w) == size}
            if not words or len(window) < size or window in KEYWORDS or not all(map(_is_han, window)) \
                    or word_frequency(window):
                continue
            for word in words:
                diff = [i for i in range(size) if window[i] != word[i]]
                if len(diff) != 1 or not char_readings(window[diff[0]]) & char_readings(word[diff[0]]):
                    continue
                seg = seg or segment(text)
                if any(len(t.word) > 1 and t.freq >= _COMMON and (t.start < start or t.end > start + size)
                       for t in seg.words_in(start, start + size)):
                    continue  # 讲演|时: a character belongs to a real word beyond the window
                chars[start:start + size] = word
                break
    return "".join(chars)
