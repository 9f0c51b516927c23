"""A whole crm-bot on loopback for tests and `crm-bot simulate`: the sandbox platforms, the
real web server (waitress, port 0) and the queue workers, wired to each other."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from crm_core.clock import utcnow
from crm_core.config.schema import AppConfig
from crm_core.db import Database
from crm_core.kv import connect
from crm_core.kv.base import KV
from crm_core.kv.keys import ALL_QUEUES

log = logging.getLogger("crm_bot.stack")


def point_at_sandbox(cfg: AppConfig, urls: dict[str, str]) -> AppConfig:
    """The same config with every platform's api_base on the sandbox, and the sandbox's
    host:port allowed for DingTalk session webhooks (it hands out their URLs)."""
    p = cfg.platforms
    webhook_host = urlsplit(urls["dingtalk"]).netloc
    hosts = [*p.dingtalk.session_webhook_hosts,
             *([webhook_host] if webhook_host not in p.dingtalk.session_webhook_hosts else [])]
    platforms = p.model_copy(update={
        "wecom": p.wecom.model_copy(update={"api_base": urls["wecom"]}),
        "dingtalk": p.dingtalk.model_copy(update={"api_base": urls["dingtalk"], "oapi_base": urls["dingtalk_oapi"],
                                                  "session_webhook_hosts": hosts}),
        "feishu": p.feishu.model_copy(update={"api_base": urls["feishu"]}),
    })
    return cfg.model_copy(update={"platforms": platforms})


class LocalStack:
    def __init__(self, cfg: AppConfig, db_url: str, *, kv: KV | None = None,
                 clock: Callable[[], datetime] = utcnow, workers: bool = True):
        from sandbox.server import SandboxServer
        from sandbox.state import SandboxCredentials
        self.sandbox = SandboxServer(SandboxCredentials.from_config(cfg))
        self._base_cfg, self._db_url, self._kv, self._clock = cfg, db_url, kv, clock
        self.with_workers = workers
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "LocalStack":
        from waitress.server import BaseWSGIServer, create_server

        from bot.runtime import Runtime
        from sandbox.client import PlatformSimulator
        from bot.web import create_app
        self.sandbox.start()
        self.cfg = point_at_sandbox(self._base_cfg, self.sandbox.base_urls())
        kv = self._kv or connect(None, "stack")
        self.rt = Runtime(cfg=self.cfg, db=Database(self._db_url), kv=kv, clock=self._clock)
        self._socket_map: dict = {}
        server = create_server(create_app(self.rt), map=self._socket_map, host="127.0.0.1", port=0, threads=8)
        assert isinstance(server, BaseWSGIServer)       # one address: one listening socket
        self.server = server
        self.url = f"http://127.0.0.1:{server.getsockname()[1]}"   # = waitress's effective_port
        t = threading.Thread(target=self.server.run, name="stack-web", daemon=True)
        t.start()
        self._threads.append(t)
        if self.with_workers:
            self.start_workers()
        self.sim = PlatformSimulator(self.cfg, self.url, self.sandbox)
        return self

    def start_workers(self) -> None:
        from bot.worker import run_workers
        self._threads += run_workers(self.rt, self._stop)
        # DingTalk Stream / Feishu long-connection modes connect to the sandbox's fake gateways,
        # as they would to the platforms
        self._threads += self.rt.start_streams(self._stop)

    def settle(self, timeout: float = 20.0, quiet: float = 0.3) -> bool:
        """Wait until every queue is empty (wake-ups of replies held by a rate limit included)
        and nothing new was sent for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            busy = any(self.rt.kv.queue(q).stats().ready + self.rt.kv.queue(q).stats().inflight
                       for q in ALL_QUEUES)
            seq = self.sandbox.last_seq()
            if seq != last or busy:
                last, last_change = seq, time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        from waitress.wasyncore import close_all
        self._stop.set()
        # Close every socket (keep-alive connections too) from the server's own loop thread:
        # closing them from here races its select() ("Bad file descriptor").
        # types-waitress declares `trigger` as int; it is a waitress.trigger.trigger
        self.server.trigger.pull_trigger(lambda: close_all(self._socket_map))  # type: ignore[attr-defined]
        self._threads[0].join(timeout=5)          # the web thread: its loop ends with an empty map
        self.server.task_dispatcher.shutdown()
        for t in self._threads:
            t.join(timeout=5)
            if t.is_alive():
                log.warning("thread %s did not stop within 5 s", t.name)
        self.sandbox.stop()
        self.rt.db.dispose()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
