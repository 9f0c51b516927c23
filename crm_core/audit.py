"""The audit log: who did what, from which platform."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from crm_core.db.models import AuditLog


def record(session: Session, actor: str, action: str, *, platform: str | None = None,
           target_type: str | None = None, target_id: object = None,
           detail: dict[str, Any] | None = None, now: datetime | None = None) -> None:
    row = AuditLog(actor=actor, platform=platform, action=action, target_type=target_type,
                   target_id=None if target_id is None else str(target_id), detail=detail or {})
    if now is not None:
        row.created_at = now
    session.add(row)
