"""CLV API (issue 18):

- `POST /api/v1/orders`, `POST /api/v1/touchpoints`: a batch as `{"source": "shop", "orders": [...]}`
  (or `"touchpoints"`; a bare JSON list uses source "api"), at most 5,000 records. Any invalid
  record → 400 with every problem (`index`, `field`, Chinese `reason`) and nothing written;
  otherwise stored idempotently by (source, external_id): created / updated / unchanged counts.
- `GET /api/v1/clv?customer_id=12`: the customer's attributed margin by channel and latest CLV;
  `GET /api/v1/clv?month=2026-11` (default: last month): the monthly dashboard.
- `GET /api/v1/customers/<id>/journey?limit=50`: the full-journey timeline, newest first.

Who (issue 18): the POSTs are the admin token's (Action.API_WRITE). The GETs take the admin token
or a personal token (Action.API_USE) and answer as that person sees (crm_core/visibility.py): a
customer's journey and CLV only for a customer in their row scope (403 otherwise), amounts and
margins per their money level (the figure, a size band, or left out), notes per their notes level.
The dashboard is management's (Action.VIEW_CLV_DASHBOARD: admins, supervisors, finance,
`clv.recipients`) and refused to a viewer whose money level is hidden (it is all amounts); a viewer
with a narrower row scope than `all` (a supervisor with `scope: [team]`) gets their customers'
dashboard, with the channel ranking and the high-value line still the company's
(crm_core/services/clv_dashboard.py)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from bot.web.api import WithStatus, _error, acting, require, viewer_of
from bot.web.context import current_runtime
from cards.zh import polish
from crm_core.authz import Action
from crm_core.services.clv_dashboard import build_dashboard, dashboard_view
from crm_core.services.clv_input import MAX_BATCH, BatchInvalid, ingest
from crm_core.services.journey import attribution_view, journey_view
from crm_core.services.merge_report import month_bounds, previous_month

clv_api = Blueprint("clv_api", __name__, url_prefix="/api/v1")
MAX_JOURNEY = 500


def _batch(what: str) -> Response | WithStatus:
    if not request.is_json:
        return _error(415, "unsupported_media_type", "send the batch as JSON (Content-Type: application/json)")
    body: Any = request.get_json(silent=True)
    source = "api"
    if isinstance(body, dict):
        unknown = sorted(set(body) - {"source", what})
        if unknown:
            return _error(400, "invalid_json", f"unknown keys: {', '.join(unknown)} (send source and {what})")
        source = body.get("source", "api")
        body = body.get(what)
    if not isinstance(body, list) or not isinstance(source, str):
        return _error(400, "invalid_json", f'the body must be {{"source": "...", "{what}": [...]}} or a JSON list',
                      max_batch=MAX_BATCH)
    rt = current_runtime()
    try:
        with rt.db.uow() as s:
            res = ingest(s, what, body, source, rt.cfg.app.timezone, rt.clock())
    except BatchInvalid as err:
        return _error(400, "validation_failed", "some records are invalid; nothing was written",
                      problems=[{"index": p.index, "field": p.field, "reason": polish(p.reason)} for p in err.problems])
    return jsonify({"source": source, "created": res.created, "updated": res.updated, "unchanged": res.unchanged,
                    "moved_to_survivor": res.moved_to_survivor})


@clv_api.post("/orders")
@require(Action.API_WRITE)
def post_orders() -> Response | WithStatus:
    return _batch("orders")


@clv_api.post("/touchpoints")
@require(Action.API_WRITE)
def post_touchpoints() -> Response | WithStatus:
    return _batch("touchpoints")


HIDDEN_MONEY = "抱歉,客户价值月报都是金额,而你的角色看不到金额。"


@clv_api.get("/clv")
@require(Action.API_USE)
def get_clv() -> Response | WithStatus:
    rt = current_runtime()
    raw_customer = request.args.get("customer_id")
    if raw_customer is not None:
        if not raw_customer.isdigit():
            return _error(400, "bad_request", "customer_id must be a positive integer")
        viewer = viewer_of(acting())
        with rt.db.uow() as s:
            mine = attribution_view(s, rt.cfg.clv, int(raw_customer), viewer)
        if mine is None:
            return _error(404, "not_found", f"customer {raw_customer} does not exist")
        return jsonify(mine)
    viewer = viewer_of(acting(Action.VIEW_CLV_DASHBOARD))
    if viewer.hidden("budget"):
        return _error(403, "forbidden", HIDDEN_MONEY)
    now = rt.clock()
    month = request.args.get("month") or previous_month(now, rt.cfg.app.timezone)
    try:
        month_bounds(month, rt.cfg.app.timezone)
    except ValueError:
        return _error(400, "bad_request", "month must be YYYY-MM, e.g. 2026-11")
    with rt.db.uow() as s:
        board = build_dashboard(s, rt.cfg, month, now, viewer.scope)
    return jsonify(dashboard_view(board, viewer))


@clv_api.get("/customers/<int:customer_id>/journey")
@require(Action.API_USE)
def get_journey(customer_id: int) -> Response | WithStatus:
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_JOURNEY:
        return _error(400, "bad_request", f"limit must be 1..{MAX_JOURNEY}")
    viewer = viewer_of(acting())
    rt = current_runtime()
    with rt.db.uow() as s:
        items = journey_view(s, customer_id, limit, viewer)
    if items is None:
        return _error(404, "not_found", f"customer {customer_id} does not exist")
    return jsonify({"customer_id": customer_id, "items": items})
