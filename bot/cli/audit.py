"""`crm-bot audit`: read the audit trail by lead, customer, rep and time range, as a table in
plain Chinese or as JSON lines (crm_core/services/audit_trail.py does the reading)."""
from __future__ import annotations

import json
import unicodedata

import click

from bot.cli.common import config_option
from bot.cli.workflow import with_runtime
from bot.runtime import Runtime
from cards.zh import polish
from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.services.audit_trail import (MAX_LIMIT, AuditEntry, AuditQuery, action_label, audit_entries, parse_time,
                                           person, platform_label, rep_id, summary, target_text)

HEADERS = ("时间", "操作人", "平台", "操作", "对象", "内容")


def width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, cols: int) -> str:
    return text + " " * (cols - width(text))


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell (the last column runs free)."""
    cols = [max(width(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([pad(c, w) for c, w in zip(r, cols)] + [r[-1]]).rstrip() for r in rows]


def entry_row(cfg: AppConfig, e: AuditEntry) -> tuple[str, ...]:
    return (f"{local(e.at, cfg.app.timezone):%Y-%m-%d %H:%M}", person(cfg, e.actor), platform_label(e.platform),
            action_label(e.action), target_text(e) or "—", polish(summary(cfg, e)))


@click.command("audit")
@click.option("--lead", "lead_id", type=click.IntRange(min=1), help="one lead (its customer's entries too)")
@click.option("--customer", "customer_id", type=click.IntRange(min=1), help="one customer (with its leads)")
@click.option("--rep", help="what a rep did or was given (id or name)")
@click.option("--since", help="from this date or time (2026-12-01, 2026-12-01T09:00; local time)")
@click.option("--until", help="up to this date (the whole day) or time")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=100, show_default=True,
              help="the newest this many entries")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per entry")
@config_option
@click.pass_context
def audit_cmd(ctx: click.Context, lead_id: int | None, customer_id: int | None, rep: str | None,
              since: str | None, until: str | None, limit: int, as_json: bool, config_path: str | None) -> None:
    """Who did what and when: the audit trail, filtered (every filter given must hold)."""
    def work(rt: Runtime) -> int:
        tz = rt.cfg.app.timezone
        try:
            query = AuditQuery(lead_id=lead_id, customer_id=customer_id, rep=rep_id(rt.cfg, rep) if rep else None,
                               since=parse_time(since, tz) if since else None,
                               until=parse_time(until, tz, end=True) if until else None, limit=limit)
        except ValueError as err:
            raise click.UsageError(str(err)) from None
        with rt.db.uow() as s:
            entries = audit_entries(s, query)
        if as_json:
            for e in entries:
                click.echo(json.dumps(e.as_dict(), ensure_ascii=False))
        elif not entries:
            click.echo("没有符合条件的操作记录。")
        else:
            click.echo("\n".join(table([HEADERS] + [entry_row(rt.cfg, e) for e in entries])))
            click.echo(polish(f"共 {len(entries)} 条" + (f"(只显示最近 {limit} 条,可用 --limit 放宽)"
                                                         if len(entries) == limit else "。")))
        return 0
    with_runtime(ctx, config_path, work)
