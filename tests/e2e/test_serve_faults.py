"""Nothing acknowledged is lost: `crm-bot serve` on the README's defaults (SQLite, the embedded
queue journalled in the data dir) as a real process, the sandbox as WeCom. A burst of signed
「帮助」 callbacks from distinct reps, each answered 200; then the process is stopped right after
the burst — SIGTERM (the in-flight messages finish, exit 0) or SIGKILL (nothing finishes) — and
started again on the same data dir. Once it settles every callback has exactly one reply at
the sandbox and exactly one row in inbound_messages.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import yaml

from bot.platforms.wecom.crypto import new_nonce
from bot.platforms.wecom.inbound import WeComInbound
from crm_core.config import load_config
from sandbox.server import SandboxServer
from sandbox.state import SandboxCredentials
from tests.e2e.test_serve_process import EXAMPLE, ROOT, free_port

pytestmark = pytest.mark.serial   # signals and start-up timings: run alone (scripts/test.sh)
BURST = 200
SETTLE_S = 40.0


class Served:
    """`crm-bot serve` on a data dir, its output in a file (a pipe nobody reads would fill up)."""

    def __init__(self, config: Path, data_dir: Path, run: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"serve-{run}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
        env.update(CRM_BOT_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--config", str(config), "--host", "127.0.0.1",
                 "--port", str(self.port), "--no-streams"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()[-3000:]
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code in (200, 503):
                    return
            except requests.RequestException:   # not listening yet, or busy starting
                time.sleep(0.1)
        raise AssertionError("serve did not come up: " + self.output()[-3000:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def fault_config(tmp_path: Path, sandbox_url: str) -> tuple[Path, list[str]]:
    """The example config with BURST more WeCom reps, every platform's API on the sandbox."""
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    p = raw["platforms"]
    p["wecom"]["api_base"], p["feishu"]["api_base"] = f"{sandbox_url}/wecom", f"{sandbox_url}/feishu"
    p["dingtalk"]["api_base"], p["dingtalk"]["oapi_base"] = f"{sandbox_url}/dingtalk", f"{sandbox_url}/dingtalk-oapi"
    users = [f"fault{i:03d}" for i in range(BURST)]
    raw["org"]["reps"] += [{"id": f"fault.rep{i:03d}", "name": f"故障{i:03d}", "platform": "wecom",
                            "platform_ids": {"wecom": u}, "roles": ["rep"]} for i, u in enumerate(users)]
    path = tmp_path / "crm-bot.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, users


def help_callbacks(config: Path, users: list[str]) -> list[tuple[str, bytes]]:
    """One signed, encrypted 「帮助」 text callback per user: (query string, body)."""
    w = load_config(config, env={}).platforms.wecom
    adapter = WeComInbound(w.token.get_secret_value(), w.encoding_aes_key.get_secret_value(), w.corp_id)
    now, base = str(int(time.time())), time.time_ns()
    out = []
    for n, user in enumerate(users):
        plain = (f"<xml><ToUserName><![CDATA[{w.corp_id}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
                 f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                 f"<Content><![CDATA[帮助]]></Content><MsgId>{base + n}</MsgId>"
                 f"<AgentID>{w.agent_id}</AgentID></xml>")
        body, query = adapter.encrypt_callback(plain, new_nonce(10), now, str(w.agent_id))
        out.append((urlencode(query), body.encode()))
    return out


def burst(url: str, callbacks: list[tuple[str, bytes]]) -> Counter[int]:
    """Send them 16 at a time; the HTTP status of each."""
    def post(cb: tuple[str, bytes]) -> int:
        query, body = cb
        return requests.post(f"{url}/callback/wecom?{query}", data=body, timeout=30,
                             headers={"Content-Type": "text/xml"}).status_code
    with ThreadPoolExecutor(16) as pool:
        return Counter(pool.map(post, callbacks))


def replies(sandbox: SandboxServer, users: list[str]) -> dict[str, Counter[str]]:
    """What each user was sent: message text -> how many times."""
    got: dict[str, Counter[str]] = {u: Counter() for u in users}
    for call in sandbox.sent("wecom", "message/send"):
        if call.recipient in got and call.ok:
            body = call.body
            got[call.recipient][str(body.get(body.get("msgtype", ""), body))] += 1
    return got


def settle(sandbox: SandboxServer, users: list[str], expected: Counter[str] | None) -> dict[str, Counter[str]]:
    """Wait until every user has the whole reply (and a little longer, to catch a duplicate)."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        got = replies(sandbox, users)
        if expected is not None and all(got[u] >= expected for u in users):
            break
        time.sleep(0.2)
    time.sleep(1.0)
    return replies(sandbox, users)


def inbound_rows(data_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data_dir / "crm-bot.sqlite3") as db:
        return list(db.execute("SELECT event_id, sender_id, status FROM inbound_messages WHERE platform = 'wecom'"))


@pytest.mark.slow
@pytest.mark.parametrize("sig, replied_first", [(signal.SIGTERM, 0), (signal.SIGKILL, 0), (signal.SIGKILL, 60)],
                         ids=["sigterm", "sigkill", "sigkill-while-draining"])
def test_every_acknowledged_callback_is_answered_once_across_a_restart(tmp_path, sig, replied_first):  # noqa: ANN001
    """`replied_first`: stop once that many users have their reply, i.e. in the middle of the
    workers' drain (handlers, outbox, platform calls under way) rather than right after the burst."""
    with SandboxServer(SandboxCredentials.from_config(load_config(EXAMPLE, env={}))) as sandbox:
        config, users = fault_config(tmp_path, sandbox.url)
        callbacks = help_callbacks(config, users)
        first = Served(config, tmp_path, 1)
        try:
            first.wait_healthy()
            statuses = burst(first.url, callbacks)
            deadline = time.monotonic() + SETTLE_S
            while sum(1 for c in replies(sandbox, users).values() if c) < replied_first and time.monotonic() < deadline:
                time.sleep(0.01)
            code = first.stop(sig)
        finally:
            if first.proc.poll() is None:
                first.proc.kill()
        assert statuses == Counter({200: BURST}), first.output()[-3000:]
        if sig == signal.SIGTERM:
            assert code == 0 and "crm-bot stopped" in first.output(), first.output()[-3000:]
            assert "Traceback" not in first.output(), first.output()[-3000:]
        else:
            assert code == -signal.SIGKILL
        before = sum(1 for c in replies(sandbox, users).values() if c)

        second = Served(config, tmp_path, 2)
        try:
            second.wait_healthy()
            # the full reply, as the first user to get one got it
            deadline = time.monotonic() + SETTLE_S
            while not any(replies(sandbox, users).values()) and time.monotonic() < deadline:
                time.sleep(0.2)
            sample = next((c for c in replies(sandbox, users).values() if c), None)
            expected = Counter(dict.fromkeys(sample, 1)) if sample else None
            got = settle(sandbox, users, expected)
            assert second.stop() == 0, second.output()[-3000:]
        finally:
            if second.proc.poll() is None:
                second.proc.kill()

    assert expected, "no reply at all"
    lost = [u for u in users if not got[u] >= expected]
    duplicated = [u for u in users if any(n > 1 for n in got[u].values())]
    print(f"\n{signal.Signals(sig).name}: sent {BURST}, replied before the stop {before}, "
          f"lost {len(lost)}, duplicated {len(duplicated)}")
    assert (lost, duplicated) == ([], []), (second.output()[-3000:], lost[:5], duplicated[:5])
    rows = inbound_rows(tmp_path)
    assert sorted(sender for _, sender, _ in rows) == sorted(users)          # each callback once
    assert len({event for event, _, _ in rows}) == BURST
    assert {status for _, _, status in rows} == {"done"}


def test_one_serve_per_data_dir(tmp_path):  # noqa: ANN001
    """A second `serve` on the same data dir would ack into memory only: it refuses to start."""
    first = Served(EXAMPLE, tmp_path, 1)
    try:
        first.wait_healthy()
        second = Served(EXAMPLE, tmp_path, 2)
        assert second.proc.wait(timeout=90) == 1
        out = second.output()
        assert "in use by another crm-bot process" in out and f"pid {first.proc.pid}" in out, out[-3000:]
        assert "one `crm-bot serve` per data dir" in out and "Traceback" not in out
        assert first.stop() == 0
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
