"""Marks people put on a lead from a card, kept in `Lead.details`: the owner confirms the tags
a form or expo scan brought in; a supervisor flags a lead as needing assistance. Who may is
crm_core/authz.py's to decide (the handlers ask it first)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from crm_core.db.models import Lead
from crm_core.services.activity import record_note

TagsOutcome = Literal["confirmed", "already_confirmed"]


def confirm_lead_tags(session: Session, lead: Lead, rep_id: str, now: datetime) -> TagsOutcome:
    """The lead's tags are confirmed by `rep_id`, once."""
    if (lead.details or {}).get("tags_confirmed_by"):
        return "already_confirmed"
    lead.details = {**(lead.details or {}), "tags_confirmed_by": rep_id, "tags_confirmed_at": now.isoformat()}
    return "confirmed"


def mark_needs_assist(session: Session, lead: Lead, actor: str, platform: str | None, now: datetime) -> None:
    """A supervisor flags the lead as needing assistance (an activity, not a follow-up)."""
    lead.details = {**(lead.details or {}), "needs_assist": {"by": actor, "at": now.isoformat()}}
    record_note(session, lead, "assist", "主管标记需协同", actor, platform, now)
