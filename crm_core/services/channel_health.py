"""Message-sync health per channel, from InboundMessage rows (platform timestamp → processed):
current latency (last 15 min), yesterday's average (business-local day), the 7-day share
under 300 ms, and cumulative latency buckets for the Prometheus histogram. Every query is a
range on the indexed `processed_at` column, aggregated in the database."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from crm_core.config.schema import AppConfig
from crm_core.db.models import InboundMessage

TARGET_MS = 300.0                     # "in sync": processed within 300 ms of the platform's time
CURRENT_WINDOW = timedelta(minutes=15)
WEEK = timedelta(days=7)
BUCKETS_MS = (50, 100, 200, 300, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000)


@dataclass(frozen=True)
class WindowStats:
    count: int = 0
    avg_ms: float | None = None
    under_target: int = 0


@dataclass(frozen=True)
class ChannelHealth:
    platform: str
    current_ms: float | None          # average latency over the last 15 minutes
    current_count: int
    last_ms: float | None             # the most recent message (within 7 days)
    last_at: datetime | None
    yesterday_avg_ms: float | None
    yesterday_count: int
    share_under_300ms_7d: float | None
    count_7d: int

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["last_at"] = self.last_at.isoformat() if self.last_at else None
        for k in ("current_ms", "last_ms", "yesterday_avg_ms"):
            d[k] = round(d[k], 1) if d[k] is not None else None
        return d


@dataclass(frozen=True)
class Buckets:
    """Cumulative counts per upper bound (ms), total count and sum, for one platform."""
    cumulative: tuple[int, ...]
    count: int
    sum_ms: float


def _done_in(since: datetime | None, until: datetime) -> list[ColumnElement[bool]]:
    conds = [InboundMessage.processed_at <= until, InboundMessage.latency_ms.is_not(None)]
    if since is not None:
        conds.append(InboundMessage.processed_at > since)
    return conds


def window_stats(session: Session, since: datetime, until: datetime) -> dict[str, WindowStats]:
    """Per platform: messages processed in (since, until], their average latency and how
    many were under the target."""
    under = func.sum(case((InboundMessage.latency_ms < TARGET_MS, 1), else_=0))
    rows = session.execute(
        select(InboundMessage.platform, func.count(), func.avg(InboundMessage.latency_ms), under)
        .where(*_done_in(since, until)).group_by(InboundMessage.platform))
    return {p: WindowStats(int(n), float(avg) if avg is not None else None, int(u or 0))
            for p, n, avg, u in rows}


def latest(session: Session, platform: str, since: datetime, until: datetime) -> tuple[float | None, datetime | None]:
    row = session.execute(
        select(InboundMessage.latency_ms, InboundMessage.processed_at)
        .where(InboundMessage.platform == platform, *_done_in(since, until))
        .order_by(InboundMessage.processed_at.desc()).limit(1)).first()
    if row is None:
        return None, None
    latency, at = row                     # latency is never NULL here: _done_in filters it
    return (float(latency) if latency is not None else None), at


def local_day_start(now: datetime, tz: str) -> datetime:
    zone = ZoneInfo(tz)
    return datetime.combine(now.astimezone(zone).date(), time(0), zone)


def channel_health(session: Session, cfg: AppConfig, now: datetime,
                   platforms: list[str] | None = None) -> dict[str, ChannelHealth]:
    """Health of every enabled platform (and any other that has messages in the week)."""
    today = local_day_start(now, cfg.app.timezone)
    current = window_stats(session, now - CURRENT_WINDOW, now)
    yesterday = window_stats(session, today - timedelta(days=1), today)
    week = window_stats(session, now - WEEK, now)
    names = platforms if platforms is not None else sorted(set(cfg.platforms.enabled()) | set(week))
    out = {}
    for p in names:
        cur, yd, wk = current.get(p, WindowStats()), yesterday.get(p, WindowStats()), week.get(p, WindowStats())
        last_ms, last_at = latest(session, p, now - WEEK, now)
        out[p] = ChannelHealth(p, cur.avg_ms, cur.count, last_ms, last_at, yd.avg_ms, yd.count,
                               round(wk.under_target / wk.count, 4) if wk.count else None, wk.count)
    return out


def latency_buckets(session: Session, since: datetime | None, until: datetime,
                    bounds: tuple[float, ...] = BUCKETS_MS) -> dict[str, Buckets]:
    """Histogram counts of messages processed in (since, until] (since=None: from the start)."""
    cols = [func.sum(case((InboundMessage.latency_ms <= b, 1), else_=0)) for b in bounds]
    rows = session.execute(
        select(InboundMessage.platform, func.count(), func.sum(InboundMessage.latency_ms), *cols)
        .where(*_done_in(since, until)).group_by(InboundMessage.platform))
    return {r[0]: Buckets(tuple(int(c or 0) for c in r[3:]), int(r[1]), float(r[2] or 0.0)) for r in rows}
