"""`GET /api/v1/audit`: the audit trail over the integration API, with the filters of
`crm-bot audit` (lead, customer, rep, since, until, limit) and `offset` for the next page
(newest first: `offset=100` skips the 100 newest; the answer's `next_offset` is the next page's); same bearer token and policy check
(Action.API_READ) as the rest of /api/v1. A bad parameter is a 400 naming it; unknown ones too."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bot.web.api import WithStatus, _error, require
from bot.web.context import current_runtime
from crm_core.authz import Action
from crm_core.services.audit_trail import MAX_LIMIT, AuditQuery, audit_entries, parse_time, rep_id

audit_api = Blueprint("audit_api", __name__, url_prefix="/api/v1")
PARAMS = ("lead", "customer", "rep", "since", "until", "limit", "offset")


class BadParam(ValueError):
    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def _positive(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise BadParam(name, "must be a positive whole number")
    return int(raw)


def _query() -> AuditQuery:
    cfg = current_runtime().cfg
    unknown = sorted(set(request.args) - set(PARAMS))
    if unknown:
        raise BadParam(unknown[0], f"unknown parameter (known: {', '.join(PARAMS)})")
    for name in PARAMS:
        if len(request.args.getlist(name)) > 1:
            raise BadParam(name, "given more than once")
    limit = _positive("limit") or 100
    if limit > MAX_LIMIT:
        raise BadParam("limit", f"must be 1..{MAX_LIMIT}")
    times = {}
    for name in ("since", "until"):
        raw = request.args.get(name)
        try:
            times[name] = parse_time(raw, cfg.app.timezone, end=name == "until") if raw else None
        except ValueError as err:
            raise BadParam(name, str(err)) from None
    rep = request.args.get("rep")
    try:
        who = rep_id(cfg, rep) if rep else None
    except ValueError as err:
        raise BadParam("rep", str(err)) from None
    lead, customer = _positive("lead"), _positive("customer")
    raw_offset = request.args.get("offset", "0")
    if not raw_offset.isascii() or not raw_offset.isdigit():
        raise BadParam("offset", "must be a whole number, 0 or more")
    try:
        return AuditQuery(lead_id=lead, customer_id=customer, rep=who,
                          since=times["since"], until=times["until"], limit=limit, offset=int(raw_offset))
    except ValueError as err:
        raise BadParam("since", str(err)) from None


@audit_api.get("/audit")
@require(Action.API_READ)
def audit_list() -> Response | WithStatus:
    """?lead=12 &customer=3 &rep=zhang.wei &since=2026-12-01 &until=2026-12-02 &limit=100 &offset=0"""
    try:
        query = _query()
    except BadParam as err:
        return _error(400, "bad_request", str(err), param=err.name)
    rt = current_runtime()
    with rt.db.uow() as s:
        entries = audit_entries(s, query)
    full = len(entries) == query.limit
    return jsonify({"count": len(entries), "limit": query.limit, "offset": query.offset,
                    "next_offset": query.offset + query.limit if full else None,
                    "entries": [e.as_dict() for e in entries]})
