"""Budget amounts in yuan from Chinese, Arabic and English money expressions.

Policy: approximations take the stated figure (三百来万 → 3000000, 十几万 → 100000) and a
range takes its LOWER bound (100到150万 → 1000000, 两三百万 → 2000000). Amounts in dollars are
returned as stated (no exchange rate). An amount needs money context: a money unit (万/亿/k/w/
元/块/RMB/¥/million) or a budget word next to it; quantities, dates, revenue and percentages
are ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crm_core.extract.text import cn_number

_UNITS = {"万": 1e4, "十万": 1e5, "百万": 1e6, "千万": 1e7, "亿": 1e8, "十亿": 1e9, "百": 1e2, "千": 1e3,
          "w": 1e4, "k": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "thousand": 1e3, "grand": 1e3}
_STRONG_UNITS = {"万", "十万", "百万", "千万", "亿", "十亿", "w", "k", "m", "mn", "million", "thousand", "grand"}
_CN_BODY = "[零〇一二两三四五六七八九十百千点几多来余]"
_CN_TAIL = "[一二两三四五六七八九]"
# A Chinese amount: [X亿]X[万|亿][one trailing digit: 两万五, 一亿二]; it stops before 十二月, 一月 …
_CN_RUN = (rf"(?:[一二两三四五六七八九十半几]{_CN_BODY}*亿)?[一二两三四五六七八九十百千半几]{_CN_BODY}*"
           rf"(?:[万亿](?:{_CN_TAIL}千(?:{_CN_TAIL}百)?|{_CN_TAIL}(?![零〇一二两三四五六七八九十百千万亿个月号日台天周年点]))?)?"
           rf"|(?:[一二两三四五六七八九十半几]{_CN_BODY}*)?亿")
_AMOUNT_RE = re.compile(
    r"(?P<pre>(?:¥|\$|rmb|cny|usd|人民币)\s?)?"
    r"(?<![\d.])(?<!\d,)(?P<num>\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[百千]万"
    rf"|{_CN_RUN})"
    r"(?P<mid>多|来|余)?"
    r"\s?(?P<unit>[十百千]?[万亿]|[百千](?![万亿])|[wk](?![a-z])|mn?(?![a-z])|million|thousand|grand)?"
    r"(?:多|来|余)?"
    r"\s?(?P<cur>块钱|块|元|人民币|rmb|cny|yuan|美元|美金|usd|dollars?|bucks)?",
    re.IGNORECASE,
)
_EN_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
             "nine": 9, "ten": 10, "twenty": 20, "thirty": 30, "fifty": 50, "hundred": 100, "half a": 0.5}
_EN_AMOUNT_RE = re.compile(
    r"\b(?P<w>half a|a|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|fifty|hundred)"
    r"\s+(?P<u>million|thousand|hundred thousand)\b", re.IGNORECASE)
_BUDGET_WORDS = re.compile(r"预算|budget|投入|经费|资金|花费|能花|愿意花|准备花|打算花|可以花|费用|投资|控制在|"
                           r"金额|标的|总价|总额|合同额|盘子|spend|invest", re.IGNORECASE)
# After the amount only a directly attached budget word counts ("300万的预算", "$50k budget").
_BUDGET_AFTER = re.compile(r"[\s左右上下的之间吧呢啦这个]{0,4}(?:项目)?(?:预算|budget|投入|经费)", re.IGNORECASE)
_PRICE_AFTER = re.compile(r"[\s左右上下的之间吧呢啦]{0,4}(?:报价|价格|单子|deal|quote)", re.IGNORECASE)
_PRICE_WORDS = re.compile(r"报价|价格|价位|出价|报了|单子|quote|quoted|price|priced|cost|worth|deal", re.IGNORECASE)
_EXCLUDE_BEFORE = re.compile(r"营收|营业额|销售额|年销售|产值|注册资本|注资|市值|收入|流水|融资|员工|人口|用户|"
                             r"粉丝|面积|revenue|sales of|valuation|turnover|employees|百分之|每[台套个件把张]|单价|"
                             r"一[台套个件把张]", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[,，;；。!?！？\n]")
# Right after an amount these make it a quantity (10万台, 2万人, 50k users), not money.
_CLASSIFIER_AFTER = re.compile(
    r"(?:台|个|人|名|位|套|件|平|㎡|亩|吨|辆|张|份|户|家|条|箱|只|床|座|间|公里|米|度|千瓦|瓦|瓶|盒|包|支|根|"
    r"片|颗|像素|字|级|岁|倍|次|楼|层|%|所|款|种|类|批|用户|员工)"
    r"|\s?(?:users?\b|people|employees|staff|units?\b|seats?\b|licen[cs]es?|pcs|pieces|sq|square|devices|"
    r"customers|members|visitors|items|orders|students|beds|patients|vehicles|cars|trucks|tons|km|percent|%)",
    re.IGNORECASE)
# A bare number followed by these is a date or a time, never money.
_TIME_AFTER = re.compile(r"\s?(?:月|号|日|年|点|天|周|分|秒|小时|期|届|本)")
_RANGE_GAP = re.compile(r"\s?(?:到|至|-|~|～|—|–|或者?|、|to)\s?$", re.IGNORECASE)
_ADJACENT_PAIR = re.compile(r"([一二两三四五六七八九])([二两三四五六七八九])(?=[十百千万亿])")
_SENTENCE_END = re.compile(r"[。;；!?！？\n]")
_ORDER = "一二三四五六七八九"


@dataclass
class _Amount:
    start: int
    end: int
    value: float | None  # None: a bare number waiting for a range partner's unit
    multiplier: float  # the unit a bare range partner before this amount takes
    strong: bool  # money unit or currency present


def _parse_cn_run(run: str) -> float | None:
    """A Chinese numeral run with approximation words: 三百来万, 十几万, 两三百万, 一亿二."""
    if run.startswith("几"):
        return None  # "几十万": the rep does not know; no number is better than a guess
    run = re.sub(r"(?<=十)几", "", run)
    run = re.sub(r"[多来余]", "", run)
    pair = _ADJACENT_PAIR.search(run)
    if pair and _ORDER.find(pair.group(2).replace("两", "二")) == _ORDER.find(pair.group(1).replace("两", "二")) + 1:
        run = run[: pair.start(2)] + run[pair.end(2):]  # 两三百万 → 两百万 (lower bound)
    decimal = re.fullmatch(r"(.+点.+?)([万亿])", run)
    if decimal:  # 一点五亿: cn2an reads no decimals before a magnitude
        head = cn_number(decimal.group(1))
        return None if head is None else head * _UNITS[decimal.group(2)]
    if run.startswith(("百", "千")):
        run = "一" + run
    if run.startswith("半"):  # 半个亿 = 0.5 × 1亿
        rest = cn_number("一" + run[1:]) if len(run) > 1 else 1.0
        return None if rest is None else 0.5 * rest
    return cn_number(run)


def _to_amount(match: re.Match[str]) -> _Amount | None:
    num, unit = match.group("num"), (match.group("unit") or "").lower()
    is_arabic = num[0].isdigit()
    value = cn_number(num) if is_arabic else _parse_cn_run(num)
    if value is None:
        return None
    multiplier = _UNITS.get(unit, 1.0)
    tail = re.search(r"[万亿]$", num)
    range_unit = multiplier
    if tail and not unit:  # "一百五十万": a range partner before it takes 万 from here
        range_unit = _UNITS[tail.group(0)]
    strong = bool(unit in _STRONG_UNITS or match.group("cur") or match.group("pre")
                  or (not is_arabic and re.search("[万亿]", num)))
    bare = not unit and not match.group("cur") and not match.group("pre") and not strong
    return _Amount(match.start(), match.end(), None if bare else value * multiplier, range_unit, strong)


def _context_score(text: str, start: int, end: int) -> int:
    """3 next to a budget word, 2 next to a price word, 0 otherwise; -1 when it is revenue & co."""
    before = _SENTENCE_END.split(text[max(0, start - 12):start])[-1]
    after = text[end:end + 8]
    if _EXCLUDE_BEFORE.search(_CLAUSE_BREAK.split(text[max(0, start - 6):start])[-1]):
        return -1                  # in this clause only: "试用一个月，预算五万" is a budget
    if _BUDGET_WORDS.search(before) or _BUDGET_AFTER.match(after):
        return 3
    if _PRICE_WORDS.search(before) or _PRICE_AFTER.match(after):
        return 2
    return 0


def _candidates(text: str) -> list[tuple[_Amount, str]]:
    found: list[tuple[_Amount, str]] = []
    for match in _AMOUNT_RE.finditer(text):
        amount = _to_amount(match)
        if amount is not None:
            found.append((amount, match.group("num")))
    for match in _EN_AMOUNT_RE.finditer(text):
        value = _EN_WORDS[match.group("w").lower()] * (1e5 if "hundred" in match.group("u").lower()
                                                       else _UNITS[match.group("u").lower()])
        found.append((_Amount(match.start(), match.end(), value, 1.0, True), match.group("w")))
    found.sort(key=lambda item: item[0].start)
    return found


def _resolve_ranges(found: list[tuple[_Amount, str]], text: str) -> None:
    """A bare number before "到/-/~" and a unit-bearing amount takes that amount's unit."""
    for (left, num), (right, _) in zip(found, found[1:]):
        gap = text[left.end:right.start]
        if left.value is None and right.value is not None and gap and _RANGE_GAP.match(gap):
            value = cn_number(num) if num[0].isdigit() else _parse_cn_run(num)
            if value is not None:
                left.value, left.strong = value * right.multiplier, right.strong


def find_budget(text: str) -> int | None:
    """The budget in yuan, or None when no amount has money context."""
    text = re.sub(r"个([多来]?亿)", r"\1 ", text)  # 一个亿, 一个多亿; same length keeps positions valid
    found = _candidates(text)
    _resolve_ranges(found, text)
    best: tuple[int, int, int] | None = None
    for amount, num in found:
        score = _context_score(text, amount.start, amount.end)
        if score < 0:
            continue
        value = amount.value
        if value is None:  # bare Arabic number: money only right after a budget word
            value = cn_number(num) if score == 3 else None
            if value is None or value < 1000:
                continue
        elif not amount.strong and (score == 0 or value < 100):
            continue
        if not amount.strong and (_CLASSIFIER_AFTER.match(text, amount.end) or _TIME_AFTER.match(text, amount.end)):
            continue
        if amount.strong and _CLASSIFIER_AFTER.match(text, amount.end) and not re.search(
                r"块|元|rmb|cny|yuan|\$|¥", text[amount.start:amount.end], re.IGNORECASE):
            continue
        if value < 100:
            continue  # no budget is under ¥100: "三元牧业" names a company
        key = (score, -amount.start, int(round(value)))
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None
