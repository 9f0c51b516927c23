"""Workflow reports over the integration API: `GET /api/v1/reports/funnel` gives stage
penetration (share of leads entering stage A that reach stage B within the window), overall,
per team and per rep; same bearer token and policy check (Action.API_READ) as the rest of /api/v1. `funnel_data` also backs
`crm-bot report funnel`."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from bot.runtime import Runtime
from bot.web.api import WithStatus, _error, acting, require, viewer_of
from bot.web.context import current_runtime
from crm_core.authz import Action
from crm_core.config.schema import AppConfig
from crm_core.services.funnel_report import funnel_report, stage_penetration, today_moves

workflow_api = Blueprint("workflow_api", __name__, url_prefix="/api/v1")
MAX_DAYS = 730


def stage_key(cfg: AppConfig, word: str) -> str:
    """A stage by key or name (ValueError naming the choices otherwise)."""
    found = next((s.key for s in cfg.funnel.stages if word in (s.key, s.name)), None)
    if found is None:
        choices = ", ".join(f"{s.key}({s.name})" for s in cfg.funnel.stages)
        raise ValueError(f"unknown stage '{word}'; choose one of {choices}")
    return found


def funnel_data(rt: Runtime, from_stage: str | None, to_stage: str | None, days: float,
                window: float) -> list[dict[str, Any]]:
    """Penetration dicts: one pair (both stages given), or every consecutive pair of the funnel."""
    now = rt.clock()
    with rt.db.uow() as s:
        if from_stage:
            if not to_stage:
                raise ValueError("give both from and to, or neither (the whole funnel)")
            a, b = stage_key(rt.cfg, from_stage), stage_key(rt.cfg, to_stage)
            return [stage_penetration(s, rt.cfg, a, b, now, days=days, window_days=window).as_dict()]
        return [p.as_dict() for p in funnel_report(s, rt.cfg, now, days=days, window_days=window)]


def moves_today(rt: Runtime) -> list[dict[str, Any]]:
    """Today's stage moves (the org's day), with the stages' names."""
    names = {s.key: s.name for s in rt.cfg.funnel.stages}
    with rt.db.uow() as s:
        moves = [m.as_dict() for m in today_moves(s, rt.cfg, rt.clock())]
    for m in moves:
        m["from_name"], m["to_name"] = names.get(m["from"]), names.get(m["to"])
    return moves


def _number(name: str, default: float, low: float, high: float) -> float:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return value


@workflow_api.get("/reports/funnel")
@require(Action.API_USE)
def funnel() -> Response | WithStatus:
    """?from=STAGE&to=STAGE (keys or names; both or neither) &days=90 &window=7; the per-rep and
    per-team rows cut to the token's person's scope (crm_core/visibility.py)."""
    who = acting()
    viewer = viewer_of(who)
    rt = current_runtime()
    a, b = request.args.get("from") or None, request.args.get("to") or None
    if bool(a) != bool(b):
        return _error(400, "bad_request", "give both from and to, or neither (the whole funnel)")
    try:
        days = _number("days", 90, 1, MAX_DAYS)
        window = _number("window", 7, 0.1, 90)
        reports = funnel_data(rt, a, b, days, window)
    except ValueError as err:
        return _error(400, "bad_request", str(err))
    names = {s.key: s.name for s in rt.cfg.funnel.stages}
    for r in reports:
        r["from_name"], r["to_name"] = names.get(r["from"]), names.get(r["to"])
        r["by_rep"], r["by_team"] = viewer.breakdown(r["by_rep"], r["by_team"])
    return jsonify({"generated_at": rt.clock().isoformat(), "days": days, "window_days": window,
                    "reports": reports, "moves_today": moves_today(rt)})
