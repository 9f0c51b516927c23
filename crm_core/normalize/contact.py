"""Contact fields: e-mail addresses (public mailbox domains) and person names with titles (张总, Mr. Wang)."""
from __future__ import annotations

import re
from typing import NamedTuple

from crm_core.normalize.text import HAN, NON_WORD, has_han, pinyin_spellings, to_halfwidth

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
    店长 采购 总 工""".split(), key=len, reverse=True))
_SINGLE_CHAR_TITLES = frozenset("总工")
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
_SPELLING_SETS = {surname: frozenset(spellings) for surname, spellings in SURNAME_PINYIN.items()}
COMMON_SURNAMES = frozenset(surname for surname in SURNAME_PINYIN if len(surname) == 1)
_LATIN_TITLE = re.compile(r"^(mr|mrs|ms|miss|dr|prof|sir|madam)\b\.?\s*", re.IGNORECASE)


def surname_of(name: str) -> str:
    """Chinese surname (compound ones included) of a bare name; the name itself for one char."""
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


def split_name_title(raw: str | None) -> tuple[str, str | None]:
    """张经理 → ("张", "经理"); 张伟总监 → ("张伟", "总监"); Mr. Wang → ("Wang", "Mr"); 老王 → ("王", "老")."""
    text = to_halfwidth(raw or "").strip()
    if not HAN.search(text):
        match = _LATIN_TITLE.match(text)
        if match and text[match.end():].strip():
            return " ".join(text[match.end():].split()), match.group(1).capitalize()
        return " ".join(text.split()), None
    text = NON_WORD.sub("", text)
    for title in _TITLES:
        if text.endswith(title) and len(text) > len(title):
            name = text[: -len(title)]
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


def parse_person_name(raw: str | None) -> PersonName:
    """Take a contact name apart once (see `PersonName`)."""
    bare, title = split_name_title(raw)
    if HAN.search(bare):
        surname = surname_of(bare)
        return PersonName(bare, title, surname, len(bare) > len(surname), False,
                          _SPELLING_SETS.get(surname, frozenset()))
    tokens = bare.lower().replace(".", " ").split()
    if not tokens:
        return PersonName("", title, "", False, False, frozenset())
    spellings = frozenset(t for t in tokens if t in _PINYIN_SURNAMES)
    return PersonName(" ".join(sorted(tokens)), title, tokens[-1], len(tokens) > 1, True, spellings)


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
