"""Rep availability set in chat (「设置休假 李娜 到12月10日」, 「李娜 已离职」, 「恢复在岗 李娜」): one
`rep_availability` row per rep, an override of the YAML's `org.reps[].availability` that
assignment, the policy and the pool see through the running config (crm_core/config/live.py
`apply_overrides`, applied by the composition root). Marking a rep departed hands their open
leads over (crm_core/services/handover.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.live import AVAILABILITY_LABELS, AvailabilityOverride
from crm_core.config.schema import AppConfig
from crm_core.db.models import RepAvailability
from crm_core.notices import Notice
from crm_core.services.handover import handover


class AvailabilityError(ValueError):
    """A setting that cannot be made; the message is for the person who asked."""


@dataclass(frozen=True)
class AvailabilityChange:
    override: AvailabilityOverride
    previous: str                    # the rep's availability before (as the running config had it)
    moved: list[int]                 # lead ids handed over (departed only)
    notices: list[Notice]


def load_overrides(session: Session) -> list[AvailabilityOverride]:
    return [AvailabilityOverride(r.rep_id, r.availability, r.until, r.set_by, r.note)
            for r in session.scalars(select(RepAvailability).order_by(RepAvailability.rep_id))]


def set_availability(session: Session, cfg: AppConfig, rep_id: str, availability: str, *, actor: str,
                     now: datetime, until: date | None = None, note: str | None = None,
                     handover_to: str | None = None) -> AvailabilityChange:
    """Store the override (replacing an earlier one) and record it in the audit log. For
    "departed", every open lead of the rep goes to `handover_to`, else to the team's pool."""
    rep = cfg.org.rep(rep_id)
    if rep is None:
        raise AvailabilityError(f"配置中没有销售 {rep_id}")
    if availability not in AVAILABILITY_LABELS:
        raise AvailabilityError(f"不支持的状态:{availability}")
    if until is not None and availability != "on_leave":
        raise AvailabilityError("只有休假可以设置结束日期")
    if availability == "departed" and handover_to == rep_id:
        raise AvailabilityError("不能把线索交接给离职的本人")
    row = session.get(RepAvailability, rep_id)
    if row is None:
        row = RepAvailability(rep_id=rep_id, availability=availability, set_by=actor)
        session.add(row)
    row.availability, row.until, row.note, row.set_by, row.set_at = availability, until, note, actor, now
    audit.record(session, actor, "rep.availability", target_type="rep", target_id=rep_id,
                 detail={"availability": availability, "until": until.isoformat() if until else None,
                         "previous": rep.availability}, now=now)
    moved: list[int] = []
    notices: list[Notice] = []
    if availability == "departed":
        leads, notices = handover(session, cfg, rep_id, handover_to, actor, now)
        moved = [ld.id for ld in leads]
    session.flush()
    return AvailabilityChange(AvailabilityOverride(rep_id, availability, until, actor, note),
                              rep.availability, moved, notices)

