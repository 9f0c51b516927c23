"""Numbers as Whisper writes spoken Mandarin, made readable for extraction: a phone said digit by
digit (一三八…, 幺 for 1, 零 kept) becomes digits, and digit groups split by pauses
(137，3829，5566 / 139 5806 1234 / 0571-8888 6666) join into one number when together they
make a phone number. Amounts (二十万, 85万) are left to the extractor, which reads both."""
from __future__ import annotations

import re

_CN_DIGITS = {"零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
# Seven or more spoken digits in a row (phone numbers, not amounts: 十/百/千/万 never occur in them).
_SPOKEN_RUN = re.compile(rf"[{''.join(_CN_DIGITS)}](?:[ ，,、\-]?[{''.join(_CN_DIGITS)}]){{6,}}")
_GROUPS = re.compile(r"(?<![\d.])\d{1,5}(?:\s*[ ,，、.\-—–]\s*\d{1,5}){1,11}(?![\d.])")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")


def _spoken(match: re.Match[str]) -> str:
    return "".join(_CN_DIGITS.get(ch, "") for ch in match.group())


def _joined(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    return match.group()


def normalize_numbers(text: str) -> str:
    """Spoken digit runs → digits; pause-split digit groups → one phone number when they form one."""
    text = _SPOKEN_RUN.sub(_spoken, text)
    return _GROUPS.sub(_joined, text)
