"""One free message → the four parts of a visit note (拜访纪要): 今日沟通主题 (topic), 客户核心诉求
(needs), 我方承诺事项 (commitments) and 下次跟进时间 (the next follow-up day). A pure function of
the text and `now`; a part it cannot find stays None and the bot asks for that part only.

The message is cut into clauses (。,;! and line breaks). A clause that starts with a part's
label (「主题:」「核心诉求是」「下次跟进时间」) belongs to that part, and unmarked clauses after it
continue it. Otherwise the clause's cue words decide, in this order: our promise (答应, 承诺,
我们会, 我方负责 …), a meeting again (下次, 再约, 再去, 回访, 约了 … with a day), the customer's
wish (关心, 希望, 需要, 要求, 担心 …), what was discussed (聊了, 沟通了, 讨论了, 演示了 …: the words
after the verb). A clause naming a day and nothing else is the next follow-up when none was
found (「周五给答复」). Days are read by crm_core/extract/timeline.py (a month means its first day)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from crm_core.extract.timeline import find_timeline_hits

PARTS = ("topic", "needs", "commitments", "next_follow_up")
PART_LABELS = {"topic": "今日沟通主题", "needs": "客户核心诉求", "commitments": "我方承诺事项",
               "next_follow_up": "下次跟进时间"}
JOIN = ";"

_CLAUSE = re.compile(r"[,，。;；!！?？\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_LEAD_WORD = re.compile(r"^\s*(?:拜访纪要|拜访记录|纪要)\s*[:：]?\s*")
_LABELS: list[tuple[str, re.Pattern[str]]] = [
    ("topic", re.compile(r"^(?:今日|今天|本次)?(?:沟通|拜访|会议|交流)?(?:主题|议题)\s*(?:[:：是为]\s*)?")),
    ("needs", re.compile(r"^(?:客户)?(?:核心)?(?:诉求|需求)\s*(?:[:：是为]\s*)?")),
    ("commitments", re.compile(r"^(?:我方|我们)?承诺(?:事项)?\s*[:：是为]\s*|^我方承诺事项\s*")),
    ("next_follow_up", re.compile(r"^下次(?:跟进|拜访|联系|沟通)?(?:时间)?\s*(?:[:：是为定在]\s*)?(?=\S)")),
]
_PROMISE = re.compile(r"答应|承诺|(?:我们|我方|我)(?:这边)?(?:会|将|负责|来|尽快)")
_AGAIN = re.compile(r"下次|再(?:去|约|聊|来|拜访|跟进|联系|沟通|电话|碰|问|看|谈|过|上门|见)|回访|约了|约好|复访")
# a clause that starts with us (「我这边周四出…」「后续我们提供…」) and is not what we discussed
_WE_DO = re.compile(r"^(?:后续|然后|之后|回头|另外|并且|同时|接下来)?(?:我们|我方|我)(?:这边)?(?!聊|沟通|讨论|谈|跟|和|与)")
_WISH = re.compile(r"关心|关注|希望|需要|要求|想要|想先|想|诉求|担心|顾虑|在意|倾向|痛点|看重|期望|期待|纠结")
_DISCUSSED = re.compile(r"(?:聊|沟通|讨论|谈|汇报|演示|介绍|跟进|交流|洽谈|商量|商谈|讲解|对接|确认|过|梳理|探讨|讲)了"
                        r"(?:一下|下|一遍|一轮)?"
                        r"(?:关于)?(?P<what>.+)")
_SUBJECT = re.compile(r"^(?:但是?|而且|另外|并且|同时|然后|主要是?)?(?:客户方?|对方|他们|他|她|甲方|王总|总)?"
                      r"(?:比较|最|主要|非常|很|特别|也|还|目前)*")
_OURS = re.compile(r"^(?:但是?|另外|并且|同时|然后)?(?:我们|我方|我)(?:这边)?(?:已经?)?")


@dataclass(frozen=True)
class VisitNote:
    topic: str | None = None
    needs: str | None = None
    commitments: str | None = None
    next_date: date | None = None
    next_said: str | None = None           # the words the next follow-up was read from

    def missing(self, wanted: list[str] | tuple[str, ...] = PARTS) -> list[str]:
        """The wanted parts still empty, in the template's order."""
        have = {"topic": self.topic, "needs": self.needs, "commitments": self.commitments,
                "next_follow_up": self.next_date}
        return [p for p in PARTS if p in wanted and not have[p]]


def _day(value: str) -> date:
    parts = [int(p) for p in value.split("-")]
    return date(parts[0], parts[1], parts[2] if len(parts) == 3 else 1)


def first_day(text: str, now: datetime) -> date | None:
    """The first day a text names (「下周三」「12月10日」「明天下午」), else None."""
    hits = find_timeline_hits(text, now)
    return _day(min(hits)[2]) if hits else None


def _tidy(text: str) -> str:
    return text.strip(" \t:：,，、.。;；")


def _wish(clause: str) -> str:
    return _tidy(_SUBJECT.sub("", clause, count=1)) or _tidy(clause)


def _promise(clause: str) -> str:
    rest = _OURS.sub("", re.sub(r"^(?:后续|然后|之后|回头|接下来)", "", clause), count=1)
    rest = re.sub(r"^(?:答应|承诺|会|将|负责|来)(?:了)?(?:客户|对方|他们|他)?", "", rest)
    return _tidy(rest) or _tidy(clause)


def read_visit_note(text: str, now: datetime) -> VisitNote:
    """The four parts of a visit note from one free message (see the module docstring)."""
    found: dict[str, list[str]] = {p: [] for p in PARTS}
    next_date: date | None = None
    next_said: str | None = None
    dated: list[tuple[str, date]] = []          # clauses naming a day and nothing else
    last_labeled: str | None = None
    for raw in _CLAUSE.split(_LEAD_WORD.sub("", text or "", count=1)):
        clause = _tidy(raw)
        if not clause:
            continue
        part = None
        for name, pattern in _LABELS:
            m = pattern.match(clause)
            if m and clause[m.end():].strip():
                part, clause = name, _tidy(clause[m.end():])
                break
        if part is not None:
            last_labeled = part
        elif _PROMISE.search(clause) or (_WE_DO.match(clause) and not _DISCUSSED.search(clause)):
            part, clause = "commitments", _promise(clause)
        elif _AGAIN.search(clause) and (first_day(clause, now) or "下次" in clause):
            part = "next_follow_up"
        elif _WISH.search(clause):
            part, clause = "needs", _wish(clause)
        elif (m := _DISCUSSED.search(clause)) is not None:
            part, clause = "topic", _tidy(m.group("what"))
        elif last_labeled is not None:
            part = last_labeled
        else:
            day = first_day(clause, now)
            if day is not None:
                dated.append((clause, day))
            continue
        if part == "next_follow_up":
            day = first_day(clause, now)
            if next_date is None and day is not None:
                next_date, next_said = day, clause
            elif next_said is None:
                next_said = clause
            continue
        if clause:
            found[part].append(clause)
    if next_date is None and dated:
        next_said, next_date = dated[0]

    def joined(part: str) -> str | None:
        return JOIN.join(dict.fromkeys(found[part]))[:500] or None

    return VisitNote(topic=joined("topic"), needs=joined("needs"), commitments=joined("commitments"),
                     next_date=next_date, next_said=next_said)
