"""Recording a follow-up on a lead. Any update counts: it touches last_activity_at, marks
the first contact, and re-arms the stage fuse with the stage's own timeout on the stage's clock
(working time or calendar; which cancels a running escalation). The config is required: the
stage's timeout and clock live there, and a flat fallback once made every 跟进 a 72-hour
calendar fuse."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Lead
from crm_core.services.stages import reset_fuse


class ActivityError(ValueError):
    """An update that cannot be recorded; the message is for the rep."""


def touch(lead: Lead, now: datetime, cfg: AppConfig) -> None:
    """The bookkeeping every update does, without writing an activity row."""
    lead.last_activity_at = now
    if lead.first_contact_at is None:
        lead.first_contact_at = now
    if lead.status == "open":
        reset_fuse(cfg, lead, now)


def record_follow_up(session: Session, lead: Lead, actor: str, platform: str | None, text: str | None,
                     now: datetime, cfg: AppConfig, *, kind: str = "follow_up",
                     data: dict[str, Any] | None = None) -> Activity:
    """Store a follow-up (note, call, visit, voice note...) and reset the lead's timers."""
    if lead.status not in ("open", "won", "lost"):
        raise ActivityError("线索在公海中,请先领取再记录跟进")
    act = Activity(customer_id=lead.customer_id, lead_id=lead.id, kind=kind, text=text, actor=actor,
                   platform=platform, created_at=now, data=dict(data or {}))
    session.add(act)
    touch(lead, now, cfg)
    audit.record(session, actor, "lead.follow_up", platform=platform, target_type="lead",
                 target_id=lead.id, detail={"kind": kind}, now=now)
    session.flush()
    return act


def record_voice_note(session: Session, lead: Lead, text: str | None, transcript: str | None,
                      audio_ref: str | None, actor: str, platform: str | None, now: datetime) -> Activity:
    """The voice note a lead was captured from: what was said, its transcript and where the
    audio is, beside the lead's "created" activity."""
    act = Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="voice_note", text=text,
                   transcript=transcript, audio_ref=audio_ref, actor=actor, platform=platform, created_at=now)
    session.add(act)
    return act


def record_note(session: Session, lead: Lead, kind: str, text: str, actor: str, platform: str | None,
                now: datetime, data: dict[str, Any] | None = None) -> Activity:
    """An activity that is not a follow-up (the owner's fuse keeps running), plus the audit row
    `lead.<kind>`."""
    act = Activity(customer_id=lead.customer_id, lead_id=lead.id, kind=kind, text=text, actor=actor,
                   platform=platform, created_at=now, data=dict(data or {}))
    session.add(act)
    audit.record(session, actor, f"lead.{kind}", platform=platform, target_type="lead",
                 target_id=lead.id, detail=dict(data or {}), now=now)
    return act
