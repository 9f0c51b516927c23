"""GET /metrics (Prometheus text via prometheus-client; bearer token when `app.metrics_token`
is set) and GET /api/v1/health/channels (JSON, bearer token). The collector lives in a registry kept on the Flask app, so two apps in one
process never share state. Latency histograms are cumulative from the database and read
incrementally: each scrape only aggregates rows processed since the previous one."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.web.api import WithStatus, bearer_error, require
from bot.web.context import current_runtime, runtime_of
from crm_core.authz import Action
from crm_core.db.models import OutboundMessage
from crm_core.kv.keys import ALL_QUEUES
from crm_core.services.channel_health import BUCKETS_MS, TARGET_MS, channel_health, latency_buckets
from scheduler.heartbeat import channel_states

log = logging.getLogger("crm_bot.metrics")
metrics = Blueprint("metrics", __name__)

# A row processed this recently may still be committing in another process; the cursor
# stays this far behind "now" so no row is skipped.
SCRAPE_LAG = timedelta(seconds=5)
OUTBOUND_WINDOW = timedelta(hours=24)
_registry_lock = threading.Lock()


def queue_names(rt: Runtime) -> list[str]:
    """Every queue a worker serves (the same table `crm-bot worker` runs)."""
    return sorted(ALL_QUEUES)


class CrmCollector:
    """Custom collector for one runtime. Keeps the latency histogram's running totals."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        self._cursor: datetime | None = None      # processed_at up to which rows are counted
        self._totals: dict[str, tuple[list[int], int, float]] = {}

    def describe(self) -> list[Metric]:
        return []                                 # names vary with config: no up-front describe

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily("crmbot_scrape_error", "1 when a section of this scrape failed",
                                   labels=["section"])
        for section, fn in (("latency", self._latency), ("queues", self._queues),
                            ("outbound", self._outbound)):
            try:
                yield from fn()
                errors.add_metric([section], 0)
            except Exception:  # noqa: BLE001 - a scrape must still answer when Redis or the DB is down
                log.exception("metrics section %s failed", section)
                errors.add_metric([section], 1)
        yield errors

    def _advance(self) -> None:
        until = self.rt.clock() - SCRAPE_LAG
        if self._cursor is not None and until <= self._cursor:
            return
        with self.rt.db.uow() as s:
            fresh = latency_buckets(s, self._cursor, until)
        for platform, b in fresh.items():
            cum, count, total = self._totals.get(platform, ([0] * len(BUCKETS_MS), 0, 0.0))
            self._totals[platform] = ([x + y for x, y in zip(cum, b.cumulative)], count + b.count, total + b.sum_ms)
        self._cursor = until

    def _latency(self) -> Iterator[Metric]:
        with self._lock:
            self._advance()
            totals = dict(self._totals)
        hist = HistogramMetricFamily("crmbot_inbound_latency_seconds",
                                     "Inbound message latency: platform timestamp to processed",
                                     labels=["platform"])
        for platform in sorted(set(self.rt.channels) | set(totals)):
            cum, count, total = totals.get(platform, ([0] * len(BUCKETS_MS), 0, 0.0))
            buckets = [(floatToGoString(b / 1000), c) for b, c in zip(BUCKETS_MS, cum)] + [("+Inf", count)]
            hist.add_metric([platform], buckets, sum_value=total / 1000)
        yield hist

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("crmbot_queue_messages", "Messages in a work queue by state",
                                  labels=["queue", "state"])
        dead = GaugeMetricFamily("crmbot_queue_dead_letters", "Dead-lettered messages per queue",
                                 labels=["queue"])
        age = GaugeMetricFamily("crmbot_queue_oldest_ready_age_seconds",
                                "Age of the oldest ready message (0 when empty)", labels=["queue"])
        for name in queue_names(self.rt):
            st = self.rt.kv.queue(name).stats()
            depth.add_metric([name, "ready"], st.ready)
            depth.add_metric([name, "inflight"], st.inflight)
            dead.add_metric([name], st.dead)
            age.add_metric([name], st.oldest_ready_age or 0.0)
        yield from (depth, dead, age)

    def _outbound(self) -> Iterator[Metric]:
        since = self.rt.clock() - OUTBOUND_WINDOW
        with self.rt.db.uow() as s:
            recent = s.execute(select(OutboundMessage.platform, OutboundMessage.status, func.count())
                               .where(OutboundMessage.created_at >= since)
                               .group_by(OutboundMessage.platform, OutboundMessage.status)).all()
            dead = s.execute(select(OutboundMessage.platform, func.count())
                             .where(OutboundMessage.status == "dead").group_by(OutboundMessage.platform)).all()
        by_status = GaugeMetricFamily("crmbot_outbound_messages_24h",
                                      "Outbound messages created in the last 24 h, by status",
                                      labels=["platform", "status"])
        for platform, status, n in recent:
            by_status.add_metric([platform, status], n)
        dead_g = GaugeMetricFamily("crmbot_outbound_dead", "Outbound messages in the dead-letter list",
                                   labels=["platform"])
        for platform, n in dead:
            dead_g.add_metric([platform], n)
        yield from (by_status, dead_g)


def registry_for(app: Flask) -> CollectorRegistry:
    """The app's own registry (built on first use)."""
    with _registry_lock:
        reg = app.extensions.get("crm_metrics_registry")
        if reg is None:
            reg = CollectorRegistry(auto_describe=False)
            reg.register(CrmCollector(runtime_of(app)))
            app.extensions["crm_metrics_registry"] = reg
        return reg


@metrics.get("/metrics")
def prometheus() -> Response | WithStatus:
    token = current_runtime().cfg.app.metrics_token
    if token is not None:     # Prometheus: `authorization: {credentials: <token>}` in the scrape job
        denied = bearer_error([token.get_secret_value().encode()])
        if denied is not None:
            return denied
    body = generate_latest(registry_for(current_app))
    return Response(body, content_type=CONTENT_TYPE_LATEST)


@metrics.get("/api/v1/health/channels")
@require(Action.API_READ)
def health_channels() -> Response:
    rt = current_runtime()
    now = rt.clock()
    with rt.db.uow() as s:
        health = channel_health(s, rt.cfg, now)
    states = channel_states(rt)
    channels = {p: {**h.as_dict(), "heartbeat": states.get(p)} for p, h in health.items()}
    queues: dict[str, dict[str, Any]] = {}
    for name in queue_names(rt):
        st = rt.kv.queue(name).stats()
        queues[name] = {"ready": st.ready, "inflight": st.inflight, "dead": st.dead,
                        "oldest_ready_age_seconds": st.oldest_ready_age}
    return jsonify({"generated_at": now.isoformat(), "target_ms": TARGET_MS,
                    "channels": channels, "queues": queues})
