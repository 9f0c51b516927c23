"""End-to-end fixtures: the real crm-bot server + workers + sandbox platforms on loopback.
Every conversation a test holds through a sandbox (a LocalStack's or its own) is read as a
rep would read it when the sandbox stops (tests/helpers/transcript_scan.py): English the rep
did not write, raw config keys, half-width punctuation in Chinese and markdown-eaten phones
fail the test."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from bot.logsetup import config_secrets
from crm_core.config import load_config
from sandbox import server as server_module
from sandbox.server import SandboxServer
from sandbox.cardjson import call_text
from sandbox.stack import LocalStack
from tests.conftest import EXAMPLE
from tests.helpers.log_scan import SCANNED as LOGGED, json_log, problems
from tests.helpers.transcript_scan import Finding, config_vocabulary, scan

REPS = {"wecom": "zhangwei", "dingtalk": "manager7002", "feishu": "ou_chenjie"}   # one rep per platform
SCANNED = {"messages": 0, "sandboxes": 0}
VOCAB = config_vocabulary(load_config(EXAMPLE, env={}))     # its stage, team and rep keys are raw keys too
SECRETS = config_secrets(load_config(EXAMPLE, env={}))
# CRM_BOT_TRANSCRIPTS=file.jsonl: every message of every conversation and what the check found in it
TRANSCRIPTS = os.environ.get("CRM_BOT_TRANSCRIPTS")


@pytest.fixture
def stack(cfg, db, db_url, clock):  # noqa: ANN001, ANN201
    # `db` is requested so its tables are emptied after the test.
    with LocalStack(cfg, db_url) as s:
        yield s


@pytest.fixture(params=["wecom", "dingtalk", "feishu"])
def platform(request) -> str:  # noqa: ANN001
    return request.param


@pytest.fixture(autouse=True)
def chinese_transcripts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Scan what every sandbox of this test recorded (read when it stops)."""
    findings: list[Finding] = []

    def observe(server: SandboxServer) -> None:
        calls = server.sent()
        said = list(server.said)
        found = scan(calls, said, vocab=VOCAB)
        SCANNED["messages"] += len(calls)
        SCANNED["sandboxes"] += 1
        findings.extend(found)
        if TRANSCRIPTS:
            with open(TRANSCRIPTS, "a", encoding="utf-8") as out:
                out.write(json.dumps({"test": request.node.nodeid, "said": said, "sent": [call_text(c) for c in calls],
                                      "findings": [str(f) for f in found]}, ensure_ascii=False) + "\n")

    server_module.STOP_OBSERVERS.append(observe)
    try:
        yield
    finally:
        server_module.STOP_OBSERVERS.remove(observe)
    if findings:
        shown = "\n".join(map(str, findings[:30]))
        pytest.fail(f"{len(findings)} thing(s) a rep must not see in this test's messages:\n{shown}")


@pytest.fixture(autouse=True)
def json_log_check() -> Iterator[None]:
    """The test's log as JSON lines (logging.format: json): parses line by line, no full mobile
    number, no configured secret (tests/helpers/log_scan.py)."""
    with json_log(SECRETS) as buf:
        yield
    found = problems(buf.getvalue(), SECRETS)
    if found:
        pytest.fail(f"{len(found)} problem(s) in this test's JSON log:\n" + "\n".join(found[:20]))


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if LOGGED["tests"]:
        terminalreporter.write_line(f"json log check: {LOGGED['lines']} log line(s) from {LOGGED['tests']} e2e "
                                    "test(s) parse and hold no phone number or secret")
    if SCANNED["sandboxes"]:
        terminalreporter.write_line(f"transcript check: {SCANNED['messages']} sandbox message(s) "
                                    f"from {SCANNED['sandboxes']} e2e sandbox(es) read as a rep reads them")
