"""One log line per rejected request (any 4xx answer): method, path (never the query string,
which carries signatures), status, the reason given to the caller, and the platform for
callbacks. The views and the gateway do not log their refusals themselves, so no request
writes two lines and none writes a traceback."""
from __future__ import annotations

import logging

from flask import Flask, Response, request

log = logging.getLogger("crm_bot.web")
SECURITY = {401, 403}           # worth a warning: a wrong signature or token


def reason_of(resp: Response) -> str:
    if resp.is_json:
        body = resp.get_json(silent=True)
        if isinstance(body, dict):
            return str(body.get("message") or body.get("error") or "")[:200]
    return resp.status


def platform_of(path: str) -> str | None:
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "callback" else None


def log_rejections(app: Flask) -> None:
    @app.after_request
    def log_rejected(resp: Response) -> Response:
        if 400 <= resp.status_code < 500:
            log.log(logging.WARNING if resp.status_code in SECURITY else logging.INFO,
                    "request rejected: %s %s %d %s", request.method, request.path, resp.status_code,
                    reason_of(resp), extra={"event": "request.rejected", "status": resp.status_code,
                                            "path": request.path, "platform": platform_of(request.path)})
        return resp
