"""The public pool (公海): owned leads with no follow-up for N days, or not won within M days
of being taken, return to the pool, with a warning to the owner K days before (N, M, K, the
cool-down and the default holding limit: the config's `pool:` section). The former
owner waits out a cool-down before reclaiming; claims respect a per-rep holding limit; phone
numbers stay masked for anyone the policy does not show them to. Who may claim and see what is
decided by crm_core/authz.py; this module loads the facts it judges."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from crm_core.authz import Action, ClaimFacts, Principal, decide
from crm_core.config.schema import AppConfig, Rep
from crm_core.db.models import Contact, Customer, Lead, Task
from crm_core.normalize import mask_phone
from crm_core.notices import Notice, PoolReturned, PoolWarning
from crm_core.services.access import lead_facts
from crm_core.services.assign import give_lead, record_assignment
from crm_core.services.reminders import once
from crm_core.services.stages import reset_fuse
from crm_core.visibility import Viewer


class PoolError(ValueError):
    """A claim that is refused; the message is for the rep."""


@dataclass(frozen=True)
class PoolPolicy:
    """The config's `pool:` section (defaults in crm_core/config/schema.py `Pool`)."""
    idle_days: float = 30            # N: no follow-up for this long → back to the pool
    max_open_days: float = 90        # M: not won this long after being taken → back to the pool
    warn_days_before: float = 3      # K: warning card to the owner this long before
    cooldown_days: float = 7         # the former owner may not reclaim during this
    max_holding: int | None = None   # default holding limit when a rep has no max_open_leads

    @classmethod
    def from_config(cls, cfg: AppConfig) -> "PoolPolicy":
        p = cfg.pool
        return cls(idle_days=p.idle_days, max_open_days=p.max_open_days, warn_days_before=p.warn_days_before,
                   cooldown_days=p.cooldown_days, max_holding=p.max_holding)


def _held_since(lead: Lead) -> datetime:
    raw = (lead.details or {}).get("assigned_at")
    return datetime.fromisoformat(raw) if raw else lead.created_at


def return_due(lead: Lead, policy: PoolPolicy) -> tuple[datetime, str]:
    """When the lead goes back to the pool, and why."""
    held = _held_since(lead)
    # a fresh owner gets the full idle period even if the last follow-up was someone else's
    idle = max(lead.last_activity_at, held) + timedelta(days=policy.idle_days)
    stale = held + timedelta(days=policy.max_open_days)
    if idle <= stale:
        return idle, f"{policy.idle_days:g} 天未跟进"
    return stale, f"领取后 {policy.max_open_days:g} 天未赢单"


def scan_pool(session: Session, cfg: AppConfig, now: datetime, policy: PoolPolicy | None = None) -> list[Notice]:
    """Warn owners K days ahead (once per due date) and return leads that are due."""
    policy = policy or PoolPolicy.from_config(cfg)
    warn = timedelta(days=policy.warn_days_before)
    # created_at <= held-since, so this prefilter is a superset of the stale leads.
    rows = session.scalars(select(Lead).where(
        Lead.status == "open", Lead.owner_rep_id.is_not(None),
        or_(Lead.last_activity_at <= now + warn - timedelta(days=policy.idle_days),
            Lead.created_at <= now + warn - timedelta(days=policy.max_open_days))).order_by(Lead.id)).all()
    notices: list[Notice] = []
    for lead in rows:
        due, why = return_due(lead, policy)
        if now >= due:
            notices += return_to_pool(session, cfg, lead, now, why, policy=policy)
        elif now >= due - warn and lead.owner_rep_id is not None:      # the query selects owned leads
            key = f"pool-warn:{lead.id}:{due:%Y%m%dT%H%M}"
            if once(session, key, PoolWarning.kind, lead, lead.owner_rep_id, now):
                notices.append(PoolWarning(to_rep=lead.owner_rep_id, lead_id=lead.id, customer_id=lead.customer_id,
                                           title=lead.title, return_at=due.isoformat(), reason=why,
                                           days_left=round((due - now).total_seconds() / 86400, 1), dedupe_key=key))
    return notices


def return_to_pool(session: Session, cfg: AppConfig, lead: Lead, now: datetime, reason: str,
                   actor: str = "system", policy: PoolPolicy | None = None) -> list[Notice]:
    """Take the lead from its owner into the team's pool; the former owner is told."""
    policy = policy or PoolPolicy.from_config(cfg)
    former = lead.owner_rep_id
    until = now + timedelta(days=policy.cooldown_days)
    lead.details = {**(lead.details or {}), "pool": {
        "former_owner": former, "returned_at": now.isoformat(), "cooldown_until": until.isoformat(), "reason": reason}}
    lead.owner_rep_id, lead.status, lead.fuse_deadline, lead.fuse_level = None, "pool", None, 0
    for task in session.scalars(select(Task).where(Task.lead_id == lead.id, Task.status == "open")):
        task.owner_rep_id = None
    _release_customer(session, lead, former)
    row = record_assignment(session, lead, None, lead.team_id, f"退回公海:{reason}", actor, now)
    if former is None:
        return []
    return [PoolReturned(to_rep=former, lead_id=lead.id, customer_id=lead.customer_id, title=lead.title, reason=reason,
                         cooldown_until=until.isoformat(), dedupe_key=f"pool-returned:{lead.id}:{row.id}")]


def _release_customer(session: Session, lead: Lead, former: str | None) -> None:
    """The customer stops being the former owner's unless they still hold another open lead on it."""
    customer = session.get(Customer, lead.customer_id)
    if customer is None or former is None or customer.owner_rep_id != former:
        return
    session.flush()
    still = session.scalar(select(func.count()).select_from(Lead).where(
        Lead.customer_id == lead.customer_id, Lead.owner_rep_id == former, Lead.status == "open"))
    if not still:
        customer.owner_rep_id = None


def holding_limit(cfg: AppConfig, rep_id: str, policy: PoolPolicy) -> int | None:
    rep = cfg.org.rep(rep_id)
    return rep.max_open_leads if rep and rep.max_open_leads else policy.max_holding


def _check_claim(session: Session, cfg: AppConfig, lead: Lead, rep_id: str, now: datetime,
                 policy: PoolPolicy) -> Rep:
    """The claiming rep, when the policy allows the claim (Action.CLAIM, judged on the lead and
    the claimer's holding and cool-down as they are now); else PoolError says why not."""
    rep = cfg.org.rep(rep_id)
    if rep is None:
        raise PoolError("无法领取:配置中不存在。")
    info = (lead.details or {}).get("pool") or {}
    until = info.get("cooldown_until")
    held = session.scalar(select(func.count()).select_from(Lead).where(
        Lead.owner_rep_id == rep_id, Lead.status == "open")) or 0
    facts = ClaimFacts(lead=lead_facts(lead), now=now, held_open=held, holding_limit=holding_limit(cfg, rep_id, policy),
                       former_owner=info.get("former_owner"),
                       cooldown_until=datetime.fromisoformat(until) if until else None)
    verdict = decide(cfg, Principal.of(rep), Action.CLAIM, facts)
    if not verdict:
        raise PoolError(verdict.reason)
    return rep


def claim_from_pool(session: Session, cfg: AppConfig, lead: Lead, rep_id: str, now: datetime,
                    policy: PoolPolicy | None = None) -> list[Notice]:
    """A rep takes a lead from the pool (first claimer wins, even across processes)."""
    policy = policy or PoolPolicy.from_config(cfg)
    rep = _check_claim(session, cfg, lead, rep_id, now, policy)
    # an UPDATE runs to a CursorResult; Session.execute is typed as returning a plain Result
    won = cast("CursorResult[Any]", session.execute(
        update(Lead).where(Lead.id == lead.id, Lead.owner_rep_id.is_(None))
        .values(owner_rep_id=rep_id).execution_options(synchronize_session=False))).rowcount
    if won != 1:
        raise PoolError("手慢了,该线索已被其他同事领取")
    team_ids = [t.id for t in cfg.org.teams_of(rep_id)]
    team_id = lead.team_id if lead.team_id in team_ids or not team_ids else team_ids[0]
    _, notice = give_lead(session, lead, rep, team_id, f"公海领取 → {rep.name}", rep_id, now)
    reset_fuse(cfg, lead, now)
    return [notice]


def visible_phone(session: Session, cfg: AppConfig, lead: Lead, viewer_rep: str | None) -> str | None:
    """The lead's phone as `viewer_rep` may see it: in full when the policy allows
    (Action.VIEW_PHONE: the owner, the lead's supervisors, admins), else masked like 138****5678."""
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    phone = contact.phone if contact else None
    if phone is None:
        return None
    rep = cfg.org.rep(viewer_rep) if viewer_rep else None
    if rep is None:
        return mask_phone(phone)
    # the viewer's roles (crm_core/visibility.py) over the policy's VIEW_PHONE: None when hidden
    shown = Viewer.of(cfg, Principal.of(rep)).show("phone", phone, lead_facts(lead))
    return None if shown is None else str(shown)
