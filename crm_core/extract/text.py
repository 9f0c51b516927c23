"""Text cleaning shared by the field extractors.

Owns Unicode normalisation, ASR filler removal, spoken-digit runs ("幺三九…" → "139…")
and the one wrapper around cn2an that every extractor uses for Chinese numerals.
"""
from __future__ import annotations

import re
import unicodedata

import cn2an

MAX_CHARS = 20_000  # longer notes are truncated: a rep's note is never this long
CN_DIGITS = "零〇一二两三四五六七八九幺"
_DIGIT_MAP = {c: str(i) for i, c in enumerate("零一二三四五六七八九")}
_DIGIT_MAP.update({"〇": "0", "两": "2", "幺": "1"})

# ASR fillers become a space: they usually sit between phrases, so they are boundaries.
_FILLER_RE = re.compile(r"嗯+|呃+|啊+|哦+|唔+|诶|欸|那个(?!月)|就是说|然后呢|然后|对吧|你知道吧|怎么说呢|就是")
# Seven or more spoken digits (single spaces or hyphens allowed between them): a phone or an id.
_SPOKEN_RUN_RE = re.compile(rf"[{CN_DIGITS}](?:[ \-]?[{CN_DIGITS}]){{6,}}")
# Spoken digits glued to written ones ("139 一二三四 五六七八"): converted when 3+ long.
_MIXED_RUN_RE = re.compile(rf"(?<=\d)[ \-]?[{CN_DIGITS}]{{3,}}|[{CN_DIGITS}]{{3,}}(?=[ \-]?\d{{3}})")
_SPACE_RE = re.compile(r"[ \t\u3000\xa0]+")


def _spoken_to_digits(match: re.Match[str]) -> str:
    run = match.group(0)
    return "".join(_DIGIT_MAP[c] for c in run if c in _DIGIT_MAP)


def clean(text: object) -> str:
    """Normalise any input to a compact string the extractors can scan."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    text = _FILLER_RE.sub(" ", text)
    text = _SPOKEN_RUN_RE.sub(_spoken_to_digits, text)
    for _ in range(3):  # alternating written/spoken groups need a few passes
        text = _MIXED_RUN_RE.sub(_spoken_to_digits, text)
    return _SPACE_RE.sub(" ", text).strip()


def cn_number(token: str) -> float | None:
    """Parse Arabic, Chinese or mixed numerals ("三百", "1.2亿", "两万五") with cn2an; None if not a number."""
    token = token.strip().replace(",", "")
    if not token:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", token):
        return float(token)
    tail = re.fullmatch(r"(.+)亿([一二两三四五六七八九])", token)
    if tail:  # colloquial "一亿二" = 1.2亿; cn2an reads it wrongly
        head = cn_number(tail.group(1))
        return None if head is None else head * 1e8 + float(_DIGIT_MAP[tail.group(2)]) * 1e7
    try:
        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return float(value)


def small_int(token: str) -> int | None:
    """A day/month/count number: "15", "十五", "三", "两" → int (None if not a plain number)."""
    value = cn_number(token)
    if value is None or value != int(value):
        return None
    return int(value)
