"""我的客户: the customers a rep owns or holds an open lead on, with every contact (aliases
last) and the rep's open leads on each; biggest open budget first, then the most recent.
Plain frozen values; whether phones show in full is the handler's question to the policy."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from crm_core.authz import CustomerFacts, LeadFacts
from crm_core.db.models import Contact, Customer, Lead
from crm_core.services.access import customer_facts
from crm_core.visibility import Viewer


@dataclass(frozen=True)
class CustomerContact:
    name: str | None
    title: str | None
    phone: str | None


@dataclass(frozen=True)
class CustomerLine:
    id: int
    name: str
    owner_rep_id: str | None
    health_score: float | None
    contacts: tuple[CustomerContact, ...]
    leads: tuple[LeadFacts, ...]          # the rep's open leads on it (for the policy, and to show)
    open_budget: int
    budget_text: str | None = None        # for a viewer: the masked total, or None when hidden
    hidden: frozenset[str] = frozenset()  # fields the viewer may not see (budget, owner, phone)


def customers_of(session: Session, rep_id: str, limit: int = 20,
                 viewer: Viewer | None = None) -> tuple[int, list[CustomerLine]]:
    """(how many customers in all, the first `limit`); with a `viewer` (the rep), phones, budget
    and owner as they may see them (crm_core/visibility.py)."""
    mine = or_(Customer.owner_rep_id == rep_id,
               exists().where(Lead.customer_id == Customer.id, Lead.owner_rep_id == rep_id, Lead.status == "open"))
    where = (Customer.status == "active", mine)
    total = session.scalar(select(func.count()).select_from(Customer).where(*where)) or 0
    budget = (select(func.coalesce(func.sum(Lead.budget_cny), 0)).where(Lead.customer_id == Customer.id,
                                                                       Lead.status == "open")
              .correlate(Customer).scalar_subquery())
    customers = list(session.execute(select(Customer, budget).where(*where)
                                     .order_by(budget.desc(), Customer.updated_at.desc(), Customer.id.desc())
                                     .limit(limit)).all())
    ids = [c.id for c, _ in customers]
    contacts: dict[int, list[CustomerContact]] = defaultdict(list)
    leads: dict[int, list[LeadFacts]] = defaultdict(list)
    if ids:
        for ct in session.scalars(select(Contact).where(Contact.customer_id.in_(ids))
                                  .order_by(Contact.is_alias, Contact.id)):
            contacts[ct.customer_id].append(CustomerContact(ct.name, ct.title, ct.phone))
        for ld in session.scalars(select(Lead).where(Lead.customer_id.in_(ids), Lead.owner_rep_id == rep_id,
                                                     Lead.status == "open").order_by(Lead.id)):
            leads[ld.customer_id].append(LeadFacts(id=ld.id, owner=ld.owner_rep_id, team_id=ld.team_id,
                                                   status=ld.status))
    lines = [CustomerLine(c.id, c.name, c.owner_rep_id, c.health_score, tuple(contacts[c.id]),
                          tuple(leads[c.id]), int(b or 0)) for c, b in customers]
    if viewer is not None:
        lines = [_as_seen(viewer, customer_facts(session, c), line) for (c, _), line in zip(customers, lines)]
    return total, lines


def _as_seen(viewer: Viewer, facts: CustomerFacts, line: CustomerLine) -> CustomerLine:
    hidden = frozenset(f for f in ("budget", "owner", "phone") if viewer.hidden(f, facts))
    # the phones: in full where the policy allows it on the customer or one of the viewer's leads on it
    rows: list[LeadFacts | CustomerFacts] = [facts, *line.leads]
    phone_row = next((r for r in rows if viewer.level("phone", r) == "visible"), facts)
    contacts = tuple(CustomerContact(ct.name, ct.title, viewer.show("phone", ct.phone, phone_row))
                     for ct in line.contacts)
    budget = viewer.show("budget", line.open_budget, facts)
    return replace(line, contacts=contacts, hidden=hidden,
                   budget_text=None if budget is None or budget == line.open_budget else str(budget))
