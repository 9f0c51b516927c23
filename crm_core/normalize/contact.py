"""Contact fields: e-mail addresses (public mailbox domains) and person names with titles (张总, Mr. Wang).

Names arrive as people and platforms write them: honorifics alone (王女士, 李总, 王姐), platform default
nicknames that name nobody (用户84729, 微信用户, wxid_…), WeChat remarks around the name (B华信-周杰,
【VIP】周杰, 周杰-华信科技) and pinyin or English spellings (Li Wei / Wei Li for 李伟).
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import permutations
from typing import NamedTuple

from crm_core.normalize.company import normalize_company
from crm_core.normalize.regions import match_region
from crm_core.normalize.text import HAN, NON_WORD, has_han, pinyin_spellings, pinyin_syllables, to_halfwidth

PUBLIC_MAIL_DOMAINS = frozenset(
    """qq.com vip.qq.com foxmail.com 163.com vip.163.com 126.com yeah.net 188.com 139.com 189.cn wo.cn
    sina.com sina.cn vip.sina.com sohu.com tom.com 21cn.com aliyun.com gmail.com googlemail.com outlook.com
    hotmail.com live.com msn.com yahoo.com yahoo.com.cn icloud.com me.com mail.com protonmail.com""".split()
)
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+\-]*@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,}")


def normalize_email(raw: str | None) -> str | None:
    """Trimmed, lower-case address with Gmail dots/plus-tags folded; None when not an address."""
    if not raw:
        return None
    text = to_halfwidth(raw).strip().lower().removeprefix("mailto:").strip("<>;, ")
    if not _EMAIL.fullmatch(text) or ".." in text:
        return None
    local, domain = text.rsplit("@", 1)
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.split("+", 1)[0].replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def email_domain(email: str | None) -> str | None:
    normalized = normalize_email(email)
    return normalized.rsplit("@", 1)[1] if normalized else None


def is_public_mail_domain(domain: str | None) -> bool:
    return bool(domain) and domain in PUBLIC_MAIL_DOMAINS


# ---------------------------------------------------------------- person names
_TITLES = tuple(sorted(
    """总经理 副总经理 副总裁 总裁 董事长 副董事长 董事 总监 副总 经理 主任 主管 老板 老总 老师 工程师 教授
    博士 医生 律师 会计 秘书 助理 专员 先生 女士 小姐 科长 处长 局长 部长 厂长 院长 校长 所长 行长 书记 主席
    店长 采购 总助 老板娘 师傅 阿姨 叔叔 大哥 大姐 太太 夫人 总 工 董 姐 哥 叔""".split(), key=len, reverse=True))
_TITLE_SET = frozenset(_TITLES)
_LONGEST_TITLE = len(_TITLES[0])
# One-character titles follow a bare surname only: 张工 / 王姐 are title forms, 张建工 is a name.
_SINGLE_CHAR_TITLES = frozenset("总工董姐哥叔")
_MALE_TITLES = frozenset(("先生", "Mr", "Sir", "哥", "大哥", "叔", "叔叔"))
_FEMALE_TITLES = frozenset(("女士", "小姐", "Ms", "Mrs", "Miss", "Madam", "姐", "大姐", "阿姨", "太太", "夫人", "老板娘"))
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 端木 南宫 西门 独孤 呼延 万俟".split()
)
# Pinyin (and common Cantonese / Wade-Giles spellings) of frequent surnames: "Grace Wu" is a 吴.
SURNAME_PINYIN: dict[str, tuple[str, ...]] = {
    k: tuple(v.split("/")) for k, v in (item.split(":") for item in """王:wang/wong 李:li/lee 张:zhang/cheung/chang
    刘:liu/lau 陈:chen/chan 杨:yang/yeung 黄:huang/wong 赵:zhao/chiu 吴:wu/ng 周:zhou/chow 徐:xu/tsui 孙:sun 马:ma
    朱:zhu/chu 胡:hu/wu 郭:guo/kwok 何:he/ho 高:gao/ko 林:lin/lam 罗:luo/law 郑:zheng/cheng 梁:liang/leung 谢:xie/tse
    宋:song 唐:tang/tong 许:xu/hui 韩:han 冯:feng/fung 邓:deng/tang 曹:cao/tso 彭:peng/pang 曾:zeng/tsang 肖:xiao
    田:tian 董:dong/tung 袁:yuan/yuen 潘:pan/poon 于:yu 蒋:jiang/chiang 蔡:cai/choi/tsai 余:yu/yue 杜:du/to 叶:ye/yip
    程:cheng 苏:su/so 魏:wei 吕:lv/lu/lyu/lui 丁:ding 任:ren 沈:shen/shum 姚:yao/yiu 卢:lu/lo 姜:jiang 崔:cui 钟:zhong/chung
    谭:tan/tam 陆:lu/luk 汪:wang 范:fan 金:jin/kam 石:shi/shek 廖:liao/liu 贾:jia 夏:xia/ha 韦:wei 付:fu 方:fang/fong
    白:bai 邹:zou/chau 孟:meng 熊:xiong/hung 秦:qin/chun 邱:qiu/yau 江:jiang/kong 尹:yin/wan 薛:xue/sit 闫:yan 段:duan
    雷:lei/lui 侯:hou/hau 龙:long/lung 史:shi 陶:tao/to 黎:li/lai 贺:he/ho 顾:gu/koo 毛:mao/mo 郝:hao 龚:gong/kung
    邵:shao/shiu 万:wan/man 钱:qian/chin 严:yan/yim 覃:qin 武:wu 戴:dai/tai 莫:mo/mok 孔:kong/hung 向:xiang 汤:tang/tong
    欧阳:ouyang/auyeung 司马:sima 上官:shangguan 诸葛:zhuge""".split())
}
_PINYIN_SURNAMES = frozenset(p for spellings in SURNAME_PINYIN.values() for p in spellings)
# Any spelling → the Mandarin spelling of the first (most frequent) surname written so: wong → wang.
_MANDARIN: dict[str, str] = {}
for _spellings in SURNAME_PINYIN.values():
    for _spelling in _spellings:
        _MANDARIN.setdefault(_spelling, _spellings[0])
_SPELLING_SETS = {surname: frozenset(spellings) for surname, spellings in SURNAME_PINYIN.items()}
COMMON_SURNAMES = frozenset(surname for surname in SURNAME_PINYIN if len(surname) == 1)
# Single-character surnames of the Hundred Family Surnames and later common ones: what a name may start with.
KNOWN_SURNAMES_TEXT = (
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎鲁韦昌马苗凤花"
    "方俞任袁柳酆鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余元卜顾孟平黄和穆萧尹姚邵湛汪祁毛禹狄米贝"
    "明臧计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵席季麻强贾路娄危江童颜郭梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万支柯昝"
    "管卢莫经房裘缪干解应宗丁宣贲邓郁单杭洪包诸左石崔吉钮龚程嵇邢滑裴陆荣翁荀羊於惠甄曲家封芮羿储靳汲邴糜松井段富巫"
    "乌焦巴弓牧隗山谷车侯宓蓬全郗班仰秋仲伊宫宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄印宿白怀蒲邰从鄂索咸籍"
    "赖卓蔺屠蒙池乔阴胥能苍双闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍却璩桑桂濮牛寿通边扈燕冀郏浦尚农温别庄晏柴瞿阎充慕连茹"
    "习宦艾鱼容向古易慎戈廖庾终暨居衡步都耿满弘匡国文寇广禄阙东欧殳沃利蔚越夔隆师巩厍聂晁勾敖融冷訾辛阚那简饶空曾毋"
    "沙乜养鞠须丰巢关蒯相查后荆红游竺权逯盖益桓公闫肖付覃岳帅"
)
KNOWN_SURNAMES = frozenset(KNOWN_SURNAMES_TEXT)
_LATIN_TITLE = re.compile(r"^(mr|mrs|ms|miss|dr|prof|sir|madam)\b\.?\s*", re.IGNORECASE)
# Default nicknames of chat and shop platforms and form placeholders: they name nobody.
_PLACEHOLDER = re.compile(
    r"""^(?:
      (?:微信|企业微信|企微|手机|抖音|快手|淘宝|京东|拼多多|小红书|钉钉|飞书|qq|百度|新浪|微博|新|匿名|注册|普通|默认|会员|游客|访客)?
        用户[\W_]*[0-9a-z_*\-]*
    | (?:wechat|weixin|wx|qq|tiktok|douyin|new|anonymous|default|guest|unknown|test)?[\s_\-]*user[\s_\-]*[0-9a-z_\-]*
    | wxid[_\-][0-9a-z_\-]+
    | (?:匿名|未知|客户|新客户|访客|游客|来访|未命名|无|暂无|没有|未填写?|不详|无名氏?|默认昵称|默认|昵称|姓名|名字|联系人|待定|待补充?
        |null|none|nil|n/a|unknown|guest|anonymous|test|测试|xxx?|某某?)[\W_]*\d*[a-z]?
    | 先生\s*/\s*女士 | 女士\s*/\s*先生 | mr\.?\s*/\s*ms\.?
    | [\W_]+
    | [\d\s*+\-()]{5,}
    )$""", re.IGNORECASE | re.VERBOSE)
_SHORT_HAN = re.compile(r"[\u4e00-\u9fff]{1,4}")
# Every Han character of the placeholders above: a short name without any of them is none.
_PLACEHOLDER_CHARS = frozenset("微信企业手机抖音快淘宝京东拼多小红书钉飞百度新浪博匿名注册普通默认会员游客访用户"
                               "未知来命无暂没有填写不详氏昵称姓字联系人待定补充测试某")
_REMARK_BRACKETS = re.compile(r"[(\[【〔{<《「『]([^()\[\]【】〔〕{}<>《》「」『』]*)[)\]】〕}>》」』]")
# Not the middle dot: it stands inside transliterated names (阿卜杜·热合曼).
_REMARK_SEPARATORS = re.compile(r"[\s\-_—–―~|/\\.,、:;+=*#@!?]+")
# "王 小明", "欧阳 娜娜", "李 总": a surname written apart from the rest of the name is not a remark.
_SPACED_SURNAME = re.compile(
    "(^|[^\u4e00-\u9fff])(" + "|".join(sorted(COMPOUND_SURNAMES, key=len, reverse=True)) + "|[" + KNOWN_SURNAMES_TEXT
    + "])\\s+([\u4e00-\u9fff]{1,2})(?![\u4e00-\u9fff])")
# Nothing for strip_remark to do: a short run of Han characters, or Latin words without brackets.
_PLAIN_NAME = re.compile(r"[\u4e00-\u9fff]{1,4}|[A-Za-z][A-Za-z .']*")
_LEADING_TAG = re.compile(r"^[A-Za-z0-9]{1,5}(?=[\u4e00-\u9fff])")
_COMPANYISH = re.compile(
    r"(?:公司|集团|科技|贸易|商贸|实业|工厂|厂|店|中心|工作室|事务所|银行|医院|学校|电子|网络|信息|传媒|物流|设备|机械|"
    r"建筑|装饰|工程|食品|化工|材料|服装|家具|五金|印刷|软件|咨询|管理|供应链|国际|控股|展会|客户|供应商|同行|渠道|代理|"
    r"经销商|合作|意向|成交|老客户|新客户|重要|跟进|微信|电话)$")


def surname_of(name: str) -> str:
    """Chinese surname (compound ones included) of a bare name; the name itself for one char."""
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


_ROLES = {"老总": "总", "总经理": "总", "总裁": "总", "老板": "总", "董事长": "董", "董事": "董", "工程师": "工",
          "小姐": "女士", "Ms": "女士", "Mrs": "女士", "Miss": "女士", "Madam": "女士", "Mr": "先生", "Sir": "先生",
          "大姐": "姐", "大哥": "哥", "叔叔": "叔"}


def title_role(title: str | None) -> str:
    """One spelling per role, so 张总 and 张总经理, 王工 and 王工程师, Mr. Wang and 王先生 read as the same
    way of addressing."""
    if not title:
        return ""
    return _ROLES.get(title, title)


def title_gender(title: str | None) -> str:
    """"m" for 先生 / 哥 / Mr, "f" for 女士 / 姐 / Ms, "" when the title says nothing."""
    if not title:
        return ""
    return "m" if title in _MALE_TITLES else "f" if title in _FEMALE_TITLES else ""


def is_placeholder_name(raw: str | None) -> bool:
    """True for a platform default nickname or form placeholder (用户84729, 微信用户, wxid_…, 未知, a
    phone number): it carries no name evidence."""
    text = to_halfwidth(raw or "").strip()
    if _SHORT_HAN.fullmatch(text) and _PLACEHOLDER_CHARS.isdisjoint(text):
        return False  # 张伟, 欧阳娜娜: the common case, without running the long pattern
    return not text or _PLACEHOLDER.match(text) is not None


def _title_only(text: str) -> str | None:
    """The title when `text` is made of titles only (经理, 采购经理, 先生); else None."""
    rest = text
    while rest:
        # 总 / 董 / 姐 alone follow a surname: 董主管 is a name and a title, not two titles
        title = next((t for t in _TITLES if rest.endswith(t) and t not in _SINGLE_CHAR_TITLES), None)
        if title is None:
            return None
        rest = rest[: -len(title)]
    return text or None


def _name_like(part: str) -> int:
    """How much a remark part looks like a person's name: 2 common surname, 1 known surname, 0 not."""
    if not part or not HAN.fullmatch(part[0]) or _COMPANYISH.search(part) or is_placeholder_name(part):
        return 0
    region = match_region(part, bare_ok=True)
    if region and region[1] == len(part):
        return 0
    bare, title = split_name_title(part)
    if not bare or len(bare) > 4 or not all(HAN.fullmatch(c) for c in bare):
        return 0
    surname = surname_of(bare)
    if len(bare) == len(surname) and title is None:
        return 0
    if surname in COMPOUND_SURNAMES or surname in COMMON_SURNAMES:
        return 2
    return 1 if surname in KNOWN_SURNAMES else 0


def strip_remark(raw: str, company: str | None = None) -> tuple[str, str | None]:
    """The name inside a WeChat remark and a title written apart: "B华信-周杰" → ("周杰", None),
    "【VIP】周杰（华信）" → ("周杰", None), "周杰-采购经理" → ("周杰", "采购经理"). With the customer's
    company known, a company name glued to the name goes too ("华信周杰" at 华信科技 → "周杰")."""
    text = to_halfwidth(raw).strip()
    if not HAN.search(text):
        return " ".join(_REMARK_BRACKETS.sub(" ", text).split()) or text, None
    unbracketed = _REMARK_BRACKETS.sub(" ", text)
    if HAN.search(unbracketed):
        text = unbracketed
    text = _SPACED_SURNAME.sub(r"\1\2\3", re.sub(r"\d+", " ", text))
    parts = []
    for part in _REMARK_SEPARATORS.split(text):
        part = _LEADING_TAG.sub("", part)
        if HAN.search(part):
            parts.append(part)
    if not parts:
        return raw, None
    title = None
    if len(parts) > 1:
        titles = [p for p in parts if _title_only(p)]
        names = [p for p in parts if not _title_only(p)]
        if titles and names:
            title, parts = titles[-1], names
    best = max(range(len(parts)), key=lambda i: (_name_like(parts[i]), i))
    name = parts[best]
    trade = normalize_company(company)
    if len(trade) >= 2 and len(name) >= 4:
        name = _strip_company_words(name, trade)
    return name, title


def _strip_company_words(name: str, trade: str) -> str:
    """华信周杰 / 周杰华信 at 华信科技: drop the part of the company's name glued to the person's."""
    for size in range(min(len(trade), len(name) - 2), 1, -1):
        if name.startswith(trade[:size]) and _name_like(name[size:]):
            return name[size:]
        if name.endswith(trade[:size]) and _name_like(name[:-size]):
            return name[:-size]
    return name


def split_name_title(raw: str | None) -> tuple[str, str | None]:
    """张经理 → ("张", "经理"); 张伟总监 → ("张伟", "总监"); Mr. Wang → ("Wang", "Mr"); 老王 → ("王", "老")."""
    text = to_halfwidth(raw or "").strip()
    if not HAN.search(text):
        match = _LATIN_TITLE.match(text)
        if match and text[match.end():].strip():
            return " ".join(text[match.end():].split()), match.group(1).capitalize()
        return " ".join(text.split()), None
    text = NON_WORD.sub("", text)
    if text in _TITLE_SET:
        return "", text  # 先生 alone: a title, no name
    for size in range(min(_LONGEST_TITLE, len(text) - 1), 0, -1):  # the longest title first
        title = text[-size:]
        if title in _TITLE_SET:
            name = text[:-size]
            if title in _SINGLE_CHAR_TITLES and len(name) > len(surname_of(name)):
                continue  # 张建工 is a full name, 张工 is a title form
            return name, title
    if len(text) == 2 and text[0] in "老小" and text[1] in COMMON_SURNAMES:
        return text[1], text[0]
    return text, None


class PersonName(NamedTuple):
    """A contact name taken apart: comparison key, title, surname and what kind of name it is."""

    key: str                    # 张伟 / 张 (title form) / "wang wei" (Latin, tokens sorted)
    title: str | None           # 经理, 总, Mr…
    surname: str                # 张 / 欧阳 / "wang" (last Latin token)
    full: bool                  # more than a surname (张伟, David Wang), not 张总 or Mr. Wang
    latin: bool
    spellings: frozenset[str]   # Latin spellings of the surname: {zhang, cheung, chang}; "Grace Wu" → {wu}
    surname_key: str = ""       # one Mandarin spelling for lookups: 张 → zhang, "Cheung" → zhang, "Wei Li" → li


_NO_NAME = PersonName("", None, "", False, False, frozenset())


def parse_person_name(raw: str | None, company: str | None = None) -> PersonName:
    """Take a contact name apart once (see `PersonName`). Platform default nicknames give an empty
    name; WeChat remarks are stripped (`company`, when known, helps find a company name in them)."""
    if is_placeholder_name(raw):
        return _NO_NAME
    text = to_halfwidth(raw or "").strip()
    if _PLAIN_NAME.fullmatch(text) and not (company and len(text) >= 4 and HAN.match(text)):
        name, remark_title = text, None  # the common case: 张伟, 张经理, David Wang
    else:
        name, remark_title = strip_remark(text, company)
        if is_placeholder_name(name):
            return _NO_NAME
    bare, title = split_name_title(name)
    title = title or remark_title
    if not bare:
        return PersonName("", title, "", False, False, frozenset())
    if HAN.search(bare):
        surname = surname_of(bare)
        known = SURNAME_PINYIN.get(surname)
        return PersonName(bare, title, surname, len(bare) > len(surname), False,
                          _SPELLING_SETS.get(surname, frozenset()),
                          known[0] if known else (pinyin_spellings(surname)[:1] or [surname])[0])
    tokens = _latin_tokens(bare)
    if not tokens:
        return PersonName("", title, "", False, False, frozenset())
    spellings = frozenset(t for t in tokens if t in _PINYIN_SURNAMES)
    # Western order first ("David Wang", "Wei Li"), else the first surname-like token ("Wang Xiaoming")
    guess = tokens[-1] if tokens[-1] in spellings else next((t for t in tokens if t in spellings), tokens[-1])
    return PersonName(" ".join(sorted(tokens)), title, tokens[-1], len(tokens) > 1, True, spellings,
                      _MANDARIN.get(guess, guess))


def _syllable_count(text: str) -> int:
    """Number of pinyin syllables `text` splits into (longest first), 0 when it does not."""
    syllables, count, at = pinyin_syllables(), 0, 0
    while at < len(text):
        size = next((n for n in range(min(6, len(text) - at), 0, -1) if text[at:at + n] in syllables), 0)
        if not size:
            return 0
        at, count = at + size, count + 1
    return count


def _latin_tokens(bare: str) -> list[str]:
    """Lower-case tokens of a Latin-script name; "ZhuXuexin" and "zhangxiaoming" are split after the surname."""
    tokens = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", bare).lower().replace(".", " ").split()
    if len(tokens) == 1 and tokens[0] not in _PINYIN_SURNAMES:
        word = tokens[0]
        for size in (6, 5, 4, 3, 2):
            head, rest = word[:size], word[size:]
            if head in _PINYIN_SURNAMES and _syllable_count(rest) >= 2:
                return [head, rest]  # three syllables or more: pinyin of a full name, not "Linda"
    return tokens


@lru_cache(maxsize=65_536)
def _han_name_spellings(han: str) -> frozenset[str]:
    """Pinyin of a Chinese full name, surname first and last: 李伟 → {liwei, weili, leewei, …}."""
    surname = surname_of(han)
    given = han[len(surname):]
    if not given or not has_han(han):
        return frozenset()
    surnames = {*SURNAME_PINYIN.get(surname, ()), *pinyin_spellings(surname)}
    givens = pinyin_spellings(given, limit=16)
    return frozenset(form for s in surnames for g in givens for form in (s + g, g + s))


@lru_cache(maxsize=65_536)
def _latin_pinyin_match(latin_key: str, han: str) -> bool:
    tokens = re.findall(r"[a-z]+", latin_key.lower().replace("v", "u"))
    if not tokens or len(tokens) > 4:
        return False
    spellings = {s.replace("v", "u") for s in _han_name_spellings(han)}
    return any("".join(order) in spellings for order in permutations(tokens))


def pinyin_name_match(latin: str | None, han: str | None) -> bool:
    """True when a Latin-script name spells a Chinese full name in pinyin, in either order:
    "Li Wei", "Wei Li", "LIWEI" and 李伟; "Xiao-Ming Wang" and 王小明 (polyphones and the common
    Cantonese surname spellings count)."""
    a, b = parse_person_name(latin), parse_person_name(han)
    if not (a.latin and not b.latin and b.full and a.key):
        return False
    return _latin_pinyin_match(a.key, b.key)


def normalize_person_name(raw: str | None) -> str:
    """Name key: Chinese name without title (张总 → 张), Latin names lower-cased with sorted tokens."""
    return parse_person_name(raw).key


def surname_spellings(raw: str | None) -> frozenset[str]:
    """Latin spellings a contact's surname may take (张伟 → {zhang, cheung, chang}; "Grace Wu" → {wu}).

    Lets a Chinese and a Latin-script name be compared; empty when nothing is known.
    """
    return parse_person_name(raw).spellings


def name_in_handle(name: str, handle: str | None) -> bool:
    """True when an e-mail local part or WeChat id spells the Chinese full name in pinyin.

    gaoxuejia19 / xuejia.gao / gxuejia all spell 高雪佳: people build handles from their names.
    """
    letters = re.sub(r"[^a-z]", "", (handle or "").lower())
    surname = surname_of(name)
    given = name[len(surname):]
    if len(letters) < 4 or not given or not has_han(name):
        return False
    surnames = SURNAME_PINYIN.get(surname) or tuple(pinyin_spellings(surname))
    for given_py in pinyin_spellings(given):
        for surname_py in surnames:
            forms = (surname_py + given_py, given_py + surname_py, surname_py[0] + given_py)
            if any(len(form) >= 4 and form in letters for form in forms):
                return True
    return False
