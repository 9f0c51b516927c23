"""Follow-up watch: an assigned lead with no follow-up for 48 h (on its stage's clock) is
reported to the supervisor once per idle spell. Reps may mute reminders for one customer
("不再提醒此客户"); mutes are recorded, reversible, and skip rep reminders only."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, tuple_
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Lead, Mute, Reminder
from crm_core.notices import FollowupSupervisor, Notice
from crm_core.services.assign import supervisor_platform, supervisors_for
from crm_core.services.reminders import claim_notices
from crm_core.worktime import clock_for

FOLLOWUP_HOURS = 48
LOOKBACK_HOURS = 7 * 24   # spells that began earlier than this are left alone (scheduler was down)


def active_mute(session: Session, rep_id: str, customer_id: int) -> Mute | None:
    return session.scalars(select(Mute).where(Mute.rep_id == rep_id, Mute.customer_id == customer_id,
                                              Mute.lifted_at.is_(None))).first()


def is_muted(session: Session, rep_id: str, customer_id: int) -> bool:
    return active_mute(session, rep_id, customer_id) is not None


def muted_pairs(session: Session, pairs: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which (rep, customer) pairs are muted, in one query."""
    if not pairs:
        return set()
    rows = session.execute(select(Mute.rep_id, Mute.customer_id).where(
        Mute.lifted_at.is_(None), tuple_(Mute.rep_id, Mute.customer_id).in_(list(pairs)))).all()
    return {(r, c) for r, c in rows}


def _note(session: Session, kind: str, rep_id: str, customer_id: int, actor: str, platform: str | None,
          now: datetime, text: str) -> None:
    session.add(Activity(customer_id=customer_id, kind=kind, text=text, actor=actor, platform=platform,
                         created_at=now, data={"rep": rep_id}))
    audit.record(session, actor, f"reminder.{kind}", platform=platform, target_type="customer",
                 target_id=customer_id, detail={"rep": rep_id}, now=now)


def mute(session: Session, rep_id: str, customer_id: int, actor: str, platform: str | None,
         now: datetime) -> Mute:
    """不再提醒此客户: idempotent, a double tap keeps one mute."""
    row = active_mute(session, rep_id, customer_id)
    if row is not None:
        return row
    row = Mute(rep_id=rep_id, customer_id=customer_id, created_at=now)
    session.add(row)
    _note(session, "mute", rep_id, customer_id, actor, platform, now, "不再提醒此客户")
    session.flush()
    return row


def unmute(session: Session, rep_id: str, customer_id: int, actor: str, platform: str | None,
           now: datetime) -> bool:
    """Lift the mute; False when there was none."""
    row = active_mute(session, rep_id, customer_id)
    if row is None:
        return False
    row.lifted_at = now
    _note(session, "unmute", rep_id, customer_id, actor, platform, now, "恢复提醒此客户")
    session.flush()
    return True


def _cutoffs(cfg: AppConfig, now: datetime, hours: float) -> dict[str, tuple[datetime, list[str]]]:
    """Per clock kind: (latest last-activity time that is overdue, stages using that clock)."""
    out: dict[str, tuple[datetime, list[str]]] = {}
    for kind in ("calendar", "working"):
        stages = [s.key for s in cfg.funnel.stages if s.clock == kind and s.outcome is None]
        if stages:
            out[kind] = (clock_for(cfg, kind).add_hours(now, -hours), stages)
    return out


def idle_leads(session: Session, cfg: AppConfig, now: datetime, hours: float = FOLLOWUP_HOURS) -> list[Lead]:
    """Assigned open leads idle for `hours` and not yet reported for this idle spell."""
    conds = [and_(Lead.stage.in_(stages), Lead.last_activity_at <= cut,
                  Lead.last_activity_at > cut - timedelta(hours=LOOKBACK_HOURS))
             for cut, stages in _cutoffs(cfg, now, hours).values()]
    if not conds:
        return []
    reported = exists().where(Reminder.lead_id == Lead.id, Reminder.kind == FollowupSupervisor.kind,
                              Reminder.created_at >= Lead.last_activity_at)
    return list(session.scalars(select(Lead).where(
        Lead.status == "open", Lead.owner_rep_id.is_not(None), or_(*conds), ~reported).order_by(Lead.id)))


def scan_followups(session: Session, cfg: AppConfig, now: datetime,
                   hours: float = FOLLOWUP_HOURS) -> list[Notice]:
    """followup.supervisor for each newly idle lead, exactly once per idle spell."""
    planned: list[Notice] = []
    for lead in idle_leads(session, cfg, now, hours):
        idle_hours = round((now - lead.last_activity_at).total_seconds() / 3600, 1)
        platform = supervisor_platform(cfg, lead)
        planned += [FollowupSupervisor(to_rep=sup, lead_id=lead.id, customer_id=lead.customer_id, title=lead.title,
                                       owner=lead.owner_rep_id, stage=lead.stage, idle_hours=idle_hours,
                                       last_activity_at=lead.last_activity_at.isoformat(), platform=platform,
                                       dedupe_key=f"followup:{lead.id}:{lead.last_activity_at.isoformat()}:{sup}")
                    for sup in supervisors_for(cfg, lead)]
    return claim_notices(session, planned, now)
