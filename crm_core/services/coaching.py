"""The coaching push (辅导推送): per rep and watched stage pair A → B, the weekly stage penetration
(of the leads the rep held when they entered A during a week, Monday to Sunday in the org's time
zone, how many reached B, or a later stage short of losing, within `coaching.window_days`;
crm_core/services/funnel_report.py `stage_penetration` counts it). A week is judged once it is
complete (its last entry's window has closed) and only with `min_entries` entries or more, so
one lead never decides it. Below `min_rate` for `weeks` complete weeks running, the rep and the
supervisors of the rep's teams get a card naming the stage and the figures, with the stage's
configured material, once per spell: the dedupe key carries the spell's first low week
(`reminders.claim_notices`), so the fourth low week of the same spell sends nothing and a new
spell after a good week starts over."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.notices import CoachingPush, CoachingWeek
from crm_core.services.funnel_report import POOL_KEY, Rate, stage_penetration
from crm_core.services.reminders import claim_notices

LOOKBACK_WEEKS = 26          # how far back a spell's first low week is looked for


def watched_pairs(cfg: AppConfig) -> list[tuple[str, str]]:
    """The configured pairs, else each open stage to the next and the last open stage to won."""
    if cfg.coaching.pairs:
        return [(a, b) for a, b in cfg.coaching.pairs]
    open_stages = [s.key for s in cfg.funnel.stages if s.outcome is None]
    won = [s.key for s in cfg.funnel.stages if s.outcome == "won"]
    pairs = list(zip(open_stages, open_stages[1:]))
    if open_stages and won:
        pairs.append((open_stages[-1], won[0]))
    return pairs


def week_bounds(cfg: AppConfig, monday: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(cfg.app.timezone)
    start = datetime.combine(monday, time(), tzinfo=zone)
    return start, start + timedelta(days=7)


def last_complete_week(cfg: AppConfig, now: datetime) -> date:
    """The Monday of the latest week whose every entry's window has closed by `now`."""
    today = local(now, cfg.app.timezone).date()
    monday = today - timedelta(days=today.weekday())
    window = timedelta(days=cfg.coaching.window_days)
    while week_bounds(cfg, monday)[1] + window > now:
        monday -= timedelta(days=7)
    return monday


def week_rates(session: Session, cfg: AppConfig, a: str, b: str, monday: date) -> dict[str, Rate]:
    """Per rep: entries into `a` during the week and how many reached `b` within the window."""
    start, end = week_bounds(cfg, monday)
    window = cfg.coaching.window_days
    report = stage_penetration(session, cfg, a, b, end + timedelta(days=window), days=7 + window,
                               window_days=window)
    return {rep: rate for rep, rate in report.by_rep.items() if rep != POOL_KEY}


def _low(cfg: AppConfig, rate: Rate | None) -> bool:
    return rate is not None and rate.entered >= cfg.coaching.min_entries and \
        rate.reached / rate.entered < cfg.coaching.min_rate


def scan_coaching(session: Session, cfg: AppConfig, now: datetime) -> list[CoachingPush]:
    """The coaching cards due now, each claimed once (rep's and each supervisor's)."""
    c = cfg.coaching
    if not c.enabled:
        return []
    last = last_complete_week(cfg, now)
    notices: list[CoachingPush] = []
    for a, b in watched_pairs(cfg):
        if cfg.funnel.stage(a) is None or cfg.funnel.stage(b) is None:
            continue
        cache: dict[date, dict[str, Rate]] = {}

        def rates(monday: date, a: str = a, b: str = b) -> dict[str, Rate]:
            if monday not in cache:
                cache[monday] = week_rates(session, cfg, a, b, monday)
            return cache[monday]

        weeks = [last - timedelta(days=7 * i) for i in range(c.weeks)]
        for rep_id in sorted(rates(last)):
            rep = cfg.org.rep(rep_id)
            if rep is None or rep.availability == "departed" or not all(_low(cfg, rates(w).get(rep_id)) for w in weeks):
                continue
            first = _spell_start(cfg, rates, rep_id, weeks[-1])
            notices += _pushes(cfg, rep_id, a, b, [(w, rates(w)[rep_id]) for w in reversed(weeks)], first)
    return claim_notices(session, list(notices), now) if notices else []  # type: ignore[return-value]


def _spell_start(cfg: AppConfig, rates: Callable[[date], dict[str, Rate]], rep_id: str, earliest: date) -> date:
    first = earliest
    for _ in range(LOOKBACK_WEEKS):
        before = first - timedelta(days=7)
        if not _low(cfg, rates(before).get(rep_id)):
            break
        first = before
    return first


def _pushes(cfg: AppConfig, rep_id: str, a: str, b: str, weeks: list[tuple[date, Rate]],
            first: date) -> list[CoachingPush]:
    rep = cfg.org.rep(rep_id)
    stage_a, stage_b = cfg.funnel.stage(a), cfg.funnel.stage(b)
    material = cfg.coaching.material.get(a)
    base = dict(rep=rep_id, rep_name=rep.name if rep else rep_id, from_stage=a, to_stage=b,
                from_name=stage_a.name if stage_a else a, to_name=stage_b.name if stage_b else b,
                weeks=tuple(CoachingWeek(w.isoformat(), r.entered, r.reached) for w, r in weeks),
                min_rate=cfg.coaching.min_rate, window_days=cfg.coaching.window_days,
                material=material.text if material else None, link=material.link if material else None)
    key = f"coaching:{rep_id}:{a}>{b}:{first.isoformat()}"
    out = [CoachingPush(to_rep=rep_id, dedupe_key=f"{key}:rep", **base)]      # type: ignore[arg-type]
    supervisors = {t.supervisor for t in cfg.org.teams_of(rep_id)} - {rep_id}
    out += [CoachingPush(to_rep=sup, as_supervisor=True, dedupe_key=f"{key}:sup:{sup}", **base)  # type: ignore[arg-type]
            for sup in sorted(supervisors) if cfg.org.rep(sup) is not None]
    return out
