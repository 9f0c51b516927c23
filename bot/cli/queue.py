"""`crm-bot queue`: work-queue tools.

`crm-bot queue stats` shows every queue's ready / in-flight / dead counts and oldest age;
`crm-bot queue drain --platform wecom --hours 72` force-processes a backlog of the inbound
queue: ready messages from that platform received within the window go through the normal
pipeline (with the worker's retry and dead-letter rules); the others are put back untouched.
`crm-bot queue dead [--queue inbound]` lists dead letters (id, when, platform + event id,
reason); `crm-bot queue replay --id ID | --all` puts them back on the queue (an event already
handled is recognised by the inbound log and skipped).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from bot.cli.common import build_runtime, config_option
from bot.cli.jobs import server_state_hidden
from bot.events import InboundEvent
from bot.pipeline import Pipeline
from bot.platforms.registry import default_registry
from bot.runtime import Runtime
from bot.worker import KVFailures, Worker
from crm_core.clock import local
from crm_core.kv.base import KV, Delivery, QueueStats, WorkQueue
from crm_core.kv.keys import ALL_QUEUES, INBOUND_QUEUE

PROGRESS_EVERY = 2.0          # seconds between progress lines
REASON_WIDTH = 80
PARK_SECONDS = 600.0          # other messages stay set aside this long at most (a crashed drain)


class PlatformView(WorkQueue):
    """A view of the inbound queue whose `take` only hands out matching messages (the rest
    is the queue's own). Non-matching ones stay taken (invisible) until `release()` gives
    them back, so one pass sees every ready message once; if the process dies they return
    after the visibility timeout, so nothing is lost."""

    def __init__(self, queue: WorkQueue, wanted: Callable[[dict[str, Any]], bool], visibility: float) -> None:
        self.queue, self.wanted, self.visibility = queue, wanted, visibility
        self.name = queue.name
        self.parked: list[Delivery] = []

    def take(self, visibility_timeout: float = 60.0, wait: float = 0.0) -> Delivery | None:
        while (d := self.queue.take(visibility_timeout=max(visibility_timeout, self.visibility), wait=0)) is not None:
            if self.wanted(d.payload):
                return d
            self.parked.append(d)
        return None

    def ack(self, delivery: Delivery) -> None:
        self.queue.ack(delivery)

    def extend(self, delivery: Delivery, visibility_timeout: float) -> bool:
        return self.queue.extend(delivery, visibility_timeout)

    def nack(self, delivery: Delivery, delay: float = 0.0) -> None:
        self.queue.nack(delivery, delay)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self.queue.dead_letter(delivery, reason)

    def put(self, payload: dict[str, Any]) -> str:
        return self.queue.put(payload)

    def put_once(self, payload: dict[str, Any], claim_key: str, ttl: float) -> str | None:
        return self.queue.put_once(payload, claim_key, ttl)

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.queue.dead_letters(limit)

    def retry_dead(self, message_id: str | None = None) -> int:
        return self.queue.retry_dead(message_id)

    def stats(self) -> QueueStats:
        return self.queue.stats()

    def release(self) -> int:
        for d in self.parked:
            self.queue.nack(d)
        n, self.parked = len(self.parked), []
        return n


def received_within(platform: str, since: datetime) -> Callable[[dict[str, Any]], bool]:
    def wanted(payload: dict[str, Any]) -> bool:
        try:
            event = InboundEvent.from_dict(payload["event"])
        except (KeyError, TypeError, ValueError):
            return False        # not an event we can read: leave it for the normal worker
        return event.platform == platform and event.received_at >= since
    return wanted


def drain_platform(rt: Runtime, platform: str, hours: float, echo: Callable[[str], None] = click.echo,
                   limit: int | None = None) -> dict[str, int]:
    """Process the platform's ready inbound messages received in the last `hours`."""
    queue = rt.kv.queue(INBOUND_QUEUE)
    view = PlatformView(queue, received_within(platform, rt.clock() - timedelta(hours=hours)), PARK_SECONDS)
    counts = {"processed": 0, "failed": 0}
    process = Pipeline(rt).process_inbound

    def counted(payload: dict[str, Any]) -> None:
        try:
            process(payload)
        except Exception:
            counts["failed"] += 1
            raise
    worker, started, shown = Worker(view, counted, failures=KVFailures(rt.kv)), time.monotonic(), time.monotonic()
    echo(f"开始处理 {platform} 近 {hours:g} 小时内的积压消息(队列中就绪 {queue.stats().ready} 条)")
    try:
        while (limit is None or counts["processed"] < limit) and worker.run_once(wait=0):
            counts["processed"] += 1
            if time.monotonic() - shown >= PROGRESS_EVERY:
                shown = time.monotonic()
                echo(f"  已处理 {counts['processed']} 条(失败 {counts['failed']}),"
                     f"{counts['processed'] / max(shown - started, 1e-6):.1f} 条/秒")
    finally:
        counts["skipped"] = view.release()
    echo(f"完成:处理 {counts['processed']} 条,其中失败 {counts['failed']} 条(稍后重试或进入死信),"
         f"放回其他消息 {counts['skipped']} 条")
    return counts


def _runtime(ctx: click.Context, config_path: str | None) -> tuple[Runtime, bool]:
    """(runtime, owned): tests pass a Runtime as `obj`; otherwise build one from the config."""
    root = ctx.find_root().obj
    if root is not None and hasattr(root, "db") and hasattr(root, "kv"):
        return root, False
    return build_runtime(config_path or ctx.meta.get("queue.config")), True


def stats_lines(stats: dict[str, QueueStats]) -> list[str]:
    lines = [f"{'queue':<16} {'ready':>7} {'inflight':>9} {'dead':>6}  oldest ready"]
    for name, st in stats.items():
        age = "—" if st.oldest_ready_age is None else f"{st.oldest_ready_age:.0f} s"
        lines.append(f"{name:<16} {st.ready:>7} {st.inflight:>9} {st.dead:>6}  {age}")
    return lines


@click.group("queue")
@config_option
@click.pass_context
def queue_group(ctx: click.Context, config_path: str | None) -> None:
    """Work queues: stats, dead letters and their replay, force-processing a backlog."""
    ctx.meta["queue.config"] = config_path


@queue_group.command("stats")
@config_option
@click.pass_context
def queue_stats(ctx: click.Context, config_path: str | None) -> None:
    """Ready / in-flight / dead messages and the oldest ready age, per queue."""
    rt, owned = _runtime(ctx, config_path)
    try:
        if hidden := server_state_hidden(rt.kv, "队列", "the queues"):
            click.echo(hidden, err=True)
            raise SystemExit(1)
        for line in stats_lines({n: rt.kv.queue(n).stats() for n in sorted(ALL_QUEUES)}):
            click.echo(line)
    finally:
        if owned:
            rt.close()


def embedded_note(kv: KV) -> str | None:
    """What an admin must know before reading or changing an embedded (Redis-less) queue from
    a separate command: the running server's queue lives in the server's process."""
    if kv.backend != "embedded":
        return None
    if getattr(kv, "busy", None):
        return ("注意:未配置 Redis,队列在正在运行的 crm-bot 进程里,本命令看不到也改不了它。"
                "请先停止服务再运行本命令,或配置 Redis(app.redis_url)。\n"
                "Note: no Redis is configured, and the running crm-bot server keeps its queue in its own "
                "process: this command can neither see nor change it. Stop the server and run this again, "
                "or configure Redis (app.redis_url).")
    if getattr(kv, "durable", False):
        return ("注意:未配置 Redis,本命令读写的是未运行服务器的队列文件,重放的消息在服务启动后处理。\n"
                "Note: no Redis is configured: this command works on the queue file of a server that is "
                "not running; replayed messages are processed when it starts.")
    return ("注意:未配置 Redis,本命令只有它自己进程内的(空)队列;正在运行的服务器的队列在那个进程里。"
            "配置 Redis(app.redis_url)后才能从命令行查看和重放。\n"
            "Note: no Redis is configured: this command only has its own, empty in-memory queue; a running "
            "server's queue lives in that server's process. Configure Redis (app.redis_url) to inspect and "
            "replay it from the command line.")


def what_of(payload: dict[str, Any]) -> str:
    """The message a dead letter carried, in a few words: platform + event id, outbound row."""
    event = payload.get("event")
    if isinstance(event, dict):
        return f"{event.get('platform', '?')} {event.get('event_id', '?')} ({event.get('kind', '?')})"
    if "outbound_id" in payload:
        return f"outbound #{payload['outbound_id']}"
    return ", ".join(sorted(map(str, payload)))[:60] or "(empty)"


def dead_lines(letters: list[dict[str, Any]], tz: str) -> list[str]:
    lines = [f"{'id':<32}  {'failed (local)':<14}  {'n':>2}  {'message':<34}  reason"]
    for d in letters:
        when = datetime.fromtimestamp(float(d.get("failed_at") or 0), timezone.utc)
        reason = str(d.get("reason") or "").replace("\n", " ")
        reason = reason if len(reason) <= REASON_WIDTH else reason[: REASON_WIDTH - 1] + "…"
        lines.append(f"{d['id']:<32}  {local(when, tz):%m-%d %H:%M:%S}  {d.get('attempts', 0):>2}  "
                     f"{what_of(d.get('payload') or {})[:34]:<34}  {reason}")
    return lines


queue_option = click.option("--queue", "queue_name", type=click.Choice(sorted(ALL_QUEUES)), default=INBOUND_QUEUE,
                            show_default=True)


@queue_group.command("dead")
@queue_option
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@config_option
@click.pass_context
def queue_dead(ctx: click.Context, queue_name: str, limit: int, config_path: str | None) -> None:
    """List a queue's dead letters: id, when, attempts, platform + event id, reason."""
    rt, owned = _runtime(ctx, config_path)
    try:
        if note := embedded_note(rt.kv):
            click.echo(note, err=True)
        letters = rt.kv.queue(queue_name).dead_letters(limit)
        if not letters:
            click.echo(f"no dead letters on {queue_name}")
            return
        for line in dead_lines(letters, rt.cfg.app.timezone):
            click.echo(line)
        click.echo(f"{len(letters)} dead letter(s); `crm-bot queue replay --queue {queue_name} --id ID | --all` "
                   "puts them back")
    finally:
        if owned:
            rt.close()


@queue_group.command("replay")
@queue_option
@click.option("--id", "message_id", default=None, help="one dead letter (its id from `queue dead`)")
@click.option("--all", "replay_all", is_flag=True, help="every dead letter of the queue")
@config_option
@click.pass_context
def queue_replay(ctx: click.Context, queue_name: str, message_id: str | None, replay_all: bool,
                 config_path: str | None) -> None:
    """Put dead letters back on their queue (new attempts; an event already handled is skipped)."""
    if (message_id is None) == (not replay_all):
        raise click.UsageError("give --id ID or --all (not both)")
    rt, owned = _runtime(ctx, config_path)
    try:
        if note := embedded_note(rt.kv):
            click.echo(note, err=True)
        n = rt.kv.queue(queue_name).retry_dead(message_id)
        if message_id is not None and n == 0:
            raise click.ClickException(f"no dead letter {message_id} on {queue_name}")
        click.echo(f"re-queued {n} dead letter(s) on {queue_name}")
    finally:
        if owned:
            rt.close()


@queue_group.command("drain")
@click.option("--platform", type=click.Choice(default_registry().names()), required=True)
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=72.0, show_default=True,
              help="only messages received within this many hours")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="stop after this many messages")
@config_option
@click.pass_context
def queue_drain(ctx: click.Context, platform: str, hours: float, limit: int | None, config_path: str | None) -> None:
    """Force-process a backlog of inbound messages from one platform."""
    rt, owned = _runtime(ctx, config_path)
    try:
        drain_platform(rt, platform, hours, limit=limit)
    finally:
        if owned:
            rt.close()
