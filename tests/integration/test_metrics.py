"""GET /metrics parses with the Prometheus text parser and carries per-channel latency
histograms (cumulative, read incrementally, per app), queue depth and dead letters, and
outbound status counts; GET /api/v1/health/channels needs the bearer token and reports
current latency, yesterday's average and the 7-day share under 300 ms."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.web import create_app
from bot.web.metrics import SCRAPE_LAG, metrics
from crm_core.db.models import InboundMessage, OutboundMessage
from crm_core.services.channel_health import BUCKETS_MS

TOKEN = "change-me-local-token"          # the example config's default api token
YESTERDAY_NOON = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)    # 12:00 Shanghai, the day before


def add_messages(db, platform: str, latencies: list[float], at: datetime) -> None:  # noqa: ANN001
    with db.uow() as s:
        for i, ms in enumerate(latencies):
            s.add(InboundMessage(platform=platform, event_id=f"{platform}-{at.timestamp()}-{i}", kind="text",
                                 received_at=at, processed_at=at, latency_ms=ms, status="done"))


def app_for(runtime):  # noqa: ANN001, ANN201
    app = create_app(runtime)
    if "metrics" not in app.blueprints:
        app.register_blueprint(metrics)
    return app.test_client()


def scrape(client) -> dict:  # noqa: ANN001
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(resp.get_data(as_text=True))}


def histogram(families: dict, platform: str) -> tuple[dict[float, float], float, float]:
    fam = families["crmbot_inbound_latency_seconds"]
    assert fam.type == "histogram"
    mine = [s for s in fam.samples if s.labels.get("platform") == platform]
    buckets = {float(s.labels["le"]): s.value for s in mine if s.name.endswith("_bucket")}
    count = next(s.value for s in mine if s.name.endswith("_count"))
    total = next(s.value for s in mine if s.name.endswith("_sum"))
    return buckets, count, total


def expected_buckets(latencies: list[float]) -> dict[float, float]:
    out = {b / 1000: float(sum(ms <= b for ms in latencies)) for b in BUCKETS_MS}
    out[float("inf")] = float(len(latencies))
    return out


WECOM = [50, 120, 250, 280, 400, 1500, 45_000]
FEISHU = [90, 310]


def test_metrics_latency_histograms_per_channel(runtime, db, clock):  # noqa: ANN001
    add_messages(db, "wecom", WECOM, clock.now - timedelta(minutes=3))
    add_messages(db, "feishu", FEISHU, YESTERDAY_NOON)
    client = app_for(runtime)
    fams = scrape(client)
    for platform, lat in (("wecom", WECOM), ("feishu", FEISHU), ("dingtalk", [])):
        buckets, count, total = histogram(fams, platform)
        assert buckets == expected_buckets(lat) and count == len(lat)
        assert total == pytest.approx(sum(lat) / 1000)
    # later rows: counted once, on the first scrape after they are older than the lag
    clock.advance(minutes=1)
    add_messages(db, "wecom", [30, 700], clock.now - SCRAPE_LAG / 2)
    assert histogram(scrape(client), "wecom")[1] == len(WECOM)
    clock.advance(seconds=SCRAPE_LAG.total_seconds())
    buckets, count, _ = histogram(scrape(client), "wecom")
    assert count == len(WECOM) + 2 and buckets == expected_buckets(WECOM + [30, 700])
    assert histogram(scrape(client), "wecom")[1] == len(WECOM) + 2       # no double counting
    # a second app in the same process has its own registry and its own totals
    other = app_for(runtime)
    assert histogram(scrape(other), "wecom")[1] == len(WECOM) + 2


def test_metrics_queues_and_outbound(runtime, db, clock):  # noqa: ANN001
    inbound = runtime.kv.queue("inbound")
    for i in range(3):
        inbound.put({"event": {"n": i}})
    taken = inbound.take(visibility_timeout=60)
    inbound.dead_letter(taken, "test")
    inbound.take(visibility_timeout=60)                      # one in flight
    with db.uow() as s:
        for status, n in (("sent", 4), ("dead", 2), ("queued", 1)):
            for _ in range(n):
                s.add(OutboundMessage(platform="wecom", recipient="zhangwei", kind="text", status=status,
                                      body={}, created_at=clock.now - timedelta(hours=1)))
        s.add(OutboundMessage(platform="wecom", recipient="x", kind="text", status="sent", body={},
                              created_at=clock.now - timedelta(days=3)))          # outside the 24 h window
    fams = scrape(app_for(runtime))
    depth = {(s.labels["queue"], s.labels["state"]): s.value for s in fams["crmbot_queue_messages"].samples}
    assert depth[("inbound", "ready")] == 1 and depth[("inbound", "inflight")] == 1
    assert ("outbound", "ready") in depth                    # every worker queue is listed
    dead = {s.labels["queue"]: s.value for s in fams["crmbot_queue_dead_letters"].samples}
    assert dead["inbound"] == 1
    out = {(s.labels["platform"], s.labels["status"]): s.value for s in fams["crmbot_outbound_messages_24h"].samples}
    assert out == {("wecom", "sent"): 4, ("wecom", "dead"): 2, ("wecom", "queued"): 1}
    assert {s.labels["platform"]: s.value for s in fams["crmbot_outbound_dead"].samples} == {"wecom": 2}
    assert all(s.value == 0 for s in fams["crmbot_scrape_error"].samples)


def test_health_channels_api(runtime, db, clock):  # noqa: ANN001
    add_messages(db, "wecom", [100, 200, 900], clock.now - timedelta(minutes=5))
    add_messages(db, "wecom", [1000], clock.now - timedelta(hours=2))
    add_messages(db, "wecom", [100, 500], YESTERDAY_NOON)
    add_messages(db, "wecom", [50], clock.now - timedelta(days=8))                 # older than a week
    client = app_for(runtime)
    assert client.get("/api/v1/health/channels").status_code == 401
    assert client.get("/api/v1/health/channels", headers={"Authorization": "Bearer nope"}).status_code == 401
    resp = client.get("/api/v1/health/channels", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    body = resp.get_json()
    wecom = body["channels"]["wecom"]
    assert wecom["current_ms"] == pytest.approx(400.0) and wecom["current_count"] == 3
    assert wecom["yesterday_avg_ms"] == pytest.approx(300.0) and wecom["yesterday_count"] == 2
    week = [100, 200, 900, 1000, 100, 500]
    assert wecom["count_7d"] == len(week)
    assert wecom["share_under_300ms_7d"] == pytest.approx(sum(x < 300 for x in week) / len(week), abs=1e-4)
    assert set(body["channels"]) >= {"wecom", "dingtalk", "feishu"} and body["channels"]["feishu"]["count_7d"] == 0
    assert body["queues"]["inbound"]["ready"] == 0


def test_metrics_token_when_configured(runtime, db, clock):  # noqa: ANN001
    from pydantic import SecretStr
    open_client = app_for(runtime)
    assert open_client.get("/metrics").status_code == 200          # unset: open, as before
    app_cfg = runtime.cfg.app.model_copy(update={"metrics_token": SecretStr("scrape-secret")})
    runtime.cfg = runtime.cfg.model_copy(update={"app": app_cfg})
    client = app_for(runtime)
    missing = client.get("/metrics")
    assert missing.status_code == 401 and "missing bearer token" in missing.get_json()["message"]
    wrong = client.get("/metrics", headers={"Authorization": "Bearer change-me-local-token"})
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "invalid token"
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert ok.status_code == 200 and b"crmbot_inbound_latency_seconds" in ok.get_data()
