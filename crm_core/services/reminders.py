"""Exactly-once bookkeeping for reminders and escalations: a Reminder row per logical
notice, keyed by a unique dedupe_key, so repeated scheduler ticks (or two schedulers)
never send the same step twice."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.db.models import Lead, Reminder
from crm_core.notices import Notice


def once(session: Session, key: str, kind: str, lead: Lead | None, recipient: str | None,
         now: datetime) -> bool:
    """Record that a reminder goes out; False if `key` was already used (by anyone).
    The savepoint keeps the caller's transaction alive when a concurrent scan won."""
    try:
        with session.begin_nested():
            session.add(Reminder(lead_id=lead.id if lead else None,
                                 customer_id=lead.customer_id if lead else None,
                                 kind=kind, dedupe_key=key[:200], recipient=recipient, created_at=now))
    except IntegrityError:
        return False
    return True


def sent_keys(session: Session, keys: list[str]) -> set[str]:
    """Which of `keys` were already used (one query per 500 keys)."""
    out: set[str] = set()
    for i in range(0, len(keys), 500):
        out |= set(session.scalars(select(Reminder.dedupe_key).where(Reminder.dedupe_key.in_(keys[i:i + 500]))))
    return out


def claim_notices(session: Session, notices: list[Notice], now: datetime) -> list[Notice]:
    """Record many notices at once (one pre-check query, one multi-row insert) and return the
    ones not sent before. Only if a concurrent scan inserted the same key in between does it
    fall back to row-by-row savepoints."""
    keyed = [(n.dedupe_key, n) for n in notices if n.dedupe_key]       # a notice without a key is dropped
    fresh: list[tuple[str, Notice]] = []
    seen = sent_keys(session, [key for key, _ in keyed])
    for key, n in keyed:
        if key not in seen:
            seen.add(key)
            fresh.append((key, n))
    if not fresh:
        return []
    rows = [{"lead_id": n.lead_id, "customer_id": n.customer_id, "kind": n.kind, "dedupe_key": key[:200],
             "recipient": n.to_rep, "created_at": now} for key, n in fresh]
    try:
        with session.begin_nested():
            session.execute(insert(Reminder), rows)
    except IntegrityError:
        return [n for key, n in fresh if _once_notice(session, key, n, now)]
    return [n for _, n in fresh]


def _once_notice(session: Session, key: str, n: Notice, now: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(Reminder(lead_id=n.lead_id, customer_id=n.customer_id, kind=n.kind,
                                 dedupe_key=key[:200], recipient=n.to_rep, created_at=now))
    except IntegrityError:
        return False
    return True
