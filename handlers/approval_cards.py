"""What approvals look like: the approver's card (the lead's facts, what changed since the
previous submission, the earlier nodes' decisions, one button per quick reply of the node), the
same card settled in place, and the texts that tell people what happened."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cards.model import Button, Card, CardError, Field, Level, card_from_dict
from crm_core.config.schema import AppConfig
from crm_core.notices import ApprovalCard, ApprovalCardResolved, ApprovalFlowChanged, ApprovalProgress
from crm_core.refs import show_approval
from handlers.seen_by import SeenBy

if TYPE_CHECKING:
    from handlers.notify import Renderers

REPLY_ACTION = "approval.reply"


def _hours(h: float | None) -> str:
    return f"{h:.0f}" if h is not None else "?"


def _history(cfg: AppConfig, n: ApprovalCard, history: list[str]) -> list[str]:
    """The lead's latest follow-ups as the approver's role sees notes (issue 18): the amount is on
    the card because deciding on it is the approver's job; the notes are not, so an approver by
    `role: finance` (notes hidden) gets none and a masked level shows each as ***."""
    seen = SeenBy.of(cfg, n.to_rep)
    out = []
    for h in history:
        when, _, text = h.partition(":")
        shown = seen.note(text) if text else None
        if shown:
            out.append(f"{when}:{shown}")
    return out


def approval_card(cfg: AppConfig, n: ApprovalCard) -> Card:
    f = n.facts
    clock = "个工作小时" if cfg.approvals.clock == "working" else "小时"
    fields = [Field("客户", str(f.get("customer") or "未填写")), Field("金额", str(f.get("amount") or "未填写")),
              Field("阶段", str(f.get("stage") or "未填写")), Field("产品", str(f.get("product") or "未填写")),
              Field("审批节点", f"{n.node_name}(第{n.node_index + 1}步,共{n.node_count}步)"),
              Field("提交人", f"{n.submitter_name}(第{n.revision}次提交)")]
    lines: list[str] = []
    if n.waited_hours is not None:
        lines.append(f"**已等待 {_hours(n.waited_hours)} {clock}**,{n.escalated_from or '原审批人'}尚未处理,"
                     "现转由你审批。")
    if n.changes:
        lines.append("**与上次提交相比:**")
        lines += [f"· {c}" for c in n.changes]
    elif n.revision > 1:
        lines.append("与上次提交相比:没有变化。")
    if n.decided:
        lines.append("**已审批:**")
        lines += [f"· {d}" for d in n.decided]
    history = _history(cfg, n, list(f.get("history") or []))
    if history:
        lines.append("**最近跟进:**")
        lines += [f"· {h}" for h in history]
    lines.append(f"点下方快捷回复即可完成审批;要写意见请发送「审批意见 A{n.approval_id} 同意/驳回 你的意见」。")
    buttons = [Button(label[:12], REPLY_ACTION, {"approval": str(n.approval_id), "node": str(n.node_index),
                                                 "reply": str(i)},
                      style="danger" if label.startswith("驳回") else "primary" if i == 0 else "default")
               for i, label in enumerate(n.replies[:5])]
    return Card(card_id=n.card_id, title=f"{n.flow_name} · {show_approval(n.approval_id)}",
                subtitle=f"线索#{n.lead_id} {n.title}"[:60],
                level=Level.WARNING if n.waited_hours is not None else Level.INFO,
                fields=tuple(fields), text="\n".join(lines), buttons=tuple(buttons),
                footer=f"{n.flow_name} 第{n.flow_version}版")


def resolved_card(cfg: AppConfig, n: ApprovalCardResolved) -> Card | str | None:
    try:
        return card_from_dict(n.content).resolved(n.result)
    except (CardError, TypeError, ValueError, KeyError):
        return None


def progress_text(cfg: AppConfig, n: ApprovalProgress) -> str:
    ref = f"{n.flow_name} {show_approval(n.approval_id)}(线索#{n.lead_id} {n.title})"
    opinion = f"\n意见:{n.comment}" if n.comment else ""
    clock = "个工作小时" if cfg.approvals.clock == "working" else "小时"
    if n.event == "node_approved":
        return f"{ref}:{n.node_name} 已由 {n.actor_name} 同意,下一步:{n.next_node}。{opinion}"
    if n.event == "approved":
        return f"{ref} 已通过。最后一步 {n.node_name} 由 {n.actor_name} 同意。{opinion}"
    if n.event == "rejected":
        return f"{ref} 被驳回:{n.node_name} · {n.actor_name}。{opinion}\n修改后可以重新发送「提交审批 #{n.lead_id} …」。"
    if n.event == "withdrawn":
        return f"{ref} 已由 {n.actor_name} 撤回({n.comment or '已撤回'}),无需再审批。"
    if n.event == "escalated":
        if not n.actor_name:
            return (f"{ref} 在「{n.node_name}」已等待 {_hours(n.waited_hours)} {clock},"
                    "没有可以升级的上级,请联系审批人或管理员。")
        return (f"{ref} 在「{n.node_name}」已等待 {_hours(n.waited_hours)} {clock},"
                f"已升级给 {n.actor_name} 审批。")
    if n.event == "reminder":
        return (f"提醒:{ref} 在「{n.node_name}」等你审批,已等待 {_hours(n.waited_hours)} {clock}。"
                f"请在审批卡片上点快捷回复,或发送「审批意见 A{n.approval_id} 同意/驳回 你的意见」。")
    return f"{n.actor_name} 对{ref}的意见:{n.comment}"


def flow_changed_text(cfg: AppConfig, n: ApprovalFlowChanged) -> str:
    refs = "、".join(show_approval(i) for i in n.running[:10])
    how = f"已回退到第{n.new_version}版" if n.rollback else f"已更新为第{n.new_version}版"
    was = f"(原为第{n.old_version}版)" if n.old_version else ""
    return (f"审批流程「{n.flow_name}」{how}{was}。新提交的审批按新版本走;"
            f"与你有关、正在进行的 {refs} 仍按提交时的版本审批。")


def register(renderers: Renderers) -> None:
    renderers.register(ApprovalCard, approval_card)
    renderers.register(ApprovalCardResolved, resolved_card)
    renderers.register(ApprovalProgress, progress_text)
    renderers.register(ApprovalFlowChanged, flow_changed_text)
