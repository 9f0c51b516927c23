"""The storage types callers name in annotations when they hold what a service takes or returns:
a unit of work's session and the rows services hand out (to be read, or passed back to a
service, never queried or written by the caller). Handlers import them from here, not from
SQLAlchemy or crm_core.db.models."""
from __future__ import annotations

from sqlalchemy.orm import Session

from crm_core.db.models import Customer, FocusCheckin, Lead, Task

__all__ = ["Customer", "FocusCheckin", "Lead", "Session", "Task"]
