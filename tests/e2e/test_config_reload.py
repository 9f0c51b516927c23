"""`crm-bot config reload` against real `serve` processes (issue 15): a rep set on leave in the
file is skipped by the next lead with no restart — one `serve` on SQLite and the embedded store
(reached by SIGHUP), and two `serve` processes sharing PostgreSQL and Redis (reached through the
store). A file with a mistake is refused with its key path and changes nothing."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests
import yaml

from sqlalchemy import create_engine, text

from bot.platforms.wecom.crypto import new_nonce
from bot.platforms.wecom.inbound import WeComInbound
from crm_core.config import load_config
from crm_core.db.scratch import scratch_postgres
from tests.conftest import PG_ADMIN_URL, pg_reachable
from tests.e2e.test_serve_process import EXAMPLE, REDIS_URL, ROOT, start, wait_healthy

AUTH = {"Authorization": "Bearer change-me-local-token"}


def config_file(tmp_path: Path, li_na: str = "active", mistake: bool = False, prefix: str = "crmbot") -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    next(r for r in raw["org"]["reps"] if r["id"] == "li.na")["availability"] = li_na
    raw["app"]["key_prefix"] = prefix
    if mistake:
        raw["org"]["teams"][0]["supervisor"] = "chen.jie"       # a rep without the supervisor role
    path = tmp_path / "crm-bot.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def post_leads(url: str, n: int) -> list[str]:
    owners = []
    for _ in range(n):
        body = {"channel": "expo", "company": f"杭州{uuid.uuid4().hex[:6]}医疗器械有限公司", "contact_name": "王总",
                "region": "浙江", "industry": "医疗"}
        res = requests.post(f"{url}/api/v1/leads", json=body, headers=AUTH, timeout=30)
        assert res.status_code == 201, res.text
        owners.append(res.json()["lead"]["owner"])
    return owners


def reload(config: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
    return subprocess.run([sys.executable, "-m", "bot.cli", "config", "reload", "--config", str(config)],
                          cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def forget(prefix: str) -> None:
    """The test's keys out of the shared Redis."""
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_reload_reaches_serve_by_sighup(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    proc, url = start(tmp_path, config=config)
    try:
        wait_healthy(proc, url)
        assert set(post_leads(url, 2)) == {"zhang.wei", "li.na"}
        config_file(tmp_path, li_na="on_leave")
        done = reload(config, CRM_BOT_DATA_DIR=str(tmp_path))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "配置已生效 / applied" in done.stdout and "org" in done.stdout
        assert post_leads(url, 4) == ["zhang.wei"] * 4
        config_file(tmp_path, li_na="active", mistake=True)      # would bring her back, but has a mistake
        refused = reload(config, CRM_BOT_DATA_DIR=str(tmp_path))
        assert refused.returncode == 1
        assert "配置未生效" in refused.stderr and "org.teams[0].supervisor" in refused.stderr
        assert post_leads(url, 2) == ["zhang.wei"] * 2          # nothing changed
        assert proc.poll() is None                               # SIGHUP did not end it
    finally:
        stop(proc)


@pytest.mark.postgres
@pytest.mark.redis
def test_reload_reaches_two_instances_through_redis(tmp_path: Path) -> None:
    if pg_reachable():
        pytest.skip(pg_reachable() or "")
    prefix = f"crmbot-reload-{uuid.uuid4().hex[:8]}"
    config = config_file(tmp_path, prefix=prefix)
    with scratch_postgres(PG_ADMIN_URL, "crmbot_reload") as db_url:
        shared = {"CRM_BOT_DATABASE_URL": db_url, "CRM_BOT_REDIS_URL": REDIS_URL,
                  "CRM_BOT_REDIS_ALLOW_NO_PERSISTENCE": "true"}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a, url_a = start(tmp_path / "a", "--no-scheduler", config=config, **shared)
        wait_healthy(a, url_a)            # the first one migrates the database
        b, url_b = start(tmp_path / "b", "--no-scheduler", config=config, **shared)
        try:
            wait_healthy(b, url_b)
            assert set(post_leads(url_b, 2)) == {"zhang.wei", "li.na"}
            config_file(tmp_path, li_na="on_leave", prefix=prefix)
            done = reload(config, **shared)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "配置已生效 / applied" in done.stdout and "org" in done.stdout
            assert post_leads(url_a, 2) + post_leads(url_b, 2) == ["zhang.wei"] * 4
        finally:
            stop(a)
            stop(b)
            forget(prefix)


def wecom_text(config: Path, url: str, sender: str, text_: str) -> None:
    """A signed, encrypted WeCom message callback, as the platform sends it."""
    w = load_config(config, env={}).platforms.wecom
    adapter = WeComInbound(w.token.get_secret_value(), w.encoding_aes_key.get_secret_value(), w.corp_id)
    now = str(int(time.time()))
    plain = (f"<xml><ToUserName><![CDATA[{w.corp_id}]]></ToUserName><FromUserName><![CDATA[{sender}]]>"
             f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             f"<Content><![CDATA[{text_}]]></Content><MsgId>{time.time_ns()}</MsgId>"
             f"<AgentID>{w.agent_id}</AgentID></xml>")
    body, query = adapter.encrypt_callback(plain, new_nonce(10), now, str(w.agent_id))
    res = requests.post(f"{url}/callback/wecom", params=query, data=body.encode(),
                        headers={"Content-Type": "text/xml"}, timeout=10)
    assert res.status_code == 200, res.text


@pytest.mark.postgres
@pytest.mark.redis
def test_chat_leave_on_one_process_is_skipped_by_the_other(tmp_path: Path) -> None:
    """王芳 writes 「设置休假 李娜 到12月10日」 to instance A (WeCom); instance B's next leads skip 李娜."""
    if pg_reachable():
        pytest.skip(pg_reachable() or "")
    prefix = f"crmbot-leave-{uuid.uuid4().hex[:8]}"
    config = config_file(tmp_path, prefix=prefix)
    with scratch_postgres(PG_ADMIN_URL, "crmbot_leave") as db_url:
        shared = {"CRM_BOT_DATABASE_URL": db_url, "CRM_BOT_REDIS_URL": REDIS_URL,
                  "CRM_BOT_REDIS_ALLOW_NO_PERSISTENCE": "true"}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a, url_a = start(tmp_path / "a", "--no-scheduler", config=config, **shared)
        wait_healthy(a, url_a)
        b, url_b = start(tmp_path / "b", "--no-scheduler", config=config, **shared)
        engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            wait_healthy(b, url_b)
            assert set(post_leads(url_b, 2)) == {"zhang.wei", "li.na"}
            wecom_text(config, url_a, "wangfang", "设置休假 李娜 到12月10日")
            deadline = time.monotonic() + 30
            row = None
            while row is None and time.monotonic() < deadline:
                with engine.connect() as conn:
                    row = conn.execute(text("SELECT availability FROM rep_availability WHERE rep_id = 'li.na'")).first()
                time.sleep(0.2)
            assert row is not None and row[0] == "on_leave"
            assert post_leads(url_b, 4) == ["zhang.wei"] * 4        # B: no restart, no reload
        finally:
            engine.dispose()
            stop(a)
            stop(b)
            forget(prefix)
