"""Pairwise duplicate score (0–100) of two customer records from configurable field weights.

Each weight is the score one agreeing field earns on its own. Weights become likelihood ratios over a
10 % prior and are combined in odds space: personal identifiers (mobile, WeChat, e-mail) multiply,
company-level evidence (company name, switchboard, mail domain) pools and is damped once a personal
identifier agrees (it is then implied), and contradictions divide the odds and cap the score so a
pair with a contradiction never auto-merges.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from crm_core import normalize as norm
from crm_core.dedup.record import DedupRecord, Features, features
from crm_core.normalize.company import group_base, industry_words, split_industry
from crm_core.normalize.regions import CONVENTIONAL_SPELLINGS, match_region

PRIOR_SCORE = 10.0          # score of two records about which nothing is known
MAX_SCORE = 99.9            # a single field never makes the odds infinite
# Likelihood ratios of contradictions (< 1 lowers the odds).
NAME_CONFLICT = 0.02        # different surnames, genders or Latin names with no token in common
NAME_GIVEN_DIFFERS = 0.1    # same surname, given names that do not sound alike (张伟/张强)
MOBILE_CONFLICT = 0.3       # both have mobiles, none shared (people do own two phones)
EMAIL_CONFLICT = 0.7        # both have personal addresses, different (work + private is common)
WECHAT_CONFLICT = 0.4
COMPANY_CONFLICT = 0.1
CONFLICT_CAP = 88.0         # one hard contradiction (name or company): at most a prompt to the rep
DOUBLE_CONFLICT_CAP = 70.0  # name and company both contradict: not even a review
ORG_CORROBORATION = 1.5     # each extra piece of company-level evidence multiplies the best one
ORG_DAMPING = 0.3           # exponent on company evidence when a personal identifier already agrees


@dataclass(frozen=True, slots=True)
class DedupWeights:
    """Score (0–100) each agreement earns alone, all other fields unknown.

    `name` is 40: a full name shared by two records says little by itself (张伟 is common), but
    with the same company it reaches ~95, above the default merge threshold.
    """

    phone: float = 100.0        # same mobile (or foreign) number
    email: float = 90.0         # same personal e-mail address
    company: float = 75.0       # same company key
    name: float = 40.0          # same full contact name
    wechat: float = 95.0        # same WeChat id
    landline: float = 55.0      # same landline / 400 number / role mailbox: shared by a whole company
    mail_domain: float = 60.0   # same corporate (non-public) mail domain, different addresses


DEFAULT_WEIGHTS = DedupWeights()


def to_odds(score: float) -> float:
    """Odds p/(1-p) of a 0–100 score (clamped so 100 stays finite)."""
    p = min(max(score, 0.01), MAX_SCORE) / 100.0
    return p / (1.0 - p)


@dataclass(frozen=True, slots=True)
class _Ratios:
    phone: float
    email: float
    wechat: float
    company: float
    company_close: float
    company_partial: float
    name: float
    name_title: float
    name_same_title: float
    landline: float
    mail_domain: float


@lru_cache(maxsize=64)
def _ratios(weights: DedupWeights) -> _Ratios:
    base = to_odds(PRIOR_SCORE)

    def lr(score: float) -> float:
        return to_odds(score) / base

    return _Ratios(
        phone=lr(weights.phone), email=lr(weights.email), wechat=lr(weights.wechat),
        company=lr(weights.company), company_close=lr(weights.company * 0.9),
        company_partial=lr(weights.company * 0.7), name=lr(weights.name),
        name_title=max(lr(weights.name * 0.5), 1.0), name_same_title=max(lr(weights.name * 0.8), 1.0),
        landline=lr(weights.landline),
        mail_domain=lr(weights.mail_domain),
    )


def group_mismatch(a: Features, b: Features) -> bool:
    """True when one record names a group (美的集团) and the other its namesake written with another
    legal form (美的有限公司): two legal entities, so never merged without a person deciding."""
    if a.company_group is None or b.company_group is None or a.company_group == b.company_group:
        return False
    return _key_similarity(group_base(a.company_key), group_base(b.company_key)) >= 0.75


def company_similarity(a: Features, b: Features) -> float | None:
    """0–1 similarity of company keys; None when either is missing or they use different scripts."""
    if not a.company_key or not b.company_key:
        return None
    if a.company_latin != b.company_latin:
        return _cross_script_similarity(a, b)
    sim = _key_similarity(a.company_key, b.company_key)
    if group_mismatch(a, b):
        sim = min(_key_similarity(group_base(a.company_key), group_base(b.company_key)), 0.9)
    if a.company_region and b.company_region and a.company_region != b.company_region:
        sim = min(sim, 0.7)  # the same trade name registered in two cities may be two companies
    return sim


@lru_cache(maxsize=65_536)
def _key_similarity(a: str, b: str) -> float:
    """0–1 similarity of two company keys in the same script."""
    if a == b:
        return 1.0
    sim = fuzz.ratio(a, b) / 100.0
    if norm.homophones(a, b):
        sim = max(sim, 0.95)  # 盈益科计 vs 盈益科技: a pinyin-input typo
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 2 and long_.startswith(short):
        sim = max(sim, 0.8)  # 优品 vs 优品电子商务: an abbreviation, not another company
    if _different_business(a, b):
        return min(sim, 0.5)
    if len(short) >= 2 and Levenshtein.distance(a, b) == 1:
        sim = max(sim, 0.75)  # 瑞达 vs 端达: one character mistyped, not another company
    return sim


def _different_business(a: str, b: str) -> bool:
    """优品电子 vs 优品电器 (one trade name, other industries: sibling companies) and 浙江电力 vs 江苏电力
    (a region kept in the key, other regions): names that differ where it matters."""
    trade_a, industry_a = split_industry(a)
    trade_b, industry_b = split_industry(b)
    if trade_a == trade_b and industry_a and industry_b:
        words_a, words_b = industry_words(industry_a), industry_words(industry_b)
        if not (words_a <= words_b or words_b <= words_a):  # 电子 vs 电器; not 电商 vs 电子商务
            return True
    region_a, region_b = match_region(a), match_region(b)
    return bool(region_a and region_b and region_a[0] != region_b[0]
                and a[region_a[1]:] == b[region_b[1]:])


def _cross_script_similarity(a: Features, b: Features) -> float | None:
    """泉州迅瑞网络科技 vs "Quanzhou Xunrui Network Technology": English names spell the trade name
    in pinyin, so a pinyin match of the first two characters counts as a partial match, and a
    close one when the cities agree too."""
    han, latin = (a, b) if b.company_latin else (b, a)
    head = han.company_key[:2]
    if len(head) < 2 or not norm.has_han(head) or not any(
            latin.company_key.startswith(spelling) for spelling in norm.pinyin_spellings(head)):
        return None
    city = CONVENTIONAL_SPELLINGS.get(latin.company_region or "", latin.company_region)
    same_city = bool(han.company_region and city in norm.pinyin_spellings(han.company_region, limit=16))
    return 0.9 if same_city else 0.8


def _name_ratio(a: Features, b: Features, r: _Ratios) -> tuple[float, bool]:
    """(likelihood ratio, is a hard conflict) of the contact names."""
    if a.gender and b.gender and a.gender != b.gender:
        return NAME_CONFLICT, True
    if _handle_names(a, b):
        return r.name, False  # 高总 (or Linda Gao) whose e-mail is gaoxuejia@… is 高雪佳
    if not a.name_key or not b.name_key:
        return 1.0, False
    if a.name_latin != b.name_latin:  # 吴娜 vs "Grace Wu": compare the surname's spellings
        latin, han = (a, b) if a.name_latin else (b, a)
        if han.name_full and norm.pinyin_name_match(latin.name_key, han.name_key):
            return r.name, False  # "Li Wei" / "Wei Li" is 李伟 spelled in pinyin
        if not (a.spellings and b.spellings):
            return 1.0, False
        if not a.spellings & b.spellings:
            return NAME_CONFLICT, True
        if not (a.name_full or b.name_full) and a.title and norm.title_role(a.title) == norm.title_role(b.title):
            return r.name_same_title, False  # Mr. Wang and 王先生
        return r.name_title, False
    if a.name_latin:
        return _latin_name_ratio(a, b, r)
    if a.surname != b.surname:
        return NAME_CONFLICT, True
    if not (a.name_full and b.name_full) and norm.title_role(a.title) == norm.title_role(b.title) and (
            a.title or not (a.name_full or b.name_full)):
        return r.name_same_title, False  # 叶总 twice at one company; 叶总 and 叶华佳总经理
    if not (a.name_full and b.name_full):
        return r.name_title, False
    if a.name_key == b.name_key:
        return r.name, False
    if norm.homophones(a.name_key, b.name_key):
        return r.name_title, False  # 张伟/张玮: a pinyin-input typo, not another person
    return NAME_GIVEN_DIFFERS, True  # 田杰/田洋: same surname, another person


def _latin_name_ratio(a: Features, b: Features, r: _Ratios) -> tuple[float, bool]:
    """David Wang / Wang Wei / Mr. Wang: token sets, order-free."""
    tokens_a, tokens_b = set(a.name_key.split()), set(b.name_key.split())
    if not tokens_a & tokens_b:
        return NAME_CONFLICT, True
    if a.name_full and b.name_full:
        return (r.name, False) if tokens_a == tokens_b else (1.0, False)
    return r.name_title, False


def _handle_names(a: Features, b: Features) -> bool:
    """True when one side has a Chinese full name and the other (a title form, a Latin name with a
    compatible surname, no name) has an e-mail / WeChat id spelling it."""
    for full, other in ((a, b), (b, a)):
        if not full.name_full or full.name_latin or (other.name_full and not other.name_latin):
            continue
        if other.name_latin and other.spellings and not other.spellings & full.spellings:
            continue
        if not other.name_latin and other.name_key and other.surname != full.surname:
            continue
        local = other.email.split("@", 1)[0] if other.email and other.email_personal else None
        if norm.name_in_handle(full.name_key, local) or norm.name_in_handle(full.name_key, other.wechat):
            return True
    return False


def _company_ratio(a: Features, b: Features, r: _Ratios) -> tuple[float, bool]:
    sim = company_similarity(a, b)
    if sim is None:
        return 1.0, False
    if 0.75 <= sim < 0.97 and a.company_latin == b.company_latin and any(p in b.fixed for p in a.fixed):
        sim = 1.0  # 通鼎 vs 通鼐 behind one switchboard: a mistyped name of the same company
    if sim >= 0.97:
        return r.company, False
    if sim >= 0.85:
        return r.company_close, False
    if sim >= 0.75:
        return r.company_partial, False
    return (1.0, False) if sim >= 0.55 else (COMPANY_CONFLICT, True)


def _contact_ratios(a: Features, b: Features, r: _Ratios, org: list[float]) -> tuple[float, float]:
    """(personal-identifier ratio, contradiction ratio) from phones, e-mail and WeChat.

    Company-level agreements found on the way (switchboard, role mailbox, mail domain) go to `org`.
    """
    person = contra = 1.0
    if any(m in b.mobiles for m in a.mobiles):
        person *= r.phone
    elif a.mobiles and b.mobiles:
        contra *= MOBILE_CONFLICT
    # A WeChat id is often the mobile number itself, so it is matched against phones too.
    if (a.wechat is not None and (a.wechat == b.wechat or a.wechat in b.mobiles)) or (
            b.wechat is not None and b.wechat in a.mobiles):
        person *= r.wechat
    elif a.wechat and b.wechat:
        contra *= WECHAT_CONFLICT
    if any(p in b.fixed for p in a.fixed):
        org.append(r.landline)
    if a.email and b.email:
        if a.email == b.email:
            if a.email_personal:
                person *= r.email
            else:
                org.append(r.landline)
        elif not a.email_public and a.email_domain == b.email_domain:
            org.append(r.mail_domain)
        elif a.email_personal and b.email_personal:
            contra *= EMAIL_CONFLICT
    return person, contra


def score_features(a: Features, b: Features, weights: DedupWeights = DEFAULT_WEIGHTS) -> float:
    """`match_score` on already-normalized features."""
    r = _ratios(weights)
    org: list[float] = []
    person, contra = _contact_ratios(a, b, r, org)
    company, company_conflict = _company_ratio(a, b, r)
    if company > 1.0:
        org.append(company)
    contra *= company if company_conflict else 1.0
    name, name_conflict = _name_ratio(a, b, r)
    # 美的集团 vs 美的有限公司: whatever else agrees, at most a prompt
    company_conflict = company_conflict or group_mismatch(a, b)
    org_ratio = max(org) * ORG_CORROBORATION ** (len(org) - 1) if org else 1.0
    if person > 1.0 and org_ratio > 1.0:
        org_ratio **= ORG_DAMPING
    odds = to_odds(PRIOR_SCORE) * person * org_ratio * name * contra
    score = 100.0 * odds / (1.0 + odds)
    if name_conflict and company_conflict:
        score = min(score, DOUBLE_CONFLICT_CAP)
    elif name_conflict or company_conflict:
        score = min(score, CONFLICT_CAP)
    return round(score, 2)


def match_score(a: DedupRecord, b: DedupRecord, weights: DedupWeights | None = None) -> float:
    """How likely (0–100) `a` and `b` are the same customer; ≥ 92 merges by default."""
    return score_features(features(a), features(b), weights or DEFAULT_WEIGHTS)
