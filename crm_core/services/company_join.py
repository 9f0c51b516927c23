"""One company, one customer: a new lead naming a company we already have joins that company's
customer, and the duplicate check runs at contact level inside it — the same person (a shared
phone, e-mail or WeChat id, or the same name without a conflicting phone) is that contact,
completed with what the note adds; anyone else becomes a new contact of the company. Whether a
rep of another team may add to a customer is the policy's (Action.JOIN_CUSTOMER, config
`dedup.cross_team_join`); the owner of a customer someone else joined is told (CustomerJoined)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_core.authz import API_TOKEN, Action, Principal, decide
from crm_core.config.schema import AppConfig
from crm_core.db.models import Contact, Customer, Lead, MatchKey
from crm_core.dedup import DedupRecord, features
from crm_core.dedup.keys import MIN_COMPANY_KEY
from crm_core.normalize import company_region, normalize_company
from crm_core.notices import CustomerJoined
from crm_core.services.access import customer_facts
from crm_core.services.capture import JoinFacts, index_contact
from crm_core.services.dedup_entry import EntryData, entry_record
from crm_core.services.lead_input import CHANNEL_LABELS, LeadInput

CANDIDATES = 20


def company_customer(session: Session, company: str | None) -> Customer | None:
    """The oldest active customer with the same company (normalized name; a different city
    named in both names is another company)."""
    key = normalize_company(company) if company else None
    if not key or len(key) < MIN_COMPANY_KEY:
        return None
    region = company_region(company) if company else None
    for customer in session.scalars(select(Customer).where(Customer.company_key == key, Customer.status == "active")
                                    .order_by(Customer.id).limit(CANDIDATES)):
        other = company_region(customer.name)     # the city in the name (a form's province is not one)
        if region and other and region != other:
            continue
        return customer
    return None


def _phones(record: DedupRecord) -> set[str]:
    f = features(record)
    return set(f.mobiles) | set(f.fixed)


def same_person(new: DedupRecord, old: DedupRecord) -> bool:
    """Within one company: a shared phone, e-mail or WeChat id; or names that agree (the same
    full name, or the same title form, or a title form and a full name with its surname) with
    no conflicting phones (two full names that agree are the same person whatever the phones)."""
    a, b = features(new), features(old)
    pa, pb = _phones(new), _phones(old)
    if pa & pb or (a.email and a.email == b.email and a.email_personal) or (a.wechat and a.wechat == b.wechat):
        return True
    if not a.name_key or not b.name_key:
        return False
    if a.name_full and b.name_full:
        return a.name_key == b.name_key
    if a.name_full or b.name_full:
        agree = a.surname == b.surname and bool(a.surname)
    else:
        agree = a.name_key == b.name_key and (not a.title or not b.title or a.title == b.title)
    return agree and not (pa and pb)


def _stored(contact: Contact, company: str) -> DedupRecord:
    phones = list(contact.phones or ([contact.phone] if contact.phone else []))
    return DedupRecord(id=contact.id, name=contact.name, company=company, phones=phones, email=contact.email,
                       wechat_id=contact.wechat_id)


def matching_contact(session: Session, customer: Customer, data: EntryData) -> Contact | None:
    """The customer's contact the new lead is about (its own contacts before aliases), else None."""
    record = entry_record(data)
    for contact in session.scalars(select(Contact).where(Contact.customer_id == customer.id)
                                   .order_by(Contact.is_alias, Contact.id)):
        if same_person(record, _stored(contact, customer.name)):
            return contact
    return None


def complete_contact(session: Session, customer: Customer, contact: Contact, data: LeadInput) -> bool:
    """Add what the note says and the contact lacks (a phone, e-mail, WeChat id, a full name
    for a title form); its match keys are rewritten. True when something was added."""
    changed = False
    phones = list(contact.phones or ([contact.phone] if contact.phone else []))
    if data.phone and data.phone not in phones:
        phones.append(data.phone)
        contact.phones = phones
        contact.phone = contact.phone or data.phone
        changed = True
    for field in ("email", "wechat_id"):
        if getattr(data, field) and not getattr(contact, field):
            setattr(contact, field, getattr(data, field))
            changed = True
    name = (data.contact_name or "").strip()
    if name and name != contact.name and (not contact.name or (features(entry_record(data)).name_full
                                                              and not features(_stored(contact, "")).name_full)):
        contact.name = name
        changed = True
    if changed:
        session.execute(delete(MatchKey).where(MatchKey.contact_id == contact.id))
        session.flush()
        index_contact(session, customer, contact)
    return changed


def new_contact(session: Session, customer: Customer, data: LeadInput, now: datetime) -> Contact:
    contact = Contact(customer_id=customer.id, name=data.contact_name, phone=data.phone,
                      phones=[data.phone] if data.phone else [], email=data.email, wechat_id=data.wechat_id,
                      source=CHANNEL_LABELS.get(data.source, data.source), is_alias=False, created_at=now)
    session.add(contact)
    session.flush()
    index_contact(session, customer, contact)
    return contact


def joiner(cfg: AppConfig, rep_id: str | None) -> Principal:
    """Who is adding to the customer: the capturing rep, else (API, import) the API principal."""
    rep = cfg.org.rep(rep_id) if rep_id else None
    return Principal.of(rep) if rep is not None else API_TOKEN


def may_join(session: Session, cfg: AppConfig, rep_id: str | None, customer: Customer) -> str | None:
    """None when the policy lets the rep add to this customer, else why not."""
    verdict = decide(cfg, joiner(cfg, rep_id), Action.JOIN_CUSTOMER, customer_facts(session, customer))
    return None if verdict else verdict.reason


def joined_notice(session: Session, join: JoinFacts, lead: Lead, actor: str) -> CustomerJoined | None:
    """The notice for the customer's owner when the lead is not theirs (None when it is, or when
    the customer has no owner)."""
    customer = session.get_one(Customer, join.customer_id)
    owner = customer.owner_rep_id
    if owner is None or lead.owner_rep_id == owner:
        return None
    contact = session.get_one(Contact, join.contact_id)
    return CustomerJoined(to_rep=owner, customer_id=customer.id, customer=customer.name, lead_id=lead.id,
                          title=lead.title, by=lead.owner_rep_id or actor, contact_name=contact.name,
                          phone=contact.phone, new_contact=join.new_contact,
                          dedupe_key=f"customer.joined:{lead.id}:{owner}")
