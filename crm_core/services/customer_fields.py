"""A customer's sensitive fields (pain points, complaint summary, ID number, bank account: the
`customers.extra` keys of crm_core/config/visibility.py `EXTRA_KEYS`): set by people who may see
the field in full on that customer, stored encrypted when the config lists the field in
`visibility.encrypted_fields` (crm_core/fieldcrypt.py), audited by field name (never the value)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from crm_core.audit import record
from crm_core.config.visibility import EXTRA_KEYS, FIELDS
from crm_core.db.models import Customer
from crm_core.fieldcrypt import read_fields, write_fields
from crm_core.services.access import customer_facts
from crm_core.visibility import Viewer, out_of_scope

MAX_CHARS = 500


class FieldsRefused(PermissionError):
    pass


class InvalidFields(ValueError):
    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def set_customer_fields(session: Session, viewer: Viewer, customer_id: int, values: dict[str, Any], *,
                        actor: str, platform: str, now: datetime) -> dict[str, str] | None:
    """Set (None: clear) the given fields; the customer's fields as `viewer` sees them after, or
    None when there is no such customer. InvalidFields names each bad field; FieldsRefused /
    NotInScope when the viewer may not write them; nothing is written on any error."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    problems = {k: f"unknown field (known: {', '.join(EXTRA_KEYS)})" for k in values if k not in EXTRA_KEYS}
    problems |= {k: "must be text or null" for k, v in values.items() if k in EXTRA_KEYS
                 and v is not None and not isinstance(v, str)}
    problems |= {k: f"at most {MAX_CHARS} characters" for k, v in values.items()
                 if isinstance(v, str) and len(v) > MAX_CHARS}
    if not values:
        problems["body"] = "give at least one field"
    if problems:
        raise InvalidFields(problems)
    facts = customer_facts(session, customer)
    if not viewer.scope.customer(facts):
        raise out_of_scope("客户", f"C{customer.id}")
    barred = [FIELDS[k] for k in values if viewer.level(k, facts) != "visible"]
    if barred:
        raise FieldsRefused(f"你没有查看和修改「{'、'.join(barred)}」的权限,未做任何修改。")
    customer.extra = write_fields(viewer.cfg, customer.extra, values)
    record(session, actor, "customer.fields", platform=platform, target_type="customer", target_id=customer.id,
           detail={"fields": sorted(values)}, now=now)
    return read_fields(viewer.cfg, customer.extra)
