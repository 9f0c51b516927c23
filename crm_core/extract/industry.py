"""The customer's industry from a configurable keyword table.

The company name is checked first, then the product, then the whole note. Within one text
the first industry in table order with a matching keyword wins, so specific industries
(医疗, 汽车) sit before broad ones (制造, 互联网). Generic software (CRM, ERP) says nothing
about the buyer's industry and is deliberately absent.
"""
from __future__ import annotations

import re

DEFAULT_INDUSTRIES: dict[str, list[str]] = {
    "医疗": ["医院", "一院", "二院", "三院", "卫生院", "诊所", "门诊", "医疗", "医药", "药业", "制药", "药厂", "药房", "药店",
           "体检", "口腔", "牙科", "眼科", "妇幼", "保健院", "康复", "中医", "医学", "医生", "护士", "大夫", "CT", "MRI",
           "核磁", "彩超", "B超", "超声", "呼吸机", "监护仪", "医用", "病床", "手术", "影像", "检验科", "HIS", "PACS",
           "LIS", "疾控", "附院", "hospital", "clinic", "medical", "pharma", "dental"],
    "教育": ["学校", "大学", "学院", "中学", "小学", "幼儿园", "教育", "培训机构", "职校", "附中", "一中", "二中", "校区",
           "校长", "课程", "教室", "教学", "智慧黑板", "学生", "交大", "课题组", "智慧校园", "school", "university",
           "college", "education"],
    "金融": ["银行", "证券", "保险", "基金", "信托", "期货", "金融", "支付", "小贷", "信用社", "农商行", "券商", "理财",
           "行长", "融资租赁", "人寿", "财险", "寿险", "bank", "insurance", "securities", "financial"],
    "政府": ["政府", "税务局", "教育局", "公安", "人社局", "住建局", "卫健委", "发改委", "管委会", "街道", "办事处", "法院",
           "检察院", "政务", "财政局", "交通局", "医保局", "市场监管", "海关", "机关", "事业单位", "局长",
           "智慧城市", "government", "bureau"],
    "汽车": ["汽车", "汽配", "4S店", "车企", "整车", "主机厂", "车载", "客车", "一汽", "上汽", "广汽", "北汽", "东风",
           "automotive", "motors", "car dealer"],
    "能源": ["能源", "电力", "电网", "光伏", "风电", "核电", "石油", "石化", "燃气", "天然气", "煤矿", "煤炭", "矿业", "储能",
           "充电桩", "电厂", "发电", "热力", "供电", "油田", "光能", "水务", "锂电", "电池", "矿山", "矿务", "焦煤", "煤矿", "铜业", "电投", "国网", "国电", "华能", "华电", "中广核",
           "energy", "solar", "power"],
    "物流": ["物流", "快递", "货运", "运输", "仓储", "供应链", "冷链", "配送", "货代", "港口", "码头", "航运", "速运", "快运",
           "WMS", "TMS", "logistics", "shipping", "freight", "warehouse"],
    "房地产": ["房地产", "地产", "置业", "物业", "楼盘", "开发商", "售楼", "房产", "real estate", "property", "properties"],
    "餐饮": ["餐饮", "餐厅", "饭店", "酒楼", "火锅", "奶茶", "咖啡", "茶饮", "烘焙", "食堂", "快餐", "外卖", "烧烤", "面馆",
           "菜馆", "小面", "米粉", "restaurant", "catering", "cafe", "bakery", "bakeries"],
    "酒店": ["酒店", "宾馆", "民宿", "旅游", "旅行社", "景区", "hotel", "resort"],
    "电商": ["电商", "电子商务", "网店", "淘宝", "天猫", "拼多多", "跨境", "直播带货", "e-commerce", "ecommerce", "online store"],
    "零售": ["零售", "超市", "商场", "便利店", "门店", "连锁", "百货", "购物中心", "专卖店", "商超", "卖场", "POS", "收银",
           "商户", "商贸城", "批发市场",
           "retail", "supermarket", "store chain"],
    "食品": ["食品", "饮料", "乳业", "酒业", "白酒", "啤酒", "黄酒", "酒厂", "调味", "food", "beverage"],
    "农业": ["农业", "养殖", "种植", "农场", "牧业", "农牧", "渔业", "饲料", "农资", "agriculture", "farm"],
    "建筑": ["建筑", "建设集团", "建工", "中建", "三建", "路桥", "装修", "装饰", "设计院", "施工", "工地", "construction"],
    "通信": ["电信", "联通", "中国移动", "运营商", "通信", "基站", "铁塔", "telecom"],
    "制造": ["制造", "工厂", "厂长", "机械", "加工", "机床", "数控", "模具", "注塑", "钢铁", "钢", "冶金", "纺织", "化工", "零部件",
           "生产线", "产线", "车间", "MES", "工业", "五金", "精密", "铸造", "重工", "电器", "家电", "包装", "印刷", "造纸",
           "玻璃", "陶瓷", "塑料", "橡胶", "电子", "厂", "化学", "化纤", "鞋业", "玩具", "电机", "激光", "焊接", "印染",
           "AOI", "AGV", "manufactur", "factory", "industrial", "plant", "electronics"],
    "互联网": ["互联网", "科技", "网络", "软件", "信息技术", "云计算", "人工智能", "游戏", "数字科技", "计算机",
            "technology", "software", "internet", "tech"],
}
# Words that describe what a vendor sells rather than who buys: they count in a company name only.
GENERIC_KEYWORDS = {"科技", "网络", "软件", "信息技术", "云计算", "人工智能", "数字科技", "计算机", "technology", "software",
                    "internet", "tech", "供应链", "仓储", "数据", "电子", "SaaS", "POS", "收银", "课程"}
_NOT_INDUSTRY = re.compile(r"厂家|厂商|供应商|服务商")  # vendor words: about the seller, not the customer


def _match(text: str, table: dict[str, list[str]], generic_ok: bool) -> str | None:
    """The industry of the longest keyword found in `text`; table order breaks ties."""
    text = _NOT_INDUSTRY.sub(" ", text)
    low = text.lower()
    best: tuple[int, str] | None = None
    for industry, keywords in table.items():
        for word in keywords:
            if not word or (not generic_ok and word in GENERIC_KEYWORDS):
                continue
            if word.isascii():
                hit = re.search(rf"(?<![a-z]){re.escape(word.lower())}", low) is not None
            else:
                hit = word in text
            if hit and (best is None or len(word) > best[0]):
                best = (len(word), industry)
    return best[1] if best else None


def find_industry(company: str | None, product: str | None, text: str,
                  industries: dict[str, list[str]] | None = None) -> str | None:
    """Industry name from the table (default DEFAULT_INDUSTRIES), or None.

    Generic words (软件, 供应链, 数据 …) say nothing about the buyer: they count only in the
    company name. The whole note is read last, without the product already checked.
    """
    table = DEFAULT_INDUSTRIES if industries is None else industries
    if company and (found := _match(company, table, generic_ok=True)):
        return found
    if product and (found := _match(product, table, generic_ok=False)):
        return found
    rest = text.replace(product, " ") if product else text
    return _match(rest, table, generic_ok=False)
