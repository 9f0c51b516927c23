"""The `approvals:` section: approval flows (审批流程), one per kind, keyed by a code with a
Chinese name. A flow is a list of nodes; each node applies when its condition holds (amount in
万 / 元, the lead's stage) and is decided by its approvers, resolved from the org when an
approval starts: `supervisor` (the submitter's team supervisor), `rep: <id>` (a named rep),
`group: <name>` (a group defined here, e.g. `vp: [rep ids]`) or `role: <role>` (the reps holding
a role of `org.reps[].roles`, e.g. admin). Any one approver of a node
decides it. Each node has the quick-reply templates its approvers tap.

    approvals:
      timeout_hours: 48            # then the approver's supervisor gets the approval
      remind_after_hours: 24       # the approver reminded once before that
      clock: working               # working hours of `calendar:`, or calendar hours
      groups: {vp: [wang.fang], risk: [liu.yang]}
      flows:
        contract:
          name: 合同审批
          words: [合同]
          nodes:
            - {name: 主管审批, approver: supervisor}
            - {name: VP审批, approver: "group: vp", when: {amount: ">= 50万"}}
            - {name: 风控会审, approver: "group: risk", when: {amount: "> 200万"}}

Cross-references (reps, groups) are checked in `approval_problems` on the raw mapping."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FLOW_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_AMOUNT = re.compile(r"^\s*(>=|>|<=|<|≥|≤|=)?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(亿|万|元)?\s*$")
_UNITS = {"亿": 100_000_000, "万": 10_000, "元": 1, None: 1}
_OPS = {"≥": ">=", "≤": "<=", "=": ">=", None: ">="}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_amount_condition(text: str) -> tuple[str, int]:
    """'>= 50万' → ('>=', 500000); '> 200万', '< 50万', '300000元'; a bare amount means ≥."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise ValueError(f"看不懂金额条件「{text}」,请写成「>= 50万」「> 200万」「< 50万」这样")
    try:
        value = Decimal(m.group(2).replace(",", "")) * _UNITS[m.group(3)]
    except InvalidOperation:
        raise ValueError(f"看不懂金额「{text}」") from None
    return _OPS.get(m.group(1), m.group(1)), int(value)


class When(_Strict):
    """The node applies when every condition given holds; none given: always."""
    amount: str | None = None               # ">= 50万", "> 200万", "< 50万", "<= 300000元"
    stages: list[str] = Field(default_factory=list)   # the lead's stage key is one of these

    @field_validator("amount")
    @classmethod
    def _amount(cls, v: str | None) -> str | None:
        if v is not None:
            parse_amount_condition(v)
        return v


Decision = Literal["approve", "reject"]


class QuickReply(_Strict):
    label: str = Field(min_length=1, max_length=12)   # the button: 同意-无修改
    decision: Decision
    comment: str | None = Field(None, max_length=200)  # the opinion recorded with it


DEFAULT_REPLIES: tuple[QuickReply, ...] = (
    QuickReply(label="同意-无修改", decision="approve", comment="同意，无修改。"),
    QuickReply(label="同意-建议修改条款", decision="approve", comment="同意，建议按批注修改相关条款后签署。"),
    QuickReply(label="驳回-价格需重报", decision="reject", comment="价格低于公司底线，请调整报价后重新提交。"),
)

APPROVER = re.compile(r"^\s*(?:(supervisor)|(rep|group|role)\s*:\s*([A-Za-z0-9_.\-]+))\s*$")


def parse_approver(text: str) -> tuple[str, str | None]:
    """'supervisor' → ('supervisor', None); 'rep: li.na' → ('rep', 'li.na'); 'group: vp'; 'role: admin'."""
    m = APPROVER.match(str(text))
    if not m:
        raise ValueError(f"审批人「{text}」应写成 supervisor、rep: <销售 ID>、group: <分组名> 或 role: <角色>")
    return ("supervisor", None) if m.group(1) else (m.group(2), m.group(3))


class Node(_Strict):
    name: str = Field(min_length=1, max_length=20)    # 主管审批, VP审批, 风控会审
    approver: str
    when: When = When()
    replies: list[QuickReply] = Field(default_factory=lambda: list(DEFAULT_REPLIES), min_length=1, max_length=5)

    @field_validator("approver")
    @classmethod
    def _approver(cls, v: str) -> str:
        parse_approver(v)
        return v


class Flow(_Strict):
    name: str = Field(min_length=1, max_length=20)    # 合同审批
    words: list[str] = Field(default_factory=list)    # what reps type: 合同, 报价, 折扣
    nodes: list[Node] = Field(min_length=1, max_length=10)

    def definition(self) -> dict[str, Any]:
        """What a flow version stores (and hashes)."""
        return self.model_dump(mode="json")


class Approvals(_Strict):
    timeout_hours: float = Field(48, gt=0, le=24 * 60)
    remind_after_hours: float | None = Field(24, gt=0)
    clock: Literal["calendar", "working"] = "working"
    groups: dict[str, list[str]] = Field(default_factory=dict)
    flows: dict[str, Flow] = Field(default_factory=dict)

    @field_validator("flows")
    @classmethod
    def _codes(cls, v: dict[str, Flow]) -> dict[str, Flow]:
        for code in v:
            if not FLOW_CODE.match(code):
                raise ValueError(f"流程代码「{code}」只能用小写字母、数字和下划线,以字母开头")
        return v

    @model_validator(mode="after")
    def _remind_before_timeout(self) -> "Approvals":
        if self.remind_after_hours is not None and self.remind_after_hours >= self.timeout_hours:
            raise ValueError("remind_after_hours 必须小于 timeout_hours(先提醒,再升级)")
        return self

    def flow_for(self, word: str) -> str | None:
        """The flow a typed kind names: its code, its name (合同审批) or one of its words (合同)."""
        w = word.strip()
        for code, flow in self.flows.items():
            if w and (w == code or w == flow.name or w in flow.words or flow.name.startswith(w)):
                return code
        return None


def _roles() -> tuple[str, ...]:
    from typing import get_args

    from crm_core.config.schema import Role          # schema imports this module: read it when checking
    return get_args(Role)


def approval_problems(section: Any, rep_ids: set[str], stage_keys: set[str]) -> list[str]:
    """Cross-references of the raw `approvals:` mapping: group members and `rep:` approvers
    are reps, `group:` approvers are defined groups, words name one flow only."""
    if not isinstance(section, dict):
        return []
    out: list[str] = []
    raw_groups = section.get("groups")
    groups: dict[str, Any] = raw_groups if isinstance(raw_groups, dict) else {}
    for name, members in groups.items():
        for i, rep in enumerate(members if isinstance(members, list) else []):
            if str(rep) not in rep_ids:
                out.append(f"approvals.groups.{name}[{i}]: unknown rep '{rep}' / 没有这位销售人员「{rep}」")
        if isinstance(members, list) and not members:
            out.append(f"approvals.groups.{name}: empty group / 分组「{name}」没有成员")
    raw_flows = section.get("flows")
    flows: dict[str, Any] = raw_flows if isinstance(raw_flows, dict) else {}
    seen_words: dict[str, str] = {}
    for code, flow in flows.items():
        if not isinstance(flow, dict):
            continue
        for word in [flow.get("name"), *(flow.get("words") or [])]:
            if isinstance(word, str) and word in seen_words and seen_words[word] != code:
                out.append(f"approvals.flows.{code}.words: '{word}' also names flow '{seen_words[word]}' / "
                           f"「{word}」同时指向两个流程")
            elif isinstance(word, str):
                seen_words[word] = code
        for i, node in enumerate(flow.get("nodes") or []):
            if not isinstance(node, dict):
                continue
            try:
                kind, ref = parse_approver(str(node.get("approver", "")))
            except ValueError:
                continue            # the schema reports it
            raw_when = node.get("when")
            when: dict[str, Any] = raw_when if isinstance(raw_when, dict) else {}
            for j, stage in enumerate(when.get("stages") or []):
                if stage_keys and str(stage) not in stage_keys:
                    out.append(f"approvals.flows.{code}.nodes[{i}].when.stages[{j}]: unknown stage '{stage}' / "
                               f"销售阶段里没有「{stage}」")
            key = f"approvals.flows.{code}.nodes[{i}].approver"
            if kind == "rep" and ref not in rep_ids:
                out.append(f"{key}: unknown rep '{ref}' / 没有这位销售人员「{ref}」")
            if kind == "group" and ref not in groups:
                out.append(f"{key}: unknown group '{ref}' / approvals.groups 里没有分组「{ref}」")
            if kind == "role" and ref not in _roles():
                out.append(f"{key}: unknown role '{ref}' (one of: {', '.join(_roles())}) / 没有角色「{ref}」")
    return out
