"""Saving a new lead: customer + contact + blocking keys + lead + first activity + to-do,
in one unit of work. Every channel (chat, voice, API, import) comes through here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig, Stage
from crm_core.db.models import Activity, Contact, Customer, Lead, MatchKey, Task
from crm_core.notices import Notice
from crm_core.services.lead_input import LeadInput


@dataclass(frozen=True)
class JoinFacts:
    """A lead that joined a known customer: which contact, and whether the note added it."""
    customer_id: int
    contact_id: int
    new_contact: bool


@dataclass
class CaptureResult:
    lead: Lead
    customer: Customer
    contact: Contact
    task: Task | None = None
    notes: list[str] = field(default_factory=list)   # what the rep should be told
    notices: list[Notice] = field(default_factory=list)  # cards for others; the caller delivers them
    merged_into: int | None = None                   # existing customer the lead joined (dedup at entry)
    review_id: int | None = None                     # DedupReview opened for a possible duplicate
    join: JoinFacts | None = None                    # set when the lead joined a known customer


def lead_title(data: LeadInput) -> str:
    who = data.company or data.contact_name or "新客户"
    return f"{who} · {data.product}" if data.product else who


def create_customer(session: Session, data: LeadInput, now: datetime) -> tuple[Customer, Contact]:
    from crm_core.normalize import company_region, normalize_company
    customer = Customer(name=data.company or data.contact_name or "未命名客户",
                        company_key=normalize_company(data.company) if data.company else None,
                        region=data.region or (company_region(data.company) if data.company else None),
                        industry=data.industry, source=data.source, created_at=now, updated_at=now)
    session.add(customer)
    session.flush()
    contact = Contact(customer_id=customer.id, name=data.contact_name, phone=data.phone,
                      phones=[data.phone] if data.phone else [], email=data.email,
                      wechat_id=data.wechat_id, source=data.source, created_at=now)
    session.add(contact)
    session.flush()
    index_contact(session, customer, contact)
    return customer, contact


def index_contact(session: Session, customer: Customer, contact: Contact) -> None:
    """Write the dedup blocking keys of one contact into the indexed match_keys table."""
    for kind, value in contact_keys(customer, contact):
        session.add(MatchKey(kind=kind, value=value[:200], contact_id=contact.id, customer_id=customer.id))


def contact_keys(customer: Customer, contact: Contact) -> list[tuple[str, str]]:
    from crm_core.dedup import DedupRecord, record_keys
    rec = DedupRecord(id=contact.id, name=contact.name, company=customer.name,
                      phones=list(contact.phones or ([contact.phone] if contact.phone else [])),
                      email=contact.email, wechat_id=contact.wechat_id)
    keys = record_keys(rec)
    out = [("phone", p) for p in keys.phone_keys]
    for kind, value in (("email", keys.email_key), ("company", keys.company_key),
                        ("name_company", keys.name_company_key), ("wechat", keys.wechat_key)):
        if value:
            out.append((kind, value))
    return out


def fuse_deadline_for(cfg: AppConfig, stage: Stage | None, now: datetime) -> datetime | None:
    from crm_core.services.stages import fuse_deadline_for as deadline
    return deadline(cfg, stage, now)


def save_lead(session: Session, cfg: AppConfig, data: LeadInput, *, actor: str,
              platform: str | None, now: datetime, owner_rep_id: str | None = None,
              customer: Customer | None = None, contact: Contact | None = None) -> CaptureResult:
    """Store a lead (on a new customer unless one is given, e.g. after a dedup match)."""
    if customer is None or contact is None:
        customer, contact = create_customer(session, data, now)
    stage = cfg.funnel.stages[0]
    lead = Lead(customer_id=customer.id, contact_id=contact.id, title=lead_title(data)[:200],
                product=data.product, budget_cny=data.budget_cny, timeline=data.timeline,
                next_action=data.next_action, industry=data.industry or customer.industry,
                region=data.region or customer.region, source=data.source, stage=stage.key,
                stage_entered_at=now, owner_rep_id=owner_rep_id, created_by=actor,
                last_activity_at=now, fuse_deadline=fuse_deadline_for(cfg, stage, now),
                details={"tags": data.tags} if data.tags else {}, created_at=now, updated_at=now)
    session.add(lead)
    session.flush()
    session.add(Activity(customer_id=customer.id, lead_id=lead.id, kind="created", text=data.note,
                         actor=actor, platform=platform, created_at=now,
                         data={"source": data.source, "channel": data.channel_label}))
    task = _task_for(session, data, lead, owner_rep_id, now)
    audit.record(session, actor, "lead.create", platform=platform, target_type="lead",
                 target_id=lead.id, detail={"source": data.source}, now=now)
    return CaptureResult(lead=lead, customer=customer, contact=contact, task=task)


def _task_for(session: Session, data: LeadInput, lead: Lead, owner: str | None, now: datetime) -> Task | None:
    """A to-do for the next step, due before the date the rep mentioned."""
    from crm_core.services.todo import due_date_for
    if not data.next_action and not data.timeline:
        return None
    title = f"{data.next_action or '跟进'}:{lead.title}"
    task = Task(customer_id=lead.customer_id, lead_id=lead.id, owner_rep_id=owner, title=title[:200],
                due_date=due_date_for(data.timeline, data.next_action, now), created_at=now)
    session.add(task)
    return task
