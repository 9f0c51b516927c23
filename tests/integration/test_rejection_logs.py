"""One log line per rejected request, whatever refused it (signature, token, validation,
unknown platform or route, oversized body), with status, path and platform; none for answered
requests; never the query string (signatures) or a traceback."""
from __future__ import annotations

import logging

import pytest

TOKEN = {"Authorization": "Bearer change-me-local-token"}


def test_each_rejected_request_logs_one_line(runtime, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    from bot.web import create_app
    client = create_app(runtime).test_client()
    requests = [
        (lambda: client.post("/callback/wecom?msg_signature=abc&timestamp=1&nonce=2",
                             data=b"<xml><Encrypt><![CDATA[QUJD]]></Encrypt></xml>"), 401, "wecom"),
        (lambda: client.post("/callback/wecom?msg_signature=abc&timestamp=1&nonce=2", data=b"<xml/>"), 400, "wecom"),
        (lambda: client.get("/api/v1/leads"), 401, None),
        (lambda: client.get("/api/v1/audit?lead=abc", headers=TOKEN), 400, None),
        (lambda: client.post("/callback/nowhere", data=b"x"), 404, "nowhere"),
        (lambda: client.get("/no/such/page"), 404, None),
        (lambda: client.post("/api/v1/leads", data=b"x" * (runtime.cfg.app.max_body_bytes + 10),
                             headers={**TOKEN, "Content-Type": "application/json"}), 413, None),
    ]
    with caplog.at_level(logging.INFO, logger="crm_bot"):
        assert client.get("/api/v1/leads", headers=TOKEN).status_code == 200      # answered: no line
        assert not [r for r in caplog.records if getattr(r, "event", None) == "request.rejected"]
        for send, status, platform in requests:
            caplog.clear()
            assert send().status_code == status
            rejected = [r for r in caplog.records if getattr(r, "event", None) == "request.rejected"]
            assert len(rejected) == 1, [r.getMessage() for r in caplog.records]
            assert len([r for r in caplog.records if r.name.startswith("crm_bot")]) == 1   # nothing else either
            rec = rejected[0]
            assert (rec.status, rec.platform) == (status, platform)
            assert "msg_signature" not in rec.getMessage() and rec.exc_info is None
            assert rec.levelno == (logging.WARNING if status in (401, 403) else logging.INFO)
