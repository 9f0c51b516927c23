"""What the rep's CRM already knows, as words for the ear (crm_core.voice.crm_words): the rep's
customers (newest first), their contacts and phones, and the configured product catalog."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.db.models import Contact
from crm_core.services.queries import rep_customers
from crm_core.voice.crm_words import CrmWords

CUSTOMER_LIMIT = 300


def rep_crm_words(session: Session, rep_id: str, products: Sequence[str] = (),
                  limit: int = CUSTOMER_LIMIT) -> CrmWords:
    customers = list(reversed(rep_customers(session, rep_id, limit=limit)))     # newest first
    ids = [c.id for c in customers]
    contacts = list(session.scalars(select(Contact).where(Contact.customer_id.in_(ids)).order_by(Contact.id.desc()))) \
        if ids else []
    return CrmWords(companies=tuple(dict.fromkeys(c.name for c in customers if c.name)),
                    contacts=tuple(dict.fromkeys(c.name for c in contacts if c.name)),
                    phones=tuple(dict.fromkeys(c.phone for c in contacts if c.phone)),
                    products=tuple(products))
