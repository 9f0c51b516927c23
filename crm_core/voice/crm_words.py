"""The CRM's own words help the ear: the rep's customers, contacts and the product catalog become
part of the decoding prompt (`prompt_words`), and a pinyin-level pass (`correct_names`) puts
a listed name in place of a stretch of the transcript that sounds the same but was written
with other characters (杭州优品店资商物有限公司 → 杭州优品电子商务有限公司, 张雷 → 张磊).

What is borrowed is reported, so the card can ask the rep to confirm it: a listed name is never
linked silently. Tones are ignored (the model hears them poorly); a few sound pairs Mandarin
speakers and Whisper confuse (z/zh, c/ch, s/sh, n/l, -n/-ng) count as near matches.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin, pinyin
from rapidfuzz.distance import Levenshtein

from crm_core.extract.gazetteer import LEGAL_SUFFIXES, PLACES

PROMPT_CHARS = 120            # hotwords budget: Whisper's prompt is at most 224 tokens in all
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FUZZY_INITIALS = {("z", "zh"), ("c", "ch"), ("s", "sh"), ("n", "l"), ("f", "h"), ("l", "r")}
_FUZZY_FINALS = {("an", "ang"), ("en", "eng"), ("in", "ing"), ("ian", "iang"), ("uan", "uang"), ("on", "ong")}
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z",
             "c", "s", "y", "w")
_PLACE_RE = re.compile("^(?:" + "|".join(sorted(PLACES, key=len, reverse=True)) + ")[省市]?")
_SUFFIX_RE = re.compile("(?:" + "|".join(LEGAL_SUFFIXES) + ")$")


@dataclass(frozen=True)
class CrmWords:
    """Names the rep's CRM already holds, most relevant first (recent customers first)."""

    companies: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    products: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.companies or self.contacts or self.phones or self.products)


def sales_words() -> tuple[str, ...]:
    """Words the extractor listens for (next actions, titles, organisation endings, money and date
    words): a homophone of one is read as that word in every transcript, CRM or not."""
    from crm_core.extract.action import ACTIONS
    from crm_core.extract.contact import _TITLES
    from crm_core.extract.gazetteer import ORG_SUFFIXES
    extra = ("预算", "系统", "平台", "管理系统", "联系人", "电话", "手机", "座机", "下周", "月底", "元旦", "下个月",
             "明天", "后天", "左右", "大概", "采购", "合同", "方案", "价格",
             # words product and organisation names are made of (附属医院, 工业园区, 安全监控系统)
             "附属", "园区", "开发区", "高新区", "监控", "监测", "终端", "智能", "订单", "仓储", "移动", "设备",
             "信息", "服务", "软件", "数据", "管理", "招标", "投标", "报价", "样品", "演示", "试用")
    words = [w for w in (*ACTIONS, *_TITLES, *ORG_SUFFIXES, *extra) if len(w) >= 2 and _CJK.search(w)]
    return tuple(dict.fromkeys(words))


@dataclass(frozen=True)
class Borrowed:
    """A stretch of the transcript replaced by a listed name: [start, end) in the new text."""

    start: int
    end: int
    heard: str
    name: str
    kind: str             # company | contact | product


def company_core(name: str) -> str:
    """杭州优品电子商务有限公司 → 优品电子商务; 华润万家(深圳)有限公司 → 华润万家: what reps say aloud."""
    core = re.sub(r"[(（][^)）]*[)）]", "", name)
    core = _SUFFIX_RE.sub("", core)
    stripped = _PLACE_RE.sub("", core)
    return stripped if len(stripped) >= 2 else core


def prompt_words(words: CrmWords, budget: int = PROMPT_CHARS) -> str:
    """「客户：…；联系人：…；产品：…。」 from the first names that fit the budget."""
    parts: list[str] = []
    used = 0
    for label, names in (("客户", [company_core(c) for c in words.companies]), ("联系人", list(words.contacts)),
                         ("产品", list(words.products))):
        chosen: list[str] = []
        for name in dict.fromkeys(names):
            if used + len(name) + 1 > budget:
                break
            chosen.append(name)
            used += len(name) + 1
        if chosen:
            parts.append(f"{label}：{'、'.join(chosen)}")
    return "；".join(parts) + "。" if parts else ""


@functools.lru_cache(maxsize=8192)
def _readings(char: str) -> frozenset[str]:
    if not _CJK.match(char):
        return frozenset({char.lower()})
    return frozenset(pinyin(char, style=Style.NORMAL, heteronym=True)[0])


def _split(syllable: str) -> tuple[str, str]:
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial):]
    return "", syllable


def _near(a: str, b: str) -> bool:
    (ia, fa), (ib, fb) = _split(a), _split(b)
    same_initial = ia == ib or (ia, ib) in _FUZZY_INITIALS or (ib, ia) in _FUZZY_INITIALS
    same_final = fa == fb or (fa, fb) in _FUZZY_FINALS or (fb, fa) in _FUZZY_FINALS
    return same_initial and same_final


def _similarity(window: str, syllables: list[str]) -> float:
    total = 0.0
    for char, want in zip(window, syllables):
        readings = _readings(char)
        if want in readings:
            total += 1.0
        elif any(_near(r, want) for r in readings):
            total += 0.8
    return total / len(syllables)


def _same_tones(window: str, word: str) -> bool:
    """Every character that differs from the word's is read with the word's tone too, a neutral tone
    matching any (戏桶 xi4 tong3 is 系统, 店紫 is 电子; 五也 wu3 ye3 is no 物业 wu4 ye4)."""
    tones = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
    return all(have == want or any(tone[-1] in (r[-1], "5") and (r[:-1] == tone[:-1] or _near(r[:-1], tone[:-1]))
                                   for r in _tone_readings(have))
               for have, want, tone in zip(window, word, tones))


@functools.lru_cache(maxsize=8192)
def _tone_readings(char: str) -> frozenset[str]:
    return frozenset(pinyin(char, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True)[0])


def _threshold(length: int) -> float:
    """Long names may keep one wrong syllable; short ones must sound alike throughout."""
    if length >= 8:
        return 0.86
    if length >= 4:
        return 0.9
    return 0.93


def _candidates(words: CrmWords) -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    for company in words.companies:
        names.append((company, "company"))
        core = company_core(company)
        if core != company:
            names.append((core, "company"))
    names += [(c, "contact") for c in words.contacts] + [(p, "product") for p in words.products]
    unique = {name: kind for name, kind in names if len(name) >= 2 and _CJK.search(name)}
    return sorted(unique.items(), key=lambda item: len(item[0]), reverse=True)


def correct_names(text: str, words: CrmWords, vocabulary: tuple[str, ...] = ()) -> tuple[str, list[Borrowed]]:
    """Replace stretches that sound like a listed name but are written otherwise; longest names first,
    never overlapping an earlier replacement or a stretch that already spells a listed name.
    `vocabulary` words (kind "word") need the same tones, and at most one near syllable in two."""
    if not text or not (words or vocabulary):
        return text, []
    candidates = _candidates(words) + sorted(((w, "word") for w in vocabulary), key=lambda item: -len(item[0]))
    exact: list[tuple[int, int]] = []        # names already spelt right: a longer name may contain them
    for name, _kind in candidates:
        for match in re.finditer(re.escape(name), text):
            if not _overlaps(exact, match.start(), match.end()):
                exact.append((match.start(), match.end()))
    taken: list[tuple[int, int]] = []        # replacements made: nothing may overlap them
    found: list[tuple[int, int, str, str, str]] = []
    for name, kind in candidates:
        syllables = lazy_pinyin(name, style=Style.NORMAL)
        size, best = len(name), None
        needed = 0.9 if kind == "word" else _threshold(size)
        for start in range(0, len(text) - size + 1):
            window = text[start:start + size]
            if window == name or not all(_CJK.match(ch) for ch in window) or _overlaps(taken, start, start + size) \
                    or _straddles(exact, start, start + size):
                continue
            if window[0] != name[0] and window[-1] != name[-1] and size <= 3 and kind != "word":
                continue                 # a short name must keep at least its first or last character
            score = _similarity(window, syllables)
            if kind == "word" and score >= needed and not _same_tones(window, name):
                continue
            if score >= needed and (best is None or score > best[0]):
                best = (score, start)
        if best is not None:
            start = best[1]
            taken.append((start, start + size))
            found.append((start, start + size, text[start:start + size], name, kind))
    out, borrowed, last, shift = [], [], 0, 0
    for start, end, heard, name, kind in sorted(found):
        out.append(text[last:start] + name)
        borrowed.append(Borrowed(start + shift, start + shift + len(name), heard, name, kind))
        shift += len(name) - (end - start)
        last = end
    return "".join(out) + text[last:], borrowed


def _straddles(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """The window cuts through a correctly spelt name, or lies inside one (containing one is fine)."""
    return any(start < b and a < end and not (start <= a and b <= end) for a, b in spans)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < b and a < end for a, b in spans)


def nearest_phone(digits: str, phones: tuple[str, ...]) -> str | None:
    """A listed phone one or two digit edits from a digit run that is no valid phone by itself."""
    best: tuple[int, str] | None = None
    for phone in phones:
        if abs(len(phone) - len(digits)) > 2:
            continue
        distance = Levenshtein.distance(digits, phone)
        if distance <= (1 if len(phone) < 11 else 2) and (best is None or distance < best[0]):
            best = (distance, phone)
    return best[1] if best else None
