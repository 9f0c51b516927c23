"""The facts the authorization policy (crm_core/authz.py) judges, read from the database:
a lead's owner, team and status; a customer's owner and who holds its open leads; a duplicate
review's assignee; a to-do's owner and lead. Plain frozen values, safe outside the unit of work."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.authz import CustomerFacts, LeadFacts, ReviewFacts, TaskFacts
from crm_core.db.models import Customer, DedupReview, Lead, Task


def lead_facts(lead: Lead) -> LeadFacts:
    return LeadFacts(id=lead.id, owner=lead.owner_rep_id, team_id=lead.team_id, status=lead.status)


def load_lead_facts(session: Session, lead_id: int) -> LeadFacts | None:
    lead = session.get(Lead, lead_id)
    return lead_facts(lead) if lead is not None else None


def customer_facts(session: Session, customer: Customer) -> CustomerFacts:
    rows = session.execute(select(Lead.owner_rep_id, Lead.team_id).where(
        Lead.customer_id == customer.id, Lead.status == "open").distinct()).all()
    return CustomerFacts(id=customer.id, owner=customer.owner_rep_id,
                         lead_owners=frozenset(o for o, _ in rows if o is not None),
                         lead_teams=frozenset(t for _, t in rows if t is not None))


def load_customer_facts(session: Session, customer_id: int) -> CustomerFacts | None:
    customer = session.get(Customer, customer_id)
    return customer_facts(session, customer) if customer is not None else None


def load_review_facts(session: Session, review_id: int) -> ReviewFacts | None:
    review = session.get(DedupReview, review_id)
    return ReviewFacts(id=review.id, assignee=review.assignee) if review is not None else None


def task_facts(session: Session, task: Task) -> TaskFacts:
    lead = load_lead_facts(session, task.lead_id) if task.lead_id is not None else None
    return TaskFacts(id=task.id, owner=task.owner_rep_id, lead=lead)


def load_task_facts(session: Session, task_ids: list[int]) -> dict[int, TaskFacts]:
    if not task_ids:
        return {}
    return {t.id: task_facts(session, t) for t in session.scalars(select(Task).where(Task.id.in_(task_ids)))}


def customers_facts(session: Session, customers: list[Customer]) -> dict[int, CustomerFacts]:
    """`customer_facts` for a page of customers in one query (the API's lists)."""
    ids = [c.id for c in customers]
    owners: dict[int, set[str]] = {i: set() for i in ids}
    teams: dict[int, set[str]] = {i: set() for i in ids}
    if ids:
        for cid, owner, team in session.execute(select(Lead.customer_id, Lead.owner_rep_id, Lead.team_id).where(
                Lead.customer_id.in_(ids), Lead.status == "open").distinct()):
            if owner is not None:
                owners[cid].add(owner)
            if team is not None:
                teams[cid].add(team)
    return {c.id: CustomerFacts(id=c.id, owner=c.owner_rep_id, lead_owners=frozenset(owners[c.id]),
                                lead_teams=frozenset(teams[c.id])) for c in customers}
