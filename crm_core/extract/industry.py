"""The customer's industry from a configurable keyword table and well-known brands.

Evidence in order: the company name's own keywords (华西医院, 鞍钢集团); a well-known brand in
the company name (比亚迪 → 汽车, 茅台 → 食品: crm_core.extract.brands); the product's
keywords (彩超 → 医疗); vendor-type words in the company name (科技, 网络); a brand named
anywhere in the note; the rest of the note. Within one text the longest keyword wins and
table order breaks ties, so specific industries (医疗, 汽车) sit before broad ones (制造,
互联网). Generic software (CRM, ERP) says nothing about the buyer's industry and is
deliberately absent. A brand counts only for an industry the active table has.
"""
from __future__ import annotations

import re
from functools import lru_cache

from crm_core.extract.brands import BRAND_INDUSTRY, brand_pattern
from crm_core.extract.gazetteer import LEGAL_SUFFIXES, ORG_SUFFIXES

DEFAULT_INDUSTRIES: dict[str, list[str]] = {
    "医疗": ["医院", "一院", "二院", "三院", "卫生院", "诊所", "门诊", "医疗", "医药", "药业", "制药", "药厂", "药房", "药店",
           "体检", "口腔", "牙科", "眼科", "妇幼", "保健院", "康复", "中医", "医学", "医生", "护士", "大夫", "CT", "MRI",
           "核磁", "彩超", "B超", "超声", "呼吸机", "监护仪", "医用", "病床", "手术", "影像", "检验科", "HIS", "PACS",
           "LIS", "疾控", "附院", "医美", "齿科", "hospital", "clinic", "medical", "pharma", "dental"],
    "教育": ["学校", "大学", "学院", "中学", "小学", "幼儿园", "教育", "培训机构", "职校", "附中", "一中", "二中", "校区",
           "校长", "课程", "教室", "教学", "智慧黑板", "学生", "交大", "课题组", "智慧校园", "school", "university",
           "college", "education"],
    "金融": ["银行", "证券", "保险", "基金", "信托", "期货", "金融", "支付", "小贷", "信用社", "农商行", "券商", "理财",
           "行长", "融资租赁", "人寿", "财险", "寿险", "分行", "支行", "bank", "insurance", "securities", "financial"],
    "政府": ["政府", "税务局", "教育局", "公安", "人社局", "住建局", "卫健委", "发改委", "管委会", "街道", "办事处", "法院",
           "检察院", "政务", "财政局", "交通局", "医保局", "市场监管", "海关", "机关", "事业单位", "局长",
           "智慧城市", "government", "bureau"],
    "汽车": ["汽车", "汽配", "4S店", "车企", "整车", "主机厂", "车载", "客车", "一汽", "上汽", "广汽", "北汽", "东风",
           "养车", "汽修", "automotive", "motors", "car dealer"],
    "能源": ["能源", "电力", "电网", "光伏", "风电", "核电", "石油", "石化", "燃气", "天然气", "煤矿", "煤炭", "矿业", "储能",
           "充电桩", "电厂", "发电", "热力", "供电", "油田", "光能", "水务", "锂电", "电池", "矿山", "矿务", "焦煤", "煤矿", "铜业", "电投", "国网", "国电", "华能", "华电", "中广核",
           "energy", "solar", "power"],
    "物流": ["物流", "快递", "货运", "运输", "仓储", "供应链", "冷链", "配送", "货代", "港口", "码头", "航运", "速运", "快运",
           "WMS", "TMS", "logistics", "shipping", "freight", "warehouse"],
    "房地产": ["房地产", "地产", "置业", "物业", "楼盘", "开发商", "售楼", "房产", "real estate", "property", "properties"],
    "餐饮": ["餐饮", "餐厅", "饭店", "酒楼", "火锅", "奶茶", "咖啡", "茶饮", "烘焙", "食堂", "快餐", "外卖", "烧烤", "面馆",
           "菜馆", "小面", "米粉", "restaurant", "catering", "cafe", "bakery", "bakeries"],
    "酒店": ["酒店", "宾馆", "民宿", "旅游", "旅行社", "景区", "度假村", "乐园", "游乐园", "主题公园", "hotel", "resort"],
    "电商": ["电商", "电子商务", "网店", "淘宝", "天猫", "拼多多", "跨境", "直播带货", "e-commerce", "ecommerce", "online store"],
    "零售": ["零售", "超市", "商场", "便利店", "门店", "连锁", "百货", "购物中心", "专卖店", "商超", "卖场", "POS", "收银",
           "商户", "商贸城", "批发市场", "书店",
           "retail", "supermarket", "store chain"],
    "食品": ["食品", "饮料", "乳业", "酒业", "白酒", "啤酒", "黄酒", "酒厂", "调味", "味业", "茶业", "零食", "food",
           "beverage"],
    "农业": ["农业", "养殖", "种植", "农场", "牧业", "农牧", "渔业", "饲料", "农资", "agriculture", "farm"],
    "建筑": ["建筑", "建设集团", "建工", "中建", "三建", "路桥", "装修", "装饰", "设计院", "施工", "工地", "construction"],
    "通信": ["电信", "联通", "中国移动", "运营商", "通信", "基站", "铁塔", "telecom"],
    "制造": ["制造", "工厂", "厂长", "机械", "加工", "机床", "数控", "模具", "注塑", "钢铁", "钢", "冶金", "纺织", "化工", "零部件",
           "生产线", "产线", "车间", "MES", "工业", "五金", "精密", "铸造", "重工", "电器", "家电", "包装", "印刷", "造纸",
           "玻璃", "陶瓷", "塑料", "橡胶", "电子", "厂", "化学", "化纤", "鞋业", "玩具", "电机", "激光", "焊接", "印染",
           "电气", "装备", "工控", "排产",
           "AOI", "AGV", "manufactur", "factory", "industrial", "plant", "electronics"],
    "互联网": ["互联网", "科技", "网络", "软件", "信息技术", "云计算", "人工智能", "游戏", "数字科技", "计算机",
            "technology", "software", "internet", "tech"],
}
# Words that describe what a vendor sells rather than who buys: they count in a company name only.
GENERIC_KEYWORDS = {"科技", "网络", "软件", "信息技术", "云计算", "人工智能", "数字科技", "计算机", "technology", "software",
                    "internet", "tech", "供应链", "仓储", "数据", "电子", "SaaS", "POS", "收银", "课程"}
_NOT_INDUSTRY = re.compile(r"厂家|厂商|供应商|服务商")  # vendor words: about the seller, not the customer
# What the rep and the customer did together says nothing about the customer: 喝了个咖啡, 吃了顿饭.
_SOCIAL_RE = re.compile(r"(?:喝|吃|请|约)了?[个顿杯点次]?(?:咖啡|茶|饭|酒|火锅|烧烤|早茶|宵夜)")


@lru_cache(maxsize=16)
def _compiled(keywords: tuple[tuple[str, tuple[str, ...]], ...], generic_ok: bool,
              only_generic: bool) -> tuple[re.Pattern[str] | None, dict[str, tuple[int, int, str]]]:
    """One pattern finding, at every position, the longest keyword there (table order breaks ties),
    and keyword (lower case) → (-length, table position, industry)."""
    ranked: dict[str, tuple[int, int, str]] = {}
    acronyms = set()
    for position, (industry, word) in enumerate((i, w) for i, words in keywords for w in words):
        if not word or (not generic_ok and word in GENERIC_KEYWORDS) or (only_generic and word not in GENERIC_KEYWORDS):
            continue
        ranked.setdefault(word.lower(), (-len(word), position, industry))
        if word.isascii() and word.isupper():
            acronyms.add(word.lower())
    if not ranked:
        return None, ranked
    parts = []
    for word in sorted(ranked, key=lambda w: ranked[w][:2]):
        if word.isascii():  # CT must not match in CTO; "pharma" may start "pharmaceutical"
            tail = r"(?![a-z])" if word in acronyms else ""
            parts.append(rf"(?<![a-z]){re.escape(word)}{tail}")
        else:
            parts.append(re.escape(word))
    return re.compile("(?=(" + "|".join(parts) + "))"), ranked


def _key(table: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((industry, tuple(words)) for industry, words in table.items())


def _match(text: str, table: dict[str, list[str]], generic_ok: bool, only_generic: bool = False) -> str | None:
    """The industry of the longest keyword found in `text`; table order breaks ties."""
    pattern, ranked = _compiled(_key(table), generic_ok, only_generic)
    if pattern is None:
        return None
    low = _NOT_INDUSTRY.sub(" ", text).lower()
    hits = [ranked[m.group(1)] for m in pattern.finditer(low)]
    return min(hits)[2] if hits else None


def _brand(text: str, table: dict[str, list[str]]) -> str | None:
    """The industry of the longest well-known brand named in `text`, if the table has it."""
    found = [m for m in brand_pattern().finditer(text)
             if BRAND_INDUSTRY[m.group(0)] in table and not _other_trade(text[m.end():m.end() + 6])]
    return BRAND_INDUSTRY[max(found, key=lambda m: len(m.group(0))).group(0)] if found else None


_TRADES = sorted((s for s in ORG_SUFFIXES if s not in LEGAL_SUFFIXES), key=len, reverse=True)
_TRADE_RE = re.compile("(?:" + "|".join(_TRADES) + r"|地铁|铁路|公交|机场|港口|航运)")


def _other_trade(after: str) -> bool:
    """"申通地铁": a trade word right after the brand makes it another business (海尔智家 is 海尔)."""
    trade = _TRADE_RE.match(after)
    return trade is not None and trade.group(0) not in GENERIC_KEYWORDS


def find_industry(company: str | None, product: str | None, text: str,
                  industries: dict[str, list[str]] | None = None) -> str | None:
    """Industry name from the table (default DEFAULT_INDUSTRIES), or None.

    Generic words (软件, 供应链, 数据 …) say nothing about the buyer: they count only in the
    company name, and only after its brand and the product. The whole note is read last,
    without the product already checked and without social phrases (喝了个咖啡).
    """
    table = DEFAULT_INDUSTRIES if industries is None else industries
    if company and (found := _match(company, table, generic_ok=False)):
        return found
    if company and (found := _brand(company, table)):
        return found
    if product and (found := _match(product, table, generic_ok=False)):
        return found
    if company and (found := _match(company, table, generic_ok=True, only_generic=True)):
        return found
    rest = text.replace(product, " ") if product else text
    rest = _SOCIAL_RE.sub(" ", rest)
    return _brand(rest, table) or _match(rest, table, generic_ok=False)
