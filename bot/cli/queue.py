"""`crm-bot queue`: work-queue tools.

`crm-bot queue stats` shows every queue's ready / in-flight / dead counts and oldest age;
`crm-bot queue drain --platform wecom --hours 72` force-processes a backlog of the inbound
queue: ready messages from that platform received within the window go through the normal
pipeline (with the worker's retry and dead-letter rules); the others are put back untouched.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click

from bot.cli.common import build_runtime, config_option
from bot.events import InboundEvent
from bot.pipeline import Pipeline
from bot.platforms.registry import default_registry
from bot.runtime import Runtime
from bot.worker import VISIBILITY_SECONDS, Worker
from crm_core.kv.base import Delivery, QueueStats, WorkQueue
from crm_core.kv.keys import ALL_QUEUES, INBOUND_QUEUE

PROGRESS_EVERY = 2.0          # seconds between progress lines


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
    view = PlatformView(queue, received_within(platform, rt.clock() - timedelta(hours=hours)), VISIBILITY_SECONDS)
    counts = {"processed": 0, "failed": 0}
    process = Pipeline(rt).process_inbound

    def counted(payload: dict[str, Any]) -> None:
        try:
            process(payload)
        except Exception:
            counts["failed"] += 1
            raise
    worker, started, shown = Worker(view, counted), time.monotonic(), time.monotonic()
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
    """Work queues: stats, and force-processing a backlog."""
    ctx.meta["queue.config"] = config_path


@queue_group.command("stats")
@config_option
@click.pass_context
def queue_stats(ctx: click.Context, config_path: str | None) -> None:
    """Ready / in-flight / dead messages and the oldest ready age, per queue."""
    rt, owned = _runtime(ctx, config_path)
    try:
        for line in stats_lines({n: rt.kv.queue(n).stats() for n in sorted(ALL_QUEUES)}):
            click.echo(line)
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
