"""CLV commands (issue 18): `crm-bot import orders FILE` / `import touchpoints FILE` (the plain
`crm-bot import FILE --source …` stays the customer import) and `crm-bot report clv [--month]`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from cards.zh import polish

from bot.cli.common import config_option
from bot.cli.data import import_cmd, runtime_for
from crm_core.services.clv_dashboard import build_dashboard
from crm_core.services.clv_import import import_clv_file
from crm_core.services.clv_input import BatchInvalid
from crm_core.services.import_rows import ImportFileError
from crm_core.services.merge_report import month_bounds, previous_month
from handlers.clv_cards import dashboard_lines, yuan

MAX_PROBLEMS_SHOWN = 200


class ImportGroup(click.Group):
    """`import FILE …` is the customer import; `import orders|touchpoints FILE` the CLV data."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["customers", *args]
        return super().parse_args(ctx, args)


@click.group("import", cls=ImportGroup)
def import_group() -> None:
    """Import customers (import FILE --source …), orders (import orders FILE) or touchpoints."""


import_group.add_command(import_cmd, "customers")


def _import(ctx: click.Context, what: str, file: Path, source: str, config_path: str | None) -> None:
    with runtime_for(ctx, config_path) as rt:
        try:
            res = import_clv_file(rt.db, what, file, source, rt.cfg.app.timezone, rt.clock())
        except ImportFileError as err:
            raise click.ClickException(polish(str(err))) from None
        except BatchInvalid as err:
            for p in err.problems[:MAX_PROBLEMS_SHOWN]:
                click.echo(polish(f"  第 {p.index} 行:{p.reason}"))
            if len(err.problems) > MAX_PROBLEMS_SHOWN:
                click.echo(f"  …… 另有 {len(err.problems) - MAX_PROBLEMS_SHOWN} 处")
            raise click.ClickException(polish(f"{len(err.problems)} 处问题,没有写入任何记录;改正后重新导入即可")) from None
        noun = "订单" if what == "orders" else "触点"
        moved = f",{res.moved_to_survivor} 条记到了合并后的客户上" if res.moved_to_survivor else ""
        click.echo(polish(f"已导入{noun}:新增 {res.created} 条,更新 {res.updated} 条,未变 {res.unchanged} 条{moved}"))


_source = click.option("--source", default="import", show_default=True,
                       help="来源系统的代号(同一来源里编号相同的记录只记一次)")


def _import_command(what: str, columns: str) -> click.Command:
    """`crm-bot import orders|touchpoints FILE [--source]`."""
    @import_group.command(what, help=f"{what.capitalize()}: {columns}.")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @_source
    @config_option
    @click.pass_context
    def command(ctx: click.Context, file: Path, source: str, config_path: str | None) -> None:
        _import(ctx, what, file, source, config_path)
    return command


import_orders_cmd = _import_command("orders", "客户编号, 订单号, 金额, 毛利, 下单时间, 渠道[, 欺诈]")
import_touchpoints_cmd = _import_command("touchpoints", "客户编号, 编号, 类型, 渠道, 时间[, 影响客户价值, 挽回概率, 备注]")


@click.command("clv")
@click.option("--month", default=None, metavar="YYYY-MM", help="默认上个月")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@config_option
@click.pass_context
def report_clv_cmd(ctx: click.Context, month: str | None, as_json: bool, config_path: str | None) -> None:
    """Monthly CLV dashboard: customers at risk, channels by attributed margin, service win-backs."""
    with runtime_for(ctx, config_path) as rt:
        now = rt.clock()
        month = month or previous_month(now, rt.cfg.app.timezone)
        try:
            month_bounds(month, rt.cfg.app.timezone)
        except ValueError as err:
            raise click.ClickException(str(err)) from None
        with rt.db.uow() as s:
            board = build_dashboard(s, rt.cfg, month, now)
        if as_json:
            click.echo(json.dumps(board.to_dict(), ensure_ascii=False, indent=2))
            return
        click.echo(f"{board.month} 客户价值月报")
        click.echo(polish(f"  本月毛利 {yuan(board.month_margin)},客户终身价值合计 {yuan(board.total_clv)}"
                          f"({board.customers} 位客户" + (f",测算日 {board.as_of.isoformat()})" if board.as_of else ",尚未测算)")))
        for line in dashboard_lines(board):
            click.echo(polish(f"  {line}"))
