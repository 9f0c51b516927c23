"""`POST /api/v1/approvals` submits a lead for approval as the chat command does (the lead's facts
filled in, the approvers' cards sent): body `{"lead_id": 12, "flow": "contract" | "合同", "amount_cny":
1800000}` or `"amount": "180万"` (else the lead's budget). It acts for a rep: a personal token's, or
the admin token's `X-CRM-Rep`; the policy's SUBMIT_APPROVAL applies (owner, supervisors, admins).
`GET /api/v1/approvals?box=waiting|submitted` lists what waits for that rep or what they submitted
(the admin token alone: every recent approval). 400 names the field, 404 a missing lead, 403 the
policy's refusal, 409 a submission the flow refuses (closed lead, amount needed).
`GET /api/v1/approval-flows` and `POST /api/v1/approval-flows/<flow>/rollback {"to": N}` are the
CLI's `approval flows` / `approval rollback` for admins (Action.MANAGE_APPROVAL_FLOWS)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from bot.web.api import WithStatus, _error, acting, json_object, require
from bot.web.context import current_runtime
from crm_core.authz import Action, decide
from crm_core.extract.budget import find_budget
from crm_core.refs import show_approval
from crm_core.services.access import lead_facts
from crm_core.services.approval_rules import ApprovalError, show_amount
from crm_core.services.approval_versions import list_versions, rollback, sync_flows
from crm_core.services.approvals import ApprovalLine, submit, submitted_by, waiting_for
from crm_core.services.queries import get_lead
from crm_core.visibility import Viewer, mask

approval_api = Blueprint("approval_api", __name__, url_prefix="/api/v1")


def _line(x: ApprovalLine, viewer: Viewer | None = None) -> dict[str, Any]:
    """One approval; with `viewer` (a list the reader does not decide on) the amount as their role
    sees money (issue 18): a size band when masked, left out when hidden."""
    out = {"id": x.id, "ref": show_approval(x.id), "flow": x.flow_name, "lead_id": x.lead_id, "title": x.title,
           "amount": x.amount, "status": x.status, "node": x.node_name, "submitter": x.submitter,
           "created_at": x.created_at.isoformat()}
    level = viewer.level("budget") if viewer is not None else "visible"
    if level == "hidden":
        del out["amount"]
    elif level == "masked" and x.amount_cny is not None:
        out["amount"] = mask("budget", x.amount_cny)
    return out


def _amount(body: dict[str, Any]) -> tuple[int | None, WithStatus | None]:
    raw = body.get("amount_cny")
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
            return None, _error(400, "validation_failed", "amount_cny must be a positive whole number of yuan",
                                fields={"amount_cny": "需要正整数(元)"})
        return raw, None
    text = body.get("amount")
    if text is None:
        return None, None
    value = find_budget(str(text)) if isinstance(text, (str, int)) else None
    if value is None:
        return None, _error(400, "validation_failed", "amount is not an amount of money",
                            fields={"amount": f"看不懂金额「{text}」,例如 180万"})
    return value, None


@approval_api.post("/approvals")
@require(Action.API_USE)
def submit_approval() -> Response | WithStatus:
    body = json_object("the approval")
    who = acting()
    if who.kind != "rep":
        return _error(400, "acting_rep_required", "an approval is submitted by a rep: use a personal token, or the "
                      "admin token with X-CRM-Rep")
    rt = current_runtime()
    lead_id, flow_word = body.get("lead_id"), body.get("flow")
    if isinstance(lead_id, bool) or not isinstance(lead_id, int):
        return _error(400, "validation_failed", "lead_id must be a lead number", fields={"lead_id": "需要线索编号"})
    code = rt.cfg.approvals.flow_for(str(flow_word)) if isinstance(flow_word, str) else None
    if code is None:
        return _error(400, "validation_failed", "flow is not a configured approval flow",
                      fields={"flow": "没有这个审批流程"}, flows=sorted(rt.cfg.approvals.flows))
    amount, bad = _amount(body)
    if bad is not None:
        return bad
    now = rt.clock()
    try:
        with rt.db.uow() as s:
            lead = get_lead(s, lead_id)
            if lead is None:
                return _error(404, "not_found", f"lead {lead_id} does not exist")
            verdict = decide(rt.cfg, who, Action.SUBMIT_APPROVAL, lead_facts(lead))
            if not verdict:
                return _error(403, "forbidden", verdict.reason)
            done = submit(s, rt.cfg, lead=lead, flow_code=code, amount=amount, submitter=who.id, platform="api",
                          now=now)
            a = done.approval
            out = {"id": a.id, "ref": show_approval(a.id), "flow": code, "lead_id": a.lead_id, "status": a.status,
                   "amount": show_amount(a.amount_cny), "amount_cny": a.amount_cny, "revision": a.revision,
                   "changes": list(a.changes), "superseded": done.superseded,
                   "nodes": [{"name": n["name"], "approvers": n["approvers"]} for n in a.plan]}
            notices = done.notices
            if amount is None and who.kind == "rep":      # the lead's budget: as the submitter sees money
                level = Viewer.of(rt.cfg, who).level("budget")
                if level != "visible":
                    del out["amount_cny"]
                    out["amount"] = mask("budget", a.amount_cny) if level == "masked" and a.amount_cny else None
    except ApprovalError as err:
        return _error(409, "refused", str(err))
    rt.deliver(notices)
    return jsonify({"approval": out}), 201


@approval_api.get("/approvals")
@require(Action.API_USE)
def list_approvals() -> Response | WithStatus:
    who = acting()
    box = request.args.get("box", "waiting")
    if box not in ("waiting", "submitted"):
        return _error(400, "validation_failed", "box must be waiting or submitted", fields={"box": "waiting | submitted"})
    rt = current_runtime()
    with rt.db.uow() as s:
        if who.kind != "rep":
            rows = submitted_by(s, None, limit=100)
        elif box == "waiting":
            rows = waiting_for(s, who.id, limit=100)
        else:
            rows = submitted_by(s, who.id, limit=100)
    # waiting: the approver sees what they decide on; submitted: money as the reader's role sees it
    viewer = None if who.kind != "rep" or box == "waiting" else Viewer.of(rt.cfg, who)
    return jsonify({"box": box if who.kind == "rep" else "all", "approvals": [_line(x, viewer) for x in rows]})


@approval_api.get("/approval-flows")
@require(Action.API_USE)
def list_flows() -> Response | WithStatus:
    """Every version of every flow (the current one for new approvals marked), for admins."""
    who = acting(Action.MANAGE_APPROVAL_FLOWS)
    rt = current_runtime()
    now = rt.clock()
    with rt.db.uow() as s:
        notices = sync_flows(s, rt.cfg, now)
        views = list_versions(s, rt.cfg, now)
    rt.deliver(notices)
    return jsonify({"versions": [{"flow": v.flow, "version": v.version, "name": v.name, "current": v.current,
                                  "nodes": list(v.nodes), "running": v.running,
                                  "created_at": v.created_at.isoformat()} for v in views]})


@approval_api.post("/approval-flows/<flow>/rollback")
@require(Action.API_USE)
def rollback_flow(flow: str) -> Response | WithStatus:
    """Body `{"to": 1}`: version 1 becomes current for NEW approvals (running ones keep theirs)."""
    who = acting(Action.MANAGE_APPROVAL_FLOWS)
    rt = current_runtime()
    body = request.get_json(silent=True) if request.is_json else None
    to = body.get("to") if isinstance(body, dict) else None
    if isinstance(to, bool) or not isinstance(to, int):
        return _error(400, "validation_failed", "to must be a version number", fields={"to": "需要版本号"})
    try:
        with rt.db.uow() as s:
            version, notices = rollback(s, rt.cfg, flow, to, who.id, rt.clock())
            out = {"flow": flow, "version": version.version, "name": version.name}
    except ApprovalError as err:
        return _error(404, "not_found", str(err))
    out["told"] = rt.deliver(notices)
    return jsonify(out)
