"""Approval flow versions. The config's definition of each flow is compared (by hash) with the
last version recorded from the config; a change becomes a new version, marked current, and
the people with running approvals on that flow are told (`ApprovalFlowChanged`). A rollback
marks an earlier version current: new approvals start on it, running ones keep theirs; the
config's own definition comes back only when the config changes again. Called at start-up, on
a config reload (the `approval_timeouts` job and every submission sync first), and by
`crm-bot approval flows / rollback`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.approvals import Flow
from crm_core.config.schema import AppConfig
from crm_core.db.models import Approval, ApprovalFlowVersion
from crm_core.notices import ApprovalFlowChanged, Notice
from crm_core.services.approval_rules import ApprovalError, definition_hash


@dataclass(frozen=True)
class FlowVersionView:
    flow: str
    version: int
    name: str
    current: bool
    created_by: str
    created_at: datetime
    nodes: tuple[str, ...]
    running: int


def _versions(s: Session, code: str) -> list[ApprovalFlowVersion]:
    return list(s.scalars(select(ApprovalFlowVersion).where(ApprovalFlowVersion.flow == code)
                          .order_by(ApprovalFlowVersion.version)))


def _from_config(rows: list[ApprovalFlowVersion]) -> ApprovalFlowVersion | None:
    return next((r for r in reversed(rows) if r.created_by == "config"), None)


def current_version(s: Session, code: str) -> ApprovalFlowVersion | None:
    return s.scalars(select(ApprovalFlowVersion).where(ApprovalFlowVersion.flow == code,
                                                       ApprovalFlowVersion.current.is_(True))
                     .order_by(ApprovalFlowVersion.version.desc()).limit(1)).first()


def _make_current(s: Session, rows: list[ApprovalFlowVersion], row: ApprovalFlowVersion) -> None:
    for r in rows:
        r.current = r is row


def _told(s: Session, code: str, flow_name: str, old: int | None, new: int, rollback: bool,
          now: datetime) -> list[Notice]:
    """Everyone with a running approval on the flow (submitter and the current node's
    approvers), once per person and new version."""
    from crm_core.services.approval_rules import PlannedNode
    running = s.scalars(select(Approval).where(Approval.flow == code, Approval.status == "pending"))
    people: dict[str, list[int]] = {}
    for a in running:
        node = PlannedNode.from_json(a.plan[a.node_index]) if a.node_index < len(a.plan) else None
        for who in {a.submitter, *(node.deciders if node else ())}:
            people.setdefault(who, []).append(a.id)
    return [ApprovalFlowChanged(to_rep=who, flow_name=flow_name, old_version=old, new_version=new,
                                rollback=rollback, running=sorted(ids),
                                dedupe_key=f"approval:flow:{code}:v{new}:{'rb' if rollback else 'cfg'}:"
                                           f"{now:%Y%m%d%H%M%S}:{who}")
            for who, ids in sorted(people.items())]


def sync_flow(s: Session, code: str, flow: Flow, now: datetime) -> tuple[ApprovalFlowVersion, list[Notice]]:
    """The flow's current version after recording the config's definition if it changed."""
    definition = flow.definition()
    digest = definition_hash(definition)
    rows = _versions(s, code)
    last_config = _from_config(rows)
    if last_config is not None and last_config.hash == digest:
        current = next((r for r in rows if r.current), last_config)
        return current, []
    old = next((r for r in rows if r.current), None)
    row = ApprovalFlowVersion(flow=code, version=(rows[-1].version + 1) if rows else 1, name=flow.name,
                              definition=definition, hash=digest, current=True, created_by="config",
                              created_at=now)
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:            # another instance recorded it first
        s.expire_all()
        recorded = current_version(s, code)
        assert recorded is not None
        return recorded, []
    _make_current(s, [*rows, row], row)
    audit.record(s, "config", "approval.flow_version", target_type="approval_flow", target_id=code,
                 detail={"version": row.version, "previous": old.version if old else None}, now=now)
    notices = _told(s, code, flow.name, old.version, row.version, False, now) if old is not None else []
    return row, notices


def sync_flows(s: Session, cfg: AppConfig, now: datetime) -> list[Notice]:
    """Every configured flow synced; the notices of those that changed."""
    out: list[Notice] = []
    for code, flow in cfg.approvals.flows.items():
        out += sync_flow(s, code, flow, now)[1]
    return out


def rollback(s: Session, cfg: AppConfig, code: str, to_version: int, actor: str,
             now: datetime) -> tuple[ApprovalFlowVersion, list[Notice]]:
    """Make version `to_version` of flow `code` current for new approvals."""
    flow = cfg.approvals.flows.get(code)
    if flow is not None:
        sync_flow(s, code, flow, now)
    rows = _versions(s, code)
    if not rows:
        raise ApprovalError(f"没有审批流程「{code}」的版本记录。")
    target = next((r for r in rows if r.version == to_version), None)
    if target is None:
        raise ApprovalError(f"流程「{rows[-1].name}」没有第{to_version}版(现有:"
                            f"{'、'.join(f'第{r.version}版' for r in rows)})。")
    old = next((r for r in rows if r.current), None)
    if old is target:
        return target, []
    _make_current(s, rows, target)
    audit.record(s, actor, "approval.flow_rollback", target_type="approval_flow", target_id=code,
                 detail={"to": target.version, "from": old.version if old else None}, now=now)
    return target, _told(s, code, target.name, old.version if old else None, target.version, True, now)


def _node_line(node: dict[str, Any]) -> str:
    when = node.get("when") or {}
    cond = [str(when["amount"]).replace(">=", "≥").replace("<=", "≤").replace(" ", "")] if when.get("amount") else []
    cond += [f"阶段 {'/'.join(when['stages'])}"] if when.get("stages") else []
    return f"{node.get('name')}({','.join(cond)})" if cond else str(node.get("name"))


def list_versions(s: Session, cfg: AppConfig, now: datetime) -> list[FlowVersionView]:
    sync_flows(s, cfg, now)
    counts = dict(s.execute(select(Approval.flow_version_id, func.count()).where(Approval.status == "pending")
                            .group_by(Approval.flow_version_id)).all())
    rows = s.scalars(select(ApprovalFlowVersion).order_by(ApprovalFlowVersion.flow, ApprovalFlowVersion.version))
    return [FlowVersionView(r.flow, r.version, r.name, r.current, r.created_by, r.created_at,
                            tuple(_node_line(n) for n in r.definition.get("nodes") or ()),
                            int(counts.get(r.id, 0))) for r in rows]
