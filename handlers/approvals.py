"""Approvals in chat (审批): 「提交审批 #12 合同 金额180万」 submits the lead (its facts filled in), the
approvers get cards (handlers/approval_cards.py) and decide with one tap of a quick reply;
「审批意见 A3 同意/驳回 …」 decides with a written opinion (or adds a comment), 「撤回审批 A3」 withdraws,
「我的审批」 lists what waits for me and what I submitted. Every command and tap asks the policy
(Action.SUBMIT_APPROVAL / DECIDE_APPROVAL / COMMENT_APPROVAL / WITHDRAW_APPROVAL); the service
(crm_core/services/approvals.py) writes the steps and audit rows and returns the notices."""
from __future__ import annotations

import re
import uuid

from cards.model import Button, Card, CardError, card_from_dict
from crm_core.authz import Action
from crm_core.clock import local
from crm_core.extract.budget import find_budget
from crm_core.refs import parse_approval_ref, parse_ref, show_approval
from crm_core.services.access import lead_facts
from crm_core.services.approval_rules import STATUS_LABELS, ApprovalError, show_amount
from crm_core.services.approvals import (ApprovalLine, approval_facts, decide, get_approval, name_of, node_of,
                                         reply_for, submit, submitted_by, waiting_for, withdraw, add_comment)
from crm_core.services.queries import get_lead
from handlers.context import Context, Reply, UserError
from handlers.registry import Registry
from handlers.seen_by import SeenBy

CLAIM_TTL = 30 * 86400.0
START_ACTION, PICK_ACTION = "approval.start", "approval.pick"      # the lead card's 提交审批, then the flow
SUBMIT_USAGE = "提交审批 #12 合同 金额180万"
# an amount written without its unit: 「金额180」「合同 180」 (a bare number, or one after 金额/总价/价格)
UNITLESS = re.compile(r"(?:^|[\s,，、]|金额|总价|合同额|价格)[:：]?\s*(\d[\d,，.]*)\s*(?=$|[\s,，、。])")
DECISION_WORDS = (("同意", "approve"), ("通过", "approve"), ("驳回", "reject"), ("拒绝", "reject"))


def _flow_word(ctx: Context, rest: str) -> str | None:
    flows = ctx.cfg.approvals.flows
    words = re.split(r"[\s,,、]+", rest.strip())
    for w in words:
        code = ctx.cfg.approvals.flow_for(re.sub(r"审批$", "", w) or w) or ctx.cfg.approvals.flow_for(w)
        if code:
            return code
    for code, flow in flows.items():          # 「合同审批」 written without a space: 「#12 合同金额180万」
        if any(word and word in rest for word in [flow.name, *flow.words]):
            return code
    return None


def _kinds(ctx: Context) -> str:
    return "、".join(f.name for f in ctx.cfg.approvals.flows.values()) or "(管理员还没有配置审批流程)"


def submit_cmd(ctx: Context) -> str:
    args = ctx.data.get("args", "").strip()
    if not ctx.cfg.approvals.flows:
        raise UserError("还没有配置审批流程,请联系管理员在配置文件的 approvals 部分添加。")
    found = parse_ref(args)
    if found is None or found[0].kind != "lead":
        raise UserError(f"请写上线索编号和审批类型,例如「{SUBMIT_USAGE}」。可提交的审批:{_kinds(ctx)}。")
    ref, rest = found
    code = _flow_word(ctx, rest)
    if code is None:
        raise UserError(f"没看出是哪种审批:「{rest or '(空)'}」。可提交的审批:{_kinds(ctx)},例如「{SUBMIT_USAGE}」。")
    amount = find_budget(rest) if re.search(r"\d|[一二三四五六七八九十百千万亿两]", rest) else None
    bare = UNITLESS.search(rest)
    if amount is None and bare:       # 「金额180」: not the lead's budget in its place
        raise UserError(f"没看懂金额「{bare.group(1)}」,请带上单位,例如「{SUBMIT_USAGE}」或「金额1800000元」。")
    return _submit(ctx, ref.id, code, amount)[0]


def _submit(ctx: Context, lead_id: int, code: str, amount: int | None) -> tuple[str, int]:
    """Submit lead `lead_id` on flow `code` (the policy asked first); the reply and the approval's id."""
    try:
        with ctx.db.uow() as s:
            lead = get_lead(s, lead_id)
            if lead is None:
                raise UserError(f"没有找到线索 #{lead_id}。")
            ctx.require(Action.SUBMIT_APPROVAL, lead_facts(lead))
            done = submit(s, ctx.cfg, lead=lead, flow_code=code, amount=amount, submitter=ctx.me.id,
                          platform=ctx.event.platform, now=ctx.now)
            a = done.approval
            route = " → ".join(f"{n['name']}({'、'.join(name_of(ctx.cfg, w) for w in n['approvers'])})"
                               for n in a.plan)
            text = (f"已提交{ctx.cfg.approvals.flows[code].name} {show_approval(a.id)}(线索#{lead.id} {lead.title}):"
                    f"{_amount_seen(ctx, a.amount_cny, typed=amount is not None)},审批路线:{route}。每一步结果都会通知你。")
            if a.changes:
                text += "\n与上次提交相比:" + ";".join(a.changes)
            if done.superseded:
                text += f"\n之前的{show_approval(done.superseded)} 已撤回。"
            notices, approval_id = done.notices, a.id
    except ApprovalError as err:
        raise UserError(str(err)) from None
    ctx.deliver(notices)
    return text, approval_id


def start_tap(ctx: Context) -> Reply:
    """提交审批 on the lead card: a small card with one button per flow (the lead's budget as the amount)."""
    lead_id = int(ctx.verified_tap.values["lead"])
    flows = list(ctx.cfg.approvals.flows.items())[:5]
    if not flows:
        raise UserError("还没有配置审批流程,请联系管理员在配置文件的 approvals 部分添加。")
    card_id = f"apvpick-{lead_id}-{uuid.uuid4().hex[:12]}"
    return Reply(Card(card_id=card_id, title=f"线索 #{lead_id} · 提交审批", text=(
        "选择审批类型,金额按线索预算带出;要写别的金额请发送"
        f"「提交审批 #{lead_id} 合同 金额180万」。"),
        buttons=tuple(Button(f.name, PICK_ACTION, {"lead": str(lead_id), "flow": code}) for code, f in flows)))


def pick_tap(ctx: Context) -> list[Reply]:
    tap = ctx.verified_tap
    key = f"approval:pick:{tap.card_id}"
    if not ctx.kv.claim(key, CLAIM_TTL):
        return [Reply("这张卡片已经提交过了。")]
    code = tap.values["flow"]
    if code not in ctx.cfg.approvals.flows:
        ctx.kv.delete(key)
        raise UserError("这个审批流程已经不在配置里了,请重新点「提交审批」。")
    try:
        text, approval_id = _submit(ctx, int(tap.values["lead"]), code, None)
    except BaseException:
        ctx.kv.delete(key)
        raise
    replies = [Reply(text)]
    try:
        card = card_from_dict(tap.card.content).resolved(f"已提交 {show_approval(approval_id)}")
        replies.insert(0, Reply(card, update=True))
    except (CardError, TypeError, ValueError):
        pass
    return replies


def _amount_seen(ctx: Context, yuan: int | None, *, typed: bool) -> str:
    """「金额 …」 in the submitter's reply: as typed, or the lead's budget as their role sees money
    (a size band when masked, no figure when hidden; issue 18)."""
    if typed or yuan is None:
        return f"金额 {show_amount(yuan)}"
    shown = SeenBy(ctx.viewer).amount_text(yuan, show_amount(yuan))
    return f"金额 {shown}(按线索预算)" if shown else "金额按线索预算"


def _line(ctx: Context, x: ApprovalLine, mine: bool) -> str:
    """One approval of 我的审批. Waiting for me: the amount in full (deciding on it is the approver's
    job, as on the approval card); my submissions: money as my role sees it (issue 18)."""
    state = f"{STATUS_LABELS['pending']} · {x.node_name}" if x.status == "pending" else STATUS_LABELS.get(x.status, x.status)
    who = "" if mine else f" · {name_of(ctx.cfg, x.submitter)}提交"
    amount = SeenBy(ctx.viewer).amount_text(x.amount_cny, x.amount) if mine else x.amount
    amount = f" {amount}" if amount else ""
    return (f"· {show_approval(x.id)} {x.flow_name} 线索#{x.lead_id} {x.title}{amount}{who} · {state} · "
            f"{local(x.created_at, ctx.cfg.app.timezone):%m-%d}")


def my_approvals(ctx: Context) -> str:
    ctx.require(Action.VIEW_OWN_WORK)
    with ctx.db.uow() as s:
        waiting = waiting_for(s, ctx.me.id)
        mine = submitted_by(s, ctx.me.id, limit=10)
    lines = [f"等我审批({len(waiting)}):"]
    lines += [_line(ctx, x, False) for x in waiting] or ["· 暂无"]
    lines.append(f"我提交的(最近{len(mine)}条):" if mine else "我提交的:")
    lines += [_line(ctx, x, True) for x in mine] or ["· 暂无"]
    if waiting:
        lines.append(f"在审批卡片上点快捷回复即可;也可以发送「审批意见 {show_approval(waiting[0].id)[2:]} 同意 你的意见」。")
    return "\n".join(lines)


def _approval_ref(ctx: Context, usage: str) -> tuple[int, str]:
    found = parse_approval_ref(ctx.data.get("args", ""))
    if found is None:
        raise UserError(f"请写审批编号(A 开头),例如「{usage}」;发送「我的审批」可以查看编号。")
    return found


def opinion_cmd(ctx: Context) -> str | list[Reply]:
    """审批意见 A3 同意 …  /  驳回 理由  /  any other text: a comment."""
    approval_id, rest = _approval_ref(ctx, "审批意见 A3 同意 建议修改第5条")
    decision = next((d for word, d in DECISION_WORDS if rest.startswith(word)), None)
    label = next((word for word, d in DECISION_WORDS if rest.startswith(word)), None)
    comment = rest[len(label):].strip(" :：,，-—") if label else rest.strip()
    if decision is None and not comment:
        raise UserError("请写上意见,例如「审批意见 A3 同意 建议修改第5条」或「审批意见 A3 驳回 价格过低」。")
    try:
        with ctx.db.uow() as s:
            a = get_approval(s, approval_id)
            if decision is None:
                ctx.require(Action.COMMENT_APPROVAL, approval_facts(a))
                notices = add_comment(s, ctx.cfg, a, ctx.me.id, comment, ctx.event.platform, ctx.now)
                text = f"已把你的意见记到{show_approval(a.id)},并告知相关的人。"
            else:
                ctx.require(Action.DECIDE_APPROVAL, approval_facts(a))
                done = decide(s, ctx.cfg, a, node_index=a.node_index, actor=ctx.me.id, decision=decision,
                              label=label, comment=comment or None, platform=ctx.event.platform, now=ctx.now)
                notices = done.notices
                text = (f"{show_approval(a.id)} {done.outcome}" if done.repeated
                        else f"已{label}{show_approval(a.id)}：{done.outcome}。")  # ：, A3:VP is not polished
    except ApprovalError as err:
        raise UserError(str(err)) from None
    ctx.deliver(notices)
    return text


def _auto_line(auto: tuple[str, ...]) -> str:
    """The nodes this decision passed as well: every approver of them had already agreed."""
    return f"\n{'、'.join(auto)}的审批人都已在本审批中同意过,已自动通过。" if auto else ""


def withdraw_cmd(ctx: Context) -> str:
    """撤回审批 A3 [理由]; without a number: my one pending approval (named in the reply), or the
    list of my pending ones to choose from."""
    args = ctx.data.get("args", "").strip()
    chosen = ""
    if parse_approval_ref(args) is None and not re.match(r"(?:审批)?\s*[AaＡａ]?\s*[\d０-９]", args):
        with ctx.db.uow() as s:
            pending = [x for x in submitted_by(s, ctx.me.id, limit=50) if x.status == "pending"]
        if not pending:
            raise UserError("你没有正在审批中的审批可以撤回;发送「我的审批」可以查看。")
        if len(pending) > 1:
            listed = "\n".join(_line(ctx, x, True) for x in pending)
            raise UserError(f"你有{len(pending)}个正在审批的审批,请写上要撤回的编号,"
                            f"例如「撤回审批 {show_approval(pending[0].id)[2:]}」:\n{listed}")
        approval_id, rest = pending[0].id, args
        chosen = f"({pending[0].flow_name} 线索#{pending[0].lead_id} {pending[0].title})"
    else:
        approval_id, rest = _approval_ref(ctx, "撤回审批 A3")
    try:
        with ctx.db.uow() as s:
            a = get_approval(s, approval_id)
            ctx.require(Action.WITHDRAW_APPROVAL, approval_facts(a))
            notices = withdraw(s, ctx.cfg, a, ctx.me.id, ctx.event.platform, ctx.now,
                               reason=f"已撤回:{rest}" if rest else "已撤回")
    except ApprovalError as err:
        raise UserError(str(err)) from None
    ctx.deliver(notices)
    return f"已撤回{show_approval(approval_id)}{chosen},审批人的卡片已同步更新。"


def approval_tap(ctx: Context) -> Reply | list[Reply]:
    """A quick reply on an approver card: decides the node once (a repeated tap, or a tap after
    another approver decided, changes nothing and says so)."""
    tap = ctx.verified_tap
    if tap.key == START_ACTION:
        return start_tap(ctx)
    if tap.key == PICK_ACTION:
        return pick_tap(ctx)
    values = tap.values
    approval_id, node_index, slot = int(values["approval"]), int(values["node"]), int(values["reply"])
    key = f"approval:tap:{tap.card_id}"
    if not ctx.kv.claim(key, CLAIM_TTL):
        return [Reply(f"{show_approval(approval_id)} 这张卡片已经处理过了。")]
    try:
        with ctx.db.uow() as s:
            a = get_approval(s, approval_id)
            ctx.require(tap.action, approval_facts(a))
            reply = reply_for(a, node_index, slot)
            node = node_of(a, node_index)
            done = decide(s, ctx.cfg, a, node_index=node_index, actor=ctx.me.id, decision=reply.decision,
                          label=reply.label, comment=reply.comment, platform=ctx.event.platform, now=ctx.now,
                          tapped_card=tap.card_id)
    except (ApprovalError, UserError) as err:
        ctx.kv.delete(key)
        raise UserError(err.message if isinstance(err, UserError) else str(err)) from None
    except BaseException:
        ctx.kv.delete(key)
        raise
    ctx.deliver(done.notices)
    stamp = f"{local(ctx.now, ctx.cfg.app.timezone):%m-%d %H:%M}"
    shown = (f"已处理:{done.outcome}" if done.repeated
             else f"已由 {ctx.me.name} {reply.label} · {stamp}")
    replies = []
    try:
        replies.append(Reply(card_from_dict(tap.card.content).resolved(shown), update=True))
    except (CardError, TypeError, ValueError):
        pass
    if done.repeated:
        replies.append(Reply(f"{show_approval(approval_id)} 已由其他审批人处理,你的操作未生效:{done.outcome}"))
    else:
        replies.append(Reply(f"已{reply.label.split('-')[0]}{show_approval(approval_id)}"
                             f"({node.name if node else ''}):{reply.comment or reply.label}" + _auto_line(done.auto)))
    return replies


def register(registry: Registry) -> None:
    registry.add_command(submit_cmd, "提交审批", "submit-approval", usage="提交线索的审批(合同、报价/折扣…),资料自动带出",
                         example=SUBMIT_USAGE)
    registry.add_command(my_approvals, "我的审批", "approvals", usage="查看等我审批的和我提交的审批",
                         example="我的审批")
    registry.add_command(opinion_cmd, "审批意见", usage="写意见并同意/驳回,或只补充意见",
                         example="审批意见 A3 驳回 价格低于底线")
    registry.add_command(withdraw_cmd, "撤回审批", usage="撤回自己提交、尚未审完的审批", example="撤回审批 A3")
    # 「审批 A3 同意 …」 / 「审批A3 驳回 价格过低」: 审批意见 without 意见, as approvers write it
    registry.add_pattern(r"(?s)(?P<args>审批\s*[AaＡａ]\s*\d{1,9}(?![\d.]).*)", opinion_cmd)
    registry.add_action("approval", approval_tap)
