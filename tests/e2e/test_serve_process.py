"""`crm-bot serve` as the README runs it, as a real process: it answers /healthz and a signed
callback, and on SIGTERM (systemd, docker stop) it finishes and exits 0 without a traceback."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
import requests
import yaml

from crm_core.kv import RedisKV

from bot.platforms.wecom.crypto import new_nonce
from bot.platforms.wecom.inbound import WeComInbound

pytestmark = pytest.mark.serial   # signals and start-up timings: run alone (scripts/test.sh)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "crm-bot.example.yaml"
REDIS_URL = os.environ.get("CRM_BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path: Path, *args: str, config: Path = EXAMPLE, **extra_env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
    env.update(CRM_BOT_DATA_DIR=str(tmp_path), **extra_env)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--config", str(config),
                             "--host", "127.0.0.1", "--port", str(port), "--no-streams", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code in (200, 503):
                return
        except requests.RequestException:   # not listening yet, or busy starting (a slow CI machine)
            time.sleep(0.2)


@pytest.fixture
def served(tmp_path, cfg):  # noqa: ANN001, ANN201
    proc, url = start(tmp_path)
    wait_healthy(proc, url)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stranger_callback(cfg, url: str) -> requests.Response:  # noqa: ANN001
    w = cfg.platforms.wecom
    adapter = WeComInbound(w.token.get_secret_value(), w.encoding_aes_key.get_secret_value(), w.corp_id)
    now = str(int(time.time()))
    plain = (f"<xml><ToUserName><![CDATA[{w.corp_id}]]></ToUserName><FromUserName><![CDATA[not.in.org]]>"
             f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             f"<Content><![CDATA[你好]]></Content><MsgId>{time.time_ns()}</MsgId>"
             f"<AgentID>{w.agent_id}</AgentID></xml>")
    body, query = adapter.encrypt_callback(plain, new_nonce(10), now, str(w.agent_id))
    return requests.post(f"{url}/callback/wecom?{urlencode(query)}", data=body.encode(),
                         headers={"Content-Type": "text/xml"}, timeout=10)


def test_serve_answers_then_stops_cleanly_on_sigterm(served, cfg):  # noqa: ANN001
    proc, url = served
    health = requests.get(f"{url}/healthz", timeout=5)
    assert health.status_code == 200, health.text
    assert health.json()["components"]["database"]["ok"] is True
    assert stranger_callback(cfg, url).status_code == 200
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-2000:]
    assert "Traceback" not in out and "crm-bot stopped" in out, out[-3000:]


def test_web_only_needs_redis(tmp_path):  # noqa: ANN001
    proc, _ = start(tmp_path, "--no-workers")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--no-workers needs Redis" in out


@pytest.mark.redis
def test_web_only_instance_queues_for_separate_workers(tmp_path, cfg):  # noqa: ANN001
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as err:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(err).__name__}")
    prefix = f"test-webonly-{time.time_ns()}"
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["app"]["key_prefix"] = prefix
    raw["app"]["redis_allow_no_persistence"] = True   # the shared test Redis keeps nothing on disk
    config = tmp_path / "crm-bot.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    proc, url = start(tmp_path, "--no-workers", "--no-scheduler", config=config, CRM_BOT_REDIS_URL=REDIS_URL)
    kv = RedisKV.from_url(REDIS_URL, prefix)
    try:
        wait_healthy(proc, url)
        assert stranger_callback(cfg, url).status_code == 200
        time.sleep(1.0)                       # an in-process worker would have taken it by now
        assert kv.queue("inbound").stats().ready == 1
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "scheduler vm:" not in out, out[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        for key in kv.client.scan_iter(f"{prefix}:*", count=1000):
            kv.client.delete(key)
