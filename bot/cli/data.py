"""Data commands: `crm-bot import FILE --source 展会扫码` (customers; with budget / product /
channel columns also leads, assigned by the rules), `crm-bot dedup scan`,
`crm-bot merge undo ID`, `crm-bot report merges --month 2026-11`.

Each builds the runtime from --config (tests pass a Runtime as the click `obj`), runs one
crm_core service and delivers the notices it returns.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from bot.cli.common import build_runtime, config_option
from bot.runtime import Runtime
from crm_core.notices import Notice
from crm_core.services.dedup_scan import MAX_REVIEW_CARDS as SCAN_REVIEW_CARDS
from crm_core.services.dedup_scan import scan
from crm_core.services.import_rows import BadRow, ImportFileError
from crm_core.services.importer import MAX_REVIEW_CARDS as IMPORT_REVIEW_CARDS
from crm_core.services.importer import import_file
from crm_core.services.lead_input import CHANNEL_LABELS
from crm_core.services.merge import MergeError, undo_merge
from crm_core.services.merge_report import merge_report, merge_report_notices

CLI_ACTOR = "cli"
MAX_BAD_ROWS_SHOWN = 200


@contextmanager
def runtime_for(ctx: click.Context, config_path: str | None) -> Iterator[Runtime]:
    """The test's Runtime when one was passed as `obj`, else one built (and closed) here."""
    root = ctx.find_root().obj
    if root is not None and hasattr(root, "db") and hasattr(root, "cfg"):
        yield root
        return
    rt = build_runtime(config_path)
    try:
        yield rt
    finally:
        rt.close()


def _deliver(rt: Runtime, notices: Sequence[Notice]) -> None:
    if notices:
        sent = rt.deliver(notices)
        click.echo(f"已发送 {sent} 张卡片")


def _write_bad_rows(path: str, bad_rows: Sequence[BadRow]) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:   # BOM: Excel opens it as UTF-8
        writer = csv.writer(fh)
        writer.writerow(["行号", "原因"])
        writer.writerows([b.line, b.reason] for b in bad_rows)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", required=True,
              help="来源渠道:" + "、".join(f"{label}|{code}" for code, label in CHANNEL_LABELS.items()))
@click.option("--bad-rows", "bad_rows_path", metavar="CSV", default=None, help="把所有有问题的行写入这个 CSV")
@config_option
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, source: str, bad_rows_path: str | None,
               config_path: str | None) -> None:
    """Import customers from a .csv or .xlsx file (one batch: all good rows or nothing)."""
    with runtime_for(ctx, config_path) as rt:
        click.echo(f"正在导入 {file.name} …")
        try:
            report = import_file(rt.db, rt.cfg, file, source, CLI_ACTOR, rt.clock(), kv=rt.kv,
                                 progress=lambda rows: click.echo(f"  已处理 {rows} 行"))
        except ImportFileError as err:
            raise click.ClickException(str(err)) from None
        for bad in report.bad_rows[:MAX_BAD_ROWS_SHOWN]:
            click.echo(f"  第 {bad.line} 行:{bad.reason}")
        if len(report.bad_rows) > MAX_BAD_ROWS_SHOWN:
            click.echo(f"  …另有 {len(report.bad_rows) - MAX_BAD_ROWS_SHOWN} 行有问题(用 --bad-rows 导出全部)")
        if bad_rows_path:
            _write_bad_rows(bad_rows_path, report.bad_rows)
        if report.ignored_columns:
            click.echo(f"未识别的列(已忽略):{'、'.join(report.ignored_columns)}")
        click.echo(f"完成:共 {report.rows} 行(编码 {report.encoding}),新建客户 {report.created},"
                   f"与已有客户重复 {report.joined_existing},文件内重复 {report.joined_in_file}"
                   f"(其中同一公司新增联系人 {report.company_contacts}),"
                   f"待审核 {report.reviews},有问题 {len(report.bad_rows)} 行,用时 {report.seconds:.1f} 秒"
                   f"(批次 {report.batch_id})")
        if report.leads:
            click.echo(f"新建线索 {report.leads} 条:按分配规则分给销售 {report.assigned} 条,进入公海 {report.pooled} 条"
                       "(首次联系计时已开始)")
        _review_hint(report.reviews, IMPORT_REVIEW_CARDS)
        _deliver(rt, report.notices)


@click.group("dedup")
def dedup_group() -> None:
    """Duplicate customers."""


@dedup_group.command("scan")
@click.option("--dry-run", is_flag=True, help="只统计,不合并也不排队")
@config_option
@click.pass_context
def dedup_scan_cmd(ctx: click.Context, dry_run: bool, config_path: str | None) -> None:
    """Find duplicate groups among existing customers, merge the sure ones, queue the rest."""
    with runtime_for(ctx, config_path) as rt:
        with rt.db.uow() as s:
            report = scan(s, rt.cfg, CLI_ACTOR, rt.clock(), dry_run=dry_run)
        verb = "可合并" if dry_run else "已合并"
        click.echo(f"检查了 {report.customers} 个客户({report.records} 个联系人):发现 {report.groups} 组重复,"
                   f"{verb} {report.merged_customers} 条记录,待审核 {report.reviews} 对,用时 {report.seconds:.1f} 秒")
        if report.merge_ids:
            click.echo("合并记录:" + ", ".join(f"#{i}" for i in report.merge_ids) + "(可用 crm-bot merge undo ID 撤销)")
        if not dry_run:
            _review_hint(report.reviews, SCAN_REVIEW_CARDS)
        _deliver(rt, report.notices)


@click.group("merge")
def merge_group() -> None:
    """Customer merges."""


@merge_group.command("undo")
@click.argument("merge_id", type=int)
@config_option
@click.pass_context
def merge_undo_cmd(ctx: click.Context, merge_id: int, config_path: str | None) -> None:
    """Restore the exact state before merge MERGE_ID."""
    with runtime_for(ctx, config_path) as rt:
        try:
            with rt.db.uow() as s:
                record = undo_merge(s, merge_id, CLI_ACTOR, rt.clock())
                merged = ", ".join(f"#{i}" for i in record.merged_ids)
        except MergeError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"已撤销合并 #{merge_id}:客户 {merged} 已恢复,#{record.survivor_id} 回到合并前的状态")


@click.group("report")
def report_group() -> None:
    """Reports."""


@report_group.command("merges")
@click.option("--month", required=True, metavar="YYYY-MM", help="例如 2026-11")
@click.option("--notify", is_flag=True, help="同时把月报卡片发给每位主管")
@config_option
@click.pass_context
def report_merges_cmd(ctx: click.Context, month: str, notify: bool, config_path: str | None) -> None:
    """Monthly merge report: records before/after, groups merged, by source, time saved."""
    with runtime_for(ctx, config_path) as rt:
        try:
            with rt.db.uow() as s:
                report = merge_report(s, month, rt.cfg.app.timezone)
                notices = merge_report_notices(s, rt.cfg, month) if notify else []
        except ValueError as err:
            raise click.ClickException(str(err)) from None
        for line in report_lines(report):
            click.echo(line)
        _deliver(rt, notices)


def report_lines(report: dict[str, Any]) -> list[str]:
    reviews = report["reviews"]
    lines = [f"{report['month']} 客户去重月报",
             f"  记录数:去重前 {report['records_before']} → 去重后 {report['records_after']}",
             f"  合并 {report['groups_merged']} 组,合并重复记录 {report['duplicates_merged']} 条,"
             f"录入/导入时拦截 {report['duplicates_avoided']} 条,撤销 {report['undone']} 次",
             f"  审核:新增 {reviews['opened']},合并 {reviews['merged']},不是重复 {reviews['rejected']},"
             f"待处理 {reviews['open']}",
             f"  估计节省 {report['minutes_saved']} 分钟(每条重复按 {report['minutes_per_duplicate']} 分钟计)"]
    if report["by_source"]:
        lines.append("  按来源:" + "、".join(f"{k} {v}" for k, v in report["by_source"].items()))
    if report["by_trigger"]:
        lines.append("  按方式:" + "、".join(f"{k} {v}" for k, v in report["by_trigger"].items()))
    return lines

def _review_hint(reviews: int, cards_cap: int) -> None:
    if reviews > cards_cap:
        click.echo(f"已给数据管理员发出前 {cards_cap} 张审核卡片,其余 {reviews - cards_cap} 对在队列中:"
                   f"数据管理员在聊天里发「待审重复」逐批处理")
