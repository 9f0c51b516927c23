"""Read models for the API, the CLI and the chat handlers: leads, customers, one lead with its
history, a rep's to-dos and customers, the pool, a sent card. Phones are masked unless the
caller may see them."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from crm_core.db.models import Activity, Assignment, Contact, Customer, Lead, MergeRecord, Mute, Task
from crm_core.authz import CustomerFacts
from crm_core.fieldcrypt import read_fields
from crm_core.services.access import customer_facts, customers_facts, lead_facts
from crm_core.services.scoped import customers_in, leads_in
from crm_core.visibility import Viewer, out_of_scope

MAX_PAGE = 200


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _mask(phone: str | None) -> str | None:
    from crm_core.normalize import mask_phone
    return mask_phone(phone) if phone else None


def fuse_state(lead: Lead, now: datetime) -> dict[str, Any]:
    """Countdown to the stage timeout, or how long it is overdue."""
    if lead.status != "open" or lead.fuse_deadline is None:
        return {"state": "none"}
    hours = (lead.fuse_deadline - now).total_seconds() / 3600
    state = "overdue" if hours < 0 else "due_soon" if hours < 24 else "ok"
    return {"state": state, "deadline": _iso(lead.fuse_deadline), "hours_left": round(hours, 1),
            "level": lead.fuse_level}


def _pains(lead: Lead) -> str | None:
    details = lead.details or {}
    return "、".join(str(v) for v in (details.get("objection_category"), details.get("pain_points")) if v) or None


LEAD_KEYS = {"budget_cny": "budget", "owner": "owner", "pain_points": "pain_points"}   # key → visibility field


def lead_view(lead: Lead, now: datetime, contact: Contact | None = None,
              show_phone: bool = False, viewer: Viewer | None = None) -> dict[str, Any]:
    """A lead for the API; with a `viewer`, as they may see it (crm_core/visibility.py; then
    `show_phone` is theirs: the policy's VIEW_PHONE on this lead)."""
    phone = contact.phone if contact else None
    view: dict[str, Any] = {
        "id": lead.id, "title": lead.title, "customer_id": lead.customer_id, "stage": lead.stage,
        "status": lead.status, "owner": lead.owner_rep_id, "team": lead.team_id,
        "product": lead.product, "budget_cny": lead.budget_cny, "timeline": lead.timeline,
        "next_action": lead.next_action, "industry": lead.industry, "region": lead.region,
        "source": lead.source, "stage_entered_at": _iso(lead.stage_entered_at),
        "last_activity_at": _iso(lead.last_activity_at), "created_at": _iso(lead.created_at),
        "contact": None if contact is None else {
            "name": contact.name, "phone": phone if show_phone else _mask(phone), "email": contact.email},
        "fuse": fuse_state(lead, now), "pain_points": _pains(lead),
    }
    if viewer is None:
        return view
    facts = lead_facts(lead)
    view = viewer.filter_dict(view, LEAD_KEYS, facts)
    if view["contact"] is not None:
        view["contact"] = viewer.filter_dict({**view["contact"], "phone": phone}, {"phone": "phone"}, facts)
    return view


def list_leads(session: Session, now: datetime, *, status: str | None = None, owner: str | None = None,
               stage: str | None = None, limit: int = 50, offset: int = 0,
               show_phone: Callable[[Lead], bool] | None = None, viewer: Viewer | None = None) -> dict[str, Any]:
    """A page of leads; phones in full where `show_phone(lead)` (the caller asks the policy);
    with a `viewer`, only the leads in their scope, each as they may see it."""
    q = select(Lead, Contact).outerjoin(Contact, Contact.id == Lead.contact_id)
    if viewer is not None:
        q = q.where(leads_in(viewer.scope))
    for col, val in ((Lead.status, status), (Lead.owner_rep_id, owner), (Lead.stage, stage)):
        if val is not None:
            q = q.where(col == val)
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    rows = session.execute(q.order_by(Lead.id.desc()).limit(min(limit, MAX_PAGE)).offset(offset)).all()
    return {"total": total, "items": [lead_view(lead, now, c, bool(show_phone and show_phone(lead)), viewer)
                                      for lead, c in rows]}


def _masked_text(text: str | None, full: bool) -> str | None:
    from crm_core.extract.phone import mask_phones_in_text
    return text if full or not text else mask_phones_in_text(text)


def customer_view(c: Customer, viewer: Viewer | None = None, facts: CustomerFacts | None = None) -> dict[str, Any]:
    """A customer for the API; with a `viewer` (and the customer's facts), as they may see it,
    with its sensitive fields (`fields`: pain points, complaint summary, ID number, bank account;
    decrypted, then masked or left out by the viewer's roles)."""
    view = {"id": c.id, "name": c.name, "region": c.region, "industry": c.industry,
            "source": c.source, "owner": c.owner_rep_id, "status": c.status,
            "merged_into": c.merged_into_id, "health_score": c.health_score,
            "health_level": c.health_level, "created_at": _iso(c.created_at)}
    if viewer is None:
        return view
    fields = read_fields(viewer.cfg, c.extra)
    view["fields"] = viewer.filter_dict(fields, {k: k for k in fields}, facts)
    return viewer.filter_dict(view, {"owner": "owner"}, facts)


def list_customers(session: Session, *, q: str | None = None, include_merged: bool = False,
                   limit: int = 50, offset: int = 0, viewer: Viewer | None = None) -> dict[str, Any]:
    stmt = select(Customer)
    if viewer is not None:
        stmt = stmt.where(customers_in(viewer.scope))
    if not include_merged:
        stmt = stmt.where(Customer.status == "active")
    if q:
        stmt = stmt.where(or_(Customer.name.contains(q), Customer.company_key.contains(q)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(session.scalars(stmt.order_by(Customer.id.desc()).limit(min(limit, MAX_PAGE)).offset(offset)))
    facts = customers_facts(session, rows) if viewer is not None else {}
    return {"total": total, "items": [customer_view(c, viewer, facts.get(c.id)) for c in rows]}


def lead_detail(session: Session, lead_id: int, now: datetime,
                show_phone: Callable[[Lead], bool] | None = None, viewer: Viewer | None = None) -> dict[str, Any] | None:
    """One lead with its history; phones in full where `show_phone(lead)` (the caller asks the
    policy), else masked, in the contact and in activity texts. With a `viewer`: NotInScope
    outside their rows, every field as they may see it (crm_core/visibility.py)."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        return None
    facts = lead_facts(lead)
    if viewer is not None and not viewer.scope.lead(facts):
        raise out_of_scope("线索", f" #{lead.id}")
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    full = bool(show_phone and show_phone(lead))
    view = lead_view(lead, now, contact, full, viewer)
    customer = session.get_one(Customer, lead.customer_id)
    view["customer"] = customer_view(customer, viewer, customer_facts(session, customer) if viewer else None)
    activities = list(session.scalars(select(Activity).where(Activity.lead_id == lead_id).order_by(Activity.id)))
    view["activities"] = [
        {"id": a.id, "kind": a.kind, "text": _masked_text(a.text, full), "transcript": _masked_text(a.transcript, full),
         "actor": a.actor,
         "platform": a.platform, "created_at": _iso(a.created_at)}
        for a in activities]
    if viewer is not None:      # notes and transcripts by the viewer's `notes`, their phones by `phone`
        for item, a in zip(view["activities"], activities):
            if viewer.hidden("notes", facts):
                del item["text"], item["transcript"]
            else:
                item["text"], item["transcript"] = viewer.text(a.text, facts), viewer.text(a.transcript, facts)
    view["tasks"] = [
        {"id": t.id, "title": t.title, "due_date": t.due_date.isoformat() if t.due_date else None,
         "status": t.status, "owner": t.owner_rep_id}
        for t in session.scalars(select(Task).where(Task.lead_id == lead_id).order_by(Task.id))]
    view["assignments"] = [
        {"rep": a.rep_id, "team": a.team_id, "reason": a.reason, "by": a.assigned_by,
         "at": _iso(a.created_at)}
        for a in session.scalars(select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.id))]
    view["merges"] = [
        {"id": m.id, "merged_ids": m.merged_ids, "score": m.score, "at": _iso(m.created_at),
         "undone_at": _iso(m.undone_at)}
        for m in session.scalars(select(MergeRecord).where(MergeRecord.survivor_id == lead.customer_id))]
    if viewer is not None:      # who owns / worked the lead, in its to-dos, assignments and activities
        for key, rows in (("owner", view["tasks"]), ("rep", view["assignments"]), ("by", view["assignments"]),
                          ("actor", view["activities"])):
            for i, row in enumerate(rows):
                if row.get(key) in _people(viewer):
                    rows[i] = viewer.filter_dict(row, {key: "owner"}, facts)
    return view


def _people(viewer: Viewer) -> frozenset[str]:
    """The people's ids (not 系统 / api / cli): the values the `owner` field's level covers."""
    return frozenset(r.id for r in viewer.cfg.org.reps)


# ---- lookups for the chat handlers ---------------------------------------------------------------

def get_lead(session: Session, lead_id: int) -> Lead | None:
    return session.get(Lead, lead_id)


def get_customer(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


@dataclass(frozen=True)
class CustomerHit:
    """An active customer matching a search, with the first of its contacts that matched
    (`has_contact` False when it has none)."""
    id: int
    name: str
    owner_rep_id: str | None
    has_contact: bool
    contact_name: str | None
    contact_phone: str | None
    hidden: frozenset[str] = frozenset()     # fields the viewer may not see (phone, owner)


def search_customers(session: Session, text: str, limit: int = 20, viewer: Viewer | None = None) -> list[CustomerHit]:
    """Active customers whose name contains `text` or (with 4+ digits in it) one of whose
    contacts' phone contains those digits; newest first, one hit per customer, looking at
    the first `limit` customer/contact rows. With a `viewer`: only the customers in their row
    scope, phone and owner as they may see them (owner None: hidden; masked: "***")."""
    digits = re.sub(r"\D", "", text)
    cond = [Customer.name.contains(text)]
    if len(digits) >= 4 and (viewer is None or viewer.levels["phone"] != "hidden"):
        cond.append(Contact.phone.contains(digits))
    where = [Customer.status == "active", or_(*cond)]
    if viewer is not None:
        where.append(customers_in(viewer.scope))
    rows = session.execute(select(Customer, Contact).outerjoin(Contact, Contact.customer_id == Customer.id)
                           .where(*where).order_by(Customer.id.desc()).limit(limit)).all()
    hits: dict[int, CustomerHit] = {}
    for cust, contact in rows:
        if cust.id not in hits:
            phone, owner = (contact.phone if contact else None), cust.owner_rep_id
            hidden: frozenset[str] = frozenset()
            if viewer is not None:
                facts = customer_facts(session, cust)
                phone, owner = viewer.show("phone", phone, facts), viewer.show("owner", owner, facts)
                hidden = frozenset(f for f in ("phone", "owner") if viewer.hidden(f, facts))
            hits[cust.id] = CustomerHit(cust.id, cust.name, owner, contact is not None,
                                        contact.name if contact else None, phone, hidden)
    return list(hits.values())


@dataclass(frozen=True)
class TodoItem:
    title: str
    due_date: date | None


def open_tasks(session: Session, rep_id: str, limit: int = 10) -> list[TodoItem]:
    """The rep's open to-dos, soonest due first (undated last)."""
    tasks = session.scalars(select(Task).where(Task.owner_rep_id == rep_id, Task.status == "open")
                            .order_by(Task.due_date.is_(None), Task.due_date, Task.id).limit(limit))
    return [TodoItem(t.title, t.due_date) for t in tasks]


def _related(rep_id: str) -> ColumnElement[bool]:
    """Customers the rep owns or holds a lead on."""
    return or_(Customer.owner_rep_id == rep_id,
               exists().where(Lead.customer_id == Customer.id, Lead.owner_rep_id == rep_id))


def _muted_by(rep_id: str) -> ColumnElement[bool]:
    return exists().where(Mute.customer_id == Customer.id, Mute.rep_id == rep_id, Mute.lifted_at.is_(None))


def rep_customers(session: Session, rep_id: str, *, customer_id: int | None = None, name_part: str = "",
                  include_muted: bool = False, limit: int = 6) -> list[Customer]:
    """Active customers the rep owns or holds a lead on (`include_muted`: or has muted), by id
    when given, else by a name fragment; in id order."""
    mine = or_(_related(rep_id), _muted_by(rep_id)) if include_muted else _related(rep_id)
    cond = Customer.id == customer_id if customer_id is not None else Customer.name.contains(name_part)
    return list(session.scalars(select(Customer).where(cond, Customer.status == "active", mine)
                                .order_by(Customer.id).limit(limit)))


def pool_leads(session: Session, team_ids: list[str] | None, limit: int) -> list[Lead]:
    """Unowned open or pooled leads, biggest budget first; `team_ids` None = every team,
    else those teams' leads and the ones without a team."""
    q = select(Lead).where(Lead.owner_rep_id.is_(None), Lead.status.in_(("open", "pool")))
    if team_ids is not None:
        q = q.where(or_(Lead.team_id.in_(team_ids), Lead.team_id.is_(None)))
    return list(session.scalars(q.order_by(Lead.budget_cny.desc().nulls_last(), Lead.id).limit(limit)))
