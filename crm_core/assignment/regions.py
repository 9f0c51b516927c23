"""Region hierarchy for assignment rules: city → province → macro region (华东, 华南...).
A rule naming a province matches a lead in any of its cities; a rule naming 华东 matches
every province in it. Names are bare (no 省/市 suffix), like crm_core.normalize's tables."""
from __future__ import annotations

import re
from functools import lru_cache

_CITIES_BY_PROVINCE = {
    "北京": "", "天津": "", "上海": "", "重庆": "", "香港": "", "澳门": "", "台湾": "",
    "河北": "石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水",
    "山西": "太原 大同 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 吕梁",
    "内蒙古": "呼和浩特 包头 乌海 赤峰 通辽 鄂尔多斯 呼伦贝尔 巴彦淖尔 乌兰察布 兴安 锡林郭勒 阿拉善",
    "辽宁": "沈阳 大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 朝阳 葫芦岛",
    "吉林": "长春 吉林 四平 辽源 通化 白山 松原 白城 延边",
    "黑龙江": "哈尔滨 齐齐哈尔 鸡西 鹤岗 双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化 大兴安岭",
    "江苏": "南京 无锡 徐州 常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁 昆山 江阴 常熟 张家港 "
            "太仓 宜兴 丹阳 靖江 如皋",
    "浙江": "杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水 义乌 慈溪 余姚 瑞安 乐清 诸暨 海宁 "
            "桐乡 永康 温岭",
    "安徽": "合肥 芜湖 蚌埠 淮南 马鞍山 淮北 铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城",
    "福建": "福州 厦门 莆田 三明 泉州 漳州 南平 龙岩 宁德 晋江 石狮 福清",
    "江西": "南昌 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春 抚州 上饶",
    "山东": "济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽 寿光 胶州 即墨",
    "河南": "郑州 开封 洛阳 平顶山 安阳 鹤壁 新乡 焦作 濮阳 许昌 漯河 三门峡 南阳 商丘 信阳 周口 驻马店 济源",
    "湖北": "武汉 黄石 十堰 宜昌 襄阳 鄂州 荆门 孝感 荆州 黄冈 咸宁 随州 恩施 仙桃 潜江 天门",
    "湖南": "长沙 株洲 湘潭 衡阳 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底 湘西",
    "广东": "广州 韶关 深圳 珠海 汕头 佛山 江门 湛江 茂名 肇庆 惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州 "
            "揭阳 云浮 顺德",
    "广西": "南宁 柳州 桂林 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 来宾 崇左",
    "海南": "海口 三亚 三沙 儋州",
    "四川": "成都 自贡 攀枝花 泸州 德阳 绵阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 巴中 资阳 "
            "阿坝 甘孜 凉山",
    "贵州": "贵阳 六盘水 遵义 安顺 毕节 铜仁 黔西南 黔东南 黔南",
    "云南": "昆明 曲靖 玉溪 保山 昭通 丽江 普洱 临沧 楚雄 红河 文山 西双版纳 大理 德宏 怒江 迪庆",
    "西藏": "拉萨 日喀则 昌都 林芝 山南 那曲 阿里",
    "陕西": "西安 铜川 宝鸡 咸阳 渭南 延安 汉中 榆林 安康 商洛",
    "甘肃": "兰州 嘉峪关 金昌 白银 天水 武威 张掖 平凉 酒泉 庆阳 定西 陇南 临夏 甘南",
    "青海": "西宁 海东 海北 黄南 果洛 玉树 海西",
    "宁夏": "银川 石嘴山 吴忠 固原 中卫",
    "新疆": "乌鲁木齐 克拉玛依 吐鲁番 哈密 昌吉 博尔塔拉 巴音郭楞 阿克苏 克孜勒苏 喀什 和田 伊犁 塔城 阿勒泰 石河子",
}
# Macro regions people route by. Members are provinces, or cities (珠三角 is part of 广东).
GROUPS: dict[str, frozenset[str]] = {
    "华东": frozenset("上海 江苏 浙江 安徽 福建 江西 山东".split()),
    "华南": frozenset("广东 广西 海南".split()),
    "华北": frozenset("北京 天津 河北 山西 内蒙古".split()),
    "华中": frozenset("河南 湖北 湖南".split()),
    "西南": frozenset("重庆 四川 贵州 云南 西藏".split()),
    "西北": frozenset("陕西 甘肃 青海 宁夏 新疆".split()),
    "东北": frozenset("辽宁 吉林 黑龙江".split()),
    "港澳台": frozenset("香港 澳门 台湾".split()),
    "长三角": frozenset("上海 江苏 浙江 安徽".split()),
    "京津冀": frozenset("北京 天津 河北".split()),
    "珠三角": frozenset("广州 深圳 珠海 佛山 江门 东莞 中山 惠州 肇庆 顺德".split()),
}
PROVINCE_OF: dict[str, str] = {
    city: prov for prov, cities in _CITIES_BY_PROVINCE.items() for city in cities.split()}
PROVINCES = frozenset(_CITIES_BY_PROVINCE)
KNOWN = PROVINCES | frozenset(PROVINCE_OF) | frozenset(GROUPS)
_MAX_LEN = max(len(n) for n in KNOWN)
_SUFFIX = re.compile(r"(?:[\u4e00-\u9fff]{1,4}族)*(?:特别行政区|自治区|自治州|自治县|地区|省|市|盟|区|县)")
SEPARATORS = re.compile(r"[,，、/;；|\s]+")


def split_values(value: str | None) -> list[str]:
    """A multi-value field ('浙江、江苏' / '医疗,制造') as its parts."""
    return [p for p in SEPARATORS.split(value or "") if p]


def normalize_region(value: str) -> str:
    """'浙江省' -> '浙江', '广西壮族自治区' -> '广西', '杭州市' -> '杭州'."""
    value = value.strip()
    for name in sorted((n for n in KNOWN if value.startswith(n)), key=len, reverse=True):
        if _SUFFIX.fullmatch(value[len(name):]) or value == name:
            return name
    return value


@lru_cache(maxsize=4096)
def region_tokens(value: str) -> frozenset[str]:
    """Every known place named in a free-form region ('浙江省杭州市西湖区' -> 浙江, 杭州)."""
    found: list[str] = []
    i = 0
    while i < len(value):
        name = next((value[i:i + n] for n in range(_MAX_LEN, 1, -1) if value[i:i + n] in KNOWN), None)
        if name is None:
            i += 1
            continue
        found.append(name)
        i += len(name)
        suffix = _SUFFIX.match(value, i)
        if suffix:
            i = suffix.end()
    return frozenset(found)


def expand(name: str) -> frozenset[str]:
    """A place with everything that contains it: 杭州 -> 杭州, 浙江, 华东, 长三角."""
    out = {name}
    if name in PROVINCE_OF:
        out.add(PROVINCE_OF[name])
    out |= {g for g, members in GROUPS.items() if members & out}
    return frozenset(out)


def lead_regions(value: str | None) -> frozenset[str]:
    """All places a lead's region (possibly multi-valued) lies in."""
    out: set[str] = set()
    for part in split_values(value):
        for token in region_tokens(part):
            out |= expand(token)
    return frozenset(out)


def covered_by(inner: str, outer: set[str] | frozenset[str]) -> bool:
    """True when every lead in `inner` is also in one of `outer` (for shadowed-rule checks)."""
    return bool(expand(normalize_region(inner)) & outer)
