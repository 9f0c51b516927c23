"""Workflow admin commands: `crm-bot assign explain LEAD_ID` (how a lead would be routed now),
`crm-bot handover REP --to REP | --pool` (a leaving rep's open leads, most important first,
moved with a note; one summary card to the receiver) and `report funnel` (stage penetration)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from bot.cli.common import build_runtime, config_option
from bot.runtime import Runtime
from bot.web.workflow_api import funnel_data, moves_today
from bot.worker import Worker
from crm_core.assignment.explain import explain
from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.db.models import Customer
from crm_core.kv.keys import OUTBOUND_QUEUE
from crm_core.notices import HandoverSummary
from crm_core.services.handover import handover, plan_customers, plan_handover
from cards.zh import polish
from handlers.lead_card import money

HANDOVER_ACTOR = "cli"


def _runtime(ctx: click.Context, config_path: str | None) -> tuple[Runtime, bool]:
    """(runtime, owned): tests pass a Runtime as the root `obj`; otherwise build one."""
    root = ctx.find_root().obj
    if root is not None and hasattr(root, "db") and hasattr(root, "kv"):
        return root, False
    return build_runtime(config_path), True


def with_runtime(ctx: click.Context, config_path: str | None, work: Callable[[Runtime], int]) -> None:
    rt, owned = _runtime(ctx, config_path)
    ctx.meta["workflow.owned_runtime"] = owned     # a caller's runtime sends its own queue
    try:
        code = work(rt)
    finally:
        if owned:
            rt.close()
    if code:
        raise SystemExit(code)


def send_pending(rt: Runtime) -> None:
    """Without a shared Redis the queue lives in this process: send what was queued now,
    or it would vanish when the command exits."""
    if rt.kv.backend != "embedded":
        return
    Worker(rt.kv.queue(OUTBOUND_QUEUE), rt.outbox.processors()[OUTBOUND_QUEUE]).drain(limit=100)


# ---- assign explain ----------------------------------------------------------------------------

@click.group("assign")
def assign_group() -> None:
    """Lead assignment (线索分配)."""


@assign_group.command("explain")
@click.argument("lead_id", type=int)
@config_option
@click.pass_context
def assign_explain(ctx: click.Context, lead_id: int, config_path: str | None) -> None:
    """Show how LEAD_ID would be routed right now, rule by rule (nothing changes)."""

    def work(rt: Runtime) -> int:
        with rt.db.uow() as s:
            lines = explain(s, rt.cfg, rt.kv, lead_id, rt.clock())
        for line in lines:
            click.echo(line)
        return 1 if lines and lines[0].startswith("找不到线索") else 0
    with_runtime(ctx, config_path, work)


# ---- handover ----------------------------------------------------------------------------------

def handover_listing(rt: Runtime, rep_id: str) -> list[str]:
    """The rep's open leads, most important first, one line each (budget, stage, customer), then
    every customer of theirs (won ones too), which moves with them."""
    cfg, tz = rt.cfg, rt.cfg.app.timezone
    with rt.db.uow() as s:
        leads = plan_handover(s, rep_id, cfg)
        lines = []
        for i, ld in enumerate(leads, start=1):
            customer = s.get(Customer, ld.customer_id)
            stage = cfg.funnel.stage(ld.stage)
            lines.append(f"{i:>3}. #{ld.id} {customer.name if customer else '—'} · {ld.title} · "
                         f"{stage.name if stage else ld.stage} · {money(ld.budget_cny)} · "
                         f"上次更新 {local(ld.last_activity_at, tz):%Y-%m-%d}")
        customers = len({ld.customer_id for ld in leads})
        owned = plan_customers(s, rep_id)
    out = ([f"{len(leads)} 条未结线索,涉及 {customers} 个客户(按重要程度排列):"] + lines) if leads else []
    if owned:
        names = "、".join(c.name for c in owned[:10]) + (f" 等 {len(owned)} 个" if len(owned) > 10 else "")
        out.append(f"名下客户 {len(owned)} 个(含已赢单的)一并交接:{names}")
    return out


def check_handover(cfg: AppConfig, rep_id: str, to_rep: str | None, force: bool) -> str | None:
    rep = cfg.org.rep(rep_id)
    if rep is None:
        return f"配置中没有销售 {rep_id}"
    if rep.availability == "active" and not force:
        return f"{rep.name} 在配置中仍是在岗(active);先标记为 departed,或加 --force"
    target = cfg.org.rep(to_rep) if to_rep else None
    if to_rep and (target is None or target.availability != "active" or target.id == rep_id):
        return f"无法交接给 {to_rep}:该同事不存在、不在岗或与原负责人相同"
    return None


def _rep_name(cfg: AppConfig, rep_id: str) -> str:
    rep = cfg.org.rep(rep_id)
    return rep.name if rep else rep_id      # check_handover has made sure both reps exist


def run_handover(rt: Runtime, rep_id: str, to_rep: str | None, note: str | None, *, dry_run: bool,
                 confirm: Callable[[str], bool], force: bool = False, flush: bool = True) -> int:
    """List, confirm, move; the receiver (or, for --pool, the supervisors) gets one summary card."""
    problem = check_handover(rt.cfg, rep_id, to_rep, force)
    if problem:
        click.echo(problem, err=True)
        return 2
    listing = handover_listing(rt, rep_id)
    if not listing:
        click.echo(f"{_rep_name(rt.cfg, rep_id)} 没有未结线索,也没有名下客户,无需交接。")
        return 0
    click.echo("\n".join(listing))
    target = _rep_name(rt.cfg, to_rep) if to_rep else "公海"
    if dry_run or not confirm(f"把以上线索和客户交接给 {target}?"):
        click.echo("未做任何更改。")
        return 0
    with rt.db.uow() as s:
        moved, notices = handover(s, rt.cfg, rep_id, to_rep, HANDOVER_ACTOR, rt.clock(), note)
    sent = rt.deliver(notices)
    if flush:
        send_pending(rt)
    customers = sum(n.customer_count for n in notices if isinstance(n, HandoverSummary))
    click.echo(f"已交接 {len(moved)} 条线索" + (f"、{customers} 个客户" if customers and to_rep else "") +
               f"给 {target},已发送 {sent} 张汇总卡片。")
    return 0


@click.command("handover")
@click.argument("rep")
@click.option("--to", "to_rep", metavar="REP", help="the rep who takes over")
@click.option("--pool", is_flag=True, help="return the leads to the team's public pool (公海)")
@click.option("--note", default=None, help="note stored on every lead (default: 交接:A → B)")
@click.option("--dry-run", is_flag=True, help="only list what would move")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--force", is_flag=True, help="even if REP is still active in the config")
@config_option
@click.pass_context
def handover_cmd(ctx: click.Context, rep: str, to_rep: str | None, pool: bool, note: str | None,
                 dry_run: bool, yes: bool, force: bool, config_path: str | None) -> None:
    """Hand a leaving rep's open leads to REP (--to) or back to the pool (--pool)."""
    if bool(to_rep) == pool:
        raise click.UsageError("give exactly one of --to REP or --pool")
    ask = (lambda _q: True) if yes else (lambda q: click.confirm(q, default=False))
    with_runtime(ctx, config_path, lambda rt: run_handover(
        rt, rep, to_rep, note, dry_run=dry_run, confirm=ask, force=force,
        flush=ctx.meta.get("workflow.owned_runtime", True)))


# ---- report funnel (the numbers: bot.web.workflow_api.funnel_data, shared with the API) --------

def rate_text(r: dict[str, Any]) -> str:
    pct = "—" if r["rate"] is None else f"{r['rate'] * 100:.1f}%"
    return f"{r['reached']}/{r['entered']} ({pct})"


def funnel_lines(cfg: AppConfig, reports: list[dict[str, Any]], days: float,
                 moves: list[dict[str, Any]] | None = None) -> list[str]:
    names = {s.key: s.name for s in cfg.funnel.stages}
    lines = []
    for rep in reports:
        lines.append(f"{names.get(rep['from'], rep['from'])} → {names.get(rep['to'], rep['to'])}"
                     f"(近 {days:g} 天进入,{rep['window_days']:g} 天内到达):{rate_text(rep['overall'])}")
        if rep["open"]["entered"]:
            lines.append(polish(f"    近 {rep['window_days']:g} 天进入(尚在观察期):{rep['open']['entered']} 条,"
                                f"已到达 {rep['open']['reached']} 条"))
        for team, r in rep["by_team"].items():
            t = cfg.org.team(team)
            lines.append(f"    团队 {t.name if t else team}:{rate_text(r)}")
        for who, r in rep["by_rep"].items():
            person = cfg.org.rep(who)
            lines.append(f"    销售 {person.name if person else who}:{rate_text(r)}")
    if moves is not None:
        total = sum(m["count"] for m in moves)
        lines.append(polish(f"今日阶段变动:{total} 次" + (":" if moves else "")))
        lines += [polish(f"    {names.get(m['from'], m['from'])} → {names.get(m['to'], m['to'])}:{m['count']} 次")
                  for m in moves]
    return lines


@click.command("funnel")
@click.option("--from", "from_stage", metavar="STAGE", help="stage key or name (with --to)")
@click.option("--to", "to_stage", metavar="STAGE", help="stage key or name (with --from)")
@click.option("--days", type=click.FloatRange(min=1), default=90, show_default=True,
              help="entries into the first stage over this many days")
@click.option("--window", type=click.FloatRange(min=0.1), default=7, show_default=True,
              help="days allowed to reach the second stage")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@config_option
@click.pass_context
def report_funnel_cmd(ctx: click.Context, from_stage: str | None, to_stage: str | None, days: float,
                      window: float, as_json: bool, config_path: str | None) -> None:
    """Stage penetration: share of leads entering a stage that reach the next within the window."""
    if bool(from_stage) != bool(to_stage):
        raise click.UsageError("give both --from and --to, or neither (the whole funnel)")

    def work(rt: Runtime) -> int:
        try:
            reports = funnel_data(rt, from_stage, to_stage, days, window)
        except ValueError as err:
            raise click.UsageError(str(err)) from None
        moves = moves_today(rt)
        if as_json:
            click.echo(json.dumps({"days": days, "window_days": window, "reports": reports, "moves_today": moves},
                                  ensure_ascii=False))
        else:
            click.echo("\n".join(funnel_lines(rt.cfg, reports, days, moves)))
        return 0
    with_runtime(ctx, config_path, work)
