"""The one tiny HTTP front both connection-mode fakes need (DingTalk `connections/open`, Feishu
`callback/ws/endpoint` when used without the main sandbox): every POST gets `answer(path, body)`
back as JSON, the body being the parsed JSON request or None when it is not JSON."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

Answer = Callable[[str, Any], tuple[int, dict[str, Any]]]


def json_post_server(answer: Answer, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server on `host`, port 0 (not started: run `serve_forever` in a thread)."""
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.answer = answer  # type: ignore[attr-defined]
    return server


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        status, payload = self.server.answer(urlsplit(self.path).path, body)  # type: ignore[attr-defined]
        raw = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("sandbox connection endpoint: " + fmt, *args)
