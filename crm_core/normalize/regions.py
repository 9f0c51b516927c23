"""Chinese place names: provinces, prefecture-level cities, big-city districts and their pinyin.

Used to strip a leading or bracketed region from company names (杭州优品… / 优品(杭州)…).
"""
from __future__ import annotations

import re

# Provinces (short form) and prefecture-level cities / prefectures / leagues, plus a few big
# county-level cities that B2B names lead with. Suffixes (省/市/自治区/自治州/地区/盟) are
# matched separately, so entries are bare names.
PROVINCES = frozenset(
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 "
    "海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门".split()
)
CITIES = frozenset(
    """石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水 太原 大同 阳泉 长治 晋城 朔州 晋中 运城
    忻州 临汾 吕梁 呼和浩特 包头 乌海 赤峰 通辽 鄂尔多斯 呼伦贝尔 巴彦淖尔 乌兰察布 兴安 锡林郭勒 阿拉善 沈阳
    大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 朝阳 葫芦岛 长春 四平 辽源 通化 白山 松原 白城
    延边 哈尔滨 齐齐哈尔 鸡西 鹤岗 双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化 大兴安岭 南京 无锡 徐州
    常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁 杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州
    丽水 合肥 芜湖 蚌埠 淮南 马鞍山 淮北 铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城 福州 厦门 莆田
    三明 泉州 漳州 南平 龙岩 宁德 南昌 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春 抚州 上饶 济南 青岛 淄博
    枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽 郑州 开封 洛阳 平顶山 安阳 鹤壁 新乡
    焦作 濮阳 许昌 漯河 三门峡 南阳 商丘 信阳 周口 驻马店 济源 武汉 黄石 十堰 宜昌 襄阳 鄂州 荆门 孝感 荆州
    黄冈 咸宁 随州 恩施 仙桃 潜江 天门 长沙 株洲 湘潭 衡阳 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底
    湘西 广州 韶关 深圳 珠海 汕头 佛山 江门 湛江 茂名 肇庆 惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州
    揭阳 云浮 南宁 柳州 桂林 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 来宾 崇左 海口 三亚 三沙 儋州
    成都 自贡 攀枝花 泸州 德阳 绵阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 巴中 资阳 阿坝 甘孜
    凉山 贵阳 六盘水 遵义 安顺 毕节 铜仁 黔西南 黔东南 黔南 昆明 曲靖 玉溪 保山 昭通 丽江 普洱 临沧 楚雄
    红河 文山 西双版纳 大理 德宏 怒江 迪庆 拉萨 日喀则 昌都 林芝 山南 那曲 阿里 西安 铜川 宝鸡 咸阳 渭南
    延安 汉中 榆林 安康 商洛 兰州 嘉峪关 金昌 白银 天水 武威 张掖 平凉 酒泉 庆阳 定西 陇南 临夏 甘南 西宁
    海东 海北 黄南 果洛 玉树 海西 银川 石嘴山 吴忠 固原 中卫 乌鲁木齐 克拉玛依 吐鲁番 哈密 昌吉 博尔塔拉
    巴音郭楞 阿克苏 克孜勒苏 喀什 和田 伊犁 塔城 阿勒泰 石河子 义乌 昆山 江阴 常熟 张家港 太仓 宜兴 慈溪
    余姚 瑞安 乐清 诸暨 海宁 桐乡 晋江 石狮 福清 永康 温岭 丹阳 靖江 如皋 寿光 胶州 即墨 顺德""".split()
)
# Districts of the largest cities: stripped only when written with 区/新区 (西湖区, 浦东新区).
DISTRICTS = frozenset(
    """东城 西城 朝阳 海淀 丰台 石景山 通州 顺义 昌平 大兴 房山 门头沟 怀柔 平谷 密云 延庆 黄浦 徐汇 长宁
    静安 普陀 虹口 杨浦 闵行 宝山 嘉定 浦东 金山 松江 青浦 奉贤 崇明 越秀 荔湾 海珠 天河 白云 黄埔 番禺
    花都 南沙 福田 罗湖 南山 盐田 宝安 龙岗 龙华 坪山 光明 前海 上城 拱墅 西湖 滨江 萧山 余杭 临平 钱塘
    富阳 临安 玄武 秦淮 建邺 鼓楼 浦口 栖霞 雨花台 江宁 姑苏 虎丘 吴中 相城 吴江 锦江 青羊 金牛 武侯 成华
    龙泉驿 双流 郫都 新都 温江 江岸 江汉 硚口 汉阳 武昌 洪山 东西湖 江夏 黄陂 和平 河东 河西 南开 红桥
    滨海 东丽 西青 津南 北辰 武清 渝中 江北 南岸 沙坪坝 九龙坡 渝北 巴南 北碚 碑林 莲湖 雁塔 未央 灞桥
    长安 高新 经开 开发 工业园 鄞州 海曙 北仑 镇海 思明 湖里 集美 历下 市南 市北 崂山 黄岛 城阳""".split()
)
_REGION_NAMES = PROVINCES | CITIES
# Place names that are also ordinary words (阿里巴巴, 中山大学): stripped only with 市/地区/… or in brackets.
_AMBIGUOUS_REGIONS = frozenset("阿里 朝阳 中山 安康 白山 白银 金昌 红河 文山 大理 玉树 山南 海东 海北 海西 黄南 来宾 黑河 天门 仙桃".split())
_REGION_SUFFIX = re.compile(
    r"(?:[\u4e00-\u9fff]{1,4}族)*(?:特别行政区|自治区|自治州|自治县|地区|省|市|盟)"
)
# Pinyin of provinces and the big cities, for English company names ("Hangzhou Youpin Co., Ltd.").
PINYIN_REGIONS = frozenset(
    """china prc beijing shanghai tianjin chongqing guangzhou shenzhen hangzhou ningbo wenzhou nanjing suzhou
    wuxi changzhou chengdu wuhan xian shenyang dalian qingdao jinan zhengzhou changsha hefei fuzhou xiamen
    kunming nanchang shijiazhuang taiyuan harbin changchun nanning guiyang dongguan foshan zhuhai shaoxing
    jiaxing jinhua taizhou quanzhou yantai weifang xuzhou nantong zhongshan huizhou lanzhou urumqi hohhot
    haikou yiwu kunshan zhejiang jiangsu guangdong shandong fujian hebei henan hubei hunan sichuan yunnan
    guizhou shaanxi shanxi gansu qinghai hainan anhui jiangxi liaoning jilin heilongjiang guangxi xinjiang
    tibet ningxia hongkong macau macao taiwan""".split()
)


# English spellings of places that are not their pinyin.
CONVENTIONAL_SPELLINGS = {"harbin": "haerbin", "hohhot": "huhehaote", "urumqi": "wulumuqi", "hongkong": "xianggang",
                          "macau": "aomen", "macao": "aomen", "tibet": "xizang", "canton": "guangzhou",
                          "amoy": "xiamen", "peking": "beijing"}


def match_region(text: str, bare_ok: bool = True) -> tuple[str, int] | None:
    """Longest province/city at the start of `text` with its optional suffix: (name, chars used)."""
    for size in (4, 3, 2):
        name = text[:size]
        if len(name) == size and name in _REGION_NAMES:
            suffix = _REGION_SUFFIX.match(text, size)
            if suffix:
                return name, suffix.end()
            if bare_ok and name not in _AMBIGUOUS_REGIONS:
                return name, size
    return None


def match_district(text: str) -> int:
    """Chars used by a leading district written with its suffix (西湖区, 浦东新区, 余杭县); 0 if none."""
    for size in (3, 2):
        if text[:size] in DISTRICTS:
            for suffix in ("新区", "区", "县"):
                if text.startswith(suffix, size):
                    return size + len(suffix)
    return 0
