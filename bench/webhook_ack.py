"""How fast `crm-bot serve` acknowledges WeCom callbacks, against the floor (a bare Flask app
under the same waitress settings that only verifies, decrypts and answers), in the same run:
(a) closed loop, 64 connections, max requests/s (target ≥ 60 % of the floor);
(b) open loop, 300 requests/s for 30 s, latency from the scheduled send (target p99 < 50 ms).

    .venv/bin/python bench/webhook_ack.py [--duration 10] [--rate 300] [--open-duration 30]
        [--connections 64] [--no-redis] [--no-docs] [--quick] [--closed-only] [--profile DIR]

Every request is a distinct, signed and encrypted text callback from one of many configured
reps (a realistic mix of customer notes and commands), pre-built before its timed window.
Each server runs as its own process with a fresh data dir; a sandbox takes the bot's replies.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.webhook_ack_load import (  # noqa: E402
    CallbackFactory, ClosedLoopResult, OpenLoopResult, run_open_loop, run_wrk, write_wrk_files,
)
from bench.webhook_ack_report import bench_config, write_docs  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/15"
THROUGHPUT_TARGET = 0.60
P99_TARGET_MS = 50.0
CLOSED_CAP_RPS = 5000     # callbacks built per closed-loop second; running out is flagged
WARMUP_RATE, WARMUP_S = 200, 1.5


@dataclass
class Target:
    name: str
    argv: list[str]                       # the port is appended
    env: dict[str, str] = field(default_factory=dict)
    crm: bool = False                     # crm-bot: fresh data dir, worker progress reported
    companion: list[str] | None = None    # a second process with the same env (e.g. `crm-bot worker`)


@dataclass
class Measurement:
    target: str
    server_cpu_s: float
    worker: str = ""
    closed: ClosedLoopResult | None = None
    opened: OpenLoopResult | None = None


class Server:
    """One server subprocess on a free loopback port, stopped (TERM, then KILL) on exit."""

    def __init__(self, target: Target, workdir: Path) -> None:
        self.target, self.port = target, free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=workdir))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_BOT_")}
        env.update(target.env, CRM_BOT_DATA_DIR=str(self.data_dir), PYTHONUNBUFFERED="1")
        self.log = (self.data_dir / "server.log").open("wb")
        self.env = env
        self.proc = subprocess.Popen([*target.argv, str(self.port)], env=env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.companion: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        wait_port(self.port, self.proc, timeout=90)
        if self.target.companion:    # after the server migrated the database
            self.companion = subprocess.Popen(self.target.companion, env=self.env, cwd=ROOT,
                                              stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_idle()
        return self

    def wait_idle(self, timeout: float = 60.0, busy: float = 0.05) -> None:
        """Until the server has finished starting: a listening port comes before `serve`'s
        start-up work (the segmenter's dictionary loads in a thread for several seconds), which
        would otherwise be measured as ack time. Idle = under `busy` cores for half a second."""
        deadline, last = time.monotonic() + timeout, self.cpu_s()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_s()
            if now - last < busy * 0.5:
                return
            last = now

    def __exit__(self, *exc: object) -> None:
        for proc in (self.proc, self.companion):
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:   # workers busy with a backlog: not worth waiting for
                proc.kill()
                proc.wait()
        self.log.close()

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def worker_progress(self, acked: int) -> str:
        """How far the in-process worker got with what was acknowledged."""
        db = self.data_dir / "crm-bot.sqlite3"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            done = conn.execute("SELECT count(*) FROM inbound_messages WHERE status = 'done'").fetchone()[0]
        return f"worker done {done}/{acked}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout:.0f} s")


def redis_reachable(url: str) -> bool:
    import redis
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def drop_redis_keys(url: str, prefix: str) -> int:
    """Remove every key this run wrote (and only those: the prefix is unique to the run)."""
    import redis
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i:i + 500])
    return len(keys)


def targets(cfg_path: Path, redis_prefix: str | None) -> list[Target]:
    py = sys.executable
    serve = [py, "-m", "bot.cli", "serve", "--config", str(cfg_path), "--host", "127.0.0.1", "--port"]
    out = [Target("floor", [py, str(ROOT / "bench" / "floor_app.py"), "--config", str(cfg_path), "--port"]),
           Target("crm-bot", serve, crm=True)]
    if redis_prefix:
        # the local Redis keeps nothing on disk: fine for a bench, so accept it explicitly
        redis_env = {"CRM_BOT_REDIS_URL": REDIS_URL, "CRM_BOT_REDIS_ALLOW_NO_PERSISTENCE": "true"}
        out.append(Target("crm-bot+redis", serve, redis_env, crm=True))
        # the README's split deployment: a web-only `serve` plus one `crm-bot worker` process
        web_only = [*serve[:-1], "--no-workers", "--port"]
        out.append(Target("crm-bot split", web_only, redis_env, crm=True,
                          companion=[py, "-m", "bot.cli", "worker", "--config", str(cfg_path), "--no-streams"]))
    return out


def warm_up(port: int, factory: CallbackFactory) -> None:
    res = run_open_loop(port, factory.build(int(WARMUP_RATE * WARMUP_S)), WARMUP_RATE)
    if res.failed:
        raise RuntimeError(f"{res.failed} warm-up callbacks were not answered 200 (see the server log)")


def measure_closed(target: Target, factory: CallbackFactory, args: argparse.Namespace, workdir: Path) -> Measurement:
    with Server(target, workdir) as srv:
        warm_up(srv.port, factory)
        prefix = srv.data_dir / "wrk"
        write_wrk_files(factory.build(int(CLOSED_CAP_RPS * args.duration)), prefix, args.wrk_threads)
        cpu0 = srv.cpu_s()
        spy = profile(srv, target, args, "closed")
        res = run_wrk(srv.port, prefix, args.connections, args.duration, args.wrk_threads)
        if spy is not None:
            spy.wait()
        m = Measurement(target.name, srv.cpu_s() - cpu0, closed=res)
        if target.crm:
            m.worker = srv.worker_progress(res.requests - res.non200 + int(WARMUP_RATE * WARMUP_S))
    return m


def profile(srv: Server, target: Target, args: argparse.Namespace, loop: str) -> "_Spies | None":
    """`--profile DIR`: two py-spy recordings of a crm-bot server for the timed window, as collapsed
    stacks per thread in DIR: `*-gil.txt` only the samples holding the GIL (what runs), `*-all.txt`
    every thread in every sample, waiting ones included (where they wait)."""
    if not args.profile or not target.crm:
        return None
    base = Path(args.profile) / f"{target.name.replace(' ', '-')}-{loop}"
    base.parent.mkdir(parents=True, exist_ok=True)
    spies = [subprocess.Popen(["py-spy", "record", "--pid", str(srv.proc.pid), "--duration", str(int(args.duration)),
                               "--format", "raw", "--threads", "--nonblocking", "--rate", "100", *flags,
                               "--output", f"{base}-{name}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for name, flags in (("gil", ["--gil"]), ("all", ["--idle"]))]
    return _Spies(spies)


class _Spies:
    def __init__(self, procs: list[subprocess.Popen]) -> None:
        self.procs = procs

    def wait(self) -> None:
        for proc in self.procs:
            proc.wait()


def measure_open(target: Target, factory: CallbackFactory, args: argparse.Namespace, workdir: Path) -> Measurement:
    with Server(target, workdir) as srv:
        if target.name != "null":
            warm_up(srv.port, factory)
        requests = factory.build(int(args.rate * args.open_duration))
        cpu0 = srv.cpu_s()
        res = run_open_loop(srv.port, requests, args.rate, max_connections=args.connections)
        m = Measurement(target.name, srv.cpu_s() - cpu0, opened=res)
        if target.crm:
            m.worker = srv.worker_progress(res.ok + int(WARMUP_RATE * WARMUP_S))
    return m


def closed_line(m: Measurement, floor_rps: float) -> str:
    r = m.closed
    share = f" ({r.rps / floor_rps:.0%} of floor)" if m.target != "floor" and floor_rps else ""
    flags = "" if not (r.non200 or r.socket_errors or r.wraps) else \
        f" | INVALID: non200={r.non200} socket_errors={r.socket_errors} wraps={r.wraps}"
    worker = f" | {m.worker}" if m.worker else ""
    return (f"(a) closed {m.target:<13} {r.rps:7.0f} rps  {r.requests} req in {r.duration_s:.1f} s{share} | "
            f"wrk p50={r.p50_ms:.1f} p99={r.p99_ms:.1f} ms | server cpu {m.server_cpu_s / r.duration_s:.2f} cores, "
            f"wrk cpu {r.client_cpu_s / r.duration_s:.2f} cores{worker}{flags}")


def open_line(m: Measurement) -> str:
    r = m.opened
    worker = f" | {m.worker}" if m.worker else ""
    return (f"(b) open   {m.target:<13} {r.offered / r.duration_s:5.0f}/s offered, {r.ok} ok {r.failed} failed | "
            f"p50={r.p(50):.1f} p90={r.p(90):.1f} p99={r.p(99):.1f} max={r.p(100):.1f} ms | "
            f"client send lag p99={r.send_lag_p99_ms:.1f} ms, client cpu {r.client_cpu_s / r.duration_s:.2f} cores | "
            f"server cpu {m.server_cpu_s / r.duration_s:.2f} cores{worker}")


def summary_line(closed: dict[str, Measurement], opened: dict[str, Measurement]) -> str:
    floor = closed["floor"].closed.rps
    parts = [f"webhook_ack: floor={floor:.0f} rps"]
    for name in (n for n in closed if n != "floor"):
        rps = closed[name].closed.rps
        share = rps / floor if floor else 0.0
        parts.append(f"{name}={rps:.0f} rps ({share:.0%}, {'OK' if share >= THROUGHPUT_TARGET else 'MISS'})")
    rate = next(iter(opened.values())).opened
    parts.append(f"open-loop {rate.offered / rate.duration_s:.0f}/s")
    for name in (n for n in opened if n.startswith("crm-bot")):
        r = opened[name].opened
        ok = r.p(99) < P99_TARGET_MS and not r.failed
        parts.append(f"{name} p50={r.p(50):.1f} p99={r.p(99):.1f} ms ({'OK' if ok else 'MISS'})")
    parts.append(f"(floor p99={opened['floor'].opened.p(99):.1f}, client-only p99={opened['null'].opened.p(99):.1f})")
    return " ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=10.0, help="closed-loop seconds per server (a)")
    p.add_argument("--rate", type=float, default=300.0, help="open-loop offered requests/s (b)")
    p.add_argument("--open-duration", type=float, default=30.0, help="open-loop seconds per server (b)")
    p.add_argument("--connections", type=int, default=64, help="closed-loop connections (a)")
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=64, help="distinct configured reps sending callbacks")
    p.add_argument("--no-redis", action="store_true", help="skip the crm-bot + Redis variant")
    p.add_argument("--no-docs", action="store_true", help="don't rewrite docs/benchmarks.md")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s closed, 5 s open, no docs")
    p.add_argument("--closed-only", action="store_true", help="only (a), the closed loop (implies --no-docs)")
    p.add_argument("--profile", metavar="DIR", help="py-spy (on PATH) records each crm-bot server during (a) into DIR")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.open_duration, args.no_docs = 3.0, 5.0, True
    if args.closed_only:
        args.no_docs = True
    if args.profile and shutil.which("py-spy") is None:
        p.error("--profile needs py-spy on PATH (pip install py-spy)")
    args.warm = int(WARMUP_RATE * WARMUP_S)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    args.loadavg = os.getloadavg()   # the machine may be shared: say how busy it was
    workdir = Path(tempfile.mkdtemp(prefix="webhook_ack-"))
    prefix = f"crmbot-bench-{os.getpid()}-{int(time.time())}"
    use_redis = not args.no_redis and redis_reachable(REDIS_URL)
    if not args.no_redis and not use_redis:
        print(f"Redis at {REDIS_URL} not reachable: crm-bot+redis variant skipped", flush=True)
    sandbox_port = free_port()
    cfg_path, factory = bench_config(workdir, sandbox_port, prefix, args.reps)
    sandbox = subprocess.Popen([sys.executable, "-m", "bot.cli", "sandbox", "--config", str(cfg_path),
                                "--port", str(sandbox_port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=(workdir / "sandbox.log").open("wb"))
    try:
        wait_port(sandbox_port, sandbox, timeout=60)
        closed, opened = run_all(args, targets(cfg_path, prefix if use_redis else None), factory, workdir)
    finally:
        sandbox.terminate()
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()
        if use_redis:
            drop_redis_keys(REDIS_URL, prefix)
        shutil.rmtree(workdir, ignore_errors=True)
    if not opened:
        return
    summary = summary_line(closed, opened)
    print(summary, flush=True)
    if not args.no_docs:
        write_docs(ROOT / "docs" / "benchmarks.md", args, closed, opened, summary)


def run_all(args: argparse.Namespace, tgts: list[Target], factory: CallbackFactory,
            workdir: Path) -> tuple[dict[str, Measurement], dict[str, Measurement]]:
    """(a) for every target, then (b) for the client alone and every target, alternating."""
    closed: dict[str, Measurement] = {}
    for t in tgts:
        closed[t.name] = measure_closed(t, factory, args, workdir)
        print(closed_line(closed[t.name], closed["floor"].closed.rps), flush=True)
    if args.closed_only:
        return closed, {}
    null = Target("null", [sys.executable, str(ROOT / "bench" / "webhook_ack_load.py"), "null-server", "--port"])
    opened: dict[str, Measurement] = {}
    for t in [null, *tgts]:
        opened[t.name] = measure_open(t, factory, args, workdir)
        print(open_line(opened[t.name]), flush=True)
    return closed, opened


if __name__ == "__main__":
    main()
