"""Marks people put on a lead from a card, kept in `Lead.details`: the owner confirms the tags
a form or expo scan brought in; a supervisor flags a lead as needing assistance."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from crm_core.db.models import Lead
from crm_core.services.activity import record_note

TagsOutcome = Literal["confirmed", "already_confirmed", "not_owner"]


def confirm_lead_tags(session: Session, lead_id: int, rep_id: str, now: datetime) -> TagsOutcome:
    """The owner confirms the lead's tags, once; anyone else (or a missing lead) changes nothing."""
    lead = session.get(Lead, lead_id)
    if lead is None or lead.owner_rep_id != rep_id:
        return "not_owner"
    if (lead.details or {}).get("tags_confirmed_by"):
        return "already_confirmed"
    lead.details = {**(lead.details or {}), "tags_confirmed_by": rep_id, "tags_confirmed_at": now.isoformat()}
    return "confirmed"


def mark_needs_assist(session: Session, lead: Lead, actor: str, platform: str | None, now: datetime) -> None:
    """A supervisor flags the lead as needing assistance (an activity, not a follow-up)."""
    lead.details = {**(lead.details or {}), "needs_assist": {"by": actor, "at": now.isoformat()}}
    record_note(session, lead, "assist", "主管标记需协同", actor, platform, now)
