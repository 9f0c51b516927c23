"""Outbound HTTP reads the proxy settings from the environment (once per platform host),
and honours NO_PROXY, over real loopback requests."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.outbound import http


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b'{"errcode": 0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def fresh_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(http, "_proxies", {})


def get(url: str):
    return http.send(http.new_session(), "GET", url + "/cgi-bin/gettoken", platform="wecom", api="gettoken")


def test_direct_request_without_proxy_settings(server):
    assert get(server).json() == {"errcode": 0}


def test_the_environment_proxy_is_used(server, closed_port, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(http.TransientError, match="connection failed"):   # the (dead) proxy was dialled
        get(server)


def test_no_proxy_bypasses_it(server, closed_port, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    assert get(server).json() == {"errcode": 0}
    assert http.proxies_for("https://qyapi.weixin.qq.com/cgi-bin/message/send?x=1").get("https") is None
    monkeypatch.setenv("https_proxy", "http://proxy.corp:3128")
    monkeypatch.setattr(http, "_proxies", {})
    assert http.proxies_for("https://qyapi.weixin.qq.com/cgi-bin/x").get("https") == "http://proxy.corp:3128"
