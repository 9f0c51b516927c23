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
import requests

from bot.platforms.wecom.crypto import new_nonce
from bot.platforms.wecom.inbound import WeComInbound

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "crm-bot.example.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, cfg):  # noqa: ANN001, ANN201
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
    env["CRM_BOT_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--config", str(EXAMPLE),
                             "--host", "127.0.0.1", "--port", str(port), "--no-streams"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code in (200, 503):
                break
        except requests.ConnectionError:
            time.sleep(0.2)
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
