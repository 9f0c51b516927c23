"""Start-up refuses a Redis that would lose the queues on its own restart (crm_core/kv/
redis_persistence.py): each test starts a redis-server of its own (the shared test Redis keeps
nothing on disk, and its settings are not ours to change) and runs `crm-bot serve` against it.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from crm_core.kv.redis_persistence import RedisNotPersistent, redact, require_persistence
from tests.e2e.test_serve_process import EXAMPLE, ROOT, free_port, wait_healthy

pytestmark = [pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed"),
              pytest.mark.serial]


def own_redis(tmp_path: Path, *args: str) -> Iterator[str]:
    """A redis-server on a free loopback port with `args`; its URL."""
    port = free_port()
    data = tmp_path / f"redis-{port}"
    data.mkdir()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                             "--daemonize", "no", *args], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[str]:
    yield from own_redis(tmp_path, "--appendonly", "yes", "--save", "")


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[str]:
    yield from own_redis(tmp_path, "--appendonly", "no", "--save", "")


def serve(tmp_path: Path, url: str, **app: object) -> tuple[subprocess.Popen, str]:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["app"].update(app)
    config = tmp_path / "crm-bot.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
    env.update(CRM_BOT_DATA_DIR=str(tmp_path), CRM_BOT_REDIS_URL=url)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--config", str(config), "--host",
                             "127.0.0.1", "--port", str(port), "--no-streams", "--no-scheduler"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_serve_starts_on_a_redis_with_aof(tmp_path, aof_redis):  # noqa: ANN001
    proc, url = serve(tmp_path, aof_redis)
    try:
        wait_healthy(proc, url)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_serve_refuses_a_redis_that_keeps_nothing(tmp_path, volatile_redis):  # noqa: ANN001
    proc, _ = serve(tmp_path, volatile_redis)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 1, out[-3000:]
    assert "Refusing to start" in out and "keeps nothing on disk" in out
    assert "appendonly yes" in out and "app.redis_allow_no_persistence: true" in out    # the fix, named
    assert "Traceback" not in out


def test_the_check_itself(volatile_redis, aof_redis, tmp_path, caplog):  # noqa: ANN001
    volatile, durable = redis.Redis.from_url(volatile_redis), redis.Redis.from_url(aof_redis)
    try:
        with pytest.raises(RedisNotPersistent, match="keeps nothing on disk"):
            require_persistence(volatile, volatile_redis, allow_none=False)
        with caplog.at_level(logging.WARNING, logger="crm_bot.kv"):
            assert require_persistence(volatile, volatile_redis, allow_none=True) is None
        assert "accepted by app.redis_allow_no_persistence" in caplog.text
        found = require_persistence(durable, aof_redis, allow_none=False)
        assert found is not None and found.aof
        volatile.config_set("save", "60 1")          # snapshots only: starts, with a warning
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="crm_bot.kv"):
            found = require_persistence(volatile, volatile_redis, allow_none=False)
        assert found is not None and found.snapshots == "60 1" and "RDB snapshots only" in caplog.text
    finally:
        volatile.close()
        durable.close()
    unreachable = f"redis://:secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisNotPersistent, match="not reachable") as refused:
        require_persistence(redis.Redis.from_url(unreachable, socket_connect_timeout=1), unreachable,
                            allow_none=False)
    assert "secret" not in str(refused.value)
    assert redact("redis://user:pw@host:6380/2") == "redis://user:***@host:6380/2"
