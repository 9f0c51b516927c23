"""An approval as the policy judges it (`authz.ApprovalFacts`): its submitter, the deciders of
its current node (an escalation's supervisor included) and its status."""
from __future__ import annotations

from sqlalchemy.orm import Session

from crm_core.authz import ApprovalFacts
from crm_core.db.models import Approval
from crm_core.services.approval_rules import PlannedNode


def approval_facts(a: Approval) -> ApprovalFacts:
    node = PlannedNode.from_json(a.plan[a.node_index]) if a.status == "pending" and 0 <= a.node_index < len(a.plan) \
        else None
    return ApprovalFacts(id=a.id, submitter=a.submitter, approvers=frozenset(node.deciders if node else ()),
                         status=a.status)


def load_approval_facts(session: Session, approval_id: int) -> ApprovalFacts | None:
    a = session.get(Approval, approval_id)
    return approval_facts(a) if a is not None else None
