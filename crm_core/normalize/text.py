"""Text helpers shared by the normalizers: width folding, script tests and pinyin readings."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

HAN = re.compile(r"[\u4e00-\u9fff]")
NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def has_han(text: str | None) -> bool:
    """True when `text` contains a CJK ideograph."""
    if not text:
        return False
    return HAN.search(text) is not None


def to_halfwidth(text: str) -> str:
    """NFKC: full-width digits, letters, brackets and punctuation become their ASCII forms."""
    return unicodedata.normalize("NFKC", text)


@lru_cache(maxsize=1)
def _pinyin_table() -> dict[int, str]:
    # Imported on first use: pypinyin loads ~50 MB of dictionaries, which no import should cost.
    from pypinyin.pinyin_dict import pinyin_dict

    return pinyin_dict


@lru_cache(maxsize=32_768)
def char_readings(char: str) -> frozenset[str]:
    """Toneless pinyin readings of one character (长 → {zhang, chang}); the char itself if not Han."""
    readings = _pinyin_table().get(ord(char))
    if not readings:
        return frozenset((char,))
    plain = unicodedata.normalize("NFKD", readings)
    return frozenset("".join(c for c in plain if not unicodedata.combining(c)).split(","))


@lru_cache(maxsize=32_768)
def primary_reading(char: str) -> str:
    """The most common toneless reading of one character (the dictionary lists it first: 信 → xin,
    not shen; 波 → bo); the char itself if not Han."""
    readings = _pinyin_table().get(ord(char))
    if not readings:
        return char
    plain = unicodedata.normalize("NFKD", readings.split(",", 1)[0])
    return "".join(c for c in plain if not unicodedata.combining(c))


def pinyin_of(text: str) -> str:
    """The most common toneless reading of each Han character, other characters kept (迅瑞 → "xunrui")."""
    return "".join(primary_reading(c) if HAN.match(c) else c for c in text)


def homophones(a: str, b: str) -> bool:
    """True when `a` and `b` can be read alike (张伟/张玮): the usual pinyin-input typo."""
    return len(a) == len(b) and all(x == y or char_readings(x) & char_readings(y) for x, y in zip(a, b))


def pinyin_spellings(text: str, limit: int = 8) -> list[str]:
    """Toneless pinyin spellings of `text`, one per combination of polyphone readings (capped)."""
    spellings = [""]
    for char in text:
        spellings = [head + tail for head in spellings for tail in sorted(char_readings(char))][:limit]
    return spellings


@lru_cache(maxsize=1)
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable with a vowel (zhang, xue, lu …; not 嗯's "n" / "ng")."""
    readings = (reading for char in _pinyin_table() for reading in char_readings(chr(char)))
    return frozenset(r for r in readings if re.search("[aeiouv]", r))
