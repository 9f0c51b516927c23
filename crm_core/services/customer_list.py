"""我的客户: the customers a rep owns or holds an open lead on, with every contact (aliases
last) and the rep's open leads on each; biggest open budget first, then the most recent.
Plain frozen values; whether phones show in full is the handler's question to the policy."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from crm_core.authz import LeadFacts
from crm_core.db.models import Contact, Customer, Lead


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


def customers_of(session: Session, rep_id: str, limit: int = 20) -> tuple[int, list[CustomerLine]]:
    """(how many customers in all, the first `limit`)."""
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
    return total, [CustomerLine(c.id, c.name, c.owner_rep_id, c.health_score, tuple(contacts[c.id]),
                                tuple(leads[c.id]), int(b or 0)) for c, b in customers]
