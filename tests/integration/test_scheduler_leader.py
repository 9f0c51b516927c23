"""Two real `crm-bot scheduler` processes against one PostgreSQL database and one Redis, every
job on a 2-second interval: for 3 intervals each job runs exactly once per interval (across
both processes); then the instance that ran the latest heartbeat is killed (SIGKILL) and the
other one runs the very next interval of every job. Skipped when PostgreSQL or Redis is
unreachable."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import yaml

from crm_core.db.migrate import upgrade
from crm_core.db.scratch import scratch_postgres
from scheduler.jobs import registered_jobs
from scheduler.runner import ANCHOR
from tests.conftest import EXAMPLE, PG_ADMIN_URL, ROOT, pg_reachable

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

INTERVAL = 2.0
CLAIM = re.compile(r"job (\w+) run (\S+) claimed by (\S+)")
STARTED = re.compile(r"scheduler (\S+) started with jobs")
JOBS = sorted(registered_jobs())


@pytest.fixture
def pg_url():  # noqa: ANN201
    reason = pg_reachable()
    if reason:
        pytest.skip(reason)
    with scratch_postgres(PG_ADMIN_URL, "crmbot_test") as url:
        upgrade(url)            # once here, so the two processes find the schema ready
        yield url


def write_config(path: Path, prefix: str) -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["app"]["key_prefix"] = prefix
    raw["app"]["redis_allow_no_persistence"] = True   # the shared test Redis keeps nothing on disk
    for platform in raw["platforms"].values():
        platform["enabled"] = False          # no platform calls: this test is about the runner
    raw["alerts"]["routes"], raw["alerts"]["ops_chats"] = {}, {}   # they would name disabled platforms
    raw["schedules"] = {name: {"every_minutes": INTERVAL / 60} for name in JOBS}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


class Instance:
    def __init__(self, config: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "scheduler", "--config", str(config)],
                                     cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def name(self) -> str | None:
        m = STARTED.search(self.text())
        return m.group(1) if m else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def claims(instances: list[Instance]) -> dict[tuple[str, datetime], list[str]]:
    """(job, scheduled time) -> the instances that claimed it, from both logs."""
    out: dict[tuple[str, datetime], list[str]] = defaultdict(list)
    for inst in instances:
        for job, when, who in CLAIM.findall(inst.text()):
            out[(job, datetime.fromisoformat(when))].append(who)
    return out


def grid_after(t: datetime) -> datetime:
    """The first interval fire time strictly after `t` (the grid every instance shares)."""
    step = timedelta(seconds=INTERVAL)
    return ANCHOR + step * ((t - ANCHOR) // step + 1)


def wait_for(condition, timeout: float):  # noqa: ANN001, ANN201
    give_up = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > give_up:
            return result
        time.sleep(0.1)
    return result


def test_each_run_once_and_handover(pg_url, redis_url, tmp_path):  # noqa: ANN001
    prefix = f"crmbot-leader-{uuid.uuid4().hex[:8]}"
    config = write_config(tmp_path / "crm-bot.yaml", prefix)
    env = {**os.environ, "CRM_BOT_DATABASE_URL": pg_url, "CRM_BOT_REDIS_URL": redis_url,
           "CRM_BOT_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    instances = [Instance(config, tmp_path / f"scheduler-{i}.log", env) for i in range(2)]
    try:
        assert wait_for(lambda: all(i.name() for i in instances), 90), [i.text()[-2000:] for i in instances]
        step = timedelta(seconds=INTERVAL)
        start = grid_after(datetime.now(timezone.utc) + step)
        window = [start + k * step for k in range(3)]
        seen = wait_for(lambda: all((j, t) in claims(instances) for j in JOBS for t in window), 30)
        assert seen, f"missing runs: {[(j, t) for j in JOBS for t in window if (j, t) not in claims(instances)]}"
        got = claims(instances)
        assert {(j, t): len(got[(j, t)]) for j in JOBS for t in window} == {(j, t): 1 for j in JOBS for t in window}

        leader_name = got[max((k for k in got if k[0] == "heartbeat"), key=lambda k: k[1])][0]
        leader = next(i for i in instances if leader_name.endswith(f":{i.proc.pid}"))
        survivor = next(i for i in instances if i is not leader)
        leader.proc.kill()
        leader.proc.wait()
        killed = datetime.now(timezone.utc)
        after = [grid_after(killed) + k * step for k in range(2)]
        assert wait_for(lambda: all((j, t) in claims([survivor]) for j in JOBS for t in after), 30), \
            survivor.text()[-3000:]
        # the first run after the kill (at most one interval later) already ran on the survivor
        assert after[0] - killed <= step
        final = claims(instances)
        assert all(len(whos) == 1 for whos in final.values()), {k: v for k, v in final.items() if len(v) > 1}
    finally:
        for inst in instances:
            inst.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
