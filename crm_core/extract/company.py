"""The customer's organisation name, returned as said ("杭州优品", "华西医院", "Globex Corp").

Found, strongest first, among the CRM's own customers when the caller passes their names;
by legal-form and industry suffixes (有限公司, 集团, 医院, 科技, 银行 …, with a region in
brackets kept: 优品(杭州)电子商务有限公司); by the words in front of the contact ("杭州优品的
李经理", "顺丰速运 华南区的邓经理"); by where a name sits in the sentence even without a
suffix ("跟华信那边聊了", "永辉的采购", "Tony from 鼎信", the words after a name that opens the
note: "周杰,锐达科技采购"); by well-known brands (比亚迪, 茅台); by cues (客户是X, 叫X); or in
English by Ltd/Inc/Corp or "from/at <Name>". A Chinese name's left edge is where a function
word, verb phrase, time word or number ends; the word segmentation vetoes spans that cut a
word in two or that are common words (现场, 小区), verbs or time words.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from crm_core.extract.brands import BRAND_INDUSTRY, BRANDS, brand_pattern
from crm_core.extract.gazetteer import EN_GIVEN_NAMES, LEGAL_SUFFIXES, ORG_SUFFIXES, PLACES, SURNAMES
from crm_core.extract.industry import DEFAULT_INDUSTRIES
from crm_core.extract.segment import segment

# Suffixes this module reads as a name's end beyond the shared list (which the contact finder
# also uses, so the risky ones such as 厂 stay here). 厂 must not start 厂长/厂里/厂家 ….
_MORE_SUFFIXES = ("便利店", "书店", "俱乐部", "商贸城", "商贸", "牙科", "口腔", "齿科", "小贷", "冷链", "铜业", "铝业",
                  "矿业", "牧业", "味业", "茶业", "纸业", "糖业", "盐业", "木业", "瓷业", "陶瓷", "饲料", "乳品", "检测")
_ALL_SUFFIXES = "|".join(map(re.escape, sorted([*ORG_SUFFIXES, *_MORE_SUFFIXES], key=len, reverse=True)))
_SUFFIX_RE = re.compile(f"(?:{_ALL_SUFFIXES}" + r"|[一二三四五六七八九]院|(?<![工电加])厂(?![长里区家商房子方]))(?!长|院长|主任)")
# "优品(杭州)电子商务有限公司": a place in brackets inside the name.
_BRACKET_BEFORE_RE = re.compile(r"\((?P<place>[\u4e00-\u9fff]{2,8})\)$")
_BRACKET_AFTER_RE = re.compile(r"\((?P<place>[\u4e00-\u9fff]{2,8})\)(?=" + "|".join(LEGAL_SUFFIXES) + ")")
_PLACE_WORD_RE = re.compile(r"[\u4e00-\u9fff]{1,6}(?:省|市|区|县|镇|自治区|新区)|中国|国际|亚太|华东|华南|华北|华中|西南|西北|东北")
_BRANCH_RE = re.compile("(?:" + "|".join(sorted(PLACES, key=len, reverse=True)) + ")?市?(?:分行|支行|分公司|分院|分厂|营业部|分店)")
_LEGAL_RE = re.compile("|".join(LEGAL_SUFFIXES))
# Tokens a Chinese name cannot extend over, leftwards.
_LEFT_STOP_RE = re.compile(
    r"[\s,.;:!?，。；：！？、()（）\"“”]|[0-9]+|(?<!美)的|了|在|是|跟|(?:^|(?<=[\s,，。]))和|与|同|找|去|到|给|从|向|说|聊|"
    r"约|见|拜访|联系|记录|客户|预算|报价|一下|姓|"
    r"那边|这边|他们|她们|我们|对方|今天|明天|后天|刚才|刚刚|刚|上午|下午|晚上|电话|一家|这家|那家|一个|某|通过|介绍|"
    r"推荐|是个|叫做?|属于|位于|关于|想要|想上|想买|想做|想建|想搞|想了解|要上|要买|要做|要建|要搞|要换|需要|准备|打算|"
    r"计划|采购|购买|买|有个|有家|参加|来自|代表|来公司|来我们|去公司|做个|中旬|上旬|下旬|月初|月底|月中|年底|"
    r"[一二两三四五六七八九十几]+[个台套批家间条把张]|(?:下下?|这|本|上)?(?:周|星期|礼拜)[一二三四五六日天末]?|"
    r"[一二三四五六七八九十]+[号日月]"
    # a person with a title ends what came before (石家庄润泽医院董院长 医院信息系统)
    r"|[" + "".join(sorted(SURNAMES)) + r"]副?(?:总经理|总监|经理|主任|院长|科长|处长|部长|局长|厂长|校长|行长|书记|老板)"
)
# An org word right after these is the product being bought ("想上智能客服"), not a customer.
_PRODUCT_LEAD_RE = re.compile(r"(?:我们的|咱们的|我司的|你们的|想上|要上|想买|要买|采购|购买|想做|要做|想建|要建|换|上)$")
_DESCRIPTION_LEAD = ("一家", "这家", "那家", "一个", "某")
# After an industry word these make it part of a product phrase: 电商中台, 连锁店 …
_PRODUCT_FOLLOW_RE = re.compile(r"中台|平台|系统|软件|方案|项目|业务|设备|产品|解决|服务|店|器|机|行业|领域|板块|模式|"
                                r"独立站|小程序|客服|[Aa][Pp][Pp]|云|检测|监测|管理|分析|识别|运维|设备")
# Institutions keep their name whatever follows ("华西医院设备科"); only trade words need the check.
_INSTITUTION_RE = re.compile(r"公司|集团|股份|控股|院|学|校|幼儿园|附中|银行|信用社|政府|局|委|会|所|街道办|海关")
_QUANTITY_TAIL_RE = re.compile(r"(?:[0-9]+|[一二两三四五六七八九十百千几]+)[个台套批家间条把张]?$|一批$|一套$")
_PRONOUNS = {"他们", "她们", "我们", "你们", "咱们", "人家", "对方", "客户", "公司", "本公司", "总公司", "分公司", "这个",
             "联系人", "对接人", "负责人", "决策人", "老板", "领导", "老客户", "新客户", "客户公司",
             "那个", "甲方", "乙方", "采购部", "贵", "他们公司", "她们公司", "我们公司", "咱们公司"}
_INDUSTRY_WORDS = {word for words in DEFAULT_INDUSTRIES.values() for word in words if not word.isascii()}
_GENERIC_CORES = {"小区", "跨境", "直播", "智能", "数字", "网络", "信息", "医疗", "互联网", "社区", "智慧", "门店", "全国", "工业",
                  "园区", "数据", "贸易", "科技", "电子", "物流", "医药", "软件", "大", "小", "新"}
_DEPARTMENT_END = re.compile(r"(?:部(?<!俱乐部)|科(?<!牙科)(?<!齿科)|处|室|组|办|部门|区)$")
# Between a company and its contact: 的, 那边, roles (采购经理), departments (设备科, 华南区).
_ROLE_WORDS = ("总经理", "总监", "经理", "主管", "主任", "负责人", "部长", "处长", "科长", "院长", "厂长", "校长", "行长",
               "老师", "老板", "采购", "专员")
_ROLE_PREFIX = ("采购", "项目", "产品", "技术", "运营", "销售", "市场", "财务", "信息", "设备", "行政", "研发", "人事",
                "后勤", "商务", "安全", "质量", "生产", "工程", "物资", "IT", "信息技术部", "部门")
# A department or function said on its own between company and contact ("贝壳的 行政 王小姐").
_FUNCTION_WORDS = ("采购", "行政", "后勤", "运营", "人事", "财务", "信息", "IT", "技术", "市场", "销售", "设备",
                   "procurement", "sourcing", "purchasing")
_LINKS = ("的", "那边", "这边", "那个")
_DEPARTMENT_SUFFIX = ("事业部", "部门", "部", "科", "处", "室", "区", "中心", "门店", "组")
_CUE_RE = re.compile(r"(?:客户(?:是|叫|名叫|\s?[:：;；])|公司叫|叫做?|名叫|客户\s)\s?(?![做是在说想要有来去])"
                     r"(?P<name>[\u4e00-\u9fffA-Za-z0-9]{2,14}?)"
                     r"(?=\s|[,，。;；:：]|老板|联系人|对接人|负责人|的|是|他们|想|要|那边|$)")
_REGION_DIVISION_RE = re.compile(r"(?:华东|华南|华北|华中|西南|西北|东北|[\u4e00-\u9fff]{2})区$")
_THAT_SIDE_RE = re.compile(r"(?P<name>[\u4e00-\u9fffA-Za-z0-9]{2,10}?)\s?那边")
# Where a name without a suffix sits: after 跟/去/拜访/from/@ and before 的/那边/聊/a pause …
_CONTEXT_RE = re.compile(
    r"(?:(?<![A-Za-z])(?:跟|和|与|同|(?<![过回出进上下来])去了?趟?|到|在|见了?|拜访了?|来自|from|at|@)\s?)"
    r"(?P<name>[\u4e00-\u9fff][\u4e00-\u9fffA-Za-z0-9]{1,11}?|[A-Z][A-Za-z0-9&'-]{2,20})"
    r"(?=\s?(?:的|那边|这边|那里|聊|做|当|上班|工作|说|开会|沟通|吃|喝|谈)|\s|[,，。;；!！?？]|$)")
# "永辉的采购", "海澜之家采购": a name right before a function word, at a clause start.
_FUNCTION_AFTER_RE = re.compile(r"(?:^|(?<=[\s,，;；:：、(]))(?P<name>[\u4e00-\u9fff][\u4e00-\u9fffA-Za-z0-9]{1,11}?)"
                                r"\s?的?\s?(?=" + "|".join(_FUNCTION_WORDS) + r"|加盟部|信息部|IT部|事业部|老板)")
# The note opens with the customer: "嘉兴恒昌 想换一套财务软件", "鲁信小贷 计划部署…".
_OPENING_RE = re.compile(r"^(?P<name>[\u4e00-\u9fff][\u4e00-\u9fffA-Za-z0-9]{1,11})(?:\s|[,，:：]\s?)"
                         r"(?=(?:想|要|需要|计划|打算|准备|考虑|缺|有意向|在看|对接|采购|信息|[\u4e00-\u9fff]{0,6}(?:部|中心)\s))")
_DELIMITERS = re.compile(r"[\s,，、;；:：()（）\-—/|]+")
# Tags a customer name never contains as a common word: verbs, time words, pronouns, particles …
# (a rare dictionary word may carry any tag: 安踏/v).
_NOT_NAME_TAGS = ("v", "t", "r", "p", "c", "uj", "ul", "uz", "ug", "uv", "ud", "d", "m", "q", "f", "y", "e", "o")
_COMMON = 100
_CHAT_WORDS = {"ok", "OK", "Ok", "Hi", "BOSS", "Boss", "PO", "CEO", "CTO", "CFO", "IT", "VIP"}

_EN_SUFFIX = (r"(?:Co\.,?\s*Ltd\.?|Co\.|Ltd\.?|Limited|Inc\.?|Corp\.?|Corporation|LLC|Group|Holdings|Hospital|"
              r"University|College|School|Bank|Technologies|Technology|Tech|Logistics|Pharma(?:ceuticals?)?|"
              r"Motors|Foods|Energy|Electronics|Systems|Solutions|Industries|Manufacturing|Trading|Retail|Clinic|"
              r"Hotel|Restaurant|Properties|Securities|Government|Insurance)(?![\w])")
_EN_COMPANY_RE = re.compile(rf"\b(?P<name>(?:[A-Z][\w&'-]*\.?\s+){{0,3}}[A-Z][\w&'-]*\s+{_EN_SUFFIX})")
_EN_FROM_RE = re.compile(r"\b(?:from|at|of)\s+(?P<name>[A-Z][A-Za-z&'-]+(?:\s+[A-Z][A-Za-z&'-]+){0,2})")
_EN_LEADING_WORDS = {"Met", "Spoke", "Called", "Visited", "Mr", "Ms", "Mrs", "Director", "Manager", "With", "From",
                     "At", "The", "Our", "Their", "Today", "Tomorrow", "Next", "Talked", "Contact", "Lead", "Client",
                     "Customer", "Call", "Demo", "Sent", "Had", "Meeting", "Dr", "Email", "Visit", "Site", "New"}
_EN_NOT_COMPANY = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January",
                   "February", "March", "April", "May", "June", "July", "August", "September", "October",
                   "November", "December", "Mr", "Ms", "Mrs", "Dr", "Director", "Manager", "The", "Our", "Their",
                   "Procurement", "Purchasing", "IT", "Finance", "Sales", "Marketing", "China", "Beijing",
                   "Shanghai", "Shenzhen", "Guangzhou", "Hangzhou", "Chengdu", "Wuhan", "Nanjing", "Suzhou",
                   "Tianjin", "Chongqing", "Qingdao", "Ningbo", "Xiamen", "Dalian", "RMB", "CNY", "USD"}


def _left_edge(text: str, end: int, limit: int = 20) -> tuple[int, str]:
    """Start of the name ending at `end`, and the stop token right before it."""
    window_start = max(0, end - limit)
    edge, token = window_start, ""
    for stop in _LEFT_STOP_RE.finditer(text, window_start, end):
        if stop.end() >= edge:
            edge, token = stop.end(), stop.group(0)
    return edge, token


def _valid(text: str, start: int, name: str, core: str, lead: str) -> bool:
    name, core = name.strip(), core.strip()
    before = _QUANTITY_TAIL_RE.sub("", text[max(0, start - 8):start])
    if lead in _DESCRIPTION_LEAD or any(word in name for word in _DESCRIPTION_LEAD) or _PRODUCT_LEAD_RE.search(before):
        return False  # "一家贸易公司" describes; "想采购一批防水材料…" buys
    if re.fullmatch(r"[A-Za-z0-9 .&'-]+", name) and (name in _CHAT_WORDS or not name[:1].isupper()):
        return False  # "ok 老李那边定了"
    suffix = _SUFFIX_RE.search(name)
    if suffix and suffix.end() == len(name) and _generic_core(name[:suffix.start()], name):
        return False
    place_institution = core in PLACES and re.search(r"(?:大学|学院|医院|银行|职校|中学|小学|港)$", name) is not None
    return (len(core) >= 2 and name not in _PRONOUNS and core not in _PRONOUNS and core not in _GENERIC_CORES
            and name not in PLACES and (core not in PLACES or place_institution) and not _DEPARTMENT_END.search(name)
            and not core.isdigit() and not _place_and_suffix(name))


_UNIT_RE = re.compile(r"(?:工厂|厂|分公司|公司|总部|中心|办事处|门店|基地|仓库|分店|分行|支行|分院)$")


def _place_and_suffix(name: str) -> bool:
    """"天津工厂", "杭州分公司": a place and a unit word say where, not who (厦门航空 is a name)."""
    unit = _UNIT_RE.search(name)
    return unit is not None and name[:unit.start()].rstrip("市省") in PLACES


def _generic_core(core: str, name: str) -> bool:
    """"饲料厂", "小区物业": a kind of business or place and an org word describe; they name nobody."""
    if name.startswith(BRANDS):
        return False
    return core in _GENERIC_CORES or core in _INDUSTRY_WORDS


def _place_like(words: str) -> bool:
    if words in PLACES or _PLACE_WORD_RE.fullmatch(words):
        return True
    tokens = segment(words).tokens
    return bool(tokens) and all(t.tag.startswith("ns") for t in tokens)


def _core_end(text: str, end: int) -> int:
    """Where a name's own words end before its suffix: before "(杭州)" in 优品(杭州)电子商务."""
    bracket = _BRACKET_BEFORE_RE.search(text, max(0, end - 10), end)
    if bracket and _place_like(bracket.group("place")) and bracket.start() > 0 and \
            re.match(r"[\u4e00-\u9fffA-Za-z0-9]", text[bracket.start() - 1]):
        return bracket.start()
    return end


def _by_suffix(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _SUFFIX_RE.finditer(text):
        if not _INSTITUTION_RE.search(m.group(0)) and _PRODUCT_FOLLOW_RE.match(text, m.end()):
            continue
        if m.group(0) == "电器" and text[m.start() - 1:m.start()] == "充":
            continue  # 充电器 is a product
        core_end = _core_end(text, m.start())
        start, lead = _over_bracket(text, *_left_edge(text, core_end))
        end = m.end()
        for _ in range(4):  # chained suffixes: 科技有限公司, 银行南京分行 (bounded: keeps long input linear)
            bracket = _BRACKET_AFTER_RE.match(text, end)
            at = bracket.end() if bracket and _place_like(bracket.group("place")) else end
            nxt = _SUFFIX_RE.match(text, at) or _BRANCH_RE.match(text, at)
            if not nxt or nxt.end() == at or _department_centre(text, end, nxt):
                break
            end = nxt.end()
        name, core = text[start:end], text[start:core_end]
        if _generic_core(core, name) or (m.group(0) == "中心" and _INSTITUTION_RE.search(core) and
                                         re.search(r"(?:信息|网络|数据|技术|计算|教务|培训|客服|研发|运营|财务)$", core)):
            continue
        hospital = re.fullmatch(r"[一二三四五六七八九]?院|医院|人民医院|中医院|附院", m.group(0)) is not None
        if _valid(text, start, name, core, lead) or (hospital and len(core) == 1 and core not in "的在是去了"):
            found.append((0 if _LEGAL_RE.search(name) else 1, start, name))
    return found


def _over_bracket(text: str, start: int, lead: str) -> tuple[int, str]:
    """"新橙(上海)信息科技有限公司": a name stopped at ")" goes on left over a bracketed place."""
    if lead != ")":
        return start, lead
    bracket = _BRACKET_BEFORE_RE.search(text, max(0, start - 10), start)
    if not bracket or not _place_like(bracket.group("place")) or bracket.start() == 0:
        return start, lead
    before, before_lead = _left_edge(text, bracket.start())
    return (before, before_lead) if bracket.start() - before >= 2 else (start, lead)


def _department_centre(text: str, end: int, nxt: re.Match[str]) -> bool:
    """"九江学院信息中心": a centre named for a function is a department, not part of the name."""
    return nxt.group(0).endswith("中心") and re.match(r"信息|网络|数据|技术|计算|教务|后勤|运营|研发|财务|培训|客服|IT",
                                                    text[end:nxt.end()]) is not None


def _strip_one(text: str, end: int) -> int:
    """End of the text once one link, role or department is removed from its tail; same end if none."""
    while end > 0 and text[end - 1].isspace():
        end -= 1
    chunk = text[max(0, end - 12):end]
    for word in _LINKS + _ROLE_WORDS + _FUNCTION_WORDS:
        if chunk.endswith(word):
            end -= len(word)
            for prefix in _ROLE_PREFIX:  # 采购经理, 信息技术部总经理
                if word in _ROLE_WORDS and text.endswith(prefix, 0, end):
                    return end - len(prefix)
            return end
    if chunk.endswith(_DEPARTMENT_SUFFIX):
        dept_start, _lead = _left_edge(text, end, limit=7)
        if end - dept_start >= 2:
            return dept_start
    return end


def _whole_words(text: str, start: int, end: int) -> bool:
    """No dictionary word is cut at either edge ("见了 金田铜业" holds no 金田铜)."""
    seg = segment(text)
    for edge in (start, end):
        token = seg.token_at(edge)
        if token is not None and token.start < edge and token.known:
            return False
    return True


def _words_ok(text: str, start: int, end: int) -> bool:
    """The segmentation agrees that text[start:end] can be an organisation's name: no dictionary
    word is cut at either edge, it holds no verb, time word or pronoun, and it is not one common
    noun (现场, 小区) or a person's name."""
    name = text[start:end]
    if name.startswith(BRANDS):
        return True
    if not _whole_words(text, start, end):
        return False
    seg = segment(text)
    words = [w for w in seg.words_in(start, end) if not w.word.isspace()]
    if any(w.freq >= _COMMON and w.tag.startswith(_NOT_NAME_TAGS) for w in words):
        return False
    if words and all(w.tag.startswith("ns") for w in words) and (len(words) > 1 or words[0].word in PLACES):
        return False  # 绍兴柯桥: places only
    if len(words) == 1 and words[0].known:
        word = words[0]
        if word.tag == "n" and word.freq >= 50:
            return False
        if word.tag.startswith("nr") and len(word.word) <= 3 and word.word[0] in SURNAMES:
            return False
    return True


def _span_ok(text: str, start: int, end: int, contact: str | None) -> bool:
    name = text[start:end]
    if contact and (contact in name or name in contact):
        return False
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9&'-]*", name) and (name in EN_GIVEN_NAMES or name in _EN_NOT_COMPANY
                                                            or name in _EN_LEADING_WORDS or name.isupper()):
        return False
    return _valid(text, start, name, name, "") and _words_ok(text, start, end)


def _before_person(text: str, contact_start: int | None) -> list[tuple[int, int, str]]:
    """"杭州优品的李经理", "顺丰速运 华南区的邓经理": the name in front of the contact."""
    if contact_start is None or not "\u4e00" <= text[contact_start:contact_start + 1] <= "\u9fff":
        return []
    end = contact_start
    for _ in range(5):
        new_end = _strip_one(text, end)
        if new_end == end:
            break
        end = new_end
    if end == contact_start or end <= 0:
        return []
    start, lead = _left_edge(text, _core_end(text, end))
    name = text[start:end]
    if not name or not _valid(text, start, name, name, lead) or not _whole_words(text, start, end):
        return []
    return [(2, start, name)]


def _after_opening_name(text: str, contact: str | None, contact_start: int | None) -> list[tuple[int, int, str]]:
    """"周杰,锐达科技采购", "李文涛 盛华物流 运营总监", "Lucy (远航物流采购)": a note that opens with
    a bare name goes on with the name's organisation."""
    if contact is None or contact_start is None or text[:contact_start].strip() or \
            not text.startswith(contact, contact_start):
        return []
    gap = _DELIMITERS.match(text, contact_start + len(contact))
    if not gap:
        return []
    start = gap.end()
    chunk = re.match(r"[\u4e00-\u9fffA-Za-z0-9&]+?(?=[\s,，、;；:：()（）\-—/|]|的|$)", text[start:start + 24])
    if not chunk:
        return []
    end = start + len(chunk.group(0))
    for _ in range(3):
        new_end = _strip_one(text, end)
        if new_end == end or new_end <= start:
            break
        end = new_end
    return [(2, start, text[start:end])] if end - start >= 2 and _span_ok(text, start, end, contact) else []


def _by_context(text: str, contact: str | None) -> list[tuple[int, int, str]]:
    """Names without a suffix, found by where they sit: "跟华信那边聊了", "永辉的采购", "from 鼎信",
    and a note that opens with its customer ("嘉兴恒昌 想换一套财务软件")."""
    found = []
    for pattern, rank in ((_CONTEXT_RE, 2), (_FUNCTION_AFTER_RE, 2), (_OPENING_RE, 3)):
        for m in pattern.finditer(text):
            start, end = m.span("name")
            if _A_PLACE_RE.match(text, end):
                continue  # "绍兴柯桥的一家印染厂": where the customer is, not who
            if _span_ok(text, start, end, contact):
                found.append((rank, start, m.group("name")))
    return found


_A_PLACE_RE = re.compile(r"\s?的?\s?(?:一家|一个|那家|这家|某)")


def _by_brand(text: str, contact: str | None) -> list[tuple[int, int, str]]:
    """A well-known brand said on its own ("比亚迪的采购", "康师傅 天津工厂"), as whole words."""
    found = []
    seg = segment(text)
    for m in brand_pattern().finditer(text):
        start, end = m.span()
        if not all(seg.boundary(edge) or not (t := seg.token_at(edge)) or not t.known for edge in (start, end)):
            continue  # 大众 in 大众点评
        word = seg.token_at(start)
        common = word is not None and word.word == m.group(0) and word.freq >= 200 and not word.tag.startswith("n")
        if common and not re.match(r"\s?(?:的|那边|这边|集团|公司)", text[end:end + 4]):
            continue  # 统一, 远景, 修正 are words before they are brands
        for size in (3, 2):  # 合肥蔚来, 泉州安踏: the city said with the brand is part of the name
            if start >= size and text[start - size:start].rstrip("市") in PLACES:
                start -= size
                break
        name = text[start:end]
        if contact and (contact in name or name in contact):
            continue
        found.append((3, start, name))
    return found


_CORE_STRIP_RE = re.compile(f"(?:{_ALL_SUFFIXES})+$")


def _forms(name: str) -> list[str]:
    """How a note may say a known customer: in full, without the bracketed region, without the
    legal form (杭州优品电子商务), without the trade (杭州优品), without the place (优品)."""
    full = unicodedata.normalize("NFKC", name).strip()
    plain = re.sub(r"\([^()]*\)", "", full)
    forms = [full, plain]
    stem = re.sub("(?:" + "|".join(LEGAL_SUFFIXES) + ")$", "", plain)
    forms.append(stem)
    bare = _CORE_STRIP_RE.sub("", stem)
    forms.append(bare)
    for size in (4, 3, 2):  # 杭州优品 → 优品
        if bare[:size] in PLACES:
            forms.append(re.sub(r"^[省市区县]", "", bare[size:]))
            break
    return [f for f in forms if len(f) >= 2]


@lru_cache(maxsize=8)
def _known_index(names: tuple[str, ...]) -> tuple[dict[str, tuple[int, str]], int]:
    """surface form (lower case) → (0 for the full name, 1 for a short form; the name), longest form."""
    index: dict[str, tuple[int, str]] = {}
    for name in names:
        forms = _forms(name)
        if not forms:
            continue
        for rank, form in enumerate(forms):
            key = form.lower()
            if key not in index or index[key][0] > min(rank, 1):
                index[key] = (min(rank, 1), forms[0])
    return index, max((len(k) for k in index), default=0)


def _by_known(text: str, known: tuple[str, ...]) -> str | None:
    """The CRM's own customer this note names, as the CRM spells it; the longest mention wins."""
    index, longest = _known_index(known)
    if not index:
        return None
    low = text.lower()
    seg = segment(text)
    best: tuple[int, int, int, str] | None = None  # (-length, short form?, start, name)
    for start in range(len(text)):
        for size in range(min(longest, len(text) - start), 1, -1):
            hit = index.get(low[start:start + size])
            if hit is None:
                continue
            end = start + size
            if hit[0] and (not seg.aligned(start, end) or _SUFFIX_RE.match(text, end)):
                continue  # a short form inside a longer word, or another trade: 优品物流 is not 优品电子商务
            key = (-size, hit[0], start, hit[1])
            if best is None or key < best:
                best = key
            break
    return best[3] if best else None


def _by_cue(text: str, contact: str | None) -> list[tuple[int, int, str]]:
    found = []
    for m in list(_CUE_RE.finditer(text)) + list(_THAT_SIDE_RE.finditer(text)):
        name = _REGION_DIVISION_RE.sub("", m.group("name")) or m.group("name")
        start = m.start("name")
        if m.re is _THAT_SIDE_RE:
            start, _lead = _left_edge(text, m.end("name"))
            name = text[start:m.end("name")]
        if contact and (contact in name or name in contact):
            continue
        if len(name) >= 2 and _valid(text, start, name, name, ""):
            found.append((2, start, name))
    return found


def _english(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _EN_COMPANY_RE.finditer(text):
        words = m.group("name").split()
        while words and words[0].rstrip(".,") in _EN_LEADING_WORDS:
            words = words[1:]
        if len(words) >= 2:
            found.append((0, m.start(), " ".join(words)))
    for m in _EN_FROM_RE.finditer(text):
        name = m.group("name")
        if name.split()[0] not in _EN_NOT_COMPANY and not re.match(r"(?:Mr|Ms|Mrs|Dr)\b", name):
            found.append((2, m.start("name"), name))
    return found


def find_company(text: str, contact_start: int | None = None, contact: str | None = None,
                 known: Iterable[str] | None = None) -> str | None:
    """The organisation name as said, or None.

    `known`: the CRM's customer names. A note that names one of them (in full or by a short form:
    "优品" for 杭州优品电子商务有限公司) returns that customer's name as the CRM has it.
    """
    if known:
        named = _by_known(text, tuple(known))
        if named:
            return named
    found = (_by_suffix(text) + _before_person(text, contact_start) + _by_cue(text, contact) + _english(text)
             + _after_opening_name(text, contact, contact_start) + _by_context(text, contact)
             + _by_brand(text, contact))
    if not found:
        return None
    return min(found, key=lambda item: (item[0], item[1], -len(item[2])))[2].strip()
