"""What a rep's message means while a lead draft is open: an addition or correction to the
draft, the answer to the question the bot asked, a new note about another customer, a short
acknowledgement, a typed confirmation, or something the bot should ask about.

`read_draft_message` is pure: the text, the draft's state (the field asked for, the fields so
far) and the extraction context in, a `Reading` out. The handler (handlers/capture.py) acts on
it."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from crm_core.extract import extract_lead_fields

Kind = Literal["update", "new_note", "chitchat", "confirm", "ask", "unclear"]
FIELDS = ("company", "contact_name", "phone", "product", "budget_cny", "timeline", "next_action", "industry")

FIELD_WORDS = {"预算": "budget_cny", "金额": "budget_cny", "电话": "phone", "手机": "phone", "手机号": "phone",
               "公司": "company", "客户": "company", "联系人": "contact_name", "产品": "product",
               "时间": "timeline", "日期": "timeline", "下一步": "next_action", "行业": "industry",
               "budget": "budget_cny", "phone": "phone", "company": "company", "contact": "contact_name",
               "product": "product", "timeline": "timeline", "industry": "industry"}
_CORRECTION_RE = re.compile(
    r"^\s*(?:把)?(?P<field>" + "|".join(sorted(FIELD_WORDS, key=len, reverse=True)) +
    r")\s*(?:改成|改为|换成|应该是|是|=|:|：|to|is)\s*(?P<value>.+?)\s*$", re.IGNORECASE)


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
    note: str | None = None                      # words to add to the draft's note instead


@dataclass(frozen=True)
class Reading:
    kind: Kind
    changes: dict[str, Any] = field(default_factory=dict)   # field → new value
    note: str | None = None                      # words to add to the draft's note
    question: str | None = None                  # kind "ask": what to ask the rep
    choices: tuple[Choice, ...] = ()             # kind "ask": the readings offered
    why: str = ""                                # which rule decided (tests, logs)


def _value(text: str, name: str, now: datetime | None, industries: dict[str, list[str]] | None) -> Any:
    found = extract_lead_fields(text, now=now, industries=industries).get(name)
    if found not in (None, ""):
        return found
    if name in ("budget_cny", "timeline", "phone"):
        return None
    return text.strip(" 。.!！,，")[:100] or None


def read_draft_message(text: str, state: DraftState, *, now: datetime | None = None,
                       industries: dict[str, list[str]] | None = None,
                       known_companies: Iterable[str] = ()) -> Reading:
    """Baseline: the reading the capture handler made before issue 14 (kept as the starting
    point the table tests were written against)."""
    correction = _CORRECTION_RE.match(text)
    if correction:
        name = FIELD_WORDS[correction["field"].lower()]
        return Reading("update", {name: _value(correction["value"], name, now, industries)}, why="correction")
    if state.awaiting:
        return Reading("update", {state.awaiting: _value(text, state.awaiting, now, industries)}, why="answer")
    return Reading("new_note", why="new")
