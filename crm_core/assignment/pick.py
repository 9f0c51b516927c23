"""Choosing the rep inside a team: round-robin, weighted (smooth weighted round-robin) or
least open leads. Reps on leave, departed or without the receive_leads role are skipped;
reps taken out of the priority rotation today only get a lead when nobody else can."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.config.schema import AppConfig, Rep, Team
from crm_core.db.models import Lead
from crm_core.kv.base import KV
from crm_core.worktime import next_local_midnight

AVAILABILITY_LABELS = {"on_leave": "休假中", "departed": "已离职"}


def pause_key(rep_id: str) -> str:
    return f"routing:paused:{rep_id}"


def _local_day(now: datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def is_paused(kv: KV, rep_id: str, now: datetime, tz: str = "Asia/Shanghai") -> bool:
    """Out of the priority rotation today? The stored value is the local day it applies to,
    so the flag ends at midnight even when the store's own expiry runs on another clock."""
    return kv.get(pause_key(rep_id)) == _local_day(now, tz)


def pause_for_today(kv: KV, rep_id: str, now: datetime, tz: str = "Asia/Shanghai") -> None:
    ttl = max(1.0, (next_local_midnight(now, tz) - now).total_seconds())
    kv.set(pause_key(rep_id), _local_day(now, tz), ttl=ttl)


def skip_reason(rep: Rep | None) -> str | None:
    """Why a team member cannot receive leads (None: eligible)."""
    if rep is None:
        return "配置中不存在"
    if rep.availability != "active":
        return AVAILABILITY_LABELS[rep.availability]
    if "receive_leads" not in rep.roles:
        return "没有接收线索角色"
    return None


@dataclass
class Pick:
    rep: Rep | None
    strategy: str
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (rep id, why)
    paused: list[str] = field(default_factory=list)                # out of priority rotation
    from_paused: bool = False                                      # nobody else could take it
    open_counts: dict[str, int] = field(default_factory=dict)


def open_counts(session: Session, rep_ids: list[str]) -> dict[str, int]:
    """Open leads held by each rep (one grouped query)."""
    rows = session.execute(select(Lead.owner_rep_id, func.count()).where(
        Lead.status == "open", Lead.owner_rep_id.in_(rep_ids)).group_by(Lead.owner_rep_id)).all()
    counts = {r: 0 for r in rep_ids}
    counts.update({owner: n for owner, n in rows if owner is not None})   # IN () never matches NULL
    return counts


def weighted_sequence(reps: list[Rep]) -> list[Rep]:
    """One cycle of smooth weighted round-robin: weight 2 gets two turns, spread out."""
    weights = {r.id: r.weight for r in reps if r.weight > 0} or {r.id: 1 for r in reps}
    current = dict.fromkeys(weights, 0)
    total, by_id, seq = sum(weights.values()), {r.id: r for r in reps}, []
    for _ in range(total):
        for rid, w in weights.items():
            current[rid] += w
        best = max(weights, key=lambda rid: current[rid])   # first max wins: stable order
        current[best] -= total
        seq.append(by_id[best])
    return seq


def _turn(kv: KV, key: str, dry_run: bool) -> int:
    """0-based turn number for a team's rotation (peeking never advances it)."""
    if dry_run:
        return int(kv.get(key) or 0)
    return kv.incr(key) - 1


def _choose(pool: list[Rep], strategy: str, turn: int, counts: dict[str, int]) -> Rep:
    if strategy == "weighted":
        seq = weighted_sequence(pool)
        return seq[turn % len(seq)]
    if strategy == "least_open":
        low = min(counts.get(r.id, 0) for r in pool)
        tied = [r for r in pool if counts.get(r.id, 0) == low]
        return tied[turn % len(tied)]
    return pool[turn % len(pool)]


def pick_rep(session: Session, cfg: AppConfig, kv: KV, team: Team, strategy: str, now: datetime,
             dry_run: bool = False) -> Pick:
    """The rep of `team` who gets the next lead, with who was skipped and why."""
    result = Pick(rep=None, strategy=strategy)
    ready: list[Rep] = []
    paused: list[Rep] = []
    for rep_id in team.members:
        rep = cfg.org.rep(rep_id)
        why = skip_reason(rep)
        if why:
            result.skipped.append((rep_id, why))
            continue
        assert rep is not None                  # skip_reason() gives a reason for a missing rep
        if is_paused(kv, rep.id, now, cfg.app.timezone):
            paused.append(rep)
        else:
            ready.append(rep)
    result.paused = [r.id for r in paused]
    pool = ready or paused
    if not pool:
        return result
    result.from_paused = not ready
    if strategy == "least_open":
        result.open_counts = open_counts(session, [r.id for r in pool])
    turn = _turn(kv, f"assign:turn:{team.id}:{strategy}", dry_run)
    result.rep = _choose(pool, strategy, turn, result.open_counts)
    return result
