"""The runner's run ids: every instance derives the same id (the scheduled fire time) however
late or early its own timer went off; each id runs once; missed runs within grace are caught
up once; a run may ask for an early recheck; `scheduler jobs` lists next run and last result."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from bot.runtime import Runtime
from crm_core.config.schema import Job
from crm_core.kv import EmbeddedKV
from scheduler.runner import (
    ScheduledJob, catch_up, crontab_weekdays, grace_seconds, job_lines, job_status, last_fire_time, recheck_delay,
    run_claimed, trigger_for,
)

TZ = "Asia/Shanghai"
UTC = timezone.utc


@pytest.mark.parametrize("every_minutes, now, expected", [
    (5, datetime(2026, 11, 23, 2, 5, 0, 300_000, UTC), datetime(2026, 11, 23, 2, 5, tzinfo=UTC)),
    (5, datetime(2026, 11, 23, 2, 9, 59, tzinfo=UTC), datetime(2026, 11, 23, 2, 5, tzinfo=UTC)),
    (5, datetime(2026, 11, 23, 2, 4, 59, 999_999, UTC), datetime(2026, 11, 23, 2, 0, tzinfo=UTC)),
    (10, datetime(2026, 11, 23, 2, 17, tzinfo=UTC), datetime(2026, 11, 23, 2, 10, tzinfo=UTC)),
])
def test_interval_runs_sit_on_one_grid(every_minutes, now, expected):  # noqa: ANN001
    job = Job(every_minutes=every_minutes)
    # two instances build their triggers at different moments, and still agree
    a, b = trigger_for(job, TZ), trigger_for(job, TZ)
    grace = 3600.0
    assert last_fire_time(a, now, grace) == last_fire_time(b, now, grace) == expected


@pytest.mark.parametrize("now_local, grace, expected_local", [
    ("2026-11-23 09:30:00.4", 3600, "2026-11-23 09:30"),      # Monday, fired on time
    ("2026-11-23 10:10", 3600, "2026-11-23 09:30"),           # late but within grace
    ("2026-11-23 10:31", 3600, None),                         # beyond grace: dropped
    ("2026-11-28 09:31", 3600, None),                         # Saturday: no run
    ("2026-11-24 09:29:59", 86400 * 2, "2026-11-23 09:30"),   # the previous working day's run
])
def test_cron_last_fire_time(now_local, grace, expected_local):  # noqa: ANN001
    from zoneinfo import ZoneInfo
    zone = ZoneInfo(TZ)
    trig = trigger_for(Job(cron="30 9 * * 1-5"), TZ)
    now = datetime.fromisoformat(now_local).replace(tzinfo=zone)
    got = last_fire_time(trig, now, grace)
    expected = datetime.fromisoformat(expected_local).replace(tzinfo=zone) if expected_local else None
    assert got == expected


@pytest.mark.parametrize("field, names", [
    ("1-5", "mon,tue,wed,thu,fri"), ("0", "sun"), ("7", "sun"), ("6,0", "sun,sat"), ("5-7", "sun,fri,sat"),
    ("*/2", "sun,tue,thu,sat"), ("1/3", "mon,thu"), ("mon-fri", "mon,tue,wed,thu,fri"), ("sat-sun", "sun,sat"),
    ("*", "*"),
])
def test_crontab_weekdays_count_sunday_as_zero(field, names):  # noqa: ANN001
    assert crontab_weekdays(field) == names


@pytest.mark.parametrize("job, seconds", [
    (Job(every_minutes=5), 150.0), (Job(every_minutes=0.02), 1.0), (Job(cron="0 2 * * *"), 3600.0),
    (Job(every_minutes=5, grace_minutes=1), 60.0), (Job(cron="0 9 1 * *", grace_minutes=1440), 86400.0),
])
def test_grace(job, seconds):  # noqa: ANN001
    assert grace_seconds(job) == seconds


@pytest.fixture
def store(cfg, db, clock):  # noqa: ANN001, ANN201
    """Two 'instances': two runtimes on one KV store and one database."""
    kv = EmbeddedKV(prefix=f"t{uuid.uuid4().hex[:6]}", clock=lambda: clock.now.timestamp())
    return [Runtime(cfg=cfg, db=db, kv=kv, clock=clock) for _ in range(2)]


def counting_job(calls: list, result: object = None) -> ScheduledJob:
    def fn(rt, now):  # noqa: ANN001, ANN202
        calls.append(now)
        return result
    return ScheduledJob("heartbeat", fn, trigger_for(Job(every_minutes=5), TZ), 150.0)


def test_each_run_id_runs_once_across_instances(store, clock):  # noqa: ANN001
    calls: list = []
    job = counting_job(calls, {"channels": {}})
    t = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    outcomes = [run_claimed(rt, job, t) is not None for rt in store]
    assert outcomes == [True, False] and len(calls) == 1
    assert run_claimed(store[1], job, t + timedelta(minutes=5)) is not None and len(calls) == 2
    status = job_status(store[0], "heartbeat")
    assert status["ok"] and status["scheduled"] == (t + timedelta(minutes=5)).isoformat()


def test_failures_are_recorded_not_raised(store):  # noqa: ANN001
    def boom(rt, now):  # noqa: ANN001, ANN202
        raise RuntimeError("数据库不可用")
    job = ScheduledJob("fuse_scan", boom, trigger_for(Job(every_minutes=10), TZ), 300.0)
    status = run_claimed(store[0], job, datetime(2026, 11, 22, 6, 0, tzinfo=UTC))
    assert status["ok"] is False and "RuntimeError" in status["error"]
    assert job_status(store[1], "fuse_scan")["ok"] is False


def test_catch_up_runs_a_missed_run_once(store, clock):  # noqa: ANN001
    calls: list = []
    job = counting_job(calls)
    now = datetime(2026, 11, 22, 6, 2, tzinfo=UTC)          # 06:00 was missed, within 150 s grace
    assert [catch_up(rt, job, now) for rt in store] == [True, False] and len(calls) == 1
    assert catch_up(store[0], job, datetime(2026, 11, 22, 6, 3, tzinfo=UTC)) is False   # beyond grace


@pytest.mark.parametrize("raw, delay", [
    ({"channels": {}, "recheck_in_seconds": 120.0}, 120.0), ({"channels": {}}, None), ("done", None),
    ({"recheck_in_seconds": 0}, None),
])
def test_recheck_request(store, raw, delay):  # noqa: ANN001
    job = counting_job([], raw)
    status = run_claimed(store[0], job, datetime(2026, 11, 22, 6, 0, tzinfo=UTC))
    assert recheck_delay(status) == delay


def test_job_lines_show_next_run_and_last_result(store):  # noqa: ANN001
    now = datetime(2026, 11, 22, 6, 1, tzinfo=UTC)          # 14:01 Shanghai, a Sunday
    run_claimed(store[0], counting_job([], {"channels": {"wecom": "ok"}}), datetime(2026, 11, 22, 6, 0, tzinfo=UTC))
    lines = {ln.split()[0]: ln for ln in job_lines(store[0], now)[1:]}
    assert set(lines) == {"heartbeat", "fuse_scan", "health_scores", "health_refresh", "rep_digest",
                          "supervisor_digest", "merge_report", "followup_scan", "pool_scan", "routing_check",
                          "first_contact_scan", "outbox_sweep",
                          "clv_nightly", "clv_dashboard",
                          "morning_checkin",
                          "approval_timeouts", "coaching_scan"}
    assert "2026-11-22 14:05" in lines["heartbeat"] and "ok" in lines["heartbeat"]
    assert "2026-11-23 09:30" in lines["rep_digest"] and "never run" in lines["rep_digest"]
    assert "2026-12-01 09:00" in lines["merge_report"]
    assert "2026-12-05 09:00" in lines["clv_dashboard"] and "2026-11-23 02:30" in lines["clv_nightly"]
