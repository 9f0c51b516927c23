"""The capture pipeline every new lead goes through, whatever the channel:
validate → duplicate check → save → assign. Returns what to tell the rep."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crm_core.config.schema import AppConfig
from crm_core.services.capture import CaptureResult, save_lead
from crm_core.services.lead_input import LeadInput


class MissingFields(ValueError):
    def __init__(self, fields: list[str]):
        self.fields = fields
        super().__init__(f"missing required fields: {', '.join(fields)}")


def intake_lead(session: Session, cfg: AppConfig, data: LeadInput, *, actor: str,
                platform: str | None, now: datetime, owner_rep_id: str | None = None) -> CaptureResult:
    missing = data.missing(cfg.funnel.capture_required)
    if missing:
        raise MissingFields(missing)
    return save_lead(session, cfg, data, actor=actor, platform=platform, now=now,
                     owner_rep_id=owner_rep_id)
