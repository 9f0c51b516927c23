"""Load for `bench/webhook_ack.py`: builds distinct, signed and encrypted WeCom text callbacks
as raw HTTP requests (before any timing), drives `wrk` for the closed loop, and runs an asyncio
open-loop generator that times each request from its *scheduled* send time, so a slow server
cannot hide its stalls by slowing the client down (no coordinated omission).

`python bench/webhook_ack_load.py null-server --port P` runs a server that answers every
request with an empty 200 without looking at it: the open loop against it is the client's own
overhead.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.platforms.wecom.crypto import new_nonce  # noqa: E402
from bot.platforms.wecom.inbound import WeComInbound  # noqa: E402

WRK_SCRIPT = Path(__file__).with_name("webhook_ack_wrk.lua")
CITIES = ["杭州", "苏州", "上海", "南京", "合肥", "宁波", "广州", "深圳", "厦门", "无锡"]
COMPANIES = ["优品", "恒达", "瑞康", "新禾", "博远", "华信", "启明", "众合", "安泰", "金桥"]
SUFFIXES = ["科技", "医疗器械", "制造", "贸易", "生物"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"]
NOTES = [
    "刚跟{city}{company}{suffix}的{surname}经理通了电话,想上CRM,预算{budget}万,下周{day}约演示",
    "拜访了{city}{company}{suffix},{surname}总对报价有顾虑,预算大概{budget}万,电话138{phone}",
    "{company}{suffix}({city})的{surname}工想了解我们的方案,预算{budget}万左右,月底前要答复",
    "今天{city}展会上认识{company}{suffix}{surname}经理,年内有采购计划,预算{budget}万",
]
COMMANDS = ["我的待办", "查客户 {company}", "帮助"]
DAYS = "一二三四五"
_STATUS_RE = re.compile(rb"^HTTP/1\.[01] (\d{3})")
_LENGTH_RE = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def sales_text(rng: random.Random) -> str:
    """What a rep types: mostly customer notes (→ draft lead + confirm card), some commands."""
    slots = {"city": rng.choice(CITIES), "company": rng.choice(COMPANIES), "suffix": rng.choice(SUFFIXES),
             "surname": rng.choice(SURNAMES), "budget": rng.randrange(10, 500), "day": rng.choice(DAYS),
             "phone": f"{rng.randrange(10**8):08d}"}
    template = rng.choice(NOTES) if rng.random() < 0.7 else rng.choice(COMMANDS)
    return template.format(**slots)


class CallbackFactory:
    """Raw `POST /callback/wecom` requests exactly as WeCom would send them, each with its own
    MsgId, nonce and the current timestamp."""

    def __init__(self, adapter: WeComInbound, agent_id: str, senders: list[str], host: str,
                 seed: int = 7) -> None:
        self.adapter, self.agent_id, self.senders, self.host = adapter, agent_id, senders, host
        self._rng = random.Random(seed)
        # WeCom MsgIds are 64-bit integers; start from the clock so runs never collide.
        self._ids = itertools.count(time.time_ns() // 1000 * 1000)

    def build(self, count: int) -> list[bytes]:
        now = int(time.time())
        return [self._one(self._rng.choice(self.senders), sales_text(self._rng), now) for _ in range(count)]

    def _one(self, sender: str, text: str, now: int) -> bytes:
        plain = (f"<xml><ToUserName><![CDATA[{self.adapter.corp_id}]]></ToUserName>"
                 f"<FromUserName><![CDATA[{sender}]]></FromUserName><CreateTime>{now}</CreateTime>"
                 f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
                 f"<MsgId>{next(self._ids)}</MsgId><AgentID>{self.agent_id}</AgentID></xml>")
        body, query = self.adapter.encrypt_callback(plain, new_nonce(10), str(now), self.agent_id)
        data = body.encode("utf-8")
        head = (f"POST /callback/wecom?{urlencode(query)} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"User-Agent: Mozilla/4.0\r\nContent-Type: text/xml\r\nContent-Length: {len(data)}\r\n\r\n")
        return head.encode("ascii") + data


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


# --- closed loop: wrk ---------------------------------------------------------------------

@dataclass(frozen=True)
class ClosedLoopResult:
    requests: int
    duration_s: float
    non200: int           # HTTP answers other than 200
    socket_errors: int    # connect/read/write/timeout errors
    wraps: int            # > 0: some callbacks were sent twice (result not trustworthy)
    p50_ms: float
    p99_ms: float
    client_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def write_wrk_files(requests: list[bytes], prefix: Path, threads: int) -> None:
    """Split `requests` into one NUL-separated file per wrk thread (`prefix.<i>`)."""
    for i in range(threads):
        Path(f"{prefix}.{i}").write_bytes(b"".join(r + b"\0" for r in requests[i::threads]))


def run_wrk(port: int, prefix: Path, connections: int, duration: float, threads: int = 1) -> ClosedLoopResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
           "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}", "--", str(prefix)]
    before = _children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKRESULT")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    v = {k: int(x) for k, x in (kv.split("=") for kv in line.split()[1:])}
    return ClosedLoopResult(
        requests=v["requests"], duration_s=v["duration_us"] / 1e6, non200=v["non200"],
        socket_errors=v["connect"] + v["read"] + v["write"] + v["timeout"], wraps=v["wraps"],
        p50_ms=v["p50_us"] / 1000, p99_ms=v["p99_us"] / 1000, client_cpu_s=_children_cpu() - before)


def _children_cpu() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --- open loop: asyncio ---------------------------------------------------------------------

@dataclass(frozen=True)
class OpenLoopResult:
    offered: int
    ok: int
    failed: int
    duration_s: float
    latencies_ms: list[float]    # sorted, successful requests only
    send_lag_p99_ms: float       # how late the client itself put requests on the wire
    client_cpu_s: float

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


class _OpenLoop:
    def __init__(self, port: int, max_connections: int) -> None:
        self.port, self.max_connections = port, max_connections
        self.idle: asyncio.Queue = asyncio.Queue()
        self.opened = 0
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.failed = 0

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle.empty() and self.opened < self.max_connections:
            self.opened += 1
            try:
                return await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.opened -= 1
                raise
        return await self.idle.get()

    async def one(self, raw: bytes, scheduled: float) -> None:
        loop = asyncio.get_running_loop()
        conn = None
        try:
            conn = await self.connection()
            self.lags.append(loop.time() - scheduled)
            conn[1].write(raw)
            status, keep = await _read_response(conn[0])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.failed += 1
            self._discard(conn)
            return
        if status == 200:
            self.latencies.append((loop.time() - scheduled) * 1000)
        else:
            self.failed += 1
        if keep:
            self.idle.put_nowait(conn)
        else:
            self._discard(conn)

    def _discard(self, conn: tuple | None) -> None:
        if conn is not None:
            conn[1].close()
            self.opened -= 1

    async def run(self, requests: list[bytes], rate: float, warm_connections: int) -> float:
        loop = asyncio.get_running_loop()
        for _ in range(min(warm_connections, self.max_connections)):
            self.opened += 1
            self.idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        start = loop.time() + 0.05
        tasks = []
        for i, raw in enumerate(requests):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(self.one(raw, scheduled)))
        done, pending = await asyncio.wait(tasks, timeout=30)
        for t in pending:
            t.cancel()
        self.failed += len(pending)
        return loop.time() - start


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = _STATUS_RE.match(head)
    if status is None:
        raise ValueError("not an HTTP response")
    length = _LENGTH_RE.search(head)
    if length:
        await reader.readexactly(int(length.group(1)))
    return int(status.group(1)), b"connection: close" not in head.lower()


def run_open_loop(port: int, requests: list[bytes], rate: float, max_connections: int = 64,
                  warm_connections: int = 16) -> OpenLoopResult:
    """Send `requests` at `rate`/s on a fixed schedule; latency = answer time − scheduled time."""
    import resource
    gen = _OpenLoop(port, max_connections)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    gc.collect()
    gc.disable()   # a collection over the pre-built requests would be a client-side stall
    try:
        duration = asyncio.run(gen.run(requests, rate, warm_connections))
    finally:
        gc.enable()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    lags = sorted(gen.lags)
    return OpenLoopResult(
        offered=len(requests), ok=len(gen.latencies), failed=gen.failed, duration_s=duration,
        latencies_ms=sorted(gen.latencies), send_lag_p99_ms=percentile(lags, 99) * 1000,
        client_cpu_s=(ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime))


# --- null server: the client's own overhead ------------------------------------------------

async def _null_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH_RE.search(head)
            if length:
                await reader.readexactly(int(length.group(1)))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def _null_server(port: int) -> None:
    server = await asyncio.start_server(_null_handler, "127.0.0.1", port)
    print(f"null server listening on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="webhook_ack load helpers")
    sub = parser.add_subparsers(dest="cmd", required=True)
    null = sub.add_parser("null-server", help="answer every request with an empty 200")
    null.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_null_server(args.port))


if __name__ == "__main__":
    main()
