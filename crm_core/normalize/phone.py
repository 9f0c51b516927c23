"""Phone numbers → one canonical string: CN mobile 11 digits, landline 0+area+number, 400/800 kept,
foreign E.164; anything else None. Also WeChat ids, which are often the mobile number itself."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from crm_core.normalize.text import to_halfwidth

_MOBILE = re.compile(r"1[3-9]\d{9}")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:手机|电话|座机|固话|联系电话|tel|mobile|phone|mob|cell|[mt])\s*[:.]?\s*", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"[\d\s+\-.()\[\]/]+")
_SEPARATORS = re.compile(r"[\s\-.()\[\]/]+")


def _cn_national(groups: list[str], after_country_code: bool) -> str | None:
    """A national CN number from digit groups; a trailing group may be an extension (…-8001)."""
    if after_country_code and groups and not groups[0].startswith(("0", "1", "400", "800")):
        groups = ["0" + groups[0], *groups[1:]]  # "+86 21 6123 4567" leaves the trunk 0 out
    digits = "".join(groups)
    for end in range(len(groups), 0, -1):
        head = "".join(groups[:end]) if end < len(groups) else digits
        if len(digits) - len(head) > 6:
            break
        if _MOBILE.fullmatch(head) or (len(head) == 10 and head[:3] in ("400", "800")) or _valid_landline(head):
            return head
    return None


@lru_cache(maxsize=65_536)
def _valid_landline(digits: str) -> bool:
    if not (digits.startswith("0") and 10 <= len(digits) <= 12) or digits.startswith("00"):
        return False
    number = phonenumbers.parse("+86" + digits[1:])
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _foreign(digits: str) -> str | None:
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str | None) -> str | None:
    """Mobile → 11 digits, landline → 0+area+number, 400/800 → 10 digits, foreign → E.164; else None."""
    if not raw:
        return None
    text = _EXTENSION.sub("", _LABEL.sub("", to_halfwidth(str(raw)).strip()))
    if not text or not _PHONE_CHARS.fullmatch(text):
        return None
    text = text.strip(" ([")  # "(+86)138…": the country code may sit in brackets
    international = text.startswith("+") or text.startswith("00")
    groups = [g for g in _SEPARATORS.split(text.lstrip("+")) if g]
    digits = "".join(groups)
    if not international and _MOBILE.fullmatch(digits):
        return digits  # fast path: the common case needs no further parsing
    if international:
        digits = digits[2:] if text.startswith("00") else digits
        if not digits.startswith("86"):
            return _foreign(digits)
    elif not (digits.startswith("86") and len(digits) in (12, 13, 14)):
        return _cn_national(groups, after_country_code=False)
    prefix = 4 if text.startswith("00") else 2
    return _cn_national(_drop_prefix(groups, prefix), after_country_code=True)


def _drop_prefix(groups: list[str], count: int) -> list[str]:
    """Remove `count` leading digits (the country code) from the digit groups."""
    out = list(groups)
    while count and out:
        take = min(count, len(out[0]))
        out[0] = out[0][take:]
        count -= take
        if not out[0]:
            out.pop(0)
    return out


def normalize_phones(raw: str | None) -> list[str]:
    """Several numbers in one field ("138…/0571-…；…"): the distinct valid ones, in order."""
    found: list[str] = []
    for part in re.split(r"[/,;、，；|]+", to_halfwidth(raw or "")):
        phone = normalize_phone(part)
        if phone and phone not in found:
            found.append(phone)
    return found


def is_mobile(phone: str | None) -> bool:
    normalized = normalize_phone(phone)
    return bool(normalized and _MOBILE.fullmatch(normalized))


def is_landline(phone: str | None) -> bool:
    normalized = normalize_phone(phone)
    return bool(normalized and normalized.startswith("0"))


def mask_phone(phone: str | None) -> str:
    """138****5678 for logs and cards: never the full number."""
    value = normalize_phone(phone) or re.sub(r"\D", "", phone or "")
    if len(value) < 7:
        return "****"
    keep = 4 if value.startswith("0") and value[1] not in "12" else 3
    keep = keep + 1 if value.startswith("+") else keep
    return value[:keep] + "****" + value[-4:]


_WECHAT = re.compile(r"[a-z][a-z0-9_\-]{3,39}")


def normalize_wechat_id(raw: str | None) -> str | None:
    """WeChat id key: lower-case id, or the normalized mobile when the id is a phone number."""
    text = to_halfwidth(raw or "").strip().lower().removeprefix("wechat:").removeprefix("微信:").strip()
    if not text:
        return None
    phone = normalize_phone(text)
    if phone:
        return phone
    return text if _WECHAT.fullmatch(text) else None
