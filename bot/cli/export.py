"""`crm-bot export customers|leads --as REP [--format csv|xlsx] [-o FILE]`: every customer or lead
REP may see, as REP sees it (crm_core/services/export.py; an admin's id for everything). The file
is written beside its name and renamed when whole, so a refused or failed export leaves nothing;
an unknown REP is a usage error (exit 2), a refusal by the policy exit 1. `-o -` writes to
standard output. Audited as `export.<kind>` by `cli`."""
from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from bot.cli.common import config_option
from bot.cli.workflow import with_runtime
from bot.runtime import Runtime
from cards.zh import polish
from crm_core.authz import Action, Principal, decide
from crm_core.clock import local
from crm_core.config.schema import AppConfig, Rep
from crm_core.export_files import write_csv, write_xlsx
from crm_core.services.export import KINDS, ExportRun, Kind, export
from crm_core.visibility import Viewer

ACTOR = "cli"


def find_rep(cfg: AppConfig, word: str) -> Rep | None:
    """A rep by id or by name."""
    return cfg.org.rep(word) or next((r for r in cfg.org.reps if r.name == word), None)


def default_name(kind: Kind, fmt: str, now: datetime, tz: str) -> str:
    return f"{kind}-{local(now, tz):%Y%m%d-%H%M}.{fmt}"


def write(run: ExportRun, fmt: str, target: IO[bytes]) -> None:
    if fmt == "xlsx":
        write_xlsx(target, KINDS[run.kind], run.header, run.rows)
    else:
        write_csv(target, run.header, run.rows)


@click.command("export")
@click.argument("kind", type=click.Choice(list(KINDS)))
@click.option("--as", "as_rep", required=True, metavar="REP",
              help="export as this rep (id or name): their rows, their fields; an admin for everything")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None,
              help="csv (UTF-8 with BOM, opens in Excel) or xlsx; default: from -o's suffix, else csv")
@click.option("-o", "--output", metavar="FILE", default=None,
              help="where to write (default: <kind>-<date>-<time>.<format> here; '-' for standard output)")
@config_option
@click.pass_context
def export_cmd(ctx: click.Context, kind: Kind, as_rep: str, fmt: str | None, output: str | None,
               config_path: str | None) -> None:
    """Export customers or leads (导出客户/线索) as one person sees them."""
    suffix = Path(output).suffix.lower().lstrip(".") if output and output != "-" else ""
    if fmt and suffix in ("csv", "xlsx") and suffix != fmt:
        raise click.UsageError(polish(f"--format {fmt} 与文件名 {output} 的后缀不一致 / "
                                      f"--format {fmt} does not match {output}"), ctx=ctx)
    fmt = fmt or ("xlsx" if suffix == "xlsx" else "csv")

    def work(rt: Runtime) -> int:
        rt.sync_config()
        rep = find_rep(rt.cfg, as_rep)
        if rep is None:
            raise click.UsageError(polish(f"没有这个人:「{as_rep}」(请用配置里的销售编号或姓名,例如 --as zhang.wei)/ "
                                          f"unknown rep '{as_rep}'"), ctx=ctx)
        who = Principal.of(rep)
        verdict = decide(rt.cfg, who, Action.EXPORT)
        if not verdict:
            click.echo(polish(f"不能以{rep.name}的身份导出:{verdict.reason}"), err=True)
            return 1
        run = export(rt.db, kind, Viewer.of(rt.cfg, who), actor=ACTOR, platform="cli", fmt=fmt, clock=rt.clock)
        if output == "-":
            try:
                write(run, fmt, sys.stdout.buffer)
            finally:
                run.close()
            return 0
        path = Path(output or default_name(kind, fmt, rt.clock(), rt.cfg.app.timezone))
        part = path.with_name(path.name + ".part")
        try:
            with part.open("wb") as out:
                write(run, fmt, out)
            os.replace(part, path)
        finally:
            run.close()                  # audited now, finished or not
            part.unlink(missing_ok=True)
        click.echo(polish(f"已按{rep.name}的查看范围导出{KINDS[kind]} {run.count} 行:{path}"))
        return 0
    with_runtime(ctx, config_path, work)

