"""Changing a saved lead: any field of the lead, its contact or its customer's name, from chat
(「#12 电话改成13900001111」, the 修改 button) and from `PATCH /api/v1/leads/<id>` — one service
for both. Values are validated first (`LeadPatch`: a bad phone, amount, date or e-mail is
refused with the reason and nothing is written); the policy (crm_core/authz.py,
Action.EDIT_LEAD) decides who may; each edit is an activity and an audit row (phones masked);
afterwards the stage gate is re-evaluated, so the rep learns whether the lead may now move.

An edit is bookkeeping, not contact with the customer: it does not re-arm the stage fuse."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.authz import Action, Principal, decide
from crm_core.config.schema import AppConfig, Stage
from crm_core.db.models import Activity, Contact, Customer, Lead, MatchKey
from crm_core.extract import extract_lead_fields
from crm_core.extract.budget import find_budget
from crm_core.normalize import mask_phone, normalize_company
from crm_core.services.access import lead_facts
from crm_core.services.capture import index_contact
from crm_core.services.lead_input import TIMELINE_RE, checked_email, checked_phone, checked_timeline
from crm_core.services.stages import check_items, gate_items, label

Where = Literal["lead", "contact", "customer"]

# field → (label people see, where it lives, column there)
FIELDS: dict[str, tuple[str, Where, str]] = {
    "company": ("公司名称", "customer", "name"),
    "contact_name": ("联系人", "contact", "name"),
    "contact_title": ("联系人职务", "contact", "title"),
    "phone": ("电话", "contact", "phone"),
    "email": ("邮箱", "contact", "email"),
    "wechat_id": ("微信", "contact", "wechat_id"),
    "title": ("线索名称", "lead", "title"),
    "product": ("产品", "lead", "product"),
    "budget_cny": ("预算", "lead", "budget_cny"),
    "timeline": ("时间计划", "lead", "timeline"),
    "next_action": ("下一步", "lead", "next_action"),
    "industry": ("行业", "lead", "industry"),
    "region": ("地区", "lead", "region"),
}
REQUIRED = frozenset({"company", "title"})      # may be changed, never emptied
CLEAR_WORDS = frozenset({"无", "空", "清空", "删除", "没有", "-", "—"})


class EditError(ValueError):
    """An edit that did not happen; `str()` is the Chinese sentence for the person."""


class LeadNotFound(EditError):
    pass


class EditRefused(EditError):
    pass


class InvalidEdit(EditError):
    """Bad values: `fields` maps each field to its reason (English / 中文, as the API shows)."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__(";".join(f"{FIELDS[f][0] if f in FIELDS else f}:{zh(why)}" for f, why in fields.items()))


def zh(reason: str) -> str:
    """The Chinese half of an "English / 中文" reason."""
    return reason.split(" / ", 1)[1] if " / " in reason else reason


class LeadPatch(BaseModel):
    """The fields an edit may set (all optional; null clears an optional field)."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    company: str | None = Field(None, min_length=1, max_length=200)
    contact_name: str | None = Field(None, max_length=100)
    contact_title: str | None = Field(None, max_length=50)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    wechat_id: str | None = Field(None, max_length=100)
    title: str | None = Field(None, min_length=1, max_length=200)
    product: str | None = Field(None, max_length=100)
    budget_cny: int | None = Field(None, ge=0, le=10**13)
    timeline: str | None = None
    next_action: str | None = Field(None, max_length=50)
    industry: str | None = Field(None, max_length=50)
    region: str | None = Field(None, max_length=50)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return checked_phone(v, "not a valid phone number / 「{v}」不是有效的电话号码,请写 11 位手机号或带区号的座机")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return checked_email(v, "not a valid e-mail address / 「{v}」不是有效的邮箱")

    @field_validator("timeline")
    @classmethod
    def _timeline(cls, v: str | None) -> str | None:
        return checked_timeline(v, "timeline must be YYYY-MM or YYYY-MM-DD / 时间要写成 2026-03 或 2026-03-15")


_REASONS = {"greater_than_equal": "must not be negative / 不能是负数",
            "less_than_equal": "is too large / 数值太大", "int_type": "must be a whole number / 必须是整数",
            "int_parsing": "must be a whole number / 必须是整数", "string_type": "must be text / 必须是文字",
            "string_too_long": "is too long / 太长了", "string_too_short": "must not be empty / 不能为空",
            "extra_forbidden": "cannot be changed here / 不能在这里修改"}


def validate_patch(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The typed changes, or InvalidEdit naming each bad field; only the keys given count."""
    if not raw:
        raise InvalidEdit({"body": "nothing to change / 没有要修改的内容"})
    try:
        patch = LeadPatch.model_validate(dict(raw))
    except ValidationError as err:
        fields: dict[str, str] = {}
        for e in err.errors():
            name = str(e["loc"][0]) if e["loc"] else "body"
            msg = _REASONS.get(e["type"], e["msg"].removeprefix("Value error, "))
            fields.setdefault(name, msg)
        raise InvalidEdit(fields) from None
    out = {k: getattr(patch, k) for k in raw}
    empty = sorted(k for k in REQUIRED & set(out) if out[k] in (None, ""))
    if empty:
        raise InvalidEdit({k: "must not be empty / 不能为空" for k in empty})
    return out


def parse_value(field: str, text: str, now: datetime | None = None) -> Any:
    """A value as a rep types it in chat ("80万", "下周三", "139-0000-1111") → the typed value
    `validate_patch` takes; InvalidEdit when it cannot be read."""
    label_ = FIELDS[field][0]
    raw = text.strip().strip("。.!！,，;；「」\"'")
    if raw in CLEAR_WORDS:
        if field in REQUIRED:
            raise InvalidEdit({field: "must not be empty / 不能为空"})
        return None
    if field == "budget_cny":
        amount = find_budget(raw if re.search(r"预算|金额", raw) else f"预算{raw}")
        if amount is None:
            raise InvalidEdit({field: f"not an amount / 「{raw}」不是有效的金额,请写成 80万 或 800000"})
        return amount
    if field == "timeline":
        if TIMELINE_RE.match(raw):
            return raw
        found = extract_lead_fields(raw, now=now).get("timeline")
        if not found:
            raise InvalidEdit({field: f"not a date / 「{raw}」看不出是哪天,请写成 3月15日、下周三 或 2026-03"})
        return found
    if not raw:
        raise InvalidEdit({field: f"empty / 请写出新的{label_}"})
    return raw


def customer_leads(session: Session, customer_id: int, limit: int = 10,
                   open_only: bool = False) -> list[tuple[int, str]]:
    """(id, title) of a customer's leads, open ones first: to ask which one a rep meant."""
    q = select(Lead.id, Lead.title).where(Lead.customer_id == customer_id)
    if open_only:
        q = q.where(Lead.status == "open")
    rows = session.execute(q.order_by(Lead.status != "open", Lead.id.desc()).limit(limit))
    return [(lead_id, title) for lead_id, title in rows]


# ---- the stage gate after an edit ---------------------------------------------------------------

@dataclass(frozen=True)
class GateState:
    stage_name: str
    next_stage: str | None          # the next open stage's name (None at the end of the funnel)
    missing: tuple[str, ...]        # labels of what that move still needs

    @property
    def ready(self) -> bool:
        return self.next_stage is not None and not self.missing


def _next_stage(cfg: AppConfig, key: str) -> Stage | None:
    stages = cfg.funnel.stages
    keys = [s.key for s in stages]
    if key not in keys:
        return None
    return next((s for s in stages[keys.index(key) + 1:] if s.outcome is None), None)


def gate_state(session: Session, cfg: AppConfig, lead: Lead) -> GateState | None:
    """What the lead's move to the next stage needs now (None for a closed lead)."""
    stage = cfg.funnel.stage(lead.stage)
    if lead.status != "open" or stage is None:
        return None
    target = _next_stage(cfg, lead.stage)
    if target is None:
        return GateState(stage.name, None, ())
    missing, invalid = check_items(session, cfg, lead, gate_items(cfg, lead.stage, target.key), lead.details or {})
    return GateState(stage.name, target.name, tuple(label(k) for k in [*missing, *invalid]))


# ---- the edit ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    field: str
    label: str
    old: Any
    new: Any

    def shown(self, value: Any) -> str:
        """For activity text and audit: phones masked, amounts in 万."""
        if value in (None, ""):
            return "—"
        if self.field == "phone":
            return mask_phone(str(value))
        if self.field == "budget_cny" and isinstance(value, int):
            return f"¥{value / 10000:g}万" if value >= 10000 else f"¥{value}"
        return str(value)

    @property
    def line(self) -> str:
        return f"{self.label}:{self.shown(self.old)} → {self.shown(self.new)}"


@dataclass(frozen=True)
class EditResult:
    lead_id: int
    title: str
    changes: tuple[Change, ...]
    gate: GateState | None


def _contact(session: Session, lead: Lead, customer: Customer, now: datetime) -> Contact:
    """The lead's contact; a lead saved without one gets one on its customer."""
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    if contact is None:
        contact = Contact(customer_id=customer.id, source="edit", created_at=now)
        session.add(contact)
        session.flush()
        lead.contact_id = contact.id
    return contact


def _reindex(session: Session, customer: Customer, contacts: list[Contact]) -> None:
    """Fresh duplicate-check keys for contacts whose phone, name or company changed."""
    session.flush()
    for contact in contacts:
        session.execute(delete(MatchKey).where(MatchKey.contact_id == contact.id))
        index_contact(session, customer, contact)


def _derived_title(company: str | None, product: str | None) -> str:
    who = company or "新客户"
    return f"{who} · {product}" if product else who


def edit_lead(session: Session, cfg: AppConfig, who: Principal, lead_id: int, raw: Mapping[str, Any], *,
              actor: str, platform: str | None, now: datetime) -> EditResult:
    """Validate, ask the policy, write, record; raises an EditError (nothing written) otherwise."""
    changes = validate_patch(raw)
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise LeadNotFound(f"没有找到线索#{lead_id}。")
    verdict = decide(cfg, who, Action.EDIT_LEAD, lead_facts(lead))
    if not verdict:
        raise EditRefused(verdict.reason)
    customer = session.get_one(Customer, lead.customer_id)
    old_title = _derived_title(customer.name, lead.product)
    done: list[Change] = []
    touched: list[Contact] = []
    for name, value in changes.items():
        label_, where, column = FIELDS[name]
        row: Lead | Contact | Customer
        if where == "lead":
            row = lead
        elif where == "customer":
            row = customer
        else:
            row = _contact(session, lead, customer, now)
        old = getattr(row, column)
        if old == value:
            continue
        setattr(row, column, value)
        done.append(Change(name, label_, old, value))
        if isinstance(row, Contact):
            if name == "phone":
                row.phones = [value] if value else []
            touched.append(row)
        elif name == "company":
            customer.company_key = normalize_company(value)
            customer.updated_at = now
            touched += list(session.scalars(select(Contact).where(Contact.customer_id == customer.id)))
    if any(c.field in ("company", "product") for c in done) and "title" not in changes \
            and lead.title == old_title:
        lead.title = _derived_title(customer.name, lead.product)[:200]
    if touched:
        _reindex(session, customer, list({c.id: c for c in touched}.values()))
    if done:
        _record(session, lead, done, actor, platform, now)
    session.flush()
    return EditResult(lead.id, lead.title, tuple(done), gate_state(session, cfg, lead))


def _record(session: Session, lead: Lead, done: list[Change], actor: str, platform: str | None,
            now: datetime) -> None:
    detail = {c.field: {"from": c.shown(c.old), "to": c.shown(c.new)} for c in done}
    session.add(Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="edit", actor=actor,
                         platform=platform, created_at=now, text="修改:" + ";".join(c.line for c in done),
                         data={"fields": sorted(detail)}))
    lead.updated_at = now
    audit.record(session, actor, "lead.edit", platform=platform, target_type="lead", target_id=lead.id,
                 detail=detail, now=now)
