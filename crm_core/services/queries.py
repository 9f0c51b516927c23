"""Read models for the API and the CLI: leads, customers, one lead with its history.
Phones are masked unless the caller may see them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm_core.db.models import Activity, Assignment, Contact, Customer, Lead, MergeRecord, Task

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


def lead_view(lead: Lead, now: datetime, contact: Contact | None = None,
              show_phone: bool = False) -> dict[str, Any]:
    phone = contact.phone if contact else None
    return {
        "id": lead.id, "title": lead.title, "customer_id": lead.customer_id, "stage": lead.stage,
        "status": lead.status, "owner": lead.owner_rep_id, "team": lead.team_id,
        "product": lead.product, "budget_cny": lead.budget_cny, "timeline": lead.timeline,
        "next_action": lead.next_action, "industry": lead.industry, "region": lead.region,
        "source": lead.source, "stage_entered_at": _iso(lead.stage_entered_at),
        "last_activity_at": _iso(lead.last_activity_at), "created_at": _iso(lead.created_at),
        "contact": None if contact is None else {
            "name": contact.name, "phone": phone if show_phone else _mask(phone), "email": contact.email},
        "fuse": fuse_state(lead, now),
    }


def list_leads(session: Session, now: datetime, *, status: str | None = None, owner: str | None = None,
               stage: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    q = select(Lead, Contact).outerjoin(Contact, Contact.id == Lead.contact_id)
    for col, val in ((Lead.status, status), (Lead.owner_rep_id, owner), (Lead.stage, stage)):
        if val is not None:
            q = q.where(col == val)
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    rows = session.execute(q.order_by(Lead.id.desc()).limit(min(limit, MAX_PAGE)).offset(offset)).all()
    return {"total": total, "items": [lead_view(lead, now, c) for lead, c in rows]}


def customer_view(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "region": c.region, "industry": c.industry,
            "source": c.source, "owner": c.owner_rep_id, "status": c.status,
            "merged_into": c.merged_into_id, "health_score": c.health_score,
            "health_level": c.health_level, "created_at": _iso(c.created_at)}


def list_customers(session: Session, *, q: str | None = None, include_merged: bool = False,
                   limit: int = 50, offset: int = 0) -> dict[str, Any]:
    stmt = select(Customer)
    if not include_merged:
        stmt = stmt.where(Customer.status == "active")
    if q:
        stmt = stmt.where(or_(Customer.name.contains(q), Customer.company_key.contains(q)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Customer.id.desc()).limit(min(limit, MAX_PAGE)).offset(offset))
    return {"total": total, "items": [customer_view(c) for c in rows]}


def lead_detail(session: Session, lead_id: int, now: datetime) -> dict[str, Any] | None:
    lead = session.get(Lead, lead_id)
    if lead is None:
        return None
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    view = lead_view(lead, now, contact)
    view["customer"] = customer_view(session.get(Customer, lead.customer_id))
    view["activities"] = [
        {"id": a.id, "kind": a.kind, "text": a.text, "transcript": a.transcript, "actor": a.actor,
         "platform": a.platform, "created_at": _iso(a.created_at)}
        for a in session.scalars(select(Activity).where(Activity.lead_id == lead_id).order_by(Activity.id))]
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
    return view
