"""Workflow reports over the integration API: `GET /api/v1/reports/funnel` gives stage
penetration (share of leads entering stage A that reach stage B within the window), overall,
per team and per rep; same bearer token as the rest of /api/v1."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from bot.web.api import _error, require_token

workflow_api = Blueprint("workflow_api", __name__, url_prefix="/api/v1")
MAX_DAYS = 730


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
@require_token
def funnel():  # noqa: ANN201
    """?from=STAGE&to=STAGE (keys or names; both or neither) &days=90 &window=7"""
    from bot.cli.workflow import funnel_data
    rt = current_app.extensions["crm_runtime"]
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
    return jsonify({"generated_at": rt.clock().isoformat(), "days": days, "window_days": window,
                    "reports": reports})
