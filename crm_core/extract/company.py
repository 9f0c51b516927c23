"""The customer's organisation name, returned as said ("杭州优品", "华西医院", "Globex Corp").

Found by legal-form and industry suffixes (有限公司, 集团, 医院, 科技, 银行 …), by the words in
front of the contact ("杭州优品的李经理", "顺丰速运 华南区的邓经理"), by cues (客户是X, 叫X), or
in English by Ltd/Inc/Corp or "from/at <Name>". A Chinese name's left edge is where a
function word, verb phrase, time word or number ends.
"""
from __future__ import annotations

import re

from crm_core.extract.gazetteer import LEGAL_SUFFIXES, ORG_SUFFIXES, PLACES

_SUFFIX_RE = re.compile("(?:" + "|".join(map(re.escape, ORG_SUFFIXES)) + r"|[一二三四五六七八九]院)(?!长|院长|主任)")
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
             "那个", "甲方", "乙方", "采购部", "贵", "他们公司", "她们公司", "我们公司", "咱们公司"}
_GENERIC_CORES = {"跨境", "直播", "智能", "数字", "网络", "信息", "医疗", "互联网", "社区", "智慧", "门店", "全国", "工业",
                  "园区", "数据", "贸易", "科技", "电子", "物流", "医药", "软件", "大", "小", "新"}
_DEPARTMENT_END = re.compile(r"(?:部|科|处|室|组|办|门|区)$")
# Between a company and its contact: 的, 那边, roles (采购经理), departments (设备科, 华南区).
_ROLE_WORDS = ("总经理", "总监", "经理", "主管", "主任", "负责人", "部长", "处长", "科长", "院长", "厂长", "校长", "行长",
               "老师", "老板", "采购", "专员")
_ROLE_PREFIX = ("采购", "项目", "产品", "技术", "运营", "销售", "市场", "财务", "信息", "设备", "行政", "研发", "人事",
                "后勤", "商务", "安全", "质量", "生产", "工程", "物资", "IT", "信息技术部", "部门")
_LINKS = ("的", "那边", "这边", "那个")
_DEPARTMENT_SUFFIX = ("事业部", "部门", "部", "科", "处", "室", "区", "中心", "门店", "组")
_CUE_RE = re.compile(r"(?:客户(?:是|叫|名叫|:)|公司叫|叫做?|名叫|客户\s)\s?(?![做是在说想要有来去])"
                     r"(?P<name>[\u4e00-\u9fffA-Za-z0-9]{2,14}?)"
                     r"(?=\s|[,，。;；:：]|老板|联系人|对接人|负责人|的|是|他们|想|要|那边|$)")
_REGION_DIVISION_RE = re.compile(r"(?:华东|华南|华北|华中|西南|西北|东北|[\u4e00-\u9fff]{2})区$")
_THAT_SIDE_RE = re.compile(r"(?P<name>[\u4e00-\u9fffA-Za-z0-9]{2,10}?)那边")

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
    return (len(core) >= 2 and name not in _PRONOUNS and core not in _PRONOUNS and core not in _GENERIC_CORES
            and name not in PLACES and core not in PLACES and not _DEPARTMENT_END.search(name) and not core.isdigit())


def _by_suffix(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _SUFFIX_RE.finditer(text):
        if not _INSTITUTION_RE.search(m.group(0)) and _PRODUCT_FOLLOW_RE.match(text, m.end()):
            continue
        if m.group(0) == "电器" and text[m.start() - 1:m.start()] == "充":
            continue  # 充电器 is a product
        start, lead = _left_edge(text, m.start())
        end = m.end()
        for _ in range(4):  # chained suffixes: 科技有限公司, 银行南京分行 (bounded: keeps long input linear)
            nxt = _SUFFIX_RE.match(text, end) or _BRANCH_RE.match(text, end)
            if not nxt or nxt.end() == end:
                break
            end = nxt.end()
        name, core = text[start:end], text[start:m.start()]
        hospital = re.fullmatch(r"[一二三四五六七八九]?院|医院|人民医院|中医院|附院", m.group(0)) is not None
        if _valid(text, start, name, core, lead) or (hospital and len(core) == 1 and core not in "的在是去了"):
            found.append((0 if _LEGAL_RE.search(name) else 1, start, name))
    return found


def _strip_one(text: str, end: int) -> int:
    """End of the text once one link, role or department is removed from its tail; same end if none."""
    while end > 0 and text[end - 1].isspace():
        end -= 1
    chunk = text[max(0, end - 12):end]
    for word in _LINKS + _ROLE_WORDS:
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
    start, lead = _left_edge(text, end)
    name = text[start:end]
    return [(2, start, name)] if name and _valid(text, start, name, name, lead) else []


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
            found.append((3, start, name))
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


def find_company(text: str, contact_start: int | None = None, contact: str | None = None) -> str | None:
    """The organisation name as said, or None."""
    found = _by_suffix(text) + _before_person(text, contact_start) + _by_cue(text, contact) + _english(text)
    if not found:
        return None
    return min(found, key=lambda item: (item[0], item[1], -len(item[2])))[2].strip()
