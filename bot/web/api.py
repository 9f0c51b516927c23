"""Read/intake API for integrations and admins (/api/v1), bearer token from config.
Validation errors are 400 with a message per field; nothing is written on error.

Authorization: the configured token is one shared token, so whoever holds it is the policy's
admin principal (`crm_core.authz.API_TOKEN`); every view names the action it performs
(`@require(Action.API_READ)` / `API_WRITE`) and asks the policy (crm_core/authz.py) for it
after the token is checked: 401 without a valid token, 403 when the policy refuses."""
from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError

from bot.web.context import current_runtime
from crm_core.authz import API_TOKEN, Action, Principal, decide
from crm_core.services import queries
from crm_core.services.access import lead_facts
from crm_core.services.intake import MissingFields, intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.services.rows import Lead

api = Blueprint("api", __name__, url_prefix="/api/v1")
P = ParamSpec("P")
R = TypeVar("R")
WithStatus = tuple[Response, int]          # a JSON body and its HTTP status


def _error(status: int, error: str, message: str, **extra: Any) -> WithStatus:
    return jsonify({"error": error, "message": message, **extra}), status


def bearer_error(tokens: list[bytes]) -> WithStatus | None:
    """None if the request carries one of `tokens` as its bearer token, else the 401 answer."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return _error(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
    given = header[7:].strip().encode()
    if not any(hmac.compare_digest(given, t) for t in tokens if t):
        return _error(401, "unauthorized", "invalid token")
    return None


def token_principal() -> tuple[Principal | None, WithStatus | None]:
    """Who the request's bearer token is (the shared admin token), or the 401 answer."""
    denied = bearer_error([t.get_secret_value().encode() for t in current_runtime().cfg.app.api_tokens])
    return (None, denied) if denied is not None else (API_TOKEN, None)


ACTING_HEADER = "X-CRM-Rep"


def acting_principal() -> tuple[Principal, WithStatus | None]:
    """Whom a request acts for: the token's admin principal, or (header `X-CRM-Rep: <rep id>`)
    a configured rep, whose rights the policy then applies (an integration acting for a rep sees
    and changes only what that rep may). 400 for a rep id the config does not know."""
    rep_id = request.headers.get(ACTING_HEADER, "").strip()
    if not rep_id:
        return API_TOKEN, None
    rep = current_runtime().cfg.org.rep(rep_id)
    if rep is None:
        return API_TOKEN, _error(400, "unknown_rep", f"{ACTING_HEADER}: no rep '{rep_id}' in the configuration")
    return Principal.of(rep), None


def phone_rule(who: Principal) -> Callable[[Lead], bool]:
    """Whether `who` sees a lead's phones in full (the policy's Action.VIEW_PHONE)."""
    cfg = current_runtime().cfg
    return lambda lead: decide(cfg, who, Action.VIEW_PHONE, lead_facts(lead)).allowed


def require(action: Action) -> Callable[[Callable[P, R]], Callable[P, R | WithStatus]]:
    """A view that does `action`: the token names the principal, the policy decides."""
    def wrap(view: Callable[P, R]) -> Callable[P, R | WithStatus]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | WithStatus:
            current_runtime().sync_config()      # a config reload / availability change made elsewhere
            who, denied = token_principal()
            if denied is not None or who is None:
                return denied or _error(401, "unauthorized", "invalid token")
            verdict = decide(current_runtime().cfg, who, action)
            if not verdict:
                return _error(403, "forbidden", verdict.reason)
            return view(*args, **kwargs)
        return wrapper
    return wrap


def field_errors(err: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in err.errors():
        name = ".".join(str(p) for p in e["loc"]) or "body"
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        out.setdefault(name, msg)
    return out


@api.post("/leads")
@require(Action.API_WRITE)
def create_lead() -> Response | WithStatus:
    if not request.is_json:
        return _error(415, "unsupported_media_type", "send the lead as JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "invalid_json", "the body must be a JSON object")
    body = {("source" if k == "channel" else k): v for k, v in body.items()}
    try:
        data = LeadInput.model_validate(body)
    except ValidationError as err:
        return _error(400, "validation_failed", "some fields are invalid", fields=field_errors(err))
    rt = current_runtime()
    try:
        with rt.db.uow() as s:
            res = intake_lead(s, rt.cfg, data, actor="api", platform="api", now=rt.clock(), kv=rt.kv)
            view = queries.lead_view(res.lead, rt.clock(), res.contact)
    except MissingFields as err:
        return _error(400, "validation_failed", "required fields are missing",
                      fields={f: "required" for f in err.fields})
    rt.deliver(res.notices)          # the new owner's card, possible-duplicate reviews
    return jsonify({"lead": view, "notes": res.notes}), 201


def _page_args() -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", 50))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise _BadArg("limit and offset must be integers") from None
    if not (1 <= limit <= queries.MAX_PAGE) or offset < 0:
        raise _BadArg(f"limit must be 1..{queries.MAX_PAGE} and offset >= 0")
    return limit, offset


class _BadArg(ValueError):
    pass


@api.errorhandler(_BadArg)
def _bad_arg(err: _BadArg) -> WithStatus:
    return _error(400, "bad_request", str(err))


@api.get("/leads")
@require(Action.API_READ)
def list_leads() -> Response | WithStatus:
    limit, offset = _page_args()
    who, bad = acting_principal()
    if bad is not None:
        return bad
    rt = current_runtime()
    with rt.db.uow() as s:
        return jsonify(queries.list_leads(s, rt.clock(), status=request.args.get("status"),
                                          owner=request.args.get("owner"), stage=request.args.get("stage"),
                                          limit=limit, offset=offset, show_phone=phone_rule(who)))


@api.get("/leads/<int:lead_id>")
@require(Action.API_READ)
def get_lead(lead_id: int) -> Response | WithStatus:
    who, bad = acting_principal()
    if bad is not None:
        return bad
    rt = current_runtime()
    with rt.db.uow() as s:
        view = queries.lead_detail(s, lead_id, rt.clock(), show_phone=phone_rule(who))
    if view is None:
        return _error(404, "not_found", f"lead {lead_id} does not exist")
    return jsonify(view)


@api.get("/customers")
@require(Action.API_READ)
def list_customers() -> Response:
    limit, offset = _page_args()
    rt = current_runtime()
    with rt.db.uow() as s:
        return jsonify(queries.list_customers(s, q=request.args.get("q"), limit=limit, offset=offset,
                                              include_merged=request.args.get("include_merged") == "1"))
