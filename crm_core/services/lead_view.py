"""Read models for a rep looking at leads in chat: their open leads (我的线索) and one lead
in detail (查线索 #12). Plain frozen dataclasses, so nothing outside the unit of work
touches a row."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.authz import LeadFacts
from crm_core.db.models import Activity, Contact, Customer, Lead, Task
from crm_core.visibility import Viewer, out_of_scope


@dataclass(frozen=True)
class LeadLine:
    id: int
    title: str
    customer: str
    stage: str
    fuse_deadline: datetime | None


@dataclass(frozen=True)
class ContactLine:
    name: str | None
    title: str | None
    phone: str | None


@dataclass(frozen=True)
class TodoLine:
    title: str
    due_date: date | None
    id: int = 0                     # 0: unknown (older callers); shown as T{id} so 「完成 T3」 can name it


@dataclass(frozen=True)
class ActivityLine:
    kind: str
    text: str | None
    at: datetime


@dataclass(frozen=True)
class LeadDetail:
    id: int
    title: str
    status: str
    stage: str
    owner_rep_id: str | None
    team_id: str | None
    customer: str
    product: str | None
    budget_cny: int | None
    timeline: str | None
    fuse_deadline: datetime | None
    contacts: tuple[ContactLine, ...]
    todos: tuple[TodoLine, ...]
    activities: tuple[ActivityLine, ...]
    pain_points: str | None = None
    # as the viewer may see it (crm_core/visibility.py): fields left out, masked text of the others
    hidden: frozenset[str] = frozenset()
    masked: Mapping[str, str] = field(default_factory=dict)

    def shown(self, name: str, text: str) -> str | None:
        """A field's text for the viewer: `text` when visible, its mask, or None when hidden."""
        return None if name in self.hidden else self.masked.get(name, text)


def open_leads_of(s: Session, rep_id: str, limit: int = 20) -> list[LeadLine]:
    """The rep's open leads, the nearest stage deadline first (none last)."""
    rows = s.execute(select(Lead, Customer.name).join(Customer, Customer.id == Lead.customer_id)
                     .where(Lead.owner_rep_id == rep_id, Lead.status == "open")
                     .order_by(Lead.fuse_deadline.is_(None), Lead.fuse_deadline, Lead.id).limit(limit))
    return [LeadLine(lead.id, lead.title, name, lead.stage, lead.fuse_deadline) for lead, name in rows]


def lead_detail(s: Session, lead_id: int, activities: int = 3, viewer: Viewer | None = None) -> LeadDetail | None:
    """One lead with its customer, contacts, open to-dos and latest activities; as `viewer` may
    see it when given (NotInScope outside their rows; phones, notes, amounts by their fields)."""
    lead = s.get(Lead, lead_id)
    if lead is None:
        return None
    facts = LeadFacts(id=lead.id, owner=lead.owner_rep_id, team_id=lead.team_id, status=lead.status)
    if viewer is not None and not viewer.scope.lead(facts):
        raise out_of_scope("线索", f" #{lead.id}")
    customer = s.get_one(Customer, lead.customer_id)
    contacts = s.scalars(select(Contact).where(Contact.customer_id == customer.id, Contact.is_alias.is_(False))
                         .order_by(Contact.id))
    todos = s.scalars(select(Task).where(Task.lead_id == lead.id, Task.status == "open")
                      .order_by(Task.due_date.is_(None), Task.due_date, Task.id))
    recent = s.scalars(select(Activity).where(Activity.lead_id == lead.id)
                       .order_by(Activity.created_at.desc(), Activity.id.desc()).limit(activities))
    details = lead.details or {}
    pains = "、".join(str(v) for v in (details.get("objection_category"), details.get("pain_points")) if v) or None
    contact_lines = tuple(ContactLine(c.name, c.title, c.phone) for c in contacts)
    activity_lines = tuple(ActivityLine(a.kind, a.text, a.created_at) for a in recent)
    hidden: frozenset[str] = frozenset()
    masked: dict[str, str] = {}
    if viewer is not None:
        masked, hidden = viewer.masks({"budget": lead.budget_cny, "owner": lead.owner_rep_id,
                                       "pain_points": pains, "phone": "", "notes": ""}, facts)
        contact_lines = tuple(ContactLine(c.name, c.title, viewer.show("phone", c.phone, facts))
                              for c in contact_lines)
        activity_lines = tuple(ActivityLine(a.kind, viewer.text(a.text, facts), a.at) for a in activity_lines
                               if not viewer.hidden("notes", facts))
    return LeadDetail(
        id=lead.id, title=lead.title, status=lead.status, stage=lead.stage, owner_rep_id=lead.owner_rep_id,
        team_id=lead.team_id, customer=customer.name, product=lead.product, budget_cny=lead.budget_cny,
        timeline=lead.timeline, fuse_deadline=lead.fuse_deadline,
        contacts=contact_lines, todos=tuple(TodoLine(t.title, t.due_date, t.id) for t in todos),
        activities=activity_lines, pain_points=pains, hidden=hidden, masked=masked)
