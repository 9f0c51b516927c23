"""Approvals (审批A3): submitted on a lead (its facts filled in, nothing re-typed), decided node
by node by one tap of a quick reply (or a typed opinion), the submitter told at every step,
approver cards settled in place for everyone who holds them, reminded and then escalated to
the approver's supervisor after the timeout (working hours by default). Every change writes an
`ApprovalStep` and an audit row in the caller's unit of work and returns the notices to send
after the commit. A decision happens once per node: the node index is compared and set in one
UPDATE, and the step's `once` key is unique."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.clock import local
from crm_core.config.approvals import Flow, QuickReply
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Approval, ApprovalFlowVersion, ApprovalStep, CardRecord, Customer, Lead
from crm_core.notices import ApprovalCard, ApprovalCardResolved, ApprovalProgress, Notice
from crm_core.extract.phone import mask_phones_in_text
from crm_core.refs import show_approval
from crm_core.services.approval_facts import approval_facts  # noqa: F401 - re-exported for handlers
from crm_core.services.approval_rules import (DECISION_LABELS, ApprovalError, Facts, PlannedNode, admins,
                                              fact_changes, needs_amount, plan_nodes, show_amount, supervisor_of)
from crm_core.services.approval_versions import sync_flow
from crm_core.worktime import clock_for

HISTORY_ITEMS = 3
KIND_LABELS = {"note": "记录", "follow_up": "跟进", "followup": "跟进", "voice_note": "语音", "stage": "阶段",
               "assigned": "分配", "handover": "交接", "created": "录入", "edit": "修改", "postpone": "延期"}


def card_id(approval_id: int, node_index: int, slot: int) -> str:
    """One approver's card for one node (slot: their place among the node's deciders)."""
    return f"apv{approval_id}n{node_index}r{slot}"


def card_prefix(approval_id: int, node_index: int | None = None) -> str:
    return f"apv{approval_id}n" if node_index is None else f"apv{approval_id}n{node_index}r"


def name_of(cfg: AppConfig, rep_id: str | None) -> str:
    rep = cfg.org.rep(rep_id) if rep_id else None
    return rep.name if rep else (rep_id or "")


def supervises_a_team(cfg: AppConfig, rep_id: str) -> bool:
    """Cards for a team's supervisor go where their supervisor cards go (`supervisor_platform`)."""
    return any(t.supervisor == rep_id for t in cfg.org.teams)


def node_of(a: Approval, index: int | None = None) -> PlannedNode | None:
    i = a.node_index if index is None else index
    return PlannedNode.from_json(a.plan[i]) if 0 <= i < len(a.plan) else None


def get_approval(s: Session, approval_id: int) -> Approval:
    a = s.get(Approval, approval_id)
    if a is None:
        raise ApprovalError(f"没有找到{show_approval(approval_id)}。发送「我的审批」可以查看编号。")
    return a


# ---- facts ------------------------------------------------------------------------------

def lead_facts_for(s: Session, cfg: AppConfig, lead: Lead, amount: int | None) -> Facts:
    """The lead's facts for its approvers (who may not see its phones: masked in the history)."""
    customer = s.get(Customer, lead.customer_id)
    stage = cfg.funnel.stage(lead.stage)
    acts = s.scalars(select(Activity).where(Activity.lead_id == lead.id,
                                            func.coalesce(Activity.text, Activity.transcript).is_not(None))
                     .order_by(Activity.created_at.desc(), Activity.id.desc()).limit(HISTORY_ITEMS))
    history = tuple(f"{local(act.created_at, cfg.app.timezone):%m-%d} {KIND_LABELS.get(act.kind, '记录')}:"
                    f"{mask_phones_in_text((act.text or act.transcript or '').strip())[:40]}" for act in acts)
    return Facts(customer=customer.name if customer else "未填写", amount=show_amount(amount),
                 stage=stage.name if stage else lead.stage, product=lead.product,
                 owner=name_of(cfg, lead.owner_rep_id) or None, history=history)


# ---- submit -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Submitted:
    approval: Approval
    notices: list[Notice]
    superseded: int | None = None        # the running approval this submission replaced


def _card_notices(s: Session, cfg: AppConfig, a: Approval, version: int, flow_name: str, *,
                  only: tuple[str, ...] | None = None, waited: float | None = None,
                  escalated_from: str | None = None) -> list[Notice]:
    """A card for each decider of the current node (or only those named)."""
    node = node_of(a)
    assert node is not None
    decided = []
    for st in s.scalars(select(ApprovalStep).where(ApprovalStep.approval_id == a.id,
                                                   ApprovalStep.kind.in_(("approve", "reject")))
                        .order_by(ApprovalStep.id)):
        earlier = node_of(a, st.node_index)
        if st.label == AUTO_LABEL and st.actor == "system":
            decided.append(f"{earlier.name if earlier else ''} · {AUTO_LABEL}")
            continue
        decided.append(f"{earlier.name if earlier else ''} · {name_of(cfg, st.actor)} "
                       f"{DECISION_LABELS.get(st.kind, st.kind)}" + (f"({st.label})" if st.label else ""))
    out: list[Notice] = []
    for slot, who in enumerate(node.deciders):
        if only is not None and who not in only:
            continue
        out.append(ApprovalCard(
            to_rep=who, lead_id=a.lead_id, as_supervisor=supervises_a_team(cfg, who), card_id=card_id(a.id, a.node_index, slot), approval_id=a.id,
            flow_name=flow_name, flow_version=version, title=str(a.facts.get("title") or ""),
            submitter_name=name_of(cfg, a.submitter), facts=dict(a.facts), changes=list(a.changes),
            revision=a.revision, node_index=a.node_index, node_name=node.name, node_count=len(a.plan),
            replies=[r.label for r in node.replies], decided=decided, waited_hours=waited,
            escalated_from=escalated_from,
            dedupe_key=f"approval:card:{a.id}:{a.node_index}:{slot}"))
    return out


def submit(s: Session, cfg: AppConfig, *, lead: Lead, flow_code: str, amount: int | None, submitter: str,
           platform: str | None, now: datetime) -> Submitted:
    flow: Flow | None = cfg.approvals.flows.get(flow_code)
    if flow is None:
        raise ApprovalError("没有这个审批流程。")
    version, notices = sync_flow(s, flow_code, flow, now)
    run = Flow.model_validate(version.definition)       # the current version, maybe rolled back
    amount = amount if amount is not None else lead.budget_cny
    if amount is None and needs_amount(run):
        raise ApprovalError(f"{run.name}需要金额,请写上金额,例如「提交审批 #{lead.id} {run.name[:2]} 金额180万」。")
    if lead.status not in ("open",):
        raise ApprovalError(f"线索 #{lead.id} 已{ {'won': '赢单', 'lost': '输单', 'pool': '退回公海'}.get(lead.status, '关闭') },"
                            "不能再提交审批。")
    plan = plan_nodes(cfg, run, submitter, amount, lead.stage)
    facts = lead_facts_for(s, cfg, lead, amount)
    previous = s.scalars(select(Approval).where(Approval.lead_id == lead.id, Approval.flow == flow_code)
                         .order_by(Approval.id.desc()).limit(1)).first()
    changes = [c.line() for c in fact_changes(previous.facts, facts.as_json())] if previous is not None else []
    superseded = None
    if (previous is not None and previous.status == "pending" and not changes and previous.amount_cny == amount
            and previous.flow_version_id == version.id):        # sent twice: keep the decisions made so far
        node = node_of(previous, previous.node_index)
        raise ApprovalError(f"{show_approval(previous.id)} 正在审批({node.name if node else '审批中'}),内容没有变化,"
                            f"无需重复提交。要撤回请发送「撤回审批 {show_approval(previous.id)[2:]}」。")
    if previous is not None and previous.status == "pending":
        notices += withdraw(s, cfg, previous, submitter, platform, now, reason="已重新提交")
        superseded = previous.id
    a = Approval(flow=flow_code, flow_version_id=version.id, lead_id=lead.id, submitter=submitter,
                 amount_cny=amount, facts={**facts.as_json(), "title": lead.title}, changes=changes,
                 revision=(previous.revision + 1) if previous is not None else 1,
                 previous_id=previous.id if previous is not None else None,
                 plan=[n.as_json() for n in plan], node_index=0, status="pending", platform=platform,
                 node_started_at=now, created_at=now)
    s.add(a)
    s.flush()
    s.add(ApprovalStep(approval_id=a.id, node_index=0, kind="submit", actor=submitter, created_at=now,
                       comment="; ".join(changes) or None))
    audit.record(s, submitter, "approval.submit", platform=platform, target_type="approval", target_id=a.id,
                 detail={"lead": lead.id, "flow": flow_code, "version": version.version, "amount": amount,
                         "nodes": [n.name for n in plan]}, now=now)
    s.flush()
    notices += _card_notices(s, cfg, a, version.version, run.name)
    return Submitted(a, notices, superseded)


# ---- decide -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Decided:
    approval: Approval
    outcome: str                     # shown on the tapper's card and in their reply
    notices: list[Notice]
    repeated: bool = False           # already decided: nothing changed
    auto: tuple[str, ...] = ()       # the nodes that then passed by themselves (自动通过)


def _version_of(s: Session, a: Approval) -> ApprovalFlowVersion:
    return s.get_one(ApprovalFlowVersion, a.flow_version_id)


def _settle_cards(s: Session, a: Approval, node_index: int | None, result: str, keep: str | None) -> list[Notice]:
    """Update in place every still-open approver card of the node (or of the approval) but
    `keep` (the tapped card, updated by the tap's own reply)."""
    rows = s.scalars(select(CardRecord).where(CardRecord.id.startswith(card_prefix(a.id, node_index)),
                                              CardRecord.resolved_at.is_(None)))
    out: list[Notice] = []
    for rec in rows:
        if rec.id == keep or rec.result is not None:
            continue
        out.append(ApprovalCardResolved(to_rep=a.submitter, lead_id=a.lead_id, replaces_card=rec.id,
                                        content=dict(rec.content or {}), result=result,
                                        dedupe_key=f"approval:settle:{rec.id}"))
    return out


def decide(s: Session, cfg: AppConfig, a: Approval, *, node_index: int, actor: str, decision: str,
           label: str | None, comment: str | None, platform: str | None, now: datetime,
           tapped_card: str | None = None) -> Decided:
    """`actor` approves or rejects node `node_index` of `a` (the policy has said they may)."""
    node = node_of(a, node_index)
    if a.status != "pending" or a.node_index != node_index or node is None:
        return Decided(a, _state_line(cfg, a), [], repeated=True)
    if decision == "reject" and not (comment or "").strip():
        raise ApprovalError(f"驳回需要写理由:发送「审批意见 A{a.id} 驳回 理由…」。")
    skipped = [] if decision == "reject" else _auto_approved(s, a, node_index, actor)
    nxt_index = node_index + 1 + len(skipped)
    final = decision == "reject" or nxt_index >= len(a.plan)
    new_status = "rejected" if decision == "reject" else ("approved" if final else "pending")
    # an UPDATE runs to a CursorResult; Session.execute is typed as returning a plain Result
    done = cast("CursorResult[Any]", s.execute(update(Approval).where(Approval.id == a.id, Approval.node_index == node_index,
                                            Approval.status == "pending")
                     .values(node_index=node_index if final else nxt_index, status=new_status,
                             node_started_at=now, reminded_at=None, escalated_at=None,
                             decided_at=now if final else None)
                     .execution_options(synchronize_session=False)))
    if done.rowcount != 1:
        s.refresh(a)
        return Decided(a, _state_line(cfg, a), [], repeated=True)
    s.refresh(a)
    s.add(ApprovalStep(approval_id=a.id, node_index=node_index, kind=decision, actor=actor, label=label,
                       comment=comment, once=f"decide:{a.id}:{node_index}", created_at=now))
    audit.record(s, actor, f"approval.{decision}", platform=platform, target_type="approval", target_id=a.id,
                 detail={"lead": a.lead_id, "node": node.name, "reply": label, "comment": comment}, now=now)
    who = name_of(cfg, actor)
    verdict = DECISION_LABELS[decision]
    outcome = f"{node.name} · {who} {verdict}" + (f":{comment}" if comment else "")
    for i in skipped:                 # recorded as 自动通过, once per node like a decision
        auto = node_of(a, i)
        assert auto is not None
        note = f"{'、'.join(name_of(cfg, w) for w in auto.approvers)}已在本审批中同意,自动通过"
        s.add(ApprovalStep(approval_id=a.id, node_index=i, kind="approve", actor="system", label=AUTO_LABEL,
                           comment=note, once=f"decide:{a.id}:{i}", created_at=now))
        audit.record(s, "system", "approval.auto_approve", platform=platform, target_type="approval",
                     target_id=a.id, detail={"lead": a.lead_id, "node": auto.name, "approvers": list(auto.approvers)},
                     now=now)
        outcome += f";{auto.name} · {AUTO_LABEL}({note})"
    version = _version_of(s, a)
    notices = _settle_cards(s, a, node_index, f"已由 {who} {verdict} · {local(now, cfg.app.timezone):%m-%d %H:%M}",
                            tapped_card)
    nxt = node_of(a) if new_status == "pending" else None
    event = "rejected" if new_status == "rejected" else "approved" if new_status == "approved" else "node_approved"
    notices.append(ApprovalProgress(to_rep=a.submitter, event=event, next_node=nxt.name if nxt else None,
                                    approval_id=a.id, flow_name=version.name, title=str(a.facts.get("title") or ""),
                                    actor_name=who, comment=comment, lead_id=a.lead_id,
                                    node_name="、".join([node.name, *(n.name for i in skipped if (n := node_of(a, i)))])
                                    + (f"({AUTO_LABEL})" if skipped else ""),
                                    dedupe_key=f"approval:progress:{a.id}:{node_index}:{event}"))
    if nxt is not None:
        s.flush()
        notices += _card_notices(s, cfg, a, version.version, version.name)
    return Decided(a, outcome, notices, auto=tuple(n.name for i in skipped if (n := node_of(a, i))))


AUTO_LABEL = "自动通过"


def _auto_approved(s: Session, a: Approval, node_index: int, actor: str) -> list[int]:
    """The nodes after `node_index` that pass without asking (自动通过): a node every approver of
    which has already approved this approval (counting `actor`'s approval of `node_index` now),
    e.g. 王芳 as the submitter's supervisor and the whole VP group. Asking her twice would only
    repeat her answer, as DingTalk's and Feishu's 审批人去重 do; a node with another approver
    still asks (any one of them may decide it, and the other may not agree). Only nodes that
    follow in a run are skipped, and they are settled in the same UPDATE as the decision, so a
    tap (which names its node) decides at most that node and the run after it, never a later one."""
    approved = set(s.scalars(select(ApprovalStep.actor).where(ApprovalStep.approval_id == a.id,
                                                               ApprovalStep.kind == "approve")))
    approved.add(actor)
    out = []
    for i in range(node_index + 1, len(a.plan)):
        nxt = node_of(a, i)
        if nxt is None or not nxt.approvers or not set(nxt.deciders) <= approved:
            break
        out.append(i)
    return out


def reply_for(a: Approval, node_index: int, slot: int) -> QuickReply:
    node = node_of(a, node_index)
    if node is None or not 0 <= slot < len(node.replies):
        raise ApprovalError("这个快捷回复已经不在审批节点上了,操作未生效。")
    return node.replies[slot]


def _state_line(cfg: AppConfig, a: Approval) -> str:
    from crm_core.services.approval_rules import STATUS_LABELS
    if a.status == "pending":
        node = node_of(a)
        return f"{show_approval(a.id)} 现在在「{node.name if node else ''}」节点。"
    return f"{show_approval(a.id)} {STATUS_LABELS.get(a.status, a.status)}。"


# ---- comment / withdraw -----------------------------------------------------------------

def add_comment(s: Session, cfg: AppConfig, a: Approval, actor: str, text: str, platform: str | None,
                now: datetime) -> list[Notice]:
    s.add(ApprovalStep(approval_id=a.id, node_index=a.node_index, kind="comment", actor=actor, comment=text,
                       created_at=now))
    audit.record(s, actor, "approval.comment", platform=platform, target_type="approval", target_id=a.id,
                 detail={"comment": text}, now=now)
    version = _version_of(s, a)
    node = node_of(a)
    people = {a.submitter, *(node.deciders if node and a.status == "pending" else ())} - {actor}
    return [ApprovalProgress(to_rep=who, approval_id=a.id, flow_name=version.name,
                             title=str(a.facts.get("title") or ""), event="comment", actor_name=name_of(cfg, actor),
                             node_name=node.name if node else None, comment=text, lead_id=a.lead_id,
                             dedupe_key=f"approval:comment:{a.id}:{actor}:{now.isoformat()}:{who}")
            for who in sorted(people)]


def withdraw(s: Session, cfg: AppConfig, a: Approval, actor: str, platform: str | None, now: datetime,
             reason: str = "已撤回") -> list[Notice]:
    if a.status != "pending":
        raise ApprovalError(_state_line(cfg, a))
    s.execute(update(Approval).where(Approval.id == a.id, Approval.status == "pending")
              .values(status="withdrawn", decided_at=now).execution_options(synchronize_session=False))
    s.refresh(a)
    s.add(ApprovalStep(approval_id=a.id, node_index=a.node_index, kind="withdraw", actor=actor, comment=reason,
                       once=f"withdraw:{a.id}", created_at=now))
    audit.record(s, actor, "approval.withdraw", platform=platform, target_type="approval", target_id=a.id,
                 detail={"reason": reason}, now=now)
    who = name_of(cfg, actor)
    notices = _settle_cards(s, a, None, f"{who} {reason} · {local(now, cfg.app.timezone):%m-%d %H:%M}", None)
    node = node_of(a)
    version = _version_of(s, a)
    for person in sorted(set(node.deciders if node else ()) - {actor}):
        notices.append(ApprovalProgress(to_rep=person, approval_id=a.id, flow_name=version.name,
                                        title=str(a.facts.get("title") or ""), event="withdrawn", actor_name=who,
                                        comment=reason, lead_id=a.lead_id,
                                        dedupe_key=f"approval:withdrawn:{a.id}:{person}"))
    return notices


# ---- the timeout fuse -------------------------------------------------------------------

def scan_timeouts(s: Session, cfg: AppConfig, now: datetime) -> list[Notice]:
    """Pending approvals whose node has waited `remind_after_hours` (the approvers reminded,
    once) or `timeout_hours` (escalated once to each approver's supervisor, who gets the card
    saying how long it waited), counted on the section's clock."""
    sec = cfg.approvals
    clock = clock_for(cfg, sec.clock)
    out: list[Notice] = []
    for a in s.scalars(select(Approval).where(Approval.status == "pending").order_by(Approval.id)):
        node = node_of(a)
        if node is None:
            continue
        waited = clock.hours_between(a.node_started_at, now)
        version = _version_of(s, a)
        if waited >= sec.timeout_hours and a.escalated_at is None:
            out += _escalate(s, cfg, a, node, waited, version, now)
        elif (sec.remind_after_hours is not None and waited >= sec.remind_after_hours and a.reminded_at is None
              and a.escalated_at is None):
            a.reminded_at = now
            s.add(ApprovalStep(approval_id=a.id, node_index=a.node_index, kind="remind", actor="system",
                               once=f"remind:{a.id}:{a.node_index}", created_at=now))
            for who in node.deciders:
                out.append(ApprovalProgress(to_rep=who, approval_id=a.id, flow_name=version.name,
                                            as_supervisor=supervises_a_team(cfg, who),
                                            title=str(a.facts.get("title") or ""), event="reminder",
                                            node_name=node.name, waited_hours=waited, lead_id=a.lead_id,
                                            actor_name=name_of(cfg, a.submitter),
                                            dedupe_key=f"approval:remind:{a.id}:{a.node_index}:{who}"))
    return out


def _escalate(s: Session, cfg: AppConfig, a: Approval, node: PlannedNode, waited: float,
              version: ApprovalFlowVersion, now: datetime) -> list[Notice]:
    ups = [sup for who in node.approvers if (sup := supervisor_of(cfg, who))]
    new = tuple(u for u in dict.fromkeys(ups) if u != a.submitter and u not in node.deciders)
    if not new:                       # no supervisor above the approvers: the admins
        new = tuple(x for x in admins(cfg) if x != a.submitter and x not in node.deciders)
    a.escalated_at = now
    plan = list(a.plan)
    plan[a.node_index] = PlannedNode(node.name, node.approvers, node.replies, node.escalated_to + new).as_json()
    a.plan = plan
    s.add(ApprovalStep(approval_id=a.id, node_index=a.node_index, kind="escalate", actor="system",
                       comment=",".join(new) or None, once=f"escalate:{a.id}:{a.node_index}", created_at=now))
    audit.record(s, "system", "approval.escalate", target_type="approval", target_id=a.id,
                 detail={"node": node.name, "to": list(new), "waited_hours": round(waited, 1)}, now=now)
    s.flush()
    first = ", ".join(name_of(cfg, w) for w in node.approvers)
    out = _card_notices(s, cfg, a, version.version, version.name, only=new, waited=waited, escalated_from=first)
    out.append(ApprovalProgress(to_rep=a.submitter, approval_id=a.id, flow_name=version.name,
                                title=str(a.facts.get("title") or ""), event="escalated", node_name=node.name,
                                actor_name=", ".join(name_of(cfg, u) for u in new) or None, waited_hours=waited,
                                lead_id=a.lead_id, dedupe_key=f"approval:escalated:{a.id}:{a.node_index}"))
    return out


# ---- lists ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApprovalLine:
    id: int
    flow_name: str
    lead_id: int
    title: str
    amount: str
    status: str
    node_name: str | None
    submitter: str
    created_at: datetime
    amount_cny: int | None = None     # the figure behind `amount`, for a reader who sees a band (issue 18)


def _line(s: Session, a: Approval) -> ApprovalLine:
    node = node_of(a)
    return ApprovalLine(a.id, _version_of(s, a).name, a.lead_id, str(a.facts.get("title") or ""),
                        str(a.facts.get("amount") or "未填写"), a.status,
                        node.name if node and a.status == "pending" else None, a.submitter, a.created_at,
                        a.amount_cny)


def waiting_for(s: Session, rep_id: str, limit: int = 20) -> list[ApprovalLine]:
    """Pending approvals whose current node `rep_id` decides (oldest first)."""
    out = []
    for a in s.scalars(select(Approval).where(Approval.status == "pending").order_by(Approval.id)):
        node = node_of(a)
        if node is not None and rep_id in node.deciders:
            out.append(_line(s, a))
            if len(out) >= limit:
                break
    return out


def submitted_by(s: Session, rep_id: str | None, limit: int = 20) -> list[ApprovalLine]:
    q = select(Approval).order_by(Approval.id.desc()).limit(limit)
    if rep_id is not None:
        q = q.where(Approval.submitter == rep_id)
    return [_line(s, a) for a in s.scalars(q)]


def steps_of(s: Session, approval_id: int) -> list[ApprovalStep]:
    return list(s.scalars(select(ApprovalStep).where(ApprovalStep.approval_id == approval_id)
                          .order_by(ApprovalStep.id)))
