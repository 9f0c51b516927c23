"""Deterministic generator of labelled Chinese B2B customer records with messy duplicates.

Each entity is one contact at one company; it yields 1–5 records written the way reps, expo scanners,
web forms, spreadsheets and WeChat write them: phones with any dash, a spreadsheet apostrophe, labels
(手机号：), notes (（微信同号）), a long-distance 0 before a mobile, +86 landlines without their 0, foreign
numbers from ~40 countries (international, or national with the country named); names as honorifics
only (王女士), platform default nicknames (用户84729), pinyin (Li Wei / Wei Li), WeChat remarks
(B华信-周杰); company names with one character mistyped (homophone or look-alike), with and without
省/市, groups written with 集团. Hard negatives are separate entities: colleagues, companies sharing a
switchboard, namesakes elsewhere, near-identical company names, shared front-desk mobiles, a 集团 and
its namesake without 集团 (another legal entity, often in the same building), provincial companies
of one industry in two provinces (浙江电力 / 江苏电力).
Run `python -m bench.dedup_dataset` to write bench/data/dedup_eval.jsonl.
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import phonenumbers

def pairs(items: list[str]) -> list[tuple[str, str]]:
    """"王:wang" items → [("王", "wang")]."""
    out = []
    for item in items:
        left, right = item.split(":")
        out.append((left, right))
    return out


OUTPUT = Path(__file__).parent / "data" / "dedup_eval.jsonl"
ENTITIES = 2000  # enough for every messy form and hard negative to occur dozens of times
# (province, city, area code, pinyin)
CITIES = [tuple(c.split(",")) for c in """浙江,杭州,0571,Hangzhou 浙江,宁波,0574,Ningbo 浙江,温州,0577,Wenzhou 浙江,绍兴,0575,Shaoxing
浙江,金华,0579,Jinhua 浙江,嘉兴,0573,Jiaxing 浙江,台州,0576,Taizhou 江苏,南京,025,Nanjing 江苏,苏州,0512,Suzhou
江苏,无锡,0510,Wuxi 江苏,常州,0519,Changzhou 江苏,南通,0513,Nantong 江苏,徐州,0516,Xuzhou 广东,广州,020,Guangzhou
广东,深圳,0755,Shenzhen 广东,东莞,0769,Dongguan 广东,佛山,0757,Foshan 广东,珠海,0756,Zhuhai 广东,惠州,0752,Huizhou
北京,北京,010,Beijing 上海,上海,021,Shanghai 天津,天津,022,Tianjin 重庆,重庆,023,Chongqing 四川,成都,028,Chengdu
湖北,武汉,027,Wuhan 陕西,西安,029,Xian 辽宁,沈阳,024,Shenyang 辽宁,大连,0411,Dalian 山东,青岛,0532,Qingdao
山东,济南,0531,Jinan 山东,烟台,0535,Yantai 山东,潍坊,0536,Weifang 河南,郑州,0371,Zhengzhou 湖南,长沙,0731,Changsha
安徽,合肥,0551,Hefei 福建,福州,0591,Fuzhou 福建,厦门,0592,Xiamen 福建,泉州,0595,Quanzhou 云南,昆明,0871,Kunming
江西,南昌,0791,Nanchang 河北,石家庄,0311,Shijiazhuang 山西,太原,0351,Taiyuan 黑龙江,哈尔滨,0451,Harbin
吉林,长春,0431,Changchun 广西,南宁,0771,Nanning 贵州,贵阳,0851,Guiyang 甘肃,兰州,0931,Lanzhou""".split()]
MUNICIPALITIES = {"北京", "上海", "天津", "重庆"}
TRADE_CHARS = pairs("""优:you 品:pin 华:hua 信:xin 鼎:ding 盛:sheng 金:jin 桥:qiao 恒:heng 通:tong
瑞:rui 达:da 博:bo 远:yuan 星:xing 辰:chen 东:dong 新:xin 宇:yu 天:tian 润:run 泽:ze 嘉:jia 禾:he 康:kang
美:mei 佳:jia 创:chuang 力:li 迅:xun 捷:jie 德:de 明:ming 光:guang 宏:hong 伟:wei 凯:kai 腾:teng 飞:fei
汇:hui 丰:feng 正:zheng 源:yuan 聚:ju 诚:cheng 万:wan 象:xiang 永:yong 盈:ying 志:zhi 高:gao 联:lian 立:li
云:yun 智:zhi 峰:feng 锐:rui 晨:chen 昊:hao 铭:ming 卓:zhuo 越:yue 启:qi 航:hang 领:ling 众:zhong 益:yi
祥:xiang 顺:shun 隆:long 昌:chang 兴:xing 旺:wang 蓝:lan 鹏:peng 睿:rui 朗:lang 图:tu 途:tu""".split())
INDUSTRIES = pairs((
    "电子商务:E-Commerce;网络科技:Network Technology;信息技术:Information Technology;科技:Technology;贸易:Trading;"
    "进出口:Import & Export;机械设备:Machinery Equipment;建筑工程:Construction Engineering;"
    "装饰工程:Decoration Engineering;物流:Logistics;供应链管理:Supply Chain Management;医疗器械:Medical Devices;"
    "生物科技:Biotechnology;食品:Food;化工:Chemical;新材料:New Materials;环保科技:Environmental Technology;"
    "广告传媒:Advertising Media;文化传播:Culture Communication;教育科技:Education Technology;"
    "餐饮管理:Catering Management;酒店管理:Hotel Management;实业:Industrial;电气:Electric;汽车配件:Auto Parts;"
    "服装:Garments;纺织:Textile;家具:Furniture;五金制品:Hardware Products;包装印刷:Packaging Printing;软件:Software;"
    "企业管理咨询:Management Consulting;人力资源:Human Resources;智能科技:Intelligent Technology;"
    "自动化设备:Automation Equipment;仪器仪表:Instruments;光电科技:Optoelectronic Technology;电子:Electronics;"
    "电器:Electrical Appliances;农业科技:Agricultural Technology;"
).strip(";").split(";"))
LEGAL = ["有限公司"] * 11 + ["有限责任公司"] * 3 + ["股份有限公司"] * 2 + ["集团有限公司", "公司"]
SURNAMES = pairs("""王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou
徐:xu 孙:sun 马:ma 朱:zhu 胡:hu 郭:guo 何:he 高:gao 林:lin 罗:luo 郑:zheng 梁:liang 谢:xie 宋:song 唐:tang 许:xu
韩:han 冯:feng 邓:deng 曹:cao 彭:peng 曾:zeng 肖:xiao 田:tian 董:dong 袁:yuan 潘:pan 蒋:jiang 蔡:cai 余:yu 杜:du
叶:ye 程:cheng 苏:su 魏:wei 吕:lv 丁:ding 沈:shen 姚:yao 卢:lu 钟:zhong 欧阳:ouyang 司马:sima""".split())
GIVEN = pairs("""伟:wei 芳:fang 娜:na 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang 勇:yong
艳:yan 杰:jie 娟:juan 涛:tao 明:ming 超:chao 秀:xiu 霞:xia 平:ping 刚:gang 桂:gui 英:ying 华:hua 建:jian 国:guo
玲:ling 文:wen 斌:bin 宇:yu 浩:hao 凯:kai 晨:chen 婷:ting 雪:xue 琳:lin 鹏:peng 辉:hui 佳:jia 欣:xin 海:hai 红:hong
晓:xiao 志:zhi 俊:jun 慧:hui 颖:ying 倩:qian 梅:mei 丹:dan""".split())
FEMALE = set("芳娜敏静丽艳娟秀霞桂英玲婷雪琳佳欣慧颖倩梅丹红")
TITLES = ["总", "总", "经理", "经理", "总监", "工", "老师", "主任", "主管", "总经理"]
ENGLISH_NAMES = ["David", "Kevin", "Tony", "Jason", "Eric", "Frank", "Leo", "Jack", "Amy", "Linda", "Lily", "Grace",
                 "Cindy", "Vivian", "Helen", "Sunny"]
TYPOS = dict(zip("务技电科商品华信子贸伟芳敏强军明杰涛静丽达通源", "物计点可尚频化新字茂玮方民墙君铭洁滔晶莉哒同元"))
# Look-alike characters (a misread business card, a handwriting OCR): not homophones.
LOOKALIKES = dict(zip("瑞达华信鼎盛金恒博远东宇天润泽嘉康美佳创力迅德光宏伟凯腾汇丰正源诚万永云智峰锐昊铭卓启航领众益祥顺昌旺蓝朗图途",
                      "端这毕佶鼐威全桓搏运车字夭涧择喜唐姜住仓办讯徳先弘传剀滕江半止原城方水去知蜂说吴名桌后杭岭从盖样须冒汪篮郎国徐"))
# State-owned style names: a province and an industry, no trade name (浙江省电力有限公司).
PROVINCIAL_INDUSTRIES = ["电力", "建工", "交通投资", "能源", "农业发展", "水利", "医药", "物产", "国际贸易", "机场",
                         "旅游", "粮食", "烟草", "盐业", "出版", "广电", "港航", "建设"]
PROVINCES = sorted({c[0] for c in CITIES} - {"北京", "上海", "天津", "重庆"})
# Regions of foreign contacts, with the names reps write beside a national number.
FOREIGN = pairs("""GB:英国 GB:UK AE:阿联酋 AE:迪拜 SG:新加坡 HK:香港 MO:澳门 TW:台湾 US:美国 US:USA
CA:加拿大 AU:澳大利亚 NZ:新西兰 JP:日本 KR:韩国 MY:马来西亚 TH:泰国 VN:越南 ID:印尼 PH:菲律宾 IN:印度 DE:德国 FR:法国
IT:意大利 ES:西班牙 NL:荷兰 RU:俄罗斯 SA:沙特 QA:卡塔尔 TR:土耳其 BR:巴西 MX:墨西哥 ZA:南非 NG:尼日利亚 EG:埃及
KE:肯尼亚 IL:以色列 CH:瑞士 SE:瑞典 PL:波兰 UA:乌克兰 KZ:哈萨克斯坦 PK:巴基斯坦 BD:孟加拉""".split())
PLACEHOLDERS = ["用户{n}", "用户{n}", "微信用户", "手机用户{tail}", "wxid_{h}", "客户", "匿名用户", "抖音用户", "用户_{h}",
                "新用户", "WeChat User", "未知"]
REMARK_TAGS = ["A", "B", "C", "V", "VIP", "A1", "B2", "01", "08", "★", "重要"]
MOBILE_LABELS = ["手机号：", "手机号码: ", "手机：", "电话号码：", "联系电话:", "联系方式：", "Tel: ", "Mobile: ", "TEL：", "电话 "]
MOBILE_NOTES = ["（微信同号）", "(微信同号)", " 同微信", " 微信同号", "（微信）", "（本人）", "(mobile)", "【手机】"]
LANDLINE_NOTES = ["（总机）", "(前台)", " 总机", "（办公室）"]
PUBLIC = ["qq.com"] * 5 + ["163.com"] * 3 + ["126.com", "sina.com", "gmail.com", "foxmail.com", "139.com",
                                             "outlook.com"]
SOURCES = ["展会扫码", "官网表单", "电话来访", "微信", "转介绍", "地推", "批量导入", "语音录入"]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
RECORDS_PER_ENTITY = [1] * 14 + [2] * 30 + [3] * 26 + [4] * 18 + [5] * 12
MOBILE_PREFIXES = "130 131 132 133 135 136 137 138 139 150 151 152 155 156 157 158 159 166 170 173 175 176 177 " \
                  "178 180 181 182 183 185 186 187 188 189 191 198 199".split()


@dataclass
class Company:
    province: str
    city: str
    area: str
    city_py: str
    trade: str
    trade_py: str
    industry: tuple[str, str]
    legal: str
    english: bool
    switchboard: str | None
    domain: str | None
    provincial: bool = False    # 浙江省电力: the province is the name, no trade name
    namesake_of: Company | None = None  # the 集团 whose trade name this other legal entity shares

    @property
    def group(self) -> bool:
        return "集团" in self.legal


@dataclass
class Person:
    surname: tuple[str, str]
    given: tuple[str, str]
    title: str
    female: bool
    mobile: str | None
    mobile2: str | None
    email: str | None
    wechat: str | None
    english: str | None
    foreign: str | None = None  # region of a foreign mobile (then `mobile` is E.164)


def norm_placeholder(name: str) -> bool:
    """True for the default nicknames this generator writes (用户…, 微信用户, wxid_…)."""
    return name.startswith(("用户", "微信用户", "手机用户", "wxid_", "匿名", "抖音", "新用户", "WeChat", "客户", "未知"))


class Generator:
    """All randomness flows from one seeded `random.Random`, so a seed always yields the same rows."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used_mobiles: set[str] = set()
        self.kinds: Counter[str] = Counter()  # what was written how often (rows) and the hard negatives
        self.provincial: set[tuple[str, str]] = set()
        self.staff_of: dict[int, list[Person]] = {}  # id(company) → its contacts, for the 集团's namesake
        self.epoch = datetime(2024, 1, 1, 8, 0)

    # ------------------------------------------------------------ entities
    def mobile(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.used_mobiles:
                self.used_mobiles.add(number)
                return number

    def foreign_mobile(self) -> tuple[str, str]:
        """(E.164, region) of a random valid mobile of a foreign country (its example number with
        the last digits changed)."""
        rng = self.rng
        while True:
            region = rng.choice(FOREIGN)[0]
            example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
            assert example is not None  # every region in FOREIGN has mobiles
            national = phonenumbers.national_significant_number(example)
            tail = min(5, len(national) - 3)
            candidate = national[:-tail] + f"{rng.randrange(10 ** tail):0{tail}d}"
            number = phonenumbers.parse(f"+{example.country_code}{candidate}")
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(number) and e164 not in self.used_mobiles:
                self.used_mobiles.add(e164)
                return e164, region

    def company(self, like: Company | None = None, group_namesake: Company | None = None) -> Company:
        rng = self.rng
        if group_namesake:  # 华信集团 and 华信有限公司: one trade name, two legal entities
            c = group_namesake
            legal = rng.choice(["有限公司", "有限公司", "股份有限公司", "有限责任公司"])
            switchboard = c.switchboard if c.switchboard and rng.random() < 0.5 else None
            return Company(c.province, c.city, c.area, c.city_py, c.trade, c.trade_py, c.industry, legal, c.english,
                           switchboard or self.switchboard(c.area), c.domain if rng.random() < 0.3 else None,
                           namesake_of=c)
        if like:  # near-identical: same city and trade name, other industry (优品电子 vs 优品科技)
            industry = rng.choice([i for i in INDUSTRIES if i[0][:2] != like.industry[0][:2]])
            province, city, area, city_py = like.province, like.city, like.area, like.city_py
            trade, trade_py = like.trade, like.trade_py
        elif rng.random() < 0.04 and len(self.provincial) < len(PROVINCES) * len(PROVINCIAL_INDUSTRIES):
            # 浙江省电力有限公司 (and elsewhere 江苏省电力有限公司); there is one 浙江省电力, so a big set
            # runs out of them and makes trade-name companies instead
            province, word = rng.choice(PROVINCES), rng.choice(PROVINCIAL_INDUSTRIES)
            while (province, word) in self.provincial:
                province, word = rng.choice(PROVINCES), rng.choice(PROVINCIAL_INDUSTRIES)
            self.provincial.add((province, word))
            self.kinds["hard negative: provincial companies (an industry in several provinces)"] += 1
            _, city, area, city_py = rng.choice([c for c in CITIES if c[0] == province])
            industry = (word, "")
            return Company(province, city, area, city_py, "", "", industry, rng.choice(["有限公司", "集团有限公司"]),
                           False, self.switchboard(area), None, provincial=True)
        else:
            province, city, area, city_py = rng.choice(CITIES)
            chars = rng.sample(TRADE_CHARS, 3 if rng.random() < 0.12 else 2)
            trade, trade_py = "".join(c for c, _ in chars), "".join(p for _, p in chars)
            industry = rng.choice(INDUSTRIES)
        switchboard = self.switchboard(area) if rng.random() < 0.6 else None
        domain = None
        if rng.random() < 0.55:
            suffix = rng.choice(["", "-tech", "group", str(rng.randint(1, 99))])
            domain = f"{trade_py}{suffix}.{rng.choice(['com', 'cn', 'com.cn', 'net'])}"
        return Company(province, city, area, city_py, trade, trade_py, industry, rng.choice(LEGAL),
                       rng.random() < 0.12, switchboard, domain)

    def switchboard(self, area: str) -> str:
        """A valid landline of the area (8 digits, 7 where the area still has such numbers)."""
        for _ in range(20):
            digits = 8 if len(area) == 3 or self.rng.random() < 0.7 else 7
            number = area + str(self.rng.randint(2, 8)) + f"{self.rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"
            if phonenumbers.is_valid_number(phonenumbers.parse("+86" + number[1:])):
                return number
        return number

    def person(self, company: Company, namesake: Person | None = None) -> Person:
        rng = self.rng
        if namesake:  # same name, another company (张伟 is everywhere)
            surname, given = namesake.surname, namesake.given
        else:
            surname, chars = rng.choice(SURNAMES), rng.sample(GIVEN, rng.choice([1, 2, 2]))
            given = ("".join(c for c, _ in chars), "".join(p for _, p in chars))
        email = self.person_email(company, surname[1], given[1]) if rng.random() < 0.75 else None
        mobile = self.mobile() if rng.random() < 0.93 else None
        foreign = None
        if mobile and rng.random() < 0.03:  # works abroad, or for a foreign buyer
            mobile, foreign = self.foreign_mobile()
        wechat = None
        if rng.random() < 0.4:
            wechat = rng.choice([f"wxid_{rng.randrange(36 ** 10):x}", f"{surname[1]}{given[1]}{rng.randint(1, 9999)}",
                                 mobile])
        return Person(surname, given, rng.choice(TITLES), given[0][-1] in FEMALE, mobile,
                      self.mobile() if rng.random() < 0.08 else None, email, wechat,
                      rng.choice(ENGLISH_NAMES) if rng.random() < 0.1 else None, foreign)

    def person_email(self, company: Company, surname_py: str, given_py: str) -> str:
        rng = self.rng
        local = rng.choice([surname_py + given_py, given_py + "." + surname_py, surname_py[0] + given_py,
                            surname_py + given_py + str(rng.randint(1, 99))])
        if company.domain and rng.random() < 0.65:
            return f"{local}@{company.domain}"
        domain = rng.choice(PUBLIC)
        return f"{rng.randint(10 ** 5, 10 ** 10)}@qq.com" if domain == "qq.com" else f"{local}@{domain}"

    # ------------------------------------------------------------ messy renderings
    def provincial_name(self, c: Company, canonical: bool) -> str | None:
        rng = self.rng
        roll = 0.0 if canonical else rng.random()
        self.kinds["company: provincial (浙江省电力 / 浙江电力)"] += 1
        if roll < 0.4:
            return f"{c.province}省{c.industry[0]}{c.legal}"
        if roll < 0.7:
            return f"{c.province}{c.industry[0]}{c.legal}"
        if roll < 0.85:
            return f"{c.province}{rng.choice(['省', ''])}{c.industry[0]}{'集团' if c.group else ''}"
        if roll < 0.93:
            return f"{c.province}省 {c.industry[0]}{c.legal}"
        return None

    def group_legal(self, c: Company) -> str:
        """Another way of writing a group's legal form: it keeps 集团 (or drops every legal word)."""
        return self.rng.choice(["集团", "集团有限公司", "(集团)有限公司", "集团股份有限公司", "（集团）有限公司", ""])

    def company_name(self, c: Company, canonical: bool) -> str | None:
        rng = self.rng
        if c.provincial:
            return self.provincial_name(c, canonical)
        if c.english and (canonical or rng.random() < 0.7):
            return self.english_company(c, canonical)
        region = c.city
        ind, legal, roll = c.industry[0], c.legal, 0.0 if canonical else rng.random()
        if roll < 0.30:
            return f"{region}{c.trade}{ind}{legal}"
        if roll < 0.42:
            left, right = rng.choice([("(", ")"), ("（", "）")])
            return f"{c.trade}{left}{region}{right}{ind}{legal}"
        if roll < 0.51:
            return f"{c.trade}{ind}{legal}"
        if roll < 0.60:
            prefix = f"{region}市" if c.province in MUNICIPALITIES else rng.choice(
                [f"{c.province}省{region}市", f"{region}市", f"{c.province}{region}"])
            return f"{prefix}{c.trade}{ind}{legal}"
        if roll < 0.75:
            other = self.group_legal(c) if c.group else rng.choice(
                [x for x in ("有限公司", "有限责任公司", "", "公司", "股份有限公司") if x != legal])
            return f"{region}{c.trade}{ind}{other}"
        if roll < 0.79:
            self.kinds["company: one character, homophone typo"] += 1
            return self.typo(f"{region}{c.trade}{ind}{legal}")
        if roll < 0.82:  # a look-alike character in the trade name (瑞达 → 端达)
            self.kinds["company: one character, look-alike typo"] += 1
            return f"{region}{self.lookalike(c.trade)}{ind}{legal}"
        if roll < 0.87:
            return rng.choice([f"{region} {c.trade}{ind} {legal}", f"{region}{c.trade} {ind}{legal} "])
        if roll < 0.91:
            return rng.choice([f"{c.trade}{ind}", f"{region}{c.trade}{ind}"])
        return None

    def english_company(self, c: Company, canonical: bool) -> str:
        name = f"{c.city_py} {c.trade_py.capitalize()} {c.industry[1]}{' Group' if c.group else ''}"
        roll = 0.0 if canonical else self.rng.random()
        if roll < 0.4:
            return f"{name} Co., Ltd."
        if roll < 0.6:
            return f"{c.trade_py.capitalize()} ({c.city_py}) {c.industry[1]}{' Group' if c.group else ''} Co.,Ltd"
        if roll < 0.8:
            return f"{name} CO LTD".upper()
        return f"{name} Limited"

    def typo(self, text: str) -> str:
        spots = [i for i, ch in enumerate(text) if ch in TYPOS]
        if not spots:
            return text
        i = self.rng.choice(spots)
        return text[:i] + TYPOS[text[i]] + text[i + 1:]

    def lookalike(self, text: str) -> str:
        spots = [i for i, ch in enumerate(text) if ch in LOOKALIKES]
        if not spots:
            return self.typo(text)
        i = self.rng.choice(spots)
        return text[:i] + LOOKALIKES[text[i]] + text[i + 1:]

    def person_name(self, p: Person, c: Company, canonical: bool) -> str | None:
        rng = self.rng
        full = p.surname[0] + p.given[0]
        roll = rng.random() * (0.6 if canonical else 1.0)
        if roll < 0.33:
            return full
        if roll < 0.56:
            self.kinds["name: surname + title only (李总)"] += 1
            return p.surname[0] + p.title
        if roll < 0.60:  # a platform's default nickname, copied as the contact name
            self.kinds["name: platform default nickname"] += 1
            return self.placeholder()
        if roll < 0.64:
            self.kinds["name: pinyin, either order (Li Wei / Wei Li)"] += 1
            return self.pinyin_name(p)
        if roll < 0.69:
            self.kinds["name: WeChat remark (B华信-周杰)"] += 1
            return self.remark(p, c, full)
        variants = [full + (p.title if len(p.title) > 1 else "经理"), f"{p.surname[0]} {p.given[0]}",
                    p.surname[0] + ("女士" if p.female else "先生"),
                    f"{'Ms' if p.female else 'Mr.'} {p.surname[1].capitalize()}", self.typo(full), None,
                    p.surname[0] + ("姐" if p.female else rng.choice(["哥", "总", "先生"]))]
        if p.english:
            variants[3] = f"{p.english} {p.surname[1].capitalize()}"
        chosen = min(int((roll - 0.69) / 0.31 * len(variants)), len(variants) - 1)
        if chosen in (2, 6):
            self.kinds["name: honorific only (王女士, 王姐, 张先生)"] += 1
        return variants[chosen]

    def placeholder(self) -> str:
        rng = self.rng
        return rng.choice(PLACEHOLDERS).format(n=rng.randint(10 ** 4, 10 ** 9), tail=rng.randint(1000, 9999),
                                               h=f"{rng.randrange(36 ** 8):x}")

    def pinyin_name(self, p: Person) -> str:
        """Li Wei, Wei Li, LI Wei, Xiaoming Wang: pinyin in either order, as on a business card."""
        rng = self.rng
        surname, given = p.surname[1].capitalize(), p.given[1].capitalize()
        form = rng.choice([f"{surname} {given}", f"{given} {surname}", f"{given} {surname}", f"{surname.upper()} {given}",
                           f"{given} {surname.upper()}", f"{surname}{given}"])
        return form

    def remark(self, p: Person, c: Company, full: str) -> str:
        """A WeChat remark: a tag and the company around the name (B华信-周杰, 【华信】周杰, 周杰-华信科技)."""
        rng = self.rng
        trade = c.trade or c.province
        who = full if rng.random() < 0.8 else p.surname[0] + p.title
        return rng.choice([f"{rng.choice(REMARK_TAGS)}{trade}-{who}", f"【{trade}】{who}", f"{who}-{trade}{c.industry[0]}",
                           f"{rng.choice(REMARK_TAGS)}-{who}", f"{c.city}-{who}", f"{who}（{trade}）", f"{trade} {who}",
                           f"{rng.choice(REMARK_TAGS)}{trade}-{who}"])

    def mobile_format(self, number: str, foreign: str | None = None) -> str:
        if foreign:
            return self.foreign_format(number, foreign)
        a, b, c = number[:3], number[3:7], number[7:]
        rng = self.rng
        roll = rng.random()
        if roll < 0.04:
            self.kinds["phone: dashes (131—2345—6789)"] += 1
            return rng.choice([f"{a}—{b}—{c}", f"{a}–{b}–{c}", f"{a}——{b}——{c}", f"{a}－{b}－{c}"])
        if roll < 0.07:
            self.kinds["phone: spreadsheet apostrophe / .0"] += 1
            return rng.choice([f"'{number}", f"'{number}", f"‘{number}", f"{number}.0"])
        if roll < 0.11:
            self.kinds["phone: label (手机号：…)"] += 1
            return rng.choice(MOBILE_LABELS) + rng.choice([number, f"{a} {b} {c}", f"{a}-{b}-{c}"])
        if roll < 0.15:
            self.kinds["phone: trailing note (（微信同号）…)"] += 1
            return rng.choice([number, f"{a} {b} {c}"]) + rng.choice(MOBILE_NOTES)
        if roll < 0.165:
            self.kinds["phone: long-distance 0 before a mobile"] += 1
            return rng.choice([f"0{number}", f"0{a} {b} {c}", f"0-{a}-{b}-{c}"])
        forms = [number, number, f"{a} {b} {c}", f"{a}-{b}-{c}", f"+86 {a} {b} {c}", f"+86-{number}", f"(+86){number}",
                 f"0086 {a} {b} {c}", f"86-{number}", number.translate(FULLWIDTH), f"{a}.{b}.{c}", f"+86 {a}-{b}-{c}"]
        return rng.choice(forms)

    def foreign_format(self, e164: str, region: str) -> str:
        rng = self.rng
        number = phonenumbers.parse(e164)
        international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        label = rng.choice([name for code, name in FOREIGN if code == region])
        self.kinds["phone: foreign mobile"] += 1
        return rng.choice([international, international, e164, "00" + international[1:], international.replace(" ", "-"),
                           f"{label} {national}", f"{national}（{label}）", f"{international}（{label}）",
                           f"'{e164}", f"Tel: {international}"])

    def landline_format(self, number: str, area_len: int) -> str:
        area, local = number[:area_len], number[area_len:]
        rng = self.rng
        ext = rng.randint(100, 8999)
        forms = [f"{area}-{local}", f"({area}){local}", f"{area} {local[:4]} {local[4:]}", f"+86 {area[1:]} {local}",
                 f"{area}-{local}转{ext}", f"{area}-{local}-{ext}", number, f"{area}-{local} ext.{ext}",
                 f"0086-{area[1:]}-{local}", f"+86{area[1:]}{local}", f"(+86 {area[1:]}) {local}", f"{area}—{local}",
                 f"座机：{area}-{local}", f"{area}-{local}{rng.choice(LANDLINE_NOTES)}", f"'{number}"]
        i = rng.randrange(len(forms))
        if i in (3, 8, 9, 10):
            self.kinds["phone: +86/0086 landline without its 0"] += 1
        return forms[i]

    def email_format(self, email: str) -> str:
        roll = self.rng.random()
        if roll < 0.2:
            local, domain = email.split("@")
            return f"{local.capitalize()}@{domain.upper() if roll < 0.07 else domain}"
        return f" {email} " if roll < 0.27 else email

    def record(self, c: Company, p: Person, canonical: bool) -> dict:
        """One rendering of contact `p` at company `c`; the first (canonical) one is the cleanest."""
        rng = self.rng
        name = self.person_name(p, c, canonical)
        use_mobile = p.mobile is not None and (canonical or rng.random() < 0.8)
        use_email = p.email is not None and rng.random() < (0.6 if canonical else 0.45)
        use_wechat = p.wechat is not None and rng.random() < 0.35
        source = rng.choice(SOURCES)
        if name and (norm_placeholder(name) or "-" in name or "【" in name) and rng.random() < 0.85:
            # a platform nickname or a WeChat remark: the record came from that platform, which
            # hands over the contact's WeChat id or the number it verified
            use_wechat = p.wechat is not None
            use_mobile = p.mobile is not None and (use_mobile or p.wechat is None)
            source = "微信"
        if not (use_mobile or use_email or use_wechat) and rng.random() < 0.75:
            use_mobile, use_email = p.mobile is not None, p.mobile is None and p.email is not None
        phones = [self.mobile_format(p.mobile, p.foreign)] if use_mobile and p.mobile else []
        if p.mobile2 and rng.random() < 0.5:
            phones.append(self.mobile_format(p.mobile2))
        if c.switchboard and rng.random() < 0.25:
            phones.append(self.landline_format(c.switchboard, len(c.area)))
        wechat = p.wechat if use_wechat else None
        wechat = wechat.upper() if wechat and rng.random() < 0.15 else wechat
        created = self.epoch + timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, 86_399))
        return {"name": name, "company": self.company_name(c, canonical),
                "phones": phones, "email": self.email_format(p.email) if use_email and p.email else None,
                "wechat_id": wechat, "created_at": created.isoformat(), "source": source}

    def contacts(self, c: Company, count: int, people: list[Person]) -> list[Person]:
        """Colleagues at one company: same switchboard and mail domain, their own mobiles."""
        staff: list[Person] = []
        group_staff = self.staff_of.get(id(c.namesake_of)) if c.namesake_of else None
        for i in range(count):
            namesake = self.rng.choice(people[-500:]) if people and self.rng.random() < 0.05 else None
            if group_staff and self.rng.random() < 0.25:
                namesake = self.rng.choice(group_staff)  # 赵敏 at 华信集团 and another 赵敏 at 华信有限公司
            if namesake:
                self.kinds["hard negative: namesake contacts (another person, same name)"] += 1
            person = self.person(c, namesake)
            if staff and self.rng.random() < 0.12:
                person.surname = staff[0].surname  # two 张s in one office
                self.kinds["hard negative: colleagues with one surname"] += 1
            if staff and staff[0].mobile and self.rng.random() < 0.03:
                self.kinds["hard negative: colleagues sharing a front-desk mobile"] += 1
                person.mobile, person.foreign = staff[0].mobile, staff[0].foreign  # a shared front-desk mobile
            staff.append(person)
        if c.group:
            self.staff_of[id(c)] = staff
            if len(self.staff_of) > 200:
                del self.staff_of[next(iter(self.staff_of))]
        return staff

    def companies(self) -> Iterator[tuple[Company, int]]:
        """Companies with their contact counts, near-identical siblings and shared switchboards."""
        rng, recent = self.rng, list[Company]()
        while True:
            company = self.company()
            if recent and rng.random() < 0.04:
                same_city = [x for x in recent[-200:] if x.area == company.area and x.switchboard]
                if same_city:
                    company.switchboard = rng.choice(same_city).switchboard  # business-centre switchboard
                    self.kinds["hard negative: companies sharing a switchboard"] += 1
            recent.append(company)
            yield company, rng.choice([1] * 13 + [2] * 4 + [3] * 2 + [4])
            if rng.random() < 0.08:
                yield self.company(like=company), rng.choice([1, 1, 2])
            if company.group and not company.provincial and rng.random() < 0.4:
                namesake = self.company(group_namesake=company)
                self.kinds["hard negative: 集团 and its namesake without 集团"] += 1
                if namesake.switchboard == company.switchboard:
                    self.kinds["hard negative: companies sharing a switchboard"] += 1
                yield namesake, rng.choice([1, 1, 2])


def iter_rows(n_entities: int, seed: int = 7, giant_companies: int = 0, giant_size: int = 5000,
              kinds: Counter[str] | None = None) -> Iterator[dict]:
    """Rows (without ids) entity by entity; `entity` labels the true customer of each row. `kinds`, when
    given, receives how many rows were written in each messy form and how many hard negatives were made."""
    gen = Generator(seed)
    if kinds is not None:
        gen.kinds = kinds
    people: list[Person] = []
    entity = 0
    sources = gen.companies()
    giants = [(gen.company(), giant_size) for _ in range(giant_companies)]
    while entity < n_entities:
        company, count = giants.pop() if giants else next(sources)
        for person in gen.contacts(company, min(count, n_entities - entity), people):
            people.append(person)
            del people[:-1000]
            for i in range(gen.rng.choice(RECORDS_PER_ENTITY)):
                row = gen.record(company, person, canonical=i == 0)
                row["entity"] = entity
                yield row
            entity += 1


def generate(n_entities: int = ENTITIES, seed: int = 7, kinds: Counter[str] | None = None) -> list[dict]:
    """The evaluation set in memory: rows shuffled (duplicates are not adjacent), ids 1..n."""
    rows = list(iter_rows(n_entities, seed, kinds=kinds))
    random.Random(seed + 1).shuffle(rows)
    return [{"id": i, **row} for i, row in enumerate(rows, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the labelled dedup evaluation set (JSONL).")
    parser.add_argument("--entities", type=int, default=ENTITIES)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()
    kinds: Counter[str] = Counter()
    rows = generate(args.entities, args.seed, kinds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"dedup_dataset: entities={args.entities} records={len(rows)} -> {args.out}")
    for kind, count in sorted(kinds.items()):
        print(f"  {count:6d}  {kind}")


if __name__ == "__main__":
    main()
