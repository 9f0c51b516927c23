"""Approval decisions that need no database: which nodes of a flow apply to an approval (their
conditions on amount and stage), who approves each (resolved from the org), how a flow
definition is hashed (a new version when it changes), what changed between two submissions,
who an approver's supervisor is (the timeout fuse), and how amounts read. Pure functions over
the config and plain values."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from crm_core.config.approvals import Flow, Node, QuickReply, parse_amount_condition, parse_approver
from crm_core.config.schema import AppConfig

STATUS_LABELS = {"pending": "审批中", "approved": "已通过", "rejected": "已驳回", "withdrawn": "已撤回"}
DECISION_LABELS = {"approve": "同意", "reject": "驳回"}


class ApprovalError(Exception):
    """Something the person asking should read (Chinese)."""


def definition_hash(definition: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, ensure_ascii=False, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()


def show_amount(yuan: int | None) -> str:
    """1800000 → 180万; 12345 → 12,345元; None → 未填写."""
    if yuan is None:
        return "未填写"
    if yuan >= 10_000 and yuan % 100 == 0:
        wan = yuan / 10_000
        return f"{wan:g}万"
    return f"{yuan:,}元"


def condition_holds(node: Node, amount: int | None, stage: str | None) -> bool:
    """Every condition given holds. An amount condition with no amount known does not hold for
    ≥ / > (a node for big amounts is not skipped silently: the submission asks for the amount
    first, see `needs_amount`) and holds for < / ≤."""
    when = node.when
    if when.stages and stage not in when.stages:
        return False
    if when.amount is None:
        return True
    op, limit = parse_amount_condition(when.amount)
    if amount is None:
        return op in ("<", "<=")
    return {">=": amount >= limit, ">": amount > limit, "<=": amount <= limit, "<": amount < limit}[op]


def needs_amount(flow: Flow) -> bool:
    return any(n.when.amount is not None for n in flow.nodes)


def supervisor_of(cfg: AppConfig, rep_id: str) -> str | None:
    """The supervisor of a team the rep belongs to (not the rep themselves), else None."""
    for team in cfg.org.teams_of(rep_id):
        if team.supervisor and team.supervisor != rep_id:
            return team.supervisor
    return None


def admins(cfg: AppConfig) -> list[str]:
    return [r.id for r in cfg.org.reps if "admin" in r.roles and r.availability != "departed"]


def resolve_approvers(cfg: AppConfig, approver: str, submitter: str) -> list[str]:
    """The reps who decide a node: the submitter's supervisor, a named rep, a group's members or
    the holders of a role;
    never the submitter, never a departed rep. Nobody left: the admins (a node is never skipped
    for want of an approver)."""
    kind, ref = parse_approver(approver)
    if kind == "supervisor":
        found = [s] if (s := supervisor_of(cfg, submitter)) else []
    elif kind == "rep":
        found = [str(ref)]
    elif kind == "role":
        found = [r.id for r in cfg.org.reps if ref in r.roles]
    else:
        found = list(cfg.approvals.groups.get(str(ref), []))
    active = [r for r in dict.fromkeys(found)
              if r != submitter and (rep := cfg.org.rep(r)) is not None and rep.availability != "departed"]
    return active or [a for a in admins(cfg) if a != submitter]


@dataclass(frozen=True)
class PlannedNode:
    name: str
    approvers: tuple[str, ...]
    replies: tuple[QuickReply, ...]
    escalated_to: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "approvers": list(self.approvers), "escalated_to": list(self.escalated_to),
                "replies": [r.model_dump(mode="json") for r in self.replies]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "PlannedNode":
        return cls(name=str(raw["name"]), approvers=tuple(raw.get("approvers") or ()),
                   replies=tuple(QuickReply(**r) for r in raw.get("replies") or ()),
                   escalated_to=tuple(raw.get("escalated_to") or ()))

    @property
    def deciders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.approvers, *self.escalated_to)))


def plan_nodes(cfg: AppConfig, flow: Flow, submitter: str, amount: int | None,
               stage: str | None) -> list[PlannedNode]:
    """The nodes this approval goes through, in order, each with its approvers."""
    planned = [PlannedNode(n.name, tuple(resolve_approvers(cfg, n.approver, submitter)), tuple(n.replies))
               for n in flow.nodes if condition_holds(n, amount, stage)]
    for node, spec in zip(planned, [n for n in flow.nodes if condition_holds(n, amount, stage)]):
        if not node.approvers:
            raise ApprovalError(_nobody_to_decide(cfg, node.name, spec.approver, submitter))
    return planned


def _nobody_to_decide(cfg: AppConfig, node: str, approver: str, submitter: str) -> str:
    """Why a node has no approver, in words an admin can act on. The fallback is the admins, never
    the submitter: a supervisor with nobody above who is also the only admin has nobody left."""
    rep = cfg.org.rep(submitter)
    who = rep.name if rep else submitter
    others = [a for a in admins(cfg) if a != submitter]
    if parse_approver(approver)[0] == "supervisor" and supervisor_of(cfg, submitter) is None and not others:
        alone = f"唯一的管理员就是{who}本人" if submitter in admins(cfg) else "也没有设置管理员"
        return (f"「{node}」找不到审批人:要由{who}的上级主管审批,但{who}没有上级主管,{alone},提交人不能审批自己的申请,"
                f"审批未提交。请管理员在配置里给{who}设一位上级主管(把{who}加入一个由别人当主管的团队),"
                f"或再设一位管理员,然后重新提交。")
    return f"「{node}」找不到审批人(请管理员检查审批流程的审批人设置),审批未提交。"


@dataclass(frozen=True)
class FactChange:
    label: str
    before: str
    after: str

    def line(self) -> str:
        return f"{self.label}:{self.before} → {self.after}"


FACT_LABELS = (("customer", "客户"), ("amount", "金额"), ("stage", "阶段"), ("product", "产品"))


def fact_changes(before: dict[str, Any], after: dict[str, Any]) -> list[FactChange]:
    """What differs between the facts of two submissions (their display forms)."""
    out = []
    for key, label in FACT_LABELS:
        a, b = str(before.get(key) or "未填写"), str(after.get(key) or "未填写")
        if a != b:
            out.append(FactChange(label, a, b))
    return out


@dataclass(frozen=True)
class Facts:
    """A lead's facts as an approval shows them (display strings)."""
    customer: str
    amount: str
    stage: str
    product: str | None = None
    owner: str | None = None
    history: tuple[str, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {"customer": self.customer, "amount": self.amount, "stage": self.stage, "product": self.product,
                "owner": self.owner, "history": list(self.history)}
