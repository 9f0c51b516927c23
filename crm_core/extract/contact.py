"""The customer contact's name: title forms (张总, 李经理, 欧阳主任, Mr. Wang) and full names.

A title form is returned as said (张总 stays 张总); a full name with a title (李明经理) returns
the full name; a title with the surname given apart ("采购经理姓周") becomes 周经理. Bare full
names need a cue before them (联系人, 跟, 找, 叫, 记录 …) or after them (说, 表示, 「，手机」), must open
the note ("周杰,锐达科技采购…") or stand alone between commas in a terse list ("…物流，张磊，139…").
They are checked against places and brand names, and against the word segmentation: a name
must span whole words, and a dictionary word that is not a person's name (华信/nz, 冷柜/n,
明天/t) is no name. English given names count in Chinese notes too ("Tony from 鼎信").
"""
from __future__ import annotations

import re

from crm_core.extract.brands import BRAND_INDUSTRY
from crm_core.extract.gazetteer import (COMPOUND_SURNAMES, EN_GIVEN_NAMES, LEGAL_SUFFIXES, NAME_LOOKALIKES,
                                        NOT_SURNAME_BIGRAMS, NOT_TITLE_WORDS, ORG_SUFFIXES, PLACES, SURNAMES)
from crm_core.extract.segment import segment

_TITLES = ("总经理", "总监", "总工", "总裁", "董事长", "经理", "主任", "主管", "院长", "处长", "科长", "局长", "部长",
           "厂长", "校长", "园长", "所长", "馆长", "行长", "店长", "站长", "书记", "秘书", "助理", "教授", "博士", "医生",
           "大夫", "护士长", "律师", "会计", "老师", "老板", "工程师", "女士", "先生", "小姐", "董", "总", "工",
           "姐", "哥")
_TITLE_ALT = "|".join(sorted(_TITLES, key=len, reverse=True))
_SURNAME_ALT = "|".join(COMPOUND_SURNAMES) + "|[" + "".join(sorted(SURNAMES)) + "]"
# 副 may sit between surname and title (王副总, 李副院长).
TITLE_RE = re.compile(rf"(?P<sur>{_SURNAME_ALT})(?P<vice>副)?(?P<title>{_TITLE_ALT})")
# After 总/工 these characters make an ordinary word: 总价, 总部, 工程, 工作 …
_NOT_AFTER = {
    "总": set("价额部体共计量数结之包台线账预投费金成的得算和监经裁工"),
    "工": set("程作厂业人资艺具期地单位会商序种时科控信行厂匠夫区"),
    "董": set("事"),
    "哥": set("们"), "姐": set("妹们"),
}
_OLD_YOUNG_RE = re.compile(rf"(?<![很太最较不大古])(?P<p>[老小])(?P<sur>[{''.join(sorted(SURNAMES))}])")
# Cues before a full name; group `key` marks the explicit ones (联系人王建国) that outrank the rest.
_CUE_RE = re.compile(r"(?:(?P<key>联系人|对接人|负责人|决策人|姓名)(?:是|叫|为|:)?\s?"
                     r"|(?P<weak>叫)\s?"  # 叫 introduces companies as often as people
                     r"|(?:跟|和|与|找|约了?|见了?|拜访了?|给|问了?|打给|联系了?|加了|认识了?|通知|记录(?:一下)?|记一下)\s?"
                     r"|(?:总经理|总监|经理|主管|主任|处长|科长|部长|院长|老板|采购|工程师)\s?)"
                     r"(?:[\u4e00-\u9fff]{1,4}[部科处室]的?\s?)?")
_ORG_SUFFIX_RE = re.compile("|".join(map(re.escape, ORG_SUFFIXES)))
# What only a person does next: speaks, answers, calls (a time word may come first).
_SPEAKS_RE = re.compile(r"(?:今天|刚才|刚刚|昨天|上午|下午)?(?:说|表示|回复|反馈|答应|确认|同意|告诉|打电话|来电|问)")
_LEGAL_AHEAD_RE = re.compile(r"[\u4e00-\u9fff]{0,8}?(?:" + "|".join(LEGAL_SUFFIXES) + ")")
_BETWEEN_STOP = re.compile(r"[\s的了说聊是在跟和他她们,，。:：()（）]")
# Words right after a bare full name that show it is a person ("王建国说").
_AFTER_CUE_RE = re.compile(r"(?:说|表示|反馈|提到|告诉|介绍说|同意|答应|确认|那边)"
                           r"|(?:[,，、]\s?)?(?:手机|电话|座机|微信)")  # "云帆科技的赵磊，手机139…"
# Characters that never continue a given name here: particles, verbs of talking, time words …
_STOP = set("的了过着呢吧吗啊呀哦嗯说聊谈讲通打约见沟确联商问答发报签介提讨交反表定看去来到在是和跟与及也都还就再要想"
            "会能可让叫请帮给把被对从向那这他她们我你您咱之后前上下里今昨周星月号日年天点时手电微邮公司总经理工老师主任"
            "院处科局部厂校董先女士小姐哥一二三四五六七八九十百千万个位次台套预采购买需意有没不很挺比已刚正准负接用做"
            "搞弄开关回等吃喝加聊讨论称介绍认识负责对接说明表示反馈了解明")
_NAME_LEAD = set("的是人跟和找叫与位个户约见了给问")  # what may sit right before a full name
_GIVEN_FIRST_OK = set("小明正安刚建国海新天东中平")  # common in names, so allowed as given chars
_SOFT_WORDS = {"刚才", "刚刚", "刚好", "明天", "明年", "正在", "正式", "正好", "安排", "安装", "新的", "天天", "中午",
               "东西", "小时", "平台", "国庆", "建设", "海外"}
_TIME_WORDS = ("明天", "今天", "后天", "昨天", "天天", "下周", "上周", "今年", "明年", "国庆", "正在")
_EN_TITLE_RE = re.compile(r"\b(?i:mr|mrs|ms|miss|dr|prof|director|manager|president|dean|principal|chief|professor)"
                          r"\.?\s+(?P<sur>[A-Za-z][a-z]+)(?:\s+(?P<sur2>[A-Z][a-z]+))?")
_EN_CUE_RE = re.compile(r"\b(?i:contact(?: person)?(?: is|:)?|spoke (?:with|to)|talked (?:with|to)|met(?: with)?|"
                        r"call(?:ed)?(?: with)?|meeting with|emailed|named|reached|chatted with|visited|"
                        r"(?:email|message|lead|note) from)\s+"
                        r"(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)")
# "Kevin Liu, Horizon Motors" / "John Smith (CTO": a capitalised pair followed by a role or org.
_EN_PAIR_RE = re.compile(r"\b(?P<name>[A-Z][a-z]+\s[A-Z][a-z]+)\s?(?:\(|,\s?(?:[A-Z]|head|procurement|director|"
                         r"manager|cto|ceo|cfo|vp))")
_EN_STOPWORDS = {"of", "at", "from", "and", "said", "is", "was", "the", "to", "in", "on", "for", "with", "he", "she",
                 "we", "they", "who", "says", "wants", "needs", "will", "has"}
_EN_NOT_NAMES = {"The", "Their", "Our", "They", "Them", "He", "She", "We", "Monday", "Tuesday", "Wednesday",
                 "Thursday", "Friday", "Saturday", "Sunday", "Today", "Tomorrow", "Next", "This", "Procurement",
                 "Purchasing", "Sales", "IT", "Finance", "Marketing", "Operations", "Legal", "Team", "Client",
                 "Customer", "January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December", "Him", "Her"}
# "采购经理姓周", "信息科的主任，姓谢" (title first) and "姓蒋 是个总监" (surname first).
_APART_TITLES = ("总经理", "总监", "经理", "主管", "主任", "院长", "处长", "科长", "局长", "部长", "厂长", "校长", "园长",
                 "所长", "馆长", "行长", "店长", "站长", "书记", "老板", "老师", "医生", "护士长", "工程师", "教授")
_APART_ALT = "|".join(sorted(_APART_TITLES, key=len, reverse=True))
_APART_RE = re.compile(rf"(?P<t1>{_APART_ALT})\s?(?:[,，、]\s?)?(?:是|的)?\s?姓\s?(?P<s1>{_SURNAME_ALT})"
                       rf"|姓\s?(?P<s2>{_SURNAME_ALT})\s?[,，、]?\s?(?:是个?|的|当)?\s?"
                       rf"(?:采购|项目|销售|技术|信息|运营|市场|财务|行政|设备)?(?P<t2>{_APART_ALT})")
# A bare full name opening the note: "周杰,锐达科技采购", "李文涛 盛华物流", "赵海峰(和信医药)".
_LEADING_NAME_RE = re.compile(rf"^\s?(?P<name>(?:{_SURNAME_ALT})[\u4e00-\u9fff]{{1,2}})"
                              r"(?=\s|[,，、;；:：(（\-—/|]|说)")
# Latin words in a Chinese note: a given name, optionally with a family name ("Jason Li").
_EN_GIVEN_RE = re.compile(r"(?<![A-Za-z.])(?P<given>[A-Za-z][a-z]{1,11})(?:\s(?P<family>[A-Z][a-z]{1,9}))?(?![A-Za-z])")
_PERSON_BEFORE = re.compile(r"(?:跟|和|与|约|见|找|问|叫|是|联系人|对接人|负责人)\s?$")
_EN_ORG_WORDS = re.compile(r"\s+(?:Ltd|Limited|Co|Inc|Corp|LLC|Group|Hospital|University|Bank|Tech|Technologies|"
                           r"Logistics|Motors|Foods|Energy|Systems|Solutions|Industries|School|College|Properties|"
                           r"Retail|Pharma|Securities|Hotel|Restaurant|Clinic|Electronics|Government|District)\b")


def _title_ok(text: str, m: re.Match[str]) -> bool:
    sur, title, start = m.group("sur"), m.group("title"), m.start()
    if start > 0 and len(sur) == 1 and text[start - 1:start + 1] in NOT_SURNAME_BIGRAMS:
        return False
    if (sur + title in NOT_TITLE_WORDS or sur + title[:1] in NOT_TITLE_WORDS) and not (
            text[start - 1:start] == "的" and _SPEAKS_RE.match(text, m.end())):
        return False                    # 施工, 金工 are words; "那边的金工今天回复了" is a person
    follower = text[m.end():m.end() + 1]
    if follower and follower in _NOT_AFTER.get(title, ()):
        return False
    if not _ORG_SUFFIX_RE.match(text, m.end()):
        return True
    # 徐工集团 is a company; after a longer title an org word starts what the person talks about
    # (董院长医院信息系统), unless the words go on to a legal form (李老师教育科技有限公司).
    return len(title) > 1 and not _LEGAL_AHEAD_RE.match(text, m.end())


def _full_name_before(text: str, m: re.Match[str]) -> str | None:
    """李明经理: the title's "surname" is really a given name when a surname sits right before it."""
    start = m.start()
    if start < 1 or len(m.group("sur")) != 1 or text[start - 1] not in SURNAMES:
        return None
    name = text[start - 1:start + 1]
    before = text[start - 2] if start >= 2 else " "
    if name in NAME_LOOKALIKES or name in NOT_SURNAME_BIGRAMS or m.group("title") in ("总", "工", "董"):
        return None
    return name if not "\u4e00" <= before <= "\u9fff" or before in _NAME_LEAD else None


def _title_forms(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in TITLE_RE.finditer(text):
        if not _title_ok(text, m):
            continue
        full = _full_name_before(text, m)
        found.append((1, m.start() - 1, full) if full else (1, m.start(), m.group(0)))
    for m in _OLD_YOUNG_RE.finditer(text):  # 老王, 小李: the weakest form
        word = m.group(0)
        if word not in NOT_TITLE_WORDS and (m.end() >= len(text) or text[m.end()] not in "师板家总年组时区"):
            found.append((3, m.start(), word))
    return found


def _full_name_at(text: str, pos: int) -> str | None:
    """surname + 1–2 given characters starting at `pos`, or None."""
    sur = next((c for c in COMPOUND_SURNAMES if text.startswith(c, pos)), None)
    if sur is None:
        sur = text[pos:pos + 1] if text[pos:pos + 1] in SURNAMES else None
    if sur is None:
        return None
    given = ""
    for index in range(pos + len(sur), min(len(text), pos + len(sur) + 2)):
        ch = text[index]
        soft = ch in _GIVEN_FIRST_OK and (not given or text[index:index + 2] not in _SOFT_WORDS)
        if not "\u4e00" <= ch <= "\u9fff" or (ch in _STOP and not soft):
            break
        given += ch
    if len(given) == 2 and (given in _TIME_WORDS or given[1] + text[pos + len(sur) + 2:pos + len(sur) + 3]
                            in _TIME_WORDS):
        given = given[:1]
    name = sur + given
    if not given or any(name.startswith(w) or w.startswith(name) for w in NAME_LOOKALIKES if w[0] == name[0]):
        return None
    return None if _org_follows(text, pos + 1, pos + len(name)) else name


_PLACE_BRACKET_RE = re.compile(r"\s?\((?P<place>[\u4e00-\u9fff]{2,6})\)")


def _org_follows(text: str, start: int, end: int) -> bool:
    """"华瑞纺织", "惠好四海药店", "蓝鲸(北京)餐饮": an org suffix starts inside the name or shortly
    after it (a bracketed place between them is part of the company's name; 马骏(华辰医疗) is a
    person and his company)."""
    bracket = _PLACE_BRACKET_RE.match(text, end)
    skip = bracket.end() - end if bracket and (bracket.group("place") in PLACES or re.search(
        r"[省市区县]$|^中国$", bracket.group("place"))) else 0
    for m in _ORG_SUFFIX_RE.finditer(text, start, min(len(text), end + skip + 6)):
        if m.start() < end or not _BETWEEN_STOP.search(text, end + skip, max(end + skip, m.start())):
            return True
    return False


def _cued_full_names(text: str) -> list[tuple[int, int, str]]:
    found = []
    for cue in _CUE_RE.finditer(text):
        name = _full_name_at(text, cue.end())
        title = TITLE_RE.match(text, cue.end())
        if cue.group("key") and title and re.match(r"\s|[,，。;；]|$", text[title.end():title.end() + 1]):
            found.append((0, cue.end(), title.group(0)))  # "联系人 金工": a title form after 联系人 is one
            continue
        if name and not title and (
                cue.group("key") or _person_words(text, cue.end(), cue.end() + len(name))):
            found.append((0 if cue.group("key") else 2 if cue.group("weak") else 1, cue.end(), name))
    for cue in _AFTER_CUE_RE.finditer(text):  # "王建国说", "欧阳娜娜表示"
        for size in (4, 3, 2):
            start = cue.start() - size
            before = text[start - 1] if start >= 1 else " "
            if start >= 0 and _full_name_at(text, start) == text[start:cue.start()] and (
                    not "\u4e00" <= before <= "\u9fff" or before in _NAME_LEAD) and \
                    _person_words(text, start, cue.start()):
                found.append((1, start, text[start:cue.start()]))
                break
    return found


def _english(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _EN_TITLE_RE.finditer(text):
        if m.group("sur").lower() in _EN_STOPWORDS or m.group("sur") in _EN_NOT_NAMES:
            continue
        end = m.end("sur2") if m.group("sur2") and m.group("sur2") not in _EN_NOT_NAMES and not \
            _EN_ORG_WORDS.match(" " + m.group("sur2")) else m.end("sur")
        found.append((1, m.start(), text[m.start():end]))
    for m in list(_EN_CUE_RE.finditer(text)) + list(_EN_PAIR_RE.finditer(text)):
        name = m.group("name")
        words = name.split()
        if words[0] in _EN_NOT_NAMES or _EN_ORG_WORDS.match(text, m.end("name")) or (
                len(words) > 1 and _EN_ORG_WORDS.match(" " + words[1])):
            continue
        found.append((1, m.start("name"), name))
    return found


_NOT_GIVEN_TAGS = ("v", "d", "p", "c", "u", "r", "t", "m", "q", "f", "y")  # 东方|希望/v is no name


def _person_words(text: str, start: int, end: int) -> bool:
    """The segmentation agrees that text[start:end] can be a person's name."""
    name = text[start:end]
    if name in BRAND_INDUSTRY or name in PLACES:
        return False
    seg = segment(text)
    for edge in (start, end):  # a dictionary word across an edge: "见了 金田铜业" is no 金田铜
        token = seg.token_at(edge)
        if token is not None and token.start < edge and token.known and not (edge == end and token.tag == "t"):
            return False  # (a time word may take the name's last character: 找李明天再聊)
    words = seg.words_in(start, end)
    if len(words) == 1 and words[0].known and not words[0].tag.startswith("nr") and words[0].end <= end:
        return False  # 华信/nz, 冷柜/n, 明天/t
    return not any(w.known and len(w.word) > 1 and w.tag.startswith(_NOT_GIVEN_TAGS) and w.start > start
                   and w.end <= end for w in words)


def _leading_name(text: str) -> list[tuple[int, int, str]]:
    m = _LEADING_NAME_RE.match(text)
    if not m:
        return []
    start, name = m.start("name"), m.group("name")
    if _full_name_at(text, start) != name or not _person_words(text, start, m.end("name")):
        return []
    return [(1, start, name)]


_CLAUSE_RE = re.compile(r"(?:^|(?<=[,，、;；。:：\s]))(?P<name>[\u4e00-\u9fff]{2,4})(?=[,，、;；。\s]|$)")


def _listed_name(text: str) -> list[tuple[int, int, str]]:
    """"宁波港盛物流，张磊，139…": in a terse list, a clause that is a full name and nothing else."""
    found = []
    for m in _CLAUSE_RE.finditer(text):
        start, end = m.span("name")
        if m.group("name") == text.strip(" ,，、;；。:：!！?？"):
            continue      # a message that is only a name is no list: whose name it is stays a question
        if _full_name_at(text, start) == m.group("name") and _person_words(text, start, end):
            found.append((2, start, m.group("name")))
    return found


def _surname_apart(text: str, explicit: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """"采购经理姓周" → 周经理, unless the note also says the title form itself (老板姓梁 梁总)."""
    said = {name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1] for _rank, _start, name in explicit}
    found = []
    for m in _APART_RE.finditer(text):
        surname, title = (m.group("s2"), m.group("t2")) if m.group("s2") else (m.group("s1"), m.group("t1"))
        if surname not in said:
            found.append((1, m.start(), surname + title))
    return found


def _english_given(text: str) -> list[tuple[int, int, str]]:
    """"Tony from 鼎信", "跟 linda 约了", "Jason Li，格力电器的IT经理" in a note that is not all English."""
    if not re.search(r"[\u4e00-\u9fff]", text):
        return []
    found = []
    for m in _EN_GIVEN_RE.finditer(text):
        given = m.group("given")
        if given.capitalize() not in EN_GIVEN_NAMES or given in _EN_NOT_NAMES:
            continue
        if given.islower() and not _PERSON_BEFORE.search(text[max(0, m.start() - 4):m.start()]):
            continue  # lower case only right after 跟/约/是 …: "will", "mark" are words too
        family = m.group("family")
        end = m.end("family") if family and family not in _EN_NOT_NAMES and not _EN_ORG_WORDS.match(" " + family) \
            else m.end("given")
        found.append((1, m.start(), text[m.start():end]))
    return found


def find_contact(text: str) -> tuple[str, int, int] | None:
    """(name, start, end) of the contact: an explicit 联系人 first, then the first one mentioned."""
    titles = _title_forms(text)
    found = (titles + _cued_full_names(text) + _english(text) + _leading_name(text) + _english_given(text)
             + _surname_apart(text, titles) + _listed_name(text))
    if not found:
        return None
    _rank, start, name = min(found, key=lambda item: (item[0], item[1], -len(item[2])))
    return name, start, start + len(name)
