"""Infrastructure faults during real work: nothing acknowledged is lost, nothing is sent twice.

Each test runs crm-bot against the sandbox platforms, injects one fault while messages are being
processed, and counts at the sandbox: every sender gets exactly one reply (0 lost, 0 duplicated).
(a) a Redis of the test's own (`--appendonly yes`) restarted mid-burst; (b) PostgreSQL refusing
connections for OUTAGE seconds (60, or $CRM_BOT_FAULT_SECONDS), through a TCP proxy the test cuts
and restores (the shared server is never touched); (c) the platform answering 503 for OUTAGE
seconds, longer than the outbox's MAX_ATTEMPTS tries; (d) `kill -9` of a `crm-bot worker`
process while a reply is on the wire (the platform delivered it, the answer never came back).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.outbound.delivery import OUTAGE_MAX_WAIT
from crm_core.db import Database
from crm_core.db.migrate import upgrade
from crm_core.db.models import InboundMessage, OutboundMessage
from crm_core.db.scratch import scratch_postgres
from crm_core.kv import RedisKV
from crm_core.kv.keys import ALL_QUEUES
from sandbox.stack import LocalStack
from tests.conftest import EXAMPLE, PG_ADMIN_URL, ROOT, pg_reachable

pytestmark = [pytest.mark.slow, pytest.mark.serial]   # fault timings: alone (scripts/test.sh)
REDIS_SERVER = shutil.which("redis-server")
OUTAGE = float(os.environ.get("CRM_BOT_FAULT_SECONDS", "60"))    # the minute of PostgreSQL / platform outage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


class OwnRedis:
    """A redis-server owned by the test, on a free port, persisting to an append-only file."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.dir = free_port(), workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes",
             "--dir", str(self.dir), "--save", "", "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        assert wait_until(lambda: _pings(client), 10), "own redis-server did not start"

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file out and exits (a restart keeps the data)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.proc = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: the fault tests start a Redis of their own")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


class TcpProxy:
    """A loopback TCP forwarder the test can cut (open connections reset, new ones refused, as
    when a database server goes away) and restore on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            _close(conn)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(None)
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            _close(s)
            with self._lock:
                self._open.discard(s)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


def burst(stack: LocalStack, n: int, first: int = 0, tag: str = "") -> list[str]:
    """`n` WeCom messages from `n` strangers (each is answered once), acknowledged by crm-bot."""
    users = []
    for i in range(first, first + n):
        user = f"visitor{tag}-{i:03d}"
        res = stack.sim.send_text("wecom", user, f"你好 {i}", msg_id=str(30_000_000 + i))
        assert res.status_code == 200, res.text
        users.append(user)
    return users


def replies(stack: LocalStack) -> Counter[str]:
    return Counter(c.recipient for c in stack.sandbox.sent("wecom", "message/send"))


def assert_each_answered_once(stack: LocalStack, db: Database, users: list[str]) -> None:
    """0 lost, 0 duplicated at the platform; every event done, every reply sent, no dead letter.
    Then the outbox sweeper runs as if every unsent row had stalled: it may only find copies of
    a sent reply that a fault left behind (a row written, its registration lost), which it
    retires; it must re-queue nothing and send nothing more."""
    def check() -> None:
        got = replies(stack)
        lost, duplicated = set(users) - set(got), {u: n for u, n in got.items() if n > 1}
        assert (sorted(lost), duplicated) == ([], {}), f"lost {len(lost)}, duplicated {len(duplicated)}"
    check()
    assert stack.rt.outbox.requeue_stalled(stack.rt.clock() + timedelta(minutes=1)) == 0
    assert stack.settle(timeout=10, quiet=0.5)
    check()
    with db.uow() as s:
        statuses = Counter(s.scalars(select(InboundMessage.status)))
        outbound = list(s.scalars(select(OutboundMessage)))
    assert statuses == {"done": len(users)}
    assert Counter(r.recipient for r in outbound if r.status == "sent") == Counter(users)
    assert [r.id for r in outbound if r.status != "sent" and not r.body.get("superseded_by")] == []
    assert sum(stack.rt.kv.queue(q).stats().dead for q in ALL_QUEUES) == 0


def outcome(stack: LocalStack, db: Database, users: list[str]) -> str:
    """For a failed wait: who got no reply or two, and where their rows stand."""
    got = replies(stack)
    with db.uow() as s:
        inbound = Counter(s.scalars(select(InboundMessage.status)))
        outbound = Counter(s.scalars(select(OutboundMessage.status)))
    queues = {q: stack.rt.kv.queue(q).stats() for q in ALL_QUEUES}
    return (f"lost {sorted(set(users) - set(got))}, twice {[u for u, n in got.items() if n > 1]}; "
            f"inbound {dict(inbound)}, outbound {dict(outbound)}, queues {queues}")


# ---- (a) Redis restarted while workers are busy ------------------------------------------

N_REDIS = 90


def test_redis_restart_mid_burst_loses_and_repeats_nothing(cfg, db, db_url, own_redis):  # noqa: ANN001
    kv = RedisKV.from_url(own_redis.url, f"fault-{uuid.uuid4().hex[:6]}")
    with LocalStack(cfg, db_url, kv=kv, workers=False) as stack:
        users = burst(stack, N_REDIS)                       # acknowledged, kept in Redis
        stack.start_workers()
        assert wait_until(lambda: sum(replies(stack).values()) >= N_REDIS // 3, 60)
        own_redis.stop()                                    # mid-way: workers lose Redis
        time.sleep(2.0)
        own_redis.start()                                   # same data directory: the AOF comes back
        assert wait_until(lambda: sum(replies(stack).values()) >= N_REDIS, 75), outcome(stack, db, users)
        assert stack.settle(timeout=30, quiet=1.0)
        assert_each_answered_once(stack, db, users)
    kv.close()


# ---- (b) PostgreSQL unreachable for a while ---------------------------------------------

@pytest.mark.postgres
def test_postgres_unreachable_for_a_minute(cfg):  # noqa: ANN001
    if reason := pg_reachable():
        pytest.skip(reason)
    with scratch_postgres(PG_ADMIN_URL, "crmbot_fault") as url:
        upgrade(url)
        target = make_url(url)
        proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
        proxy.start()
        proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        try:
            with LocalStack(cfg, proxied) as stack:
                users = burst(stack, 30, tag="b")
                assert wait_until(lambda: sum(replies(stack).values()) >= 10, 30)
                proxy.stop()                                # connections reset, new ones refused
                users += burst(stack, 30, first=30, tag="b")   # acks need no database
                time.sleep(OUTAGE)
                during = sum(replies(stack).values())
                proxy.start()
                assert wait_until(lambda: sum(replies(stack).values()) >= len(users), 60), replies(stack)
                assert stack.settle(timeout=30, quiet=1.0)
                assert during < len(users)                  # the outage did hold work up
                assert_each_answered_once(stack, stack.rt.db, users)
        finally:
            proxy.stop()


# ---- (c) the platform answering 503 for a while -----------------------------------------

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)   # the platform's outage: one database is enough
def test_platform_503_for_a_minute_then_each_reply_once(stack, db):  # noqa: ANN001
    stack.rt.channels["wecom"].check_token()                # a token in hand: the sends themselves fail
    stack.sandbox.fail("wecom", "*", "5xx")                 # every WeCom API, until "ok"
    users = burst(stack, 40, tag="c")
    time.sleep(OUTAGE)                                      # past MAX_ATTEMPTS failed calls each: held, not dead
    assert sum(replies(stack).values()) == 0
    with stack.rt.db.uow() as s:
        assert s.scalar(select(func.count()).select_from(OutboundMessage).where(OutboundMessage.status == "dead")) == 0
    stack.sandbox.fail("wecom", "*", "ok")
    assert wait_until(lambda: sum(replies(stack).values()) >= len(users), OUTAGE_MAX_WAIT + 45), replies(stack)
    assert stack.settle(timeout=30, quiet=1.0)
    assert stack.sandbox.hits("wecom", "message/send") > len(users)       # the 503s were retried
    assert_each_answered_once(stack, db, users)


# ---- (d) kill -9 of a worker process mid-message ----------------------------------------

def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--config", str(EXAMPLE), "--no-streams"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_killed_worker_message_returns_and_reply_goes_out_once(cfg, tmp_path, own_redis):  # noqa: ANN001
    db_url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    upgrade(db_url)
    kv = RedisKV.from_url(own_redis.url, cfg.app.key_prefix)
    workers: list[subprocess.Popen[bytes]] = []
    with LocalStack(cfg, db_url, kv=kv, workers=False) as stack:
        base = stack.sandbox.base_urls()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
        env.update(CRM_BOT_DATA_DIR=str(tmp_path), CRM_BOT_DATABASE_URL=db_url, CRM_BOT_REDIS_URL=own_redis.url,
                   WECOM_API_BASE=base["wecom"], DINGTALK_API_BASE=base["dingtalk"],
                   DINGTALK_OAPI_BASE=base["dingtalk_oapi"], FEISHU_API_BASE=base["feishu"])
        log = tmp_path / "workers.log"
        try:
            stack.sandbox.hang_seconds = 25.0
            stack.sandbox.fail("wecom", "message/send", "late", count=1)   # delivered, answer held back
            users = burst(stack, 1, tag="d")
            workers.append(start_worker(env, log))
            assert wait_until(lambda: sum(replies(stack).values()) == 1, 60), log.read_text()
            time.sleep(0.5)                                 # the worker is waiting for the answer
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(timeout=10)
            killed_at = time.monotonic()
            workers.append(start_worker(env, log))          # a replacement (or another instance)

            def sent() -> bool:
                with stack.rt.db.uow() as s:
                    return s.scalar(select(func.count()).where(OutboundMessage.status == "sent")) == 1
            assert wait_until(sent, 55, step=0.2), log.read_text()
            back_after = time.monotonic() - killed_at
            assert back_after < 50                          # visibility and send lock: 30 s each, at once
            assert stack.sandbox.hits("wecom", "message/send") == 2   # sent again after the crash…
            assert_each_answered_once(stack, stack.rt.db, users)   # …but delivered once (duplicate check)
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    kv.close()
