"""Numbers that say what they are. Customers, leads and to-dos are numbered separately, so a
bare "3" could be any of them; everything a rep sees and types carries its kind:

    客户C3   (a customer; typed C3, c3, 客户3, 客户#3, 客户C3)
    线索#12  (a lead; typed #12, 12, 线索12, 线索#12, L12 — "#" alone stays a lead, as before)
    待办T5   (a to-do; typed T5, t5, 待办5, 待办T5)

`parse_ref` reads one reference at the start of a text and returns the rest; `show_*` give
the display forms. Pure functions, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RefKind = Literal["customer", "lead", "task"]
LABEL: dict[RefKind, str] = {"customer": "客户", "lead": "线索", "task": "待办"}

_REF = re.compile(
    r"^\s*(?:"
    r"(?P<cust>客户\s*[#＃]?\s*[Cc]?|[Cc](?=\d))"
    r"|(?P<task>待办\s*[#＃]?\s*[Tt]?|[Tt](?=\d))"
    r"|(?P<lead>线索\s*[#＃]?|[#＃]|[Ll](?=\d))"
    r")?\s*(?P<num>\d{1,9})(?![\d.])\s*(?P<rest>.*)$", re.S)


@dataclass(frozen=True)
class Ref:
    kind: RefKind
    id: int
    form: Literal["word", "hash", "bare"]   # 线索12 / C3 / L12, "#12", or a bare "12"

    @property
    def explicit(self) -> bool:
        """The kind was written as a word or letter (C3, 线索12, T5), not just "#" or a number."""
        return self.form == "word"

    @property
    def label(self) -> str:
        return show(self.kind, self.id)


def parse_ref(text: str, default: RefKind = "lead") -> tuple[Ref, str] | None:
    """The reference a text starts with and the rest of the text, else None. A bare number is
    `default` (a lead, for every lead command since the beginning)."""
    m = _REF.match(text or "")
    if not m:
        return None
    kind: RefKind = "customer" if m.group("cust") else "task" if m.group("task") else "lead" \
        if m.group("lead") else default
    marker = m.group("cust") or m.group("task") or m.group("lead") or ""
    form: Literal["word", "hash", "bare"] = "bare" if not marker else "hash" if marker in "#＃" else "word"
    return Ref(kind, int(m.group("num")), form), m.group("rest").strip()


def show_customer(customer_id: int) -> str:
    return f"客户C{customer_id}"


def show_lead(lead_id: int) -> str:
    return f"线索#{lead_id}"


def show_task(task_id: int) -> str:
    return f"待办T{task_id}"


def show(kind: RefKind, number: int) -> str:
    return {"customer": show_customer, "lead": show_lead, "task": show_task}[kind](number)


def short(kind: RefKind, number: int) -> str:
    """What to type: C3, #12, T5."""
    return {"customer": f"C{number}", "lead": f"#{number}", "task": f"T{number}"}[kind]


# ---- approvals (审批A3; typed A3, a3, 审批3, 审批A3) ------------------------------------------
_APPROVAL_REF = re.compile(r"^\s*(?:审批\s*[#＃]?\s*[AaＡａ]?|[AaＡａ](?=\s*\d))\s*(?P<num>\d{1,9})(?![\d.])\s*(?P<rest>.*)$", re.S)


def show_approval(approval_id: int) -> str:
    return f"审批A{approval_id}"


def parse_approval_ref(text: str) -> tuple[int, str] | None:
    """The approval a text starts with (A3, 审批A3, 审批3) and the rest, else None."""
    m = _APPROVAL_REF.match(text or "")
    return (int(m.group("num")), m.group("rest").strip()) if m else None
