"""What the customer wants to buy or implement ("采购CT设备" → CT设备, "interested in our ERP" → ERP).

The caller's product catalog wins when the note names one of its products. Otherwise found
after purchase verbs (采购, 想上, 要买 50台, 换成, 加装 …), with quantities and fillers skipped,
cut at the next budget/time/action word; the word segmentation keeps the edges on whole
words (升级成|云ERP, 私有|云). A noun that is followed by a purchase verb is the buyer, not the
purchase ("车间要上能耗监测"). Without a verb, the first noun phrase that ends in a product
head (系统, 平台, 设备, 机, 柜 …) or comes before 的价格 / 项目 is taken; a list of well-known
product words is the last resort.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from crm_core.extract.contact import TITLE_RE
from crm_core.extract.segment import segment

_ROLE_AFTER = r"(?!\s?(?:经理|部|主管|总监|负责人|人员|科|处|总|的|专员|员))"  # 采购经理 is a role, not a purchase
_STRONG_CUES = (rf"采购{_ROLE_AFTER}|购买|购置|订购|采买|加购|要买|想买|买|询价|(?:想|要|准备|打算|计划|考虑)\s?(?:上|做|搞|建(?!设))|"
                r"上一套|上套|搞一套|部署|引进|引入|更换|替换|换一批|换成|升级成|升级为|改成|选型|需求\s?[:：;；是]")
_WEAK_CUES = (r"想要|需要|要一批|要|做一套|搭建|定制|租用|租|了解一下|了解|咨询|看中了?|在看|意向产品是?|换|升级|试点|试用|"
              r"加装|安装|(?<![安包假伪])装(?![修好完了饰])|缺|试一下|试试|(?:想|要)订(?!购)|需求(?=\s)")
# Topic cues name what was discussed; they count only before an obvious product noun.
_TOPIC_CUES = r"讨论|聊了?|谈了?|(?<=[户们家里])上(?=[A-Za-z\u4e00-\u9fff]{1,8}(?:系统|平台|软件|设备))"
_CUE_RE = re.compile(rf"(?P<strong>{_STRONG_CUES})|(?P<weak>{_WEAK_CUES})|(?P<topic>{_TOPIC_CUES})")
_INTEREST_RE = re.compile(r"(?<!相)对(?!方)(?:我们的?|你们的?|咱们的?|贵司的?)?(?P<p>[^,，。\s]{1,12}?)"
                          r"(?:很|比较|挺|非常|特别|有点)?(?:感兴趣|有兴趣|有意向)")
_SKIP_RE = re.compile(
    r"[一二两三四五六七八九十几半]+个?(?:月|年|周|星期|礼拜|天)"  # "试用一个月我们的排班系统"
    r"|(?:\s|[0-9]+|[一二两三四五六七八九十百千几]+)+\s?(?:台|套|个|批|辆|张|件|款|部|把|只|条|箱|吨|支|根|块|组|份|间|种|类|座|排|节|万台|千台)"
    r"|一些|一点儿?|一下|些|点儿|几|个|下|了|的是|我们的?|咱们的?|你们的?|贵司的?|这种|那种|这款|那款|整套|全套|新的?|"
    rf"一批|一套|一条|一台|这个|那个|把|看|建设|\s+|的(?=[\u4e00-\u9fffA-Za-z])|{_STRONG_CUES}|{_WEAK_CUES}")
_STOP = (r"[\s,，。.;；!?！？、:：]|预算|大概|大约|差不多|估计|可能|下周|下个|下月|明天|后天|今天|今年|明年|年底|月底|然后|还有|"
         r"另外|同时|并且|所以|因为|但是|不过|时间|计划|打算|准备|希望|要求|用于|用来|给|的话|吧|呢|吗|了|呀|联系|电话|手机|"
         r"微信|报价|价格|左右|这个|那个|这块|方面|事情|的事|项目|招标|演示|拜访|签约|投标|试用|跟|和|及|与|以及|在|是|要|想|"
         r"他们|我们|对方|客户|说|问|有|一共|总共|共|[0-9]|[一二两三四五六七八九十]+(?:月|号|天|周|台|套)|周[一二三四五六日天]|的|大约|"
         r"之类|什么|等|这些|那些|来|去|做|找|约|尽快|马上|先|全部|都|升级|换掉|换成|"
         r"[一二两三四五六七八九十百千几]+(?:[万亿千百]|[个台套间家张把件辆条批只])|"
         r"总经理|总监|经理|主管|主任|处长|科长|院长|老师|老板|工程师")
_PRODUCT_RE = re.compile(rf"(?P<p>[A-Za-z0-9\u4e00-\u9fff+\-./]{{1,16}}?)(?={_STOP}|$)")
_NOUNISH = re.compile(r"[A-Za-z]|设备|系统|软件|平台|服务器|机|器|仪|车|材|品|线|板|屏|柜|表|件|灯|桩|模块|服务|产品|网|库|云|"
                      r"箱|架|床|药|装置|终端|电脑|程序|课程|教材|家具|空调|电梯|剂|具|台|包|卡|池|站|房|舱|镜|光伏|储能")
_NOT_PRODUCTS = {"东西", "一下", "他们", "我们", "那个", "这个", "时间", "尽快", "钱", "人", "什么", "一些", "一点",
                 "采购", "购买", "项目", "方案", "合作", "联系", "见面", "帮忙", "沟通", "确认", "报价", "演示", "合同",
                 "续签", "续约", "续费", "签约", "单子", "价格"}
# A noun right before these is who buys, not what: "车间要上能耗监测", "泵车要加装远程监控".
_BUYER_AFTER_RE = re.compile(r"\s?(?:要|想|需要|准备|打算|计划|得)(?!求)")
# Said after the thing itself: "彩超参数", "智能工厂那个项目".
_ATTRIBUTE_TAIL_RE = re.compile(r"(?:的)?(?:参数|价格|报价|型号|配置|资料|那个项目|这个项目|项目)$")
# English words a Chinese cue may meet that are steps, not products: "要 follow up".
_EN_STEP_WORDS = {"follow", "call", "visit", "check", "send", "meeting", "meet", "demo", "quote", "sign", "try",
                  "discuss", "confirm", "update", "ping", "email", "wechat"}
KNOWN_PRODUCTS = sorted((
    "CRM", "ERP", "MES", "WMS", "TMS", "OA", "HIS", "PACS", "LIS", "SCM", "PLM", "BI", "SaaS", "SCRM", "EHR", "RPA",
    "CT", "MRI", "DR", "POS", "服务器", "交换机", "路由器", "防火墙", "存储", "云服务", "摄像头", "监控", "投影仪", "打印机",
    "电脑", "笔记本", "空调", "机床", "叉车", "机器人", "核磁", "彩超", "B超", "呼吸机", "监护仪", "耗材", "一体机",
    "充电桩", "光伏", "储能", "货架", "电梯", "门禁", "大屏", "会议平板", "智慧黑板", "生产线", "传感器", "数控机床",
), key=len, reverse=True)
_KNOWN_RE = re.compile(r"(?<![A-Za-z])(?:" + "|".join(map(re.escape, KNOWN_PRODUCTS)) + r")(?![A-Za-z])"
                       r"(?:系统|设备|软件|平台|机)?")

_EN_CUE_RE = re.compile(
    r"\b(?:interested in|looking (?:for|to buy|at)|wants? to (?:buy|purchase|implement|upgrade|deploy|replace)|"
    r"wants?|needs?|plan(?:s|ning)? to (?:buy|purchase|deploy|implement|roll out)|purchas(?:e|ing)|procur(?:e|ing)|"
    r"buy(?:ing)?|implement(?:ing)?|deploy(?:ing)?|evaluat(?:e|ing)|upgrad(?:e|ing) to|quote for|pricing for|"
    r"demo of|trial of|pricing on|quote on|about (?:the|our|their)|order(?:ing)?|"
    r"replac(?:e|ing) (?:their|the|its) [\w-]+ with)\s+", re.IGNORECASE)
_EN_SKIP = {"our", "the", "a", "an", "some", "new", "their", "your", "about", "around", "more", "additional", "of",
            "units", "sets", "approximately", "roughly", "several", "few", "couple", "two", "three", "four", "five",
            "ten", "twenty", "fifty", "hundred", "its", "to", "buy", "purchase", "pilot", "try", "test", "evaluate",
            "implement", "deploy", "upgrade", "replace", "get", "see", "use", "adopt", "seats", "licenses"}
_EN_STOP = {"for", "with", "and", "by", "next", "budget", "around", "about", "at", "in", "on", "before", "from", "so",
            "but", "because", "to", "within", "this", "that", "which", "who", "asap", "soon", "tomorrow", "today",
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "week", "month", "is",
            "are", "was", "were", "the", "if", "after", "or", "as", "they", "we", "he", "she", "it", "contact",
            "phone", "until", "end", "early", "rmb", "yuan", "cny", "worth", "costing", "under", "demo",
            "meeting", "quote", "visit", "trial", "proposal", "pilot", "deadline", "kickoff", "asap"}
_EN_NOT_FIRST = {"demo", "meeting", "call", "quote", "visit", "discount", "price", "proposal", "trial", "help",
                 "follow", "contract", "decision", "approval", "it", "them", "us", "more", "information", "info",
                 "to", "a", "budget"}


# At the very start only non-noun stops count: "项目管理软件", "客户回访系统", "在线分析仪" are products.
_START_STOP_RE = re.compile(_STOP.replace("项目|", "").replace("客户|", "").replace("|在|", "|在(?!线)|"))
_VERBISH_RE = re.compile(r"安排|尽快|马上|考虑|确认|再|先|看看|讨论|商量|研究|沟通|联系|开会|了解|问问|请|让|帮|正式|赶紧|"
                         r"抓紧|还|立项|招标|投标|演示|签约|签合同|报价|试用|交付|上线|验收|付款|审批|走流程")
_TITLE_AFTER_RE = re.compile(r"总|经理|主管|主任|处长|科长|院长|老师|老板|工|姐|哥")
_JOIN_RE = re.compile(r"(?:和|及|与|以及|、)[A-Za-z][A-Za-z0-9]{1,7}(?![A-Za-z])")


def _after_cue(text: str, pos: int) -> str | None:
    for _ in range(6):  # skip quantities, fillers and a second verb ("要采购", "想买50台")
        skip = _SKIP_RE.match(text, pos)
        if not skip or skip.end() == pos:
            break
        pos = skip.end()
    seg = segment(text)
    if _known_inside(text, pos):  # 升级成|云ERP, 换成|智能门锁: start on a whole word
        pos = seg.snap_start(pos)
        skip = _SKIP_RE.match(text, pos)
        pos = skip.end() if skip else pos
    if _START_STOP_RE.match(text, pos) and not text[pos:pos + 1].isdigit():
        return None  # "要在停车场…": the cue introduced no noun
    match = _PRODUCT_RE.match(text, pos)
    if not match:
        return None
    product = match.group("p")
    for _ in range(3):  # a one-character stop inside a noun does not stop: 私有|云
        end = pos + len(product)
        token = seg.token_at(end)
        if not _known_inside(text, end) or token is None or token.end - end != 1 or len(product) >= 16 \
                or not token.tag.startswith(("n", "b", "a")):
            break
        more = _PRODUCT_RE.match(text, token.end)
        product = text[pos:token.end] + (more.group("p") if more else "")
    if text.startswith("的", match.end()):  # "全国门店的收银系统": the head noun follows 的
        head = _PRODUCT_RE.match(text, match.end() + 1)
        if head and not _START_STOP_RE.match(text, match.end() + 1):
            product = head.group("p")
    joined = _JOIN_RE.match(text, pos + len(product)) if text.startswith(product, pos) else None
    if joined:  # "ERP和WMS": two products named together
        product += joined.group(0)
    if TITLE_RE.fullmatch(product):
        return None  # "采购张姐": a person
    if len(product) == 1 and not product.isascii() and _TITLE_AFTER_RE.match(text, match.end()):
        return None  # "采购钟经理": a surname, not a product
    return product


def _known_inside(text: str, pos: int) -> bool:
    """`pos` cuts a dictionary word in two."""
    token = segment(text).token_at(pos)
    return token is not None and token.start < pos and token.known


def _tidy(product: str) -> str:
    tail = _ATTRIBUTE_TAIL_RE.search(product)
    return product[:tail.start()] if tail and tail.start() >= 2 else product


def _plausible(text: str, product: str, end: int) -> bool:
    if not product or product in _NOT_PRODUCTS or re.fullmatch(r"[0-9.\-/xX]+|[xX×]\d+", product):
        return False
    if len(product) == 1 and not product.isascii():
        return False  # "采购 聊了一下": one character is no product
    if product.lower() in _EN_STEP_WORDS or product.endswith("合同") or _VERBISH_RE.fullmatch(product):
        return False
    return not _BUYER_AFTER_RE.match(text, end)


def _chinese(text: str) -> str | None:
    interest = _INTEREST_RE.search(text)
    found: list[tuple[int, int, str]] = []  # (weak cue?, position, product): strong cues win
    if interest and interest.group("p") not in _NOT_PRODUCTS:
        found.append((0, interest.start(), interest.group("p")))
    for cue in _CUE_RE.finditer(text):
        product = _after_cue(text, cue.end())
        if not product:
            continue
        end = text.find(product, cue.end()) + len(product)
        product = _tidy(product)
        if not _plausible(text, product, end):
            continue
        if cue.group("weak") and not _NOUNISH.search(product) and (len(product) < 2 or _VERBISH_RE.match(product)):
            continue
        if cue.group("topic") and not _NOUNISH.search(product) and not _PROJECT_AFTER_RE.match(text, end):
            continue
        found.append((0 if cue.group("strong") else 1, cue.start(), product))
    return min(found)[2] if found else None


# Without a cue: a noun phrase ending in a product head, or named before 的价格 / 项目.
_HEAD_RE = re.compile(r"(?:系统|平台|软件|设备|服务器|终端|模组|模块|机器人|一体机|小程序|中台|算法|装置|电脑|平板|空调|电梯|"
                      r"摄像头|打印机|仪表?|[机器柜锁屏泵桩灯车镜箱架床]|APP|App|app|SaaS)(?![A-Za-z])")
# Heads that name no product on their own ("设备到货了", "设备处的邬处长").
_BARE_HEAD_RE = re.compile(r"系统|平台|软件|设备|终端|模组|模块|装置|中台|算法|小程序|仪表?|APP|App|app|SaaS|[机器柜锁屏泵桩灯车镜箱架床]")
_PROJECT_AFTER_RE = re.compile(r"\s?(?:那个|这个)?项目|\s?的(?:价格|报价|参数)")
_NOT_HEADED = {"手机", "电话", "微信", "司机", "机会", "时机", "飞机", "汽车", "火车", "开车", "车间", "机器", "机构", "机关"}
# "李明手机是139…", "王总手机号:…": a person's phone, not a product
_CONTACT_DETAIL_RE = re.compile(r"(?:手机|电话|微信)(?=\s*(?:号码?|是|为|[:：]|\+?\d))")
# A noun phrase holds none of these as a word: adverbs, prepositions, pronouns, particles, time words …
_NOT_IN_NOUN = ("d", "p", "c", "r", "uj", "ul", "uz", "ug", "t", "m", "q", "y", "f")
_NOUN_LEFT_STOP_RE = re.compile(
    r"[\s,.;:!?，。；：！？、()（）\[\]@\-—/|~]|[0-9]+|的|了|在|是|跟|和|与|给|把|对|说|聊|要|想|上|买|采购|换|装|租|订|"
    r"试用|了解|讨论|需要|做|看|问|缺|等|他们|我们|你们|客户|对方|一下|"
    r"[一二两三四五六七八九十几百千]+[个台套批家间条把张件款]|一套|一批|"
    r"总|经理|主任|主管|总监|科长|处长|院长|老师|老板|工(?=[^\u4e00-\u9fff]|$)|"
    r"今天|明天|后天|下周|月底|年底|预算|演示|报价|招标|投标|方案|合同|签约")


def _headed_noun(text: str, exclude: tuple[str, ...]) -> str | None:
    seg = segment(text)
    for m in list(_HEAD_RE.finditer(text)) + list(_PROJECT_AFTER_RE.finditer(text)):
        end = m.end() if m.re is _HEAD_RE else m.start()
        if m.re is _HEAD_RE and _known_inside(text, end) and not _START_STOP_RE.match(text, end):
            continue  # 机 in 机会, 车 in 车间 (but 系统|升级 is one word to jieba and still a product)
        start = max(0, end - 16)
        for stop in _NOUN_LEFT_STOP_RE.finditer(text, start, end):
            if stop.end() <= end:
                start = max(start, stop.end())
        start = seg.snap_start(start) if _known_inside(text, start) else start
        product = _tidy(text[start:end].strip())
        if len(product) < 2 or not _plausible(text, product, end) or product in _NOT_HEADED or product.isascii() \
                or _BARE_HEAD_RE.fullmatch(product) or _CONTACT_DETAIL_RE.match(text, end - 2):
            continue
        words = seg.words_in(end - len(product), end)
        if any(w.freq >= 100 and w.tag.startswith(_NOT_IN_NOUN) for w in words) or (
                words and words[-1].freq >= 100 and words[-1].tag.startswith("v") and m.re is _PROJECT_AFTER_RE):
            continue  # "下周一再谈价格", "在客户公司开项目启动会"
        if any(name and (product in name or name in product) for name in exclude):
            continue  # the customer's own name: 新松机器人
        return product
    return None


def _english(text: str) -> str | None:
    for cue in _EN_CUE_RE.finditer(text):
        if "\u4e00" <= text[cue.end():cue.end() + 1] <= "\u9fff":  # "wants 智慧黑板 x20", "in 我们的 AI客服"
            han = _after_cue(text, cue.end())
            if han and _plausible(text, han, text.find(han, cue.end()) + len(han)):
                return _tidy(han)
            continue
        words: list[str] = []
        for token in re.findall(r"[A-Za-z0-9][\w+\-/]*|[,.;:!?()]", text[cue.end():cue.end() + 80]):
            low = token.lower()
            if not words and (low in _EN_SKIP or low.isdigit()):
                continue
            if low in _EN_STOP or not token[0].isalnum() or (not words and low in _EN_NOT_FIRST):
                break
            words.append(token)
            if len(words) == 4:
                break
        if words:
            return " ".join(words)
    return None


@lru_cache(maxsize=8)
def _catalog_index(catalog: tuple[str, ...]) -> tuple[dict[str, str], int]:
    """catalog name (NFKC, lower case) → the name as the catalog spells it; the longest length."""
    index: dict[str, str] = {}
    for item in catalog:
        key = unicodedata.normalize("NFKC", item).strip().lower()
        if len(key) >= 2:
            index.setdefault(key, item)
    return index, max(map(len, index), default=0)


def _from_catalog(text: str, catalog: tuple[str, ...]) -> str | None:
    """The catalog product the note names (longest, then first), spelt as in the catalog."""
    index, longest = _catalog_index(catalog)
    low = text.lower()
    best: tuple[int, int, str] | None = None
    for start in range(len(low)):
        for size in range(min(longest, len(low) - start), 1, -1):
            item = index.get(low[start:start + size])
            if item is None:
                continue
            end = start + size
            if low[start].isascii() and start > 0 and low[start - 1].isalpha() and low[start - 1].isascii() or \
                    low[end - 1].isascii() and end < len(low) and low[end].isalpha() and low[end].isascii():
                continue  # ERP is not in "ERPNext" nor CRM in "SCRM"
            if best is None or (-size, start) < best[:2]:
                best = (-size, start, item)
            break
    return best[2] if best else None


def find_product(text: str, catalog: Iterable[str] | None = None, exclude: Iterable[str | None] = ()) -> str | None:
    """The product or solution the customer wants, as said; None when none is named.

    `catalog`: the products this team sells; one the note names is returned as the catalog spells
    it. `exclude`: names already taken as the customer or the contact (never a product).
    """
    if catalog:
        named = _from_catalog(text, tuple(catalog))
        if named:
            return named
    product = _chinese(text) or _english(text) or _headed_noun(text, tuple(n for n in exclude if n))
    if product:
        return product
    known = _KNOWN_RE.search(text)
    if not known:
        return None
    longer = _PRODUCT_RE.match(text, known.start())  # "光伏" → "光伏运维平台"
    return longer.group("p") if longer and len(longer.group("p")) > len(known.group(0)) else known.group(0)
