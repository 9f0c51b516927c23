"""`PATCH /api/v1/leads/<id>`: change a saved lead through the same service as the chat edits
(crm_core/services/lead_edit.py). The body is a JSON object of the fields to set (`null` clears
an optional one); unknown fields and bad values are a 400 naming each field with its reason,
a missing lead 404, and the policy's refusal 403 — in each case nothing is written. A personal
token acts as its rep; the admin token as the admin, or for the rep named in `X-CRM-Rep`
(bot/web/api.py `acting_principal`, `acting`). Each change is audited as `lead.edit`; the answer carries the lead as the
caller may see it and what its next stage move still needs."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from bot.web.api import WithStatus, _error, acting, json_object, require, viewer_of
from bot.web.context import current_runtime
from crm_core.authz import Action
from crm_core.services import queries
from crm_core.services.lead_edit import FIELDS, EditRefused, InvalidEdit, LeadNotFound, edit_lead

lead_api = Blueprint("lead_api", __name__, url_prefix="/api/v1")


@lead_api.patch("/leads/<int:lead_id>")
@require(Action.API_USE)
def patch_lead(lead_id: int) -> Response | WithStatus:
    body = json_object("the changes", "the body must be a JSON object of the fields to change", editable=sorted(FIELDS))
    who = acting()
    rt = current_runtime()
    now = rt.clock()
    try:
        with rt.db.uow() as s:
            res = edit_lead(s, rt.cfg, who, lead_id, body, actor=who.id if who.kind == "rep" else "api",
                            platform="api", now=now)
            view = queries.lead_detail(s, lead_id, now, viewer=viewer_of(who))
    except InvalidEdit as err:
        return _error(400, "validation_failed", "some fields are invalid; nothing was changed",
                      fields=err.fields, editable=sorted(FIELDS))
    except LeadNotFound:
        return _error(404, "not_found", f"lead {lead_id} does not exist")
    except EditRefused as err:
        return _error(403, "forbidden", str(err))
    gate: dict[str, Any] | None = None
    if res.gate is not None:
        gate = {"stage": res.gate.stage_name, "next_stage": res.gate.next_stage,
                "missing": list(res.gate.missing), "ready": res.gate.ready}
    return jsonify({"lead": view, "changed": [c.field for c in res.changes], "gate": gate})
