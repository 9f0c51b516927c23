"""Funnel analytics from stage-change activities: stage penetration (share of leads entering
stage A that reach stage B, or a later stage short of losing, within 7 days) per rep and team,
plus the figures the fuse diagnosis card shows (team median time in a stage, rep conversion).
Entries whose window is still open are counted apart (`open`: reached so far), and
`stage_moves` counts the moves of a period (today's, in the org's time zone, by `today_moves`)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Lead

POOL_KEY = "(公海)"     # leads without an owner when they entered the stage


@dataclass
class Rate:
    entered: int = 0
    reached: int = 0

    @property
    def rate(self) -> float | None:
        return round(self.reached / self.entered, 4) if self.entered else None

    def as_dict(self) -> dict[str, Any]:
        return {"entered": self.entered, "reached": self.reached, "rate": self.rate}


@dataclass
class Penetration:
    from_stage: str
    to_stage: str
    window_days: float
    overall: Rate = field(default_factory=Rate)
    open: Rate = field(default_factory=Rate)          # entered within the window: reached so far
    by_rep: dict[str, Rate] = field(default_factory=lambda: defaultdict(Rate))
    by_team: dict[str, Rate] = field(default_factory=lambda: defaultdict(Rate))

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.from_stage, "to": self.to_stage, "window_days": self.window_days,
                "overall": self.overall.as_dict(), "open": self.open.as_dict(),
                "by_rep": {k: v.as_dict() for k, v in sorted(self.by_rep.items())},
                "by_team": {k: v.as_dict() for k, v in sorted(self.by_team.items())}}


def _stage_changes(session: Session, since: datetime, until: datetime,
                   to: str | None = None) -> list[tuple[int, datetime, dict[str, Any]]]:
    """(lead, when, what moved) of the stage changes in [since, until), only into `to` if given."""
    q = select(Activity.lead_id, Activity.created_at, Activity.data).where(
        Activity.kind == "stage", Activity.created_at >= since, Activity.created_at < until)
    if to is not None:
        q = q.where(Activity.data["to"].as_string() == to)
    # a stage change is always a lead's activity (stages.advance_stage writes it with its lead)
    return [(lid, at, d) for lid, at, d in session.execute(q) if lid is not None]


def entries(session: Session, cfg: AppConfig, stage: str, since: datetime,
            until: datetime) -> list[tuple[int, datetime, str | None, str | None]]:
    """(lead, when, owner, team) for every entry into `stage` in [since, until)."""
    out = [(lid, at, (d or {}).get("owner"), (d or {}).get("team"))
           for lid, at, d in _stage_changes(session, since, until, to=stage)]
    if cfg.funnel.stages[0].key == stage:    # leads are born in the first stage
        rows = session.execute(select(Activity.lead_id, Activity.created_at, Lead.owner_rep_id, Lead.team_id)
                               .join(Lead, Lead.id == Activity.lead_id)
                               .where(Activity.kind == "created", Activity.created_at >= since,
                                      Activity.created_at < until)).all()
        out += [(lid, at, owner, team) for lid, at, owner, team in rows if lid is not None]   # the join: never None
    return out


def reach_set(cfg: AppConfig, to_stage: str) -> set[str]:
    """Stages that count as having reached `to_stage`: it, or any later stage except a loss."""
    keys = [s.key for s in cfg.funnel.stages]
    target = cfg.funnel.stage(to_stage)
    if target is None:
        raise ValueError(f"unknown stage '{to_stage}'")
    if target.outcome is not None:
        return {to_stage}
    return {s.key for s in cfg.funnel.stages[keys.index(to_stage):] if s.outcome != "lost"}


def stage_penetration(session: Session, cfg: AppConfig, from_stage: str, to_stage: str, now: datetime,
                      *, days: float = 90, window_days: float = 7) -> Penetration:
    """Entries into `from_stage` over the last `days` whose window has closed (entered at least
    `window_days` ago), and how many reached `to_stage` within the window; entries whose window
    is still open (up to `now`, today's included) go to `open`, with what reached it so far."""
    if cfg.funnel.stage(from_stage) is None:
        raise ValueError(f"unknown stage '{from_stage}'")
    window = timedelta(days=window_days)
    since, until = now - timedelta(days=days), now - window
    found = entries(session, cfg, from_stage, since, until)
    through_now = now + timedelta(microseconds=1)          # a move at `now` itself counts
    recent = entries(session, cfg, from_stage, max(since, until), through_now)
    arrivals: dict[int, list[datetime]] = defaultdict(list)
    targets = reach_set(cfg, to_stage)
    for lid, at, d in _stage_changes(session, since, through_now):
        if (d or {}).get("to") in targets:
            arrivals[lid].append(at)
    report = Penetration(from_stage, to_stage, window_days)
    for lid, at, owner, team in found:
        hit = any(at < t <= at + window for t in arrivals.get(lid, ()))
        for rate in (report.overall, report.by_rep[owner or POOL_KEY], report.by_team[team or POOL_KEY]):
            rate.entered += 1
            rate.reached += hit
    for lid, at, _owner, _team in recent:
        report.open.entered += 1
        report.open.reached += any(at < t <= now for t in arrivals.get(lid, ()))
    return report


@dataclass(frozen=True)
class StageMove:
    from_stage: str
    to_stage: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.from_stage, "to": self.to_stage, "count": self.count}


def stage_moves(session: Session, since: datetime, until: datetime) -> list[StageMove]:
    """How many times leads moved from one stage to another in [since, until), most first."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for _lid, _at, d in _stage_changes(session, since, until):
        counts[(str((d or {}).get("from")), str((d or {}).get("to")))] += 1
    return [StageMove(a, b, n) for (a, b), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def day_start(now: datetime, tz: str) -> datetime:
    """Midnight of `now`'s day in `tz` (the org's day), as an aware time."""
    zone = ZoneInfo(tz)
    return datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone)


def today_moves(session: Session, cfg: AppConfig, now: datetime) -> list[StageMove]:
    """The stage moves made today (the org's time zone) up to and including `now`."""
    return stage_moves(session, day_start(now, cfg.app.timezone), now + timedelta(microseconds=1))  # now included


def funnel_report(session: Session, cfg: AppConfig, now: datetime, *, days: float = 90,
                  window_days: float = 7) -> list[Penetration]:
    """Penetration between consecutive open stages, and from the last open stage to won."""
    open_stages = [s.key for s in cfg.funnel.stages if s.outcome is None]
    won = [s.key for s in cfg.funnel.stages if s.outcome == "won"]
    pairs = list(zip(open_stages, open_stages[1:]))
    if open_stages and won:
        pairs.append((open_stages[-1], won[0]))
    return [stage_penetration(session, cfg, a, b, now, days=days, window_days=window_days) for a, b in pairs]


def median_hours_in_stage(session: Session, team_id: str | None, stage: str, now: datetime,
                          days: float = 90) -> float | None:
    """Median hours the team's leads spent in `stage` before leaving it (last `days`)."""
    q = select(Activity.created_at, Activity.data).where(
        Activity.kind == "stage", Activity.created_at >= now - timedelta(days=days),
        Activity.data["from"].as_string() == stage)
    if team_id is not None:
        q = q.where(Activity.data["team"].as_string() == team_id)
    spans = []
    for at, d in session.execute(q):
        entered = (d or {}).get("from_entered_at")
        if entered:
            spans.append((at - datetime.fromisoformat(entered)).total_seconds() / 3600)
    return round(median(spans), 1) if spans else None


def rep_stage_conversion(session: Session, cfg: AppConfig, rep_id: str, stage: str, now: datetime,
                         days: float = 30) -> Rate:
    """Of the rep's leads that were in `stage` during the last `days`, how many moved forward."""
    keys = [s.key for s in cfg.funnel.stages]
    forward = {s.key for s in cfg.funnel.stages[keys.index(stage) + 1:] if s.outcome != "lost"}
    seen: set[int] = set()
    advanced: set[int] = set()
    for lid, _at, d in _stage_changes(session, now - timedelta(days=days), now):
        d = d or {}
        if d.get("owner") != rep_id or stage not in (d.get("from"), d.get("to")):
            continue
        seen.add(lid)
        if d.get("from") == stage and d.get("to") in forward:
            advanced.add(lid)
    seen |= set(session.scalars(select(Lead.id).where(
        Lead.owner_rep_id == rep_id, Lead.stage == stage, Lead.stage_entered_at >= now - timedelta(days=days))))
    return Rate(entered=len(seen), reached=len(advanced))
