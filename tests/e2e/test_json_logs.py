"""`logging.format: json` on a real `crm-bot serve` process: every line it writes (start-up,
migrations, a rep's message with a phone number processed and failing to send, rejected
requests, shutdown) parses as one JSON object with time, level, event and message; no
11-digit mobile number and no configured secret appears anywhere; each rejected request is
exactly one line, with the callback's platform."""
from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from urllib.parse import urlencode

import requests
import yaml

from bot.logsetup import config_secrets
from bot.platforms.wecom.crypto import new_nonce
from bot.platforms.wecom.inbound import WeComInbound
from crm_core.config import load_config
from tests.e2e.test_serve_process import EXAMPLE, start, wait_healthy

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
PHONE = "13812345678"
DEAD = "http://127.0.0.1:9"          # nothing listens: every send fails (and is logged)


def json_config(tmp_path: Path) -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["logging"] = {"format": "json"}
    for name in ("wecom", "dingtalk", "feishu"):
        raw["platforms"][name]["api_base"] = DEAD
    raw["platforms"]["dingtalk"]["oapi_base"] = DEAD
    path = tmp_path / "crm-bot.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def wecom_text(cfg, url: str, sender: str, text: str, *, sign_ok: bool = True) -> requests.Response:  # noqa: ANN001
    w = cfg.platforms.wecom
    adapter = WeComInbound(w.token.get_secret_value(), w.encoding_aes_key.get_secret_value(), w.corp_id)
    now = str(int(time.time()))
    plain = (f"<xml><ToUserName><![CDATA[{w.corp_id}]]></ToUserName><FromUserName><![CDATA[{sender}]]>"
             f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             f"<Content><![CDATA[{text}]]></Content><MsgId>{time.time_ns()}</MsgId>"
             f"<AgentID>{w.agent_id}</AgentID></xml>")
    body, query = adapter.encrypt_callback(plain, new_nonce(10), now, str(w.agent_id))
    if not sign_ok:
        query["msg_signature"] = "0" * 40
    return requests.post(f"{url}/callback/wecom?{urlencode(query)}", data=body.encode(),
                         headers={"Content-Type": "text/xml"}, timeout=10)


def test_json_log_lines_parse_and_hide_phones_and_secrets(tmp_path) -> None:  # noqa: ANN001
    config = json_config(tmp_path)
    cfg = load_config(config, env={})
    proc, url = start(tmp_path, config=config)
    try:
        wait_healthy(proc, url)
        note = f"记录杭州优品医疗器械有限公司李经理,电话{PHONE},要采购CRM,预算50万"
        assert wecom_text(cfg, url, "zhangwei", note).status_code == 200
        rejected = [
            wecom_text(cfg, url, "zhangwei", note, sign_ok=False),                    # bad signature
            requests.get(f"{url}/api/v1/audit?rep={PHONE}", timeout=10,               # reason names the phone
                         headers={"Authorization": "Bearer change-me-local-token"}),
            requests.get(f"{url}/api/v1/leads/{PHONE}", timeout=10),                  # no token; phone in path
            requests.post(f"{url}/callback/nowhere", data=b"x", timeout=10),          # no such platform
        ]
        assert [r.status_code for r in rejected] == [401, 400, 401, 404]
        time.sleep(3)                               # the worker handles the note; its sends fail
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in out.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]       # every line is one JSON object
    assert len(records) >= 4 and all({"time", "level", "event", "message", "logger"} <= r.keys() for r in records)
    assert not MOBILE.search(out), [line for line in lines if MOBILE.search(line)]
    assert "138****5678" in out                           # the phone reached the log, masked
    for secret in config_secrets(cfg):
        if len(secret) >= 6:
            assert secret not in out, "a configured secret was logged"
    refused = [r for r in records if r["event"] == "request.rejected"]
    assert [r["status"] for r in refused] == [401, 400, 401, 404], refused
    assert refused[0]["platform"] == "wecom" and refused[3]["platform"] == "nowhere"
    assert any(r["message"].startswith("crm-bot listening") for r in records)
    assert any(r["message"] == "crm-bot stopped" for r in records)
    assert not any(r["logger"].startswith("alembic") for r in records)          # quiet migrations
