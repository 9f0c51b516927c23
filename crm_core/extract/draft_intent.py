"""What a rep's message means while a lead draft is open: an addition or correction to the
draft, the answer to the question the bot asked, a new note about another customer, a short
acknowledgement, a typed confirmation, or something the bot should ask about.

`read_draft_message` is pure: the text, the draft's state (the field asked for, the fields so
far) and the extraction context in, a `Reading` out; handlers/capture.py acts on it.

Order of the rules (first match wins): acknowledgements (好的、谢谢、👍) and typed confirmations
(确认、没问题,保存吧); a field named with a change (「预算改成80万」「联系人是王工」「预算不是300万是250万」
「公司叫星辰」); 「不是CRM,是ERP」 (the field whose value is named); a change verb (「演示改到周五」
「改成下周五」, a week word on the left carried over: 「下周三…改到周五」 is 下周五); then the fields the
extractor finds. A message is another customer's note when it names a different company, or a
different contact with what they want, or opens with 「记录」「新客户」 and is not about this
customer. It is the company only when the extractor reads one (suffix, cue, a known customer,
a brand, segmentation) or, while the company is asked for, when it is a bare name (「杭州优品」
「是杭州优品的」). A bare person's name, a bare word while the card shows, or a different contact
are asked about. Anything else with words in it is a remark added to the draft's note.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from crm_core.extract import extract_lead_fields
from crm_core.extract.gazetteer import COMPOUND_SURNAMES, SURNAMES
from crm_core.extract.segment import segment
from crm_core.normalize import normalize_company

Kind = Literal["update", "new_note", "chitchat", "confirm", "ask", "unclear"]
FIELDS = ("company", "contact_name", "phone", "product", "budget_cny", "timeline", "next_action", "industry")
PARSED = ("budget_cny", "timeline", "phone")          # must parse; free text is not a budget
MEANINGFUL = ("company", "contact_name", "phone", "product", "budget_cny")

FIELD_WORDS = {"预算": "budget_cny", "金额": "budget_cny", "报价": "budget_cny",
               "电话": "phone", "手机": "phone", "手机号": "phone", "手机号码": "phone", "联系电话": "phone",
               "电话号码": "phone", "号码": "phone",
               "公司": "company", "客户": "company", "公司名": "company", "公司名称": "company", "客户名称": "company",
               "单位": "company", "客户公司": "company",
               "联系人": "contact_name", "对接人": "contact_name", "负责人": "contact_name", "联系人姓名": "contact_name",
               "产品": "product", "需求": "product",
               "时间": "timeline", "日期": "timeline", "日子": "timeline",
               "下一步": "next_action", "行业": "industry",
               "budget": "budget_cny", "phone": "phone", "company": "company", "contact": "contact_name",
               "product": "product", "timeline": "timeline", "industry": "industry"}
_FIELD_ALT = "|".join(map(re.escape, sorted(FIELD_WORDS, key=len, reverse=True)))
_SET_VERBS = r"改成|改为|改到|换成|换为|更正为|更改为|应该是|应为|其实是|实际是|推迟到|推到|提前到|延到|延期到|挪到|调到|叫做|叫|是|为|=|:|to|is"
_EXPLICIT_RE = re.compile(
    rf"^(?:把|将)?(?:客户的?|他们的?|对方的?)?(?P<field>{_FIELD_ALT})(?:的)?\s*"
    rf"(?:不是\s*(?P<old>.+?)\s*[,，]?\s*(?:而)?是|(?:{_SET_VERBS}))\s*(?P<value>.+?)\s*$", re.IGNORECASE)
_NOT_BUT_RE = re.compile(r"^(?:不对[,，]?\s*)?不是\s*(?P<old>.+?)\s*[,，]?\s*(?:而)?是\s*(?P<value>.+?)\s*$")
_CHANGE_RE = re.compile(r"改成|改为|改到|换成|换为|更正为|推迟到|推到|提前到|延到|延期到|挪到|调到|改在")
_WEEK_PREFIX_RE = re.compile(r"(下下|下|这|本)\s*(?:个)?(?=周|星期|礼拜)")
_BARE_WEEKDAY_RE = re.compile(r"^(?:周|星期|礼拜)[一二三四五六日天]")
_ADD_RE = re.compile(r"^(?:再?补充(?:一下|一点|下)?|另外|还有|对了|顺便说(?:一下)?|忘了说|再说一下)\s*[:：,，、\s]*")
_NEW_RE = re.compile(r"^(?:记录(?:一下)?|记一下|新建|新客户|新线索|新的客户|另(?:外)?一个客户|另一家|还有(?:一)?个客户|"
                     r"又(?:一)?个客户|再记(?:一)?个|下一个客户)\s*[:：,，、\s]*")
_ALSO_RE = re.compile(r"还|也|另外|再|以及|加上|同时")
_ACKS = {"好", "好的", "好滴", "好嘞", "好哒", "嗯", "嗯嗯", "恩", "哦", "哦哦", "噢", "行", "行的", "可以", "收到", "收到了",
         "谢谢", "谢谢你", "多谢", "谢了", "感谢", "辛苦", "辛苦了", "辛苦啦", "明白", "明白了", "知道了", "了解", "好的谢谢",
         "没问题", "稍等", "等一下", "等等", "哈哈", "哈哈哈", "嗯好", "对", "对的", "是的", "ok", "okay", "k", "thanks",
         "thank you", "thx", "got it", "fine", "嗯嗯好的", "在吗", "你好", "您好"}
_CONFIRM_RE = re.compile(r"^(?:(?:没问题|没错|对的?|好的?|可以|行|嗯)[,，\s]*)?(?:就这样|帮我)?[,，\s]*"
                         r"(?:确认|保存|提交|确定|存一下|存吧|建吧)(?:无误|保存|一下|了|吧|啦)*$")
_PUNCT_RE = re.compile(r"[\s,.;:!?，。；：！？、~～…·\"'“”‘’()（）]+")
_SYMBOLS_ONLY_RE = re.compile(r"^[\W_]+$")
_ANSWER_TRIM_RE = re.compile(r"^(?:就是|是|应该是|客户是|公司是|公司叫|叫|在)\s*|\s*(?:的|吧|啊|呀|哈|那家|这家|公司的)$")
_DONT_KNOW_RE = re.compile(r"^(?:还?不知道|不清楚|不确定|没问|忘了问?|待定|未知|不详|暂时不知道|回头再问)$")
_PERSON_RE = re.compile(r"^(?:老|小)[\u4e00-\u9fff]$")
_TITLE_END_RE = re.compile(r"(?:总|经理|主任|老师|工|老板|科长|处长|院长|局长|部长|主管|总监|女士|先生|小姐|姐|哥)$")


@dataclass(frozen=True)
class DraftState:
    """What the reader needs to know of the open draft."""
    awaiting: str | None = None                  # the field the bot asked for
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    """One way to read an ambiguous message (a button on the question card)."""
    label: str
    changes: dict[str, Any] = field(default_factory=dict)
    note: str | None = None                      # words to add to the draft's note
    new_note: bool = False                       # it is about another customer


@dataclass(frozen=True)
class Reading:
    kind: Kind
    changes: dict[str, Any] = field(default_factory=dict)   # field → new value
    note: str | None = None                      # words to add to the draft's note
    question: str | None = None                  # kind "ask" / "unclear": what to ask the rep
    choices: tuple[Choice, ...] = ()             # kind "ask": the readings offered
    why: str = ""                                # which rule decided (tests, logs)


@dataclass(frozen=True)
class _Ctx:
    state: DraftState
    now: datetime | None
    industries: dict[str, list[str]] | None
    known: tuple[str, ...]

    def extract(self, text: str) -> dict[str, Any]:
        found = extract_lead_fields(text, now=self.now, industries=self.industries, known_companies=self.known or None)
        if found.get("company") and not _company_ok(found["company"]) and found["company"] not in self.known:
            found["company"] = None
        return {k: v for k, v in found.items() if v not in (None, "")}

    def current(self, name: str) -> Any:
        value = self.state.fields.get(name)
        return None if value in (None, "") else value


def field_value(text: str, name: str, *, now: datetime | None = None,
                industries: dict[str, list[str]] | None = None, known_companies: Iterable[str] = ()) -> Any:
    """One field's value from a short answer: numbers, phones and dates parsed (None when they do
    not parse), names taken as said."""
    found = extract_lead_fields(text, now=now, industries=industries,
                                known_companies=tuple(known_companies) or None).get(name)
    if found not in (None, ""):
        return found
    if name in PARSED:
        return None
    cleaned = _ANSWER_TRIM_RE.sub("", text.strip(" 。.!！,，「」\"“”")).strip()
    return cleaned[:100] or None


def is_acknowledgement(text: str) -> bool:
    """「好的」「谢谢」「👍」「好的,谢谢」: nothing to act on."""
    t = text.strip().lower()
    if not t or _SYMBOLS_ONLY_RE.match(t):
        return True
    parts = [p for p in _PUNCT_RE.split(t) if p]
    return bool(parts) and all(p in _ACKS or _SYMBOLS_ONLY_RE.match(p) for p in parts)


def _company_ok(name: str) -> bool:
    """「做跨境电商」 read as a name after 「他们是」: a name does not open with a verb."""
    words = segment(name).tokens
    return not (words and words[0].known and words[0].tag.startswith("v") and len(words[0].word) == 1)


def _same_company(a: str, b: str) -> bool:
    ka, kb = normalize_company(a), normalize_company(b)
    return bool(ka and kb) and (ka == kb or ka in kb or kb in ka)


def _same_contact(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a == b or a in b or b in a:
        return True
    return bool(a and b) and a[0] == b[0] and _TITLE_END_RE.sub("", a) == _TITLE_END_RE.sub("", b) == a[0]


def _person_like(text: str) -> bool:
    """A bare person's name (「李明」「欧阳娜娜」「老王」「王总」), not a company or a word."""
    if _PERSON_RE.match(text) or (_TITLE_END_RE.search(text) and len(text) <= 5 and text[0] in SURNAMES):
        return True
    if not 2 <= len(text) <= 4 or not re.fullmatch(r"[\u4e00-\u9fff]+", text):
        return False
    surname = next((s for s in COMPOUND_SURNAMES if text.startswith(s)), text[0] if text[0] in SURNAMES else "")
    if not surname or len(text) - len(surname) not in (1, 2):
        return False
    words = segment(text).tokens
    if len(words) == 1 and words[0].known and not words[0].tag.startswith("nr"):
        return False                              # a dictionary word: 星辰, 高山
    return not any(w.tag in ("ns", "nt", "nz") and len(w.word) == len(text) for w in words)


def _name_like(text: str) -> bool:
    """Could be an organisation's name said on its own: short, no verb, pronoun or number."""
    if not 2 <= len(text) <= 30 or re.search(r"[,，。;；!！?？/#@]", text) or not re.search(r"[\u4e00-\u9fffA-Za-z]", text):
        return False
    # 「算了」「回头说」「稍后」: a verb, pronoun, time word, adverb … is no organisation's name
    return not any(w.known and w.tag.startswith(("v", "r", "t", "d", "p", "c", "u", "y", "e", "m"))
                   for w in segment(text).tokens)


def _merge_product(old: Any, new: str) -> str:
    if not old or new in str(old):
        return str(old or new)
    return f"{old}、{new}"[:100]


def _carry_week(left: str, value: str) -> str:
    """「下周三演示改到周五」: the week of the left side goes with a bare weekday."""
    prefix = _WEEK_PREFIX_RE.search(left)
    if prefix and _BARE_WEEKDAY_RE.match(value):
        return prefix.group(1) + value
    return value


def _explicit(c: _Ctx, body: str) -> Reading | None:
    m = _EXPLICIT_RE.match(body)
    if not m:
        return None
    name = FIELD_WORDS[m["field"].lower()]
    value_text = m["value"]
    if name == "timeline":
        value_text = _carry_week(body[:m.start("value")], value_text)
    value = field_value(value_text, name, now=c.now, industries=c.industries, known_companies=c.known)
    if value is None:
        return Reading("unclear", question=name, why="explicit-unparsed")
    changes: dict[str, Any] = {name: value}
    if name == "company":
        industry = c.extract(value).get("industry")
        if industry and not c.current("industry"):
            changes["industry"] = industry
    return Reading("update", changes, why="explicit")


def _not_but(c: _Ctx, body: str) -> Reading | None:
    m = _NOT_BUT_RE.match(body)
    if not m:
        return None
    old, new = m["old"].strip(" 「」"), m["value"]
    for name in FIELDS:
        cur = c.current(name)
        if cur is not None and old and (old in str(cur) or str(cur) in old):
            value = field_value(new, name, now=c.now, industries=c.industries, known_companies=c.known)
            if value is not None:
                return Reading("update", {name: value}, why="not-but")
    found = c.extract(m["old"])
    for name in found:
        value = c.extract(new).get(name) or (None if name in PARSED else field_value(new, name))
        if value is not None:
            return Reading("update", {name: value}, why="not-but-extracted")
    return None


def _change(c: _Ctx, body: str, note: str | None) -> Reading | None:
    m = _CHANGE_RE.search(body)
    if not m:
        return None
    left, value = body[:m.start()].strip(), body[m.end():].strip(" 。.!！")
    if not value:
        return None
    value = _carry_week(left, value)
    found = c.extract(value)
    found.pop("industry", None)
    if not left or "company" not in found or any(w in left for w in ("公司", "客户")):
        pass
    else:
        found.pop("company")
    if found:
        return Reading("update", found, note=note, why="change-value")
    on_left = [k for k in c.extract(left) if k != "industry"] if left else []
    if len(on_left) == 1 and on_left[0] not in PARSED:
        return Reading("update", {on_left[0]: value[:100]}, note=note, why="change-left")
    return None


def _without_unchanged(c: _Ctx, found: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if v != c.current(k)}


def _is_other_customer(c: _Ctx, found: dict[str, Any], cue: bool) -> bool:
    company, contact = found.get("company"), found.get("contact_name")
    cur_company, cur_contact = c.current("company"), c.current("contact_name")
    wants = any(found.get(k) for k in ("product", "budget_cny"))
    if company and cur_company:
        if _same_company(company, cur_company):
            return False
        return cue or bool(contact) or wants
    if company and contact and cur_contact and not _same_contact(contact, cur_contact):
        return True                              # another person at a company: another customer
    if cue and contact and cur_contact and not _same_contact(contact, cur_contact) and wants:
        return True
    return cue and bool(company or (contact and wants)) and not cur_contact and not cur_company


def _fields_update(c: _Ctx, body: str, found: dict[str, Any], note: str | None, *, answering: bool) -> Reading:
    changes = _without_unchanged(c, found)
    if "industry" in changes and c.current("industry"):
        changes.pop("industry")
    product = changes.get("product")
    if product and c.current("product") and _ALSO_RE.search(body):
        changes["product"] = _merge_product(c.current("product"), product)
    contact, cur_contact = changes.get("contact_name"), c.current("contact_name")
    if contact and cur_contact and not _same_contact(contact, cur_contact):
        rest = {k: v for k, v in changes.items() if k != "contact_name"}
        return Reading("ask", question=f"「{contact}」要换掉现在的联系人「{cur_contact}」吗?", why="contact-conflict",
                       choices=(Choice(f"联系人改为{contact}", changes, note=note),
                                Choice(f"仍是{cur_contact}，只记备注", {k: v for k, v in rest.items() if k != "phone"},
                                       note=body)))
    company, cur_company = changes.get("company"), c.current("company")
    if company and cur_company and not answering:
        rest = {k: v for k, v in changes.items() if k not in ("company", "industry")}
        if not rest:
            return Reading("ask", question=f"要把公司从「{cur_company}」改成「{company}」吗?", why="company-change",
                           choices=(Choice(f"公司改为{company}", changes),
                                    Choice("这是另一个客户", new_note=True), Choice("不改，记到备注", note=body)))
    if not changes:
        return Reading("update", note=note or body, why="same-values")
    return Reading("update", changes, note=note, why="fields")


def _bare(c: _Ctx, body: str, addition: bool) -> Reading:
    """A message the extractor found nothing in."""
    awaiting = c.state.awaiting
    answer = _ANSWER_TRIM_RE.sub("", body.strip(" 。.!！「」\"“”")).strip()
    if awaiting and _DONT_KNOW_RE.match(answer):
        return Reading("unclear", question=awaiting, why="dont-know")
    if not addition and _person_like(answer):
        options: tuple[Choice, ...] = (Choice(f"联系人：{answer}", {"contact_name": answer}),
                                       Choice(f"公司：{answer}", {"company": answer}))
        return Reading("ask", question=f"「{answer}」是联系人还是公司?", choices=options, why="person-or-company")
    if not addition and _name_like(answer):
        if awaiting == "company":
            return Reading("update", {"company": answer[:100]}, why="answer-name")
        if awaiting:
            return Reading("update", {awaiting: answer[:100]}, why="answer-free")
        options = (Choice(f"公司：{answer}", {"company": answer}), Choice(f"产品：{answer}", {"product": answer}),
                   Choice(f"联系人：{answer}", {"contact_name": answer}), Choice("记到备注", note=body))
        return Reading("ask", question=f"「{answer}」要记到哪一项?", choices=options, why="bare-word")
    return Reading("update", note=body, why="remark")


def read_draft_message(text: str, state: DraftState, *, now: datetime | None = None,
                       industries: dict[str, list[str]] | None = None,
                       known_companies: Iterable[str] = ()) -> Reading:
    """How a message sent while a draft is open reads (see the module docstring)."""
    c = _Ctx(state, now, industries, tuple(known_companies))
    raw = text.strip()
    if is_acknowledgement(raw):
        return Reading("chitchat", why="ack")
    if _CONFIRM_RE.match(_PUNCT_RE.sub("", raw)):
        return Reading("confirm", why="confirm")
    body, cue = raw, False
    new = _NEW_RE.match(body)
    if new and new.end() < len(body):
        body, cue = body[new.end():], True
    add = _ADD_RE.match(body)
    addition = bool(add and add.end() < len(body))
    if add and addition:
        body = body[add.end():]
    note = body if addition else None
    for rule in (_explicit(c, body), _not_but(c, body)):
        if rule is not None:
            return rule
    found = c.extract(body)
    if _is_other_customer(c, found, cue):
        return Reading("new_note", why="other-customer")
    changed = _change(c, body, note)
    if changed is not None:
        return changed
    if state.awaiting and state.awaiting != "company" and found.get(state.awaiting) is None:
        value = field_value(body, state.awaiting, now=now, industries=industries) if state.awaiting in PARSED else None
        if value is not None:
            found[state.awaiting] = value
    if any(k in found for k in FIELDS if k != "industry"):
        pure_answer = state.awaiting is not None and set(found) - {"industry"} == {state.awaiting}
        return _fields_update(c, body, found, None if pure_answer and not addition else body,
                              answering=state.awaiting == "company")
    return _bare(c, body, addition)
