"""`crm-bot outbox`: the outbound log and its dead-letter list.

`crm-bot outbox [--status dead] [--limit N]` lists messages, newest first;
`crm-bot outbox retry ID` re-queues one message, `crm-bot outbox retry --all` every dead one.
"""
from __future__ import annotations

import click
from sqlalchemy import select

from bot.cli.common import build_runtime, config_option
from bot.runtime import Runtime
from crm_core.clock import local
from crm_core.db.models import OutboundMessage
from crm_core.kv.keys import OUTBOUND_QUEUE

STATUSES = ("queued", "held", "failed", "sent", "dead")
ERROR_WIDTH = 70


def list_outbound(rt: Runtime, status: str | None = None, limit: int = 20) -> list[OutboundMessage]:
    """Outbound rows, newest first, optionally of one status."""
    query = select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(max(1, limit))
    if status:
        query = query.where(OutboundMessage.status == status)
    with rt.db.uow() as s:
        return list(s.scalars(query))


def retry_outbound(rt: Runtime, row_id: int | None = None) -> list[int]:
    """Re-queue message `row_id` (any status but sent) or, without an id, every dead one (but
    not a row superseded by a later copy of the same message: see `rows.claim_stalled`).
    Attempts start again from zero. A row that went out inside a coalesced message is
    retried through the row that carries it. Returns the re-queued ids."""
    with rt.db.uow() as s:
        if row_id is None:
            rows = [r for r in s.scalars(select(OutboundMessage).where(OutboundMessage.status == "dead"))
                    if not r.body.get("in_plan_of") and not r.body.get("superseded_by")]
        else:
            row = s.get(OutboundMessage, row_id)
            if row is None:
                raise click.ClickException(f"no outbound message #{row_id}")
            carrier_id = row.body.get("in_plan_of")
            if carrier_id:           # it went out inside another row's coalesced message
                carrier = s.get(OutboundMessage, carrier_id)
                if carrier is None:
                    raise click.ClickException(f"outbound message #{row.id} belongs to #{carrier_id}, "
                                               "which no longer exists")
                row = carrier
            if row.status == "sent":
                raise click.ClickException(f"outbound message #{row.id} was already sent")
            if row.body.get("superseded_by"):
                raise click.ClickException(f"outbound message #{row.id} is the same message as "
                                           f"#{row.body['superseded_by']}: retry that one")
            rows = [row]
        for row in rows:
            row.status, row.attempts, row.error = "queued", 0, None
            for member_id in (row.body.get("plan") or {}).get("members", [])[1:]:
                member = s.get(OutboundMessage, member_id)
                if member is not None and member.status == "dead":
                    member.status, member.error = "held", None
        ids = [r.id for r in rows]
    queue = rt.kv.queue(OUTBOUND_QUEUE)
    if row_id is None:
        queue.retry_dead()      # the worker's own dead letters come back too (no-ops once sent)
    for i in ids:
        queue.put({"outbound_id": i})
    return ids


def _runtime(ctx: click.Context, config_path: str | None) -> tuple[Runtime, bool]:
    """(runtime, owned): tests pass a Runtime as `obj`; otherwise build one from the config."""
    root = ctx.find_root().obj
    if root is not None and hasattr(root, "db") and hasattr(root, "kv"):
        return root, False
    path = config_path or ctx.meta.get("outbox.config")
    return build_runtime(path), True


def _line(row: OutboundMessage, tz: str) -> str:
    created = local(row.created_at, tz).strftime("%m-%d %H:%M:%S") if row.created_at else "-"
    error = (row.error or "").replace("\n", " ")
    error = error if len(error) <= ERROR_WIDTH else error[: ERROR_WIDTH - 1] + "…"
    return (f"{row.id:>6}  {created}  {row.platform:<8} {row.recipient[:24]:<24} {row.kind:<11} "
            f"{row.status:<6} {row.attempts:>2}  {error}")


@click.group("outbox", invoke_without_command=True)
@config_option
@click.option("--status", type=click.Choice(STATUSES), default=None, help="only messages in this status")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.pass_context
def outbox_group(ctx: click.Context, config_path: str | None, status: str | None, limit: int) -> None:
    """Outbound messages (newest first); `retry` re-queues dead letters."""
    ctx.meta["outbox.config"] = config_path
    if ctx.invoked_subcommand is not None:
        return
    rt, owned = _runtime(ctx, config_path)
    try:
        rows = list_outbound(rt, status, limit)
        if not rows:
            click.echo("no outbound messages" + (f" with status {status}" if status else ""))
            return
        click.echo(f"{'id':>6}  {'created':<14}  {'platform':<8} {'recipient':<24} {'kind':<11} "
                   f"{'status':<6} {'n':>2}  error")
        for row in rows:
            click.echo(_line(row, rt.cfg.app.timezone))
    finally:
        if owned:
            rt.close()


@outbox_group.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--all", "all_dead", is_flag=True, help="re-queue every dead message")
@config_option
@click.pass_context
def outbox_retry(ctx: click.Context, message_id: int | None, all_dead: bool, config_path: str | None) -> None:
    """Re-queue message ID, or every dead message with --all."""
    if (message_id is None) == (not all_dead):
        raise click.UsageError("give a message ID or --all (not both)")
    rt, owned = _runtime(ctx, config_path)
    try:
        ids = retry_outbound(rt, message_id)
        click.echo(f"re-queued {len(ids)} message(s)" + (f": {', '.join(map(str, ids))}" if ids else ""))
    finally:
        if owned:
            rt.close()
