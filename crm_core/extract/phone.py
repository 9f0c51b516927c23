"""Phone numbers in a note: find phone-looking substrings and normalise them.

Normalisation is crm_core.normalize.normalize_phone's job; this module only finds
candidates (mobiles, landlines with area code, 400/800, +country) and returns their spans
so the budget and date extractors never read a phone number as money or a date.
"""
from __future__ import annotations

import re

from crm_core.normalize import mask_phone, normalize_phone

_SEP = r"[ \-]?"
_PHONE_RE = re.compile(
    r"(?<!\d)(?<!\d\.)(?:"
    rf"(?:\+|00)\d{{1,3}}{_SEP}\d{{2,4}}(?:{_SEP}\d{{3,4}}){{1,3}}"  # +86 139 1234 5678, +1 415 555 0100
    rf"|(?:86{_SEP})?1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}"  # mobile, optionally 86-prefixed
    rf"|\(?0\d{{2,3}}\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}}"  # landline with area code
    rf"|[48]00{_SEP}\d{{3}}{_SEP}\d{{4}}"  # 400/800 service numbers
    r")(?!\d)(?!\.\d)"
)


def find_phone(text: str) -> tuple[str | None, list[tuple[int, int]]]:
    """The first valid phone number (normalised) and the spans of every phone-like candidate."""
    first: str | None = None
    spans: list[tuple[int, int]] = []
    for match in _PHONE_RE.finditer(text):
        value = normalize_phone(match.group(0))
        if value is None:
            continue
        spans.append(match.span())
        if first is None:
            first = value
    return first, spans


def mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Blank out the spans (same length, so positions stay valid for the other extractors)."""
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def mask_phones_in_text(text: str) -> str:
    """Every phone number in free text as 138****5678 (notes shown to people who may not
    see the customer's numbers)."""
    _first, spans = find_phone(text)
    for start, end in reversed(spans):
        text = text[:start] + mask_phone(text[start:end]) + text[end:]
    return text
