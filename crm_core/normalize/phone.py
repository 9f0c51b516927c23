"""Phone numbers → one canonical string: CN mobile 11 digits, landline 0+area+number, 400/800 kept,
foreign E.164 (every country phonenumbers knows); anything else None. Also WeChat ids, which are
often the mobile number itself.

Numbers arrive the way people type and paste them: any dash as a separator (131—2345—6789), a
spreadsheet's text apostrophe ('159…), labels (手机号：…, Mobile No.:), notes (（微信同号）, 同微信),
a long-distance 0 before a mobile (0159…), +86 landlines without their trunk 0, a country named
beside a national number (英国 07911 123456). Labels and notes are dropped only around the digits:
text inside a number ("2023年05月") still makes it no number.
"""
from __future__ import annotations

import codecs
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType

from crm_core.normalize.text import HAN, to_halfwidth

PhoneKind = Literal["mobile", "fixed"]

_MOBILE = re.compile(r"1[3-9]\d{9}")
_MOBILE_PREFIX = re.compile(r"1[3-9]")  # no CN area code starts so: after +86 it is a mobile
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"[\d\s+\-.()\[\]/]+")
_SEPARATORS = re.compile(r"[\s\-.()\[\]/]+")
# Every dash, tilde and middle dot people put between digit groups (NFKC leaves most of them).
_DASHES = re.compile(r"[\u2010-\u2015\u2212\u2e3a\u2e3b\u301c\ufe58~·・•_]")
# Spreadsheet text markers around a number: '159…, ="159…", `159…, ‘159…’.
_QUOTES = "'\"`‘’“”＇"
_EXCEL_FLOAT = re.compile(r"(\d{7,15})\.0+")
_BRACKETED = re.compile(r"[(\[【〔{]([^()\[\]【】〔〕{}]*)[)\]】〕}]")
_LATIN_WORD = re.compile(r"[a-z]+")
_NUMBERED_LABEL = re.compile(r"([^\d:]{1,12})\d\s*:\s*")
# Latin label and note words that may stand before or after a number ("Mobile No.:", "(office)").
_LATIN_LABELS = frozenset(
    """tel tel. telephone phone ph mobile mob cell cellphone m t p h o w no number nr num contact
    whatsapp wechat weixin wx line office work home direct main fax private personal business hotline
    same as""".split()
)
_SPLIT_FIELD = re.compile(r"[/,;、，；|]+|或|\s+(?:or|and)\s+", re.IGNORECASE)
# Region codes people write as words; 2-letter codes that are also English words are left out.
_CODE_ALIASES = {"UK": "GB", "UAE": "AE", "USA": "US", "KSA": "SA", "ROK": "KR", "PRC": "CN"}
_CODE_STOPWORDS = frozenset("NO TO AT IN IS IT ME MY BY AS AM PM OR ID TV SO BE DO GO HE WE AD MO".split())
_NAME_ALIASES = {
    "阿联酋": "AE", "迪拜": "AE", "香港": "HK", "澳门": "MO", "台湾": "TW", "英國": "GB", "美國": "US", "韓國": "KR",
    "新加坡": "SG", "大马": "MY", "马来西亚": "MY", "俄罗斯": "RU", "沙特": "SA", "越南": "VN", "泰国": "TH",
    "印尼": "ID", "菲律宾": "PH", "澳洲": "AU", "纽西兰": "NZ", "日本": "JP", "韩国": "KR", "美国": "US", "英国": "GB",
    "中国大陆": "CN", "大陆": "CN", "国内": "CN", "中国香港": "HK", "中国澳门": "MO", "中国台湾": "TW",
}
_LOCALE_LINE = re.compile(r"^\s*'([A-Z]{2}|\d{3})': \{(.*)\},?$", re.MULTILINE)
_LOCALE_NAME = re.compile(r"'(aa|en|zh|zh_Hant|ja)':(?:u\('([^']*)'\)|'([^']*)')")
_PERSONAL_TYPES = frozenset((PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER,
                             PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.VOIP, PhoneNumberType.UNKNOWN))


def _locale_data() -> dict[str, dict[str, str]]:
    """phonenumbers' country names ({region: {language: name}} for the languages used here), read from
    its locale table without importing phonenumbers.geodata, whose package loads ~100 MB of geocoding data."""
    source = (Path(phonenumbers.__file__).parent / "geodata" / "locale.py").read_text(encoding="utf-8")
    out: dict[str, dict[str, str]] = {}
    for region, body in _LOCALE_LINE.findall(source):
        names = out.setdefault(region, {})
        for lang, escaped, plain in _LOCALE_NAME.findall(body):
            names[lang] = codecs.decode(escaped, "unicode_escape") if escaped else plain
    return out


@lru_cache(maxsize=1)
def _country_names() -> tuple[dict[str, str], dict[str, str]]:
    """({Chinese name: region}, {lower-case English name: region}) for every region phonenumbers knows."""
    LOCALE_DATA = _locale_data()
    han: dict[str, str] = {}
    latin: dict[str, str] = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        names = LOCALE_DATA.get(region)
        if not names:
            continue

        def resolve(lang: str) -> str | None:
            value = names.get(lang)
            for _ in range(3):
                if value and value.startswith("*"):
                    value = names.get(value[1:])
            return value

        for lang in ("zh", "zh_Hant", "ja"):
            name = resolve(lang)
            if name and HAN.search(name):
                for form in (name, re.sub(r"(?:特别行政区|特区|地区)$", "", name)):
                    if len(form) >= 2:
                        han.setdefault(form, region)
        english = resolve("en") or resolve("aa")
        if english:
            latin.setdefault(english.lower(), region)
    han.update(_NAME_ALIASES)
    latin.update({"uk": "GB", "england": "GB", "britain": "GB", "great britain": "GB", "usa": "US",
                  "america": "US", "uae": "AE", "dubai": "AE", "hong kong": "HK", "hongkong": "HK",
                  "macau": "MO", "macao": "MO", "taiwan": "TW", "korea": "KR", "south korea": "KR",
                  "russia": "RU", "vietnam": "VN"})
    return han, latin


def _country_in(text: str) -> str | None:
    """The region a label or note names ("英国", "(UK)", "Singapore"); None when it names none."""
    if not text:
        return None
    han, latin = _country_names()
    if HAN.search(text):
        found = [han[text[start:start + size]] for size in range(min(len(text), 12), 1, -1)
                 for start in range(len(text) - size + 1) if text[start:start + size] in han]
        if found:  # 中国香港: Hong Kong, not China
            return next((region for region in found if region != "CN"), found[0])
    for token in re.findall(r"[A-Za-z]{2,3}\b", text):
        code = _CODE_ALIASES.get(token, token)
        if token.isupper() and token not in _CODE_STOPWORDS and code in phonenumbers.SUPPORTED_REGIONS:
            return code
    words = " ".join(_LATIN_WORD.findall(text.lower()))
    if words:
        for name, region in latin.items():
            if name == words or f" {name} " in f" {words} ":
                return region
    return None


def _is_label(text: str) -> bool:
    """True when text standing beside the digits is a label or a note, not part of a number."""
    stripped = text.strip(" :：.#-—,;()[]【】")
    if not stripped or HAN.search(stripped):
        return True
    words = _LATIN_WORD.findall(stripped.lower())
    rest = re.sub(r"[a-zA-Z\s:.#/\-()]+", "", stripped)
    if rest:
        return False
    return all(word in _LATIN_LABELS for word in words) or _country_in(stripped) is not None


def _clean(raw: str) -> tuple[str, str | None] | None:
    """(digits and separators only, region a label/note names) or None when text is mixed into the number."""
    text = _DASHES.sub("-", to_halfwidth(raw)).strip()
    if text.startswith("="):
        text = text[1:].strip()
    text = text.strip(_QUOTES).strip()
    if _PHONE_CHARS.fullmatch(text):  # the common case: no label, note or extension
        excel = _EXCEL_FLOAT.fullmatch(text)
        return (excel.group(1) if excel else text), None
    hints: list[str] = []

    def drop_note(match: re.Match[str]) -> str:
        inner = match.group(1)
        if re.search(r"\d", inner) or (inner.strip() and not _is_label(inner)):
            return match.group(0)
        hints.append(inner)
        return " "

    text = _BRACKETED.sub(drop_note, text).strip()
    numbered = _NUMBERED_LABEL.match(text)
    if numbered and _is_label(numbered.group(1)):
        hints.append(numbered.group(1))  # 电话2：…, Tel 1: … (a numbered label)
        text = text[numbered.end():]
    digits_at = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits_at:
        return None
    start = digits_at[0]
    while start > 0 and text[start - 1] in "+([":
        start -= 1
    head, body, tail = text[:start], text[start:digits_at[-1] + 1], text[digits_at[-1] + 1:]
    if head and not _is_label(head):
        return None
    if tail.strip() and not _is_label(tail):
        return None
    hints.extend((head, tail))
    body = _EXTENSION.sub("", body).strip()
    excel = _EXCEL_FLOAT.fullmatch(body)
    if excel:
        body = excel.group(1)
    region = next((r for r in map(_country_in, hints) if r), None)
    return body, region


def _cn_national(groups: list[str], after_country_code: bool) -> str | None:
    """A national CN number from digit groups; a trailing group may be an extension (…-8001)."""
    digits = "".join(groups)
    if len(digits) == 12 and digits[0] == "0" and _MOBILE.fullmatch(digits[1:]):
        return digits[1:]  # 0159…: the long-distance 0 dialled before a mobile
    if after_country_code and groups and not groups[0].startswith(("0", "400", "800")) and not (
            _MOBILE_PREFIX.match(groups[0])):
        groups = ["0" + groups[0], *groups[1:]]  # "+86 21 6123 4567" / "+86 10 …" leave the trunk 0 out
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


def _foreign(digits: str, region: str | None = None) -> str | None:
    """E.164 of an international number (`digits` after + / 00), or of a national one in `region`."""
    try:
        number = phonenumbers.parse(digits if region else "+" + digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str | None) -> str | None:
    """Mobile → 11 digits, landline → 0+area+number, 400/800 → 10 digits, foreign → E.164; else None."""
    if not raw:
        return None
    text = str(raw)
    if len(text) == 11 and _MOBILE.fullmatch(text):
        return text  # fast path: the common case needs no further parsing
    return _normalize(text)


@lru_cache(maxsize=65_536)
def _normalize(raw: str) -> str | None:
    cleaned = _clean(raw)
    if cleaned is None:
        return None
    text, region = cleaned
    if not text or not _PHONE_CHARS.fullmatch(text):
        return None
    text = text.strip(" ([")  # "(+86)138…": the country code may sit in brackets
    international = text.startswith("+") or text.startswith("00")
    groups = [g for g in _SEPARATORS.split(text.lstrip("+")) if g]
    digits = "".join(groups)
    if not international and _MOBILE.fullmatch(digits):
        return digits
    if not international and region and region != "CN":
        foreign = _foreign(digits, region)  # 英国 07911 123456: a national number of the named country
        if foreign:
            return foreign
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
    """Several numbers in one field ("138…/0571-…；…", "138… 或 139…"): the distinct valid ones, in order."""
    found: list[str] = []
    for part in _SPLIT_FIELD.split(to_halfwidth(raw or "")):
        phone = normalize_phone(part)
        phones = [phone] if phone else []
        if not phone and len(part.split()) > 1:
            # "138… 139…": numbers side by side, each complete on its own
            each = [normalize_phone(token) for token in part.split()]
            phones = [p for p in each if p] if all(each) else []
        for phone in phones:
            if phone not in found:
                found.append(phone)
    return found


@lru_cache(maxsize=65_536)
def phone_kind(phone: str | None) -> PhoneKind | None:
    """"mobile" for a personal number (CN mobile, foreign mobile), "fixed" for a landline or a
    400/800/toll-free number that a whole company shares; None when `phone` is no number.
    Expects a normalized number (see `normalize_phone`)."""
    if not phone:
        return None
    if _MOBILE.fullmatch(phone):
        return "mobile"
    if phone.startswith(("0", "400", "800")):
        return "fixed"
    if not phone.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return None
    return "mobile" if phonenumbers.number_type(number) in _PERSONAL_TYPES else "fixed"


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
_WECHAT_LABEL = re.compile(r"^(?:(?:wechat|weixin|wx)\s*[:：]|微信号?\s*[:：]?)\s*")


def normalize_wechat_id(raw: str | None) -> str | None:
    """WeChat id key: lower-case id, or the normalized mobile when the id is a phone number."""
    text = _WECHAT_LABEL.sub("", to_halfwidth(raw or "").strip().lower()).strip()
    if not text:
        return None
    phone = normalize_phone(text) if sum(ch.isdigit() for ch in text) >= 7 else None
    if phone:
        return phone
    return text if _WECHAT.fullmatch(text) else None
