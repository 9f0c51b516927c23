"""The customer contact's name: title forms (张总, 李经理, 欧阳主任, Mr. Wang) and full names.

A title form is returned as said (张总 stays 张总); a full name with a title (李明经理) returns
the full name. Bare full names need a cue before them (联系人, 跟, 找, 叫 …) and are checked
against places and brand names so 张家口 or 华为 are never taken for people.
"""
from __future__ import annotations

import re

from crm_core.extract.gazetteer import (COMPOUND_SURNAMES, NAME_LOOKALIKES, NOT_SURNAME_BIGRAMS, NOT_TITLE_WORDS,
                                        ORG_SUFFIXES, SURNAMES)

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
                     r"|(?:跟|和|与|找|约了?|见了?|拜访了?|给|问了?|打给|联系了?|加了|认识了?|通知)\s?"
                     r"|(?:总经理|总监|经理|主管|主任|处长|科长|部长|院长|老板|采购|工程师)\s?)"
                     r"(?:[\u4e00-\u9fff]{1,4}[部科处室]的?\s?)?")
_ORG_SUFFIX_RE = re.compile("|".join(map(re.escape, ORG_SUFFIXES)))
_BETWEEN_STOP = re.compile(r"[\s的了说聊是在跟和他她们,，。:：]")
# Words right after a bare full name that show it is a person ("王建国说").
_AFTER_CUE_RE = re.compile(r"(?:说|表示|反馈|提到|告诉|介绍说|同意|答应|确认|那边)")
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
_EN_ORG_WORDS = re.compile(r"\s+(?:Ltd|Limited|Co|Inc|Corp|LLC|Group|Hospital|University|Bank|Tech|Technologies|"
                           r"Logistics|Motors|Foods|Energy|Systems|Solutions|Industries|School|College|Properties|"
                           r"Retail|Pharma|Securities|Hotel|Restaurant|Clinic|Electronics|Government|District)\b")


def _title_ok(text: str, m: re.Match[str]) -> bool:
    sur, title, start = m.group("sur"), m.group("title"), m.start()
    if start > 0 and len(sur) == 1 and text[start - 1:start + 1] in NOT_SURNAME_BIGRAMS:
        return False
    if sur + title in NOT_TITLE_WORDS or sur + title[:1] in NOT_TITLE_WORDS:
        return False
    follower = text[m.end():m.end() + 1]
    if follower and follower in _NOT_AFTER.get(title, ()):
        return False
    return not _ORG_SUFFIX_RE.match(text, m.end())  # 徐工集团 is a company


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


def _org_follows(text: str, start: int, end: int) -> bool:
    """"华瑞纺织", "惠好四海药店": an org suffix starts inside the name or shortly after it."""
    for m in _ORG_SUFFIX_RE.finditer(text, start, min(len(text), end + 6)):
        if m.start() < end or not _BETWEEN_STOP.search(text, end, m.start()):
            return True
    return False


def _cued_full_names(text: str) -> list[tuple[int, int, str]]:
    found = []
    for cue in _CUE_RE.finditer(text):
        name = _full_name_at(text, cue.end())
        if name and not TITLE_RE.match(text, cue.end()):
            found.append((0 if cue.group("key") else 2 if cue.group("weak") else 1, cue.end(), name))
    for cue in _AFTER_CUE_RE.finditer(text):  # "王建国说", "欧阳娜娜表示"
        for size in (4, 3, 2):
            start = cue.start() - size
            before = text[start - 1] if start >= 1 else " "
            if start >= 0 and _full_name_at(text, start) == text[start:cue.start()] and (
                    not "\u4e00" <= before <= "\u9fff" or before in _NAME_LEAD):
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


def find_contact(text: str) -> tuple[str, int, int] | None:
    """(name, start, end) of the contact: an explicit 联系人 first, then the first one mentioned."""
    found = _title_forms(text) + _cued_full_names(text) + _english(text)
    if not found:
        return None
    _rank, start, name = min(found, key=lambda item: (item[0], item[1], -len(item[2])))
    return name, start, start + len(name)
