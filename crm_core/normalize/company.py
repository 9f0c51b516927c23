"""Company-name comparison keys: no legal form, region, punctuation, spaces or case.

杭州优品电子商务有限公司, 优品(杭州)电子商务有限责任公司 and 浙江省杭州市优品电子商务 share one key; 优品电子 and
优品科技 do not. A region is only stripped while a real trade name remains (北京银行 keeps 北京), and a region kept
in the key is written bare (浙江省电力 and 浙江电力 → 浙江电力). 集团 stays in the key (美的集团): a group and its
namesake without 集团 are two legal entities.
"""
from __future__ import annotations

import re
from functools import lru_cache

from crm_core.normalize.regions import CITIES, PINYIN_REGIONS, match_district, match_region
from crm_core.normalize.text import HAN, NON_WORD, pinyin_of, pinyin_syllables, to_halfwidth

_BRACKETS = re.compile(r"[(\[【〔<《{]([^()\[\]【】〔〕<>《》{}]*)[)\]】〕>》}]")
_LEGAL_SUFFIXES = (
    "股份有限公司", "有限责任公司", "有限公司", "股份公司", "责任公司", "特殊普通合伙", "有限合伙", "普通合伙",
    "合伙企业", "个人独资企业", "公司", "控股", "companylimited", "colimited", "coltd", "limited", "ltd",
    "inc", "corp", "llc", "co",
)
_LEGAL_TOKENS = frozenset(
    "co company ltd limited inc incorporated corp corporation llc gmbh ag plc pte pty sa srl bv nv kk "
    "holding holdings".split()
)
_GROUP = "集团"
_LATIN_GROUP = "group"
# Written with one of these, a name without 集团 claims a legal entity that is not the group.
_LEGAL_FORMS = ("有限公司", "有限责任公司", "股份公司", "公司", "有限合伙", "普通合伙", "合伙企业", "个人独资企业")
_BRACKET_LEGAL = frozenset(("有限合伙", "普通合伙", "特殊普通合伙", "控股", "股份", "中国", "china", "prc"))
_BRANCH = re.compile(r"(分公司|分厂|办事处|营业部|分行|支行|分店|门店|分部)$")
# Industry words: what is left after stripping a region must hold more than these, otherwise
# the region is part of the trade name (北京银行, 上海电气) and is kept.
_INDUSTRY_WORDS = frozenset(
    """电子商务 电子 商务 科技 技术 信息 网络 软件 数据 智能 数字 贸易 商贸 经贸 工贸 进出口 实业 发展 投资
    控股 咨询 管理 服务 建设 工程 建筑 装饰 设计 文化 传媒 传播 广告 教育 培训 医疗 医药 器械 生物 健康
    物流 运输 供应链 机械 设备 制造 汽车 配件 食品 餐饮 酒店 银行 保险 证券 基金 能源 化工 材料 新材料 环保
    环境 电器 电气 电力 电缆 家具 家居 服装 服饰 纺织 印刷 包装 农业 房地产 地产 置业 物业 通信 通讯 自动化
    仪器 仪表 光电 半导体 美容 体育 旅游 国际 人力资源 企业 五金 塑料 钢铁 金属 水务 燃气 交通 新能源
    集团 有限 股份 中国 中心 工业 商业 产业 开发 营销 电商 航空 航运 港口 物资 商城 超市 药房 诊所
    新""".split()
)
_GENERIC_TAIL_CHARS = frozenset("业厂店行社馆院所部坊庄园站号堂")
_EN_INDUSTRY = frozenset(
    """technology technologies tech electronics electronic electric trading trade import export ecommerce commerce
    information network networks software consulting management service services investment industrial
    industries industry development international logistics supply chain machinery equipment manufacturing
    medical pharmaceutical biotech food foods chemical chemicals materials energy environmental media
    advertising culture education garment garments textile furniture hardware printing packaging engineering
    construction decoration design automation instruments intelligent smart digital data health enterprise
    and e the of""".split()
)


def split_industry(key: str) -> tuple[str, str]:
    """A company key as (trade name, industry words at its end): 优品电子商务 → ("优品", "电子商务"),
    美的集团 → ("美的", "集团"); ("", key) when it is industry words only."""
    core = key
    while core:
        size = next((n for n in (4, 3, 2, 1) if core[-n:] in _INDUSTRY_WORDS), 0)
        if not size:
            break
        core = core[:-size]
    return core, key[len(core):]


# Industry words written two ways: one spelling each, so 优品电商 and 优品电子商务 are one business.
_INDUSTRY_SYNONYMS = {"电商": "电子商务", "商贸": "贸易", "经贸": "贸易", "工贸": "贸易", "技术": "科技",
                      "通讯": "通信", "地产": "房地产", "置业": "房地产", "电商平台": "电子商务", "服饰": "服装"}


def industry_words(industry: str) -> frozenset[str]:
    """The industry words at the end of a key, synonyms folded: 网络技术 → {网络, 科技}; 电商 → {电子商务}."""
    words = []
    rest = industry
    while rest:
        size = next((n for n in (4, 3, 2, 1) if rest[-n:] in _INDUSTRY_WORDS), 0)
        if not size:
            words.append(rest)
            break
        words.append(rest[-size:])
        rest = rest[:-size]
    return frozenset(_INDUSTRY_SYNONYMS.get(word, word) for word in words)


def _meaningful(rest: str) -> bool:
    """True when `rest` still holds a trade name after its industry words are peeled off."""
    core = split_industry(rest)[0]
    while core and core[-1] in _GENERIC_TAIL_CHARS:
        core = core[:-1]
    return len(core) >= 2 or (len(core) == 1 and not HAN.match(core))


def _strip_leading_regions(name: str) -> tuple[str, str | None]:
    """Remove 浙江省杭州市西湖区-style prefixes while a trade name remains; returns (rest, region)."""
    region: str | None = None
    for _ in range(4):
        found = match_region(name, bare_ok=True)
        used = found[1] if found else match_district(name)
        if not used or not _meaningful(name[used:]):
            if found and used > len(found[0]):
                name = found[0] + name[used:]  # kept in the key: 浙江省电力 is written 浙江电力
            break
        if found:
            region = found[0] if found[0] in CITIES or region is None else region
        name = name[used:]
    return name, region


def _bracket_region(content: str) -> str | None:
    text = NON_WORD.sub("", content)
    found = match_region(text)
    if found and found[1] == len(text):
        return found[0]
    if match_district(text) == len(text) and text:
        return text
    return None


def _strip_legal(name: str) -> tuple[str, bool]:
    """(name without legal forms and 集团, whether it named a group): 美的集团股份有限公司 → ("美的", True)."""
    group = False
    changed = True
    while changed:
        changed = False
        for suffix in _LEGAL_SUFFIXES:
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                name, changed = name[: -len(suffix)], True
                break
        if name.endswith(_GROUP) and len(name) - len(_GROUP) >= 2:
            name, changed, group = name[: -len(_GROUP)], True, True
    return name, group


def _latin_key(text: str) -> tuple[str, str | None, bool]:
    """English company names: drop legal tokens, pinyin regions (while something remains); a
    "Group" is kept at the end of the key, as 集团 is."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", text) if t]
    tokens = [t for t in tokens if t not in _LEGAL_TOKENS] or tokens
    group = _LATIN_GROUP in tokens[1:]  # "Group One Ltd" is a trade name
    if group:
        tokens = tokens[:1] + [t for t in tokens[1:] if t != _LATIN_GROUP]
    region = None
    trade = [t for t in tokens if t not in PINYIN_REGIONS and t not in _EN_INDUSTRY]
    if trade:
        regions = [t for t in tokens if t in PINYIN_REGIONS and t not in ("china", "prc")]
        region = regions[0] if regions else None
        tokens = [t for t in tokens if t not in PINYIN_REGIONS]
    return "".join(tokens) + (_LATIN_GROUP if group else ""), region, group


def _unbracket(text: str) -> tuple[str, str | None, bool]:
    """Drop bracketed regions and legal forms (优品(杭州)…, (普通合伙)); keep other bracket text.
    Returns (text, bracketed region, whether a "(集团)" was dropped)."""
    regions: list[str] = []
    groups: list[bool] = []

    def replace(match: re.Match[str]) -> str:
        found = _bracket_region(match.group(1))
        if found:
            regions.append(found)
        inner = NON_WORD.sub("", match.group(1))
        if inner in (_GROUP, _LATIN_GROUP):
            groups.append(True)
            return " "
        drop = found or inner in _BRACKET_LEGAL
        return " " if drop else f" {match.group(1)} "

    return _BRACKETS.sub(replace, text), regions[0] if regions else None, bool(groups)


def _split_branch(text: str) -> tuple[str, str]:
    """优品电子商务有限公司萧山分公司 → ("优品电子商务有限公司", "萧山分公司"): a branch stays distinct."""
    found = _BRANCH.search(text)
    if not found or found.start() < 2:
        return text, ""
    base = text[: found.start()]
    cut = max((base.rfind(s) + len(s) for s in _LEGAL_SUFFIXES[:5] if s in base), default=-1)
    location = base[cut:] if 0 < cut < len(base) else ""
    region = match_region(location)
    return (base[:cut] if location else base), (region[0] if region else location) + found.group(1)


@lru_cache(maxsize=200_000)
def _company_parts(raw: str) -> tuple[str, str | None, bool | None]:
    """(key, region, group): group is True for a 集团, False for a name with another legal form
    (…有限公司, Co., Ltd.), None for a bare name that says neither."""
    text, region, bracket_group = _unbracket(to_halfwidth(raw).strip().lower())
    if not HAN.search(text):
        key, latin_region, group = _latin_key(text)
        group = group or bracket_group
        if group and not key.endswith(_LATIN_GROUP):
            key += _LATIN_GROUP
        legal = any(t in _LEGAL_TOKENS for t in re.split(r"[^a-z0-9]+", text))
        return key, region or latin_region, True if group else (False if legal else None)
    text, branch = _split_branch(NON_WORD.sub("", text))
    if text in _LEGAL_SUFFIXES:
        return "", region, None
    whole_region = match_region(text)
    if whole_region and whole_region[1] == len(text):
        return whole_region[0], whole_region[0], None  # the name is just a place ("杭州市")
    legal = text.endswith(_LEGAL_FORMS)
    text, group = _strip_legal(text)
    group = group or bracket_group
    text, leading = _strip_leading_regions(text)
    key = text + (_GROUP if group else "") + branch
    return key, region or leading, True if group else (False if legal else None)


def company_parts(raw: str | None) -> tuple[str, str | None, bool | None]:
    """(`normalize_company`, `company_region`, `company_group`) of one name, computed once."""
    return _company_parts(raw) if raw else ("", None, None)


def normalize_company(raw: str | None) -> str:
    """Comparison key of a company name: no legal form, region, punctuation, spaces or case."""
    return _company_parts(raw)[0] if raw else ""


def company_region(raw: str | None) -> str | None:
    """The province/city written in the name (leading or bracketed), e.g. "杭州"; None if absent."""
    return _company_parts(raw)[1] if raw else None


def company_block(key: str) -> str:
    """The first two pinyin syllables of a company key, for lookups that must meet across scripts and
    typos further on: 高天包装印刷, 高天印务 and "gaotianpackagingprinting" → "gaotian"."""
    if not key:
        return ""
    if HAN.match(key[0]):
        return pinyin_of(key[:2])
    syllables = pinyin_syllables()
    at = 0
    for _ in range(2):
        size = next((n for n in range(min(6, len(key) - at), 0, -1) if key[at:at + n] in syllables), 0)
        if not size:
            return key[:6]  # not pinyin: "siemens"
        at += size
    return key[:at]


def group_base(key: str) -> str:
    """A company key without its group marker: 美的集团 → 美的, "alibabagroup" → "alibaba"."""
    for marker in (_GROUP, _LATIN_GROUP):
        if key.endswith(marker) and len(key) > len(marker):
            return key[: -len(marker)]
    return key


def company_group(raw: str | None) -> bool | None:
    """True for a group (…集团…, "X Group"), False for a name written with another legal form
    (…有限公司, Co., Ltd.), None when the name says neither (优品电子, a bare trade name)."""
    return _company_parts(raw)[2] if raw else None
