"""Read/intake API for integrations and admins (/api/v1). Validation errors are 400 with a
message per field; nothing is written on error.

Authorization (issue 18): a bearer token is either one of the shared tokens of the config
(`app.api_tokens`: the explicit admin token, the policy's `crm_core.authz.API_TOKEN`) or a
personal token made with `crm-bot token create <rep>` (crm_core/services/api_tokens.py), which
acts as that rep: their rights, their rows and fields (crm_core/visibility.py). Every view names
the action it performs (`@require(Action.API_USE)` for leads, customers and the CLV reads, `API_READ` /
`API_WRITE` for the admin's endpoints) and asks the policy (crm_core/authz.py) after the token
is checked: 401 without a valid token, 403 when the policy refuses. `X-CRM-Rep: <rep id>` (an
integration acting for a rep) is honoured with the admin token only."""
from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from pydantic import ValidationError

from bot.web.context import current_runtime
from crm_core.authz import API_TOKEN, Action, Principal, decide
from crm_core.config.visibility import EXTRA_KEYS
from crm_core.services import queries
from crm_core.services.api_tokens import looks_personal, principal_for
from crm_core.services.customer_fields import FieldsRefused, InvalidFields, set_customer_fields
from crm_core.services.intake import MissingFields, intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.visibility import NotInScope, Viewer

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
    """Who the request's bearer token is: the shared admin token, a personal token's rep (its
    last use noted), or the 401 answer."""
    rt = current_runtime()
    denied = bearer_error([t.get_secret_value().encode() for t in rt.cfg.app.api_tokens])
    if denied is None:
        return API_TOKEN, None
    given = request.headers.get("Authorization", "")[7:].strip()
    if not looks_personal(given):
        return None, denied
    with rt.db.uow() as s:
        who = principal_for(s, rt.cfg, given, rt.clock())
    return (who, None) if who is not None else (None, denied)


ACTING_HEADER = "X-CRM-Rep"
PRINCIPAL_KEY = "crm_principal"      # flask.g: who the checked token is, for the view


def acting_principal() -> tuple[Principal, WithStatus | None]:
    """Whom a request acts for: the token's person (a personal token's rep, or the admin token),
    or, with the admin token only, the rep named in `X-CRM-Rep: <rep id>`, whose rights the policy
    then applies (an integration acting for a rep sees and changes only what that rep may).
    400 for a rep id the config does not know, or for the header with a personal token."""
    who: Principal = g.get(PRINCIPAL_KEY, API_TOKEN)
    rep_id = request.headers.get(ACTING_HEADER, "").strip()
    if not rep_id:
        return who, None
    if who.kind != "api":
        return who, _error(400, "acting_needs_admin_token", f"{ACTING_HEADER} is for the admin token only; "
                           "a personal token always acts as its own person")
    rep = current_runtime().cfg.org.rep(rep_id)
    if rep is None:
        return API_TOKEN, _error(400, "unknown_rep", f"{ACTING_HEADER}: no rep '{rep_id}' in the configuration")
    return Principal.of(rep), None


class Answer(Exception):
    """An answer a helper gives in place of the view's (a 400, 403 or 415): raised by `acting` and
    `json_object`, returned by `require`."""

    def __init__(self, answer: WithStatus):
        super().__init__(answer[1])
        self.answer = answer


def acting(action: Action | None = None) -> Principal:
    """`acting_principal()` for a view under `require`: its 400 is raised as the `Answer`; with
    `action` (one without a target), the policy's refusal for that principal too (403)."""
    who, bad = acting_principal()
    if bad is not None:
        raise Answer(bad)
    if action is not None:
        verdict = decide(current_runtime().cfg, who, action)
        if not verdict:
            raise Answer(_error(403, "forbidden", verdict.reason))
    return who


def json_object(what: str | None, message: str = "the body must be a JSON object", **extra: Any) -> dict[str, Any]:
    """The request's JSON object body, else the `Answer`: 415 naming `what` when the request is not
    JSON (`what` None: that is a 400 like a body that is not an object), 400 `invalid_json` with
    `message` and `extra`."""
    if what is not None and not request.is_json:
        raise Answer(_error(415, "unsupported_media_type", f"send {what} as JSON (Content-Type: application/json)"))
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise Answer(_error(400, "invalid_json", message, **extra))
    return body


def require(action: Action) -> Callable[[Callable[P, R]], Callable[P, R | WithStatus]]:
    """A view that does `action`: the token names the principal, the policy decides. An `Answer`
    the view raises (through `acting`, `json_object`) is its answer; NotInScope a 403."""
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
            setattr(g, PRINCIPAL_KEY, who)
            try:
                return view(*args, **kwargs)
            except Answer as given:
                return given.answer
            except NotInScope as err:          # a row outside the viewer's scope, asked for by number
                return _error(403, "forbidden", str(err))
        return wrapper
    return wrap


def field_errors(err: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in err.errors():
        name = ".".join(str(p) for p in e["loc"]) or "body"
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        out.setdefault(name, msg)
    return out


def viewer_of(who: Principal) -> Viewer:
    """What `who` sees of rows and fields (crm_core/visibility.py)."""
    return Viewer.of(current_runtime().cfg, who)


@api.post("/leads")
@require(Action.API_USE)
def create_lead() -> Response | WithStatus:
    body = {("source" if k == "channel" else k): v for k, v in json_object("the lead").items()}
    try:
        data = LeadInput.model_validate(body)
    except ValidationError as err:
        return _error(400, "validation_failed", "some fields are invalid", fields=field_errors(err))
    who = acting()
    rt = current_runtime()
    try:
        with rt.db.uow() as s:
            res = intake_lead(s, rt.cfg, data, actor=who.id if who.kind == "rep" else "api", platform="api",
                              now=rt.clock(), kv=rt.kv)
            # the admin token's answer keeps its phone masked; a person's follows their view
            view = queries.lead_view(res.lead, rt.clock(), res.contact,
                                     viewer=viewer_of(who) if who.kind == "rep" else None)
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


def _page(read: Callable[..., dict[str, Any]], **args: Any) -> Response:
    """A page of a list read model (`queries.list_*`), as the acting person sees it: `limit` and
    `offset` from the query string (400 when bad), then the principal (400 for a bad X-CRM-Rep)."""
    limit, offset = _page_args()
    viewer = viewer_of(acting())
    with current_runtime().db.uow() as s:
        return jsonify(read(s, limit=limit, offset=offset, viewer=viewer, **args))


@api.get("/leads")
@require(Action.API_USE)
def list_leads() -> Response | WithStatus:
    return _page(queries.list_leads, now=current_runtime().clock(), status=request.args.get("status"),
                 owner=request.args.get("owner"), stage=request.args.get("stage"))


@api.get("/leads/<int:lead_id>")
@require(Action.API_USE)
def get_lead(lead_id: int) -> Response | WithStatus:
    who = acting()
    rt = current_runtime()
    with rt.db.uow() as s:
        view = queries.lead_detail(s, lead_id, rt.clock(), viewer=viewer_of(who))
    if view is None:
        return _error(404, "not_found", f"lead {lead_id} does not exist")
    return jsonify(view)


@api.get("/customers")
@require(Action.API_USE)
def list_customers() -> Response | WithStatus:
    return _page(queries.list_customers, q=request.args.get("q"),
                 include_merged=request.args.get("include_merged") == "1")


@api.patch("/customers/<int:customer_id>/fields")
@require(Action.API_USE)
def patch_customer_fields(customer_id: int) -> Response | WithStatus:
    """Set a customer's sensitive fields ({"bank_account": "…", "complaint": null, …}): for whoever
    sees each field in full on that customer; encrypted at rest when configured."""
    body = json_object(None, "send a JSON object of the fields to set", fields=sorted(EXTRA_KEYS))
    who = acting()
    rt = current_runtime()
    try:
        with rt.db.uow() as s:
            fields = set_customer_fields(s, viewer_of(who), customer_id, body, actor=who.id, platform="api",
                                         now=rt.clock())
    except InvalidFields as err:
        return _error(400, "validation_failed", "some fields are invalid; nothing was changed", fields=err.fields)
    except FieldsRefused as err:
        return _error(403, "forbidden", str(err))
    if fields is None:
        return _error(404, "not_found", f"customer {customer_id} does not exist")
    return jsonify({"id": customer_id, "fields": fields})
