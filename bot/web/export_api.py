"""`GET /api/v1/export/customers.csv` and `/api/v1/export/leads.csv`: every customer or lead the
token's person may see, as they see it (crm_core/services/export.py), as CSV in UTF-8 with a BOM,
streamed a page at a time. Same bearer tokens as the rest of /api/v1 (401 without one); the
policy's `Action.EXPORT` decides (403), for the token's person and, with the admin token and
`X-CRM-Rep`, for the rep it acts for. Audited as `export.<kind>` when the stream ends (a client
that leaves half-way is recorded as not finished)."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response

from bot.web.api import WithStatus, _error, acting_principal, require, viewer_of
from bot.web.context import current_runtime
from crm_core.authz import Action, decide
from crm_core.clock import local
from crm_core.export_files import csv_chunks
from crm_core.services.export import KINDS, Kind, export

export_api = Blueprint("export_api", __name__, url_prefix="/api/v1/export")


def _download(kind: Kind) -> Response | WithStatus:
    who, bad = acting_principal()
    if bad is not None:
        return bad
    rt = current_runtime()
    verdict = decide(rt.cfg, who, Action.EXPORT)      # the rep X-CRM-Rep names, when it names one
    if not verdict:
        return _error(403, "forbidden", verdict.reason)
    run = export(rt.db, kind, viewer_of(who), actor=who.id, platform="api", fmt="csv", clock=rt.clock)
    day = f"{local(rt.clock(), rt.cfg.app.timezone):%Y%m%d-%H%M}"
    name = f"{kind}-{day}.csv"
    chinese = quote(f"{KINDS[kind]}导出-{day}.csv")
    res = Response(csv_chunks(run.header, run.rows), mimetype="text/csv")
    res.headers["Content-Type"] = "text/csv; charset=utf-8"
    res.headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{chinese}"
    res.headers["Cache-Control"] = "no-store"
    res.call_on_close(run.close)       # audited now if the client left before the end
    return res


@export_api.get("/customers.csv")
@require(Action.EXPORT)
def customers_csv() -> Response | WithStatus:
    return _download("customers")


@export_api.get("/leads.csv")
@require(Action.EXPORT)
def leads_csv() -> Response | WithStatus:
    return _download("leads")
