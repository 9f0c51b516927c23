"""Workflow commands in chat: 推进阶段 (stage gates, with 异议:/决策链:/需求文件: details), 转派
(the lead team's supervisor or an admin), 静音提醒 / 取消静音 (per customer), 公海 and 领取 (claim
from the pool); English aliases advance / reassign / mute / unmute / pool / claim. Each asks
the policy (crm_core/authz.py) before it changes anything."""
from __future__ import annotations

import re

from crm_core.authz import Action, pool_scope
from crm_core.config.schema import Rep, Stage
from crm_core.services.access import customer_facts
from crm_core.services.assign import AssignError, reassign
from crm_core.services.followup import mute, unmute
from crm_core.services.pool import PoolError, claim_from_pool, visible_phone
from crm_core.services.queries import get_lead, pool_leads, rep_customers
from crm_core.services.rows import Customer, Session
from crm_core.services.stages import (EntryActionNeeded, LossReasonNeeded, StageError, StageGateError, advance_stage,
                                      label)
from handlers.commands import lead_for
from handlers.context import Context, Reply, UserError
from handlers.loss import loss_card
from handlers.registry import Registry
from handlers.stage_entry import entry_card, remember_card, typed_entry
from handlers.which import lead_ref
from handlers.workflow_cards import rep_name

# Words a rep may use for the stage-gate details saved with a move.
DETAIL_WORDS = {
    "异议": "objection_category", "异议类别": "objection_category", "异议类型": "objection_category",
    "决策链": "decision_chain", "需求文件": "requirements_file", "需求": "requirements_file",
    "报价单": "quote_file", "方案文件": "proposal_file", "方案": "proposal_file",
    "输单原因": "loss_reason", "原因": "loss_reason", "reason": "loss_reason",
    "objection": "objection_category", "decision_chain": "decision_chain", "decision": "decision_chain",
    "requirements_file": "requirements_file", "requirements": "requirements_file",
    "quote_file": "quote_file", "proposal_file": "proposal_file",
    # stage-entry answers (handlers/stage_entry.py)
    "沟通方式": "entry_channel", "方式": "entry_channel", "核心异议": "entry_objection", "核心异议点": "entry_objection",
    "异议点": "entry_objection",
}
DETAIL_EXAMPLES = {"objection_category": "异议:价格", "decision_chain": "决策链:采购部张总→分管副院长",
                   "requirements_file": "需求文件:需求说明.docx", "quote_file": "报价单:报价V1.pdf",
                   "proposal_file": "方案文件:方案V1.pdf"}
DETAIL_RE = re.compile(r"(?:^|\s)(" + "|".join(sorted(map(re.escape, DETAIL_WORDS), key=len, reverse=True))
                       + r")\s*[:：=]\s*", re.IGNORECASE)
POOL_LIST = 10


def lead_args(ctx: Context, usage: str) -> tuple[int, str]:
    """The lead a command names (#12, 12, 线索12; a customer's C3 when it has one open lead, said
    out loud) and the rest of the command (handlers/which.py)."""
    lead_id, rest, note = lead_ref(ctx, ctx.data.get("args", "").strip(), usage)
    if note:
        ctx.send_now(Reply(note.strip("()()")))
    return lead_id, rest


# ---- 推进阶段 ------------------------------------------------------------------------------------

def parse_details(text: str) -> tuple[str, dict[str, str]]:
    """"谈判 异议:价格 决策链:张总→李总" → ("谈判", {objection_category: 价格, decision_chain: ...})."""
    marks = list(DETAIL_RE.finditer(text))
    head = text[:marks[0].start()] if marks else text
    details: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        value = text[m.end():end].strip(" ,，;；")
        if value:
            details[DETAIL_WORDS[m.group(1).lower()]] = value
    return head.strip(" ,，"), details


def stage_choices(ctx: Context) -> str:
    return "、".join(s.name for s in ctx.cfg.funnel.stages)


def find_stage(ctx: Context, word: str) -> Stage:
    """By key or name; else the one stage whose name contains the word."""
    stages = ctx.cfg.funnel.stages
    exact = [s for s in stages if word.lower() == s.key.lower() or word == s.name]
    partial = [s for s in stages if word and word in s.name]
    found = exact or (partial if len(partial) == 1 else [])
    if not found:
        raise UserError(f"没有找到阶段「{word}」。可选阶段:{stage_choices(ctx)}")
    return found[0]


def gate_hint(lead_id: int, stage: Stage, err: StageGateError) -> str:
    """How to supply what is missing: details in the command, the rest on the lead itself."""
    given = [DETAIL_EXAMPLES[k] for k in err.missing if k in DETAIL_EXAMPLES]
    other = [label(k) for k in err.missing if k not in DETAIL_EXAMPLES]
    lines = [str(err)]
    if given:
        lines.append(f"补充后再试,例如:推进阶段 #{lead_id} {stage.name} {' '.join(given)}")
    if other:
        lines.append(f"{'、'.join(other)}需要先补充到线索中,例如「#{lead_id} {other[0]}改成…」,补上后再推进。")
    return "\n".join(lines)


def advance_cmd(ctx: Context) -> str | Reply:
    lead_id, rest = lead_args(ctx, "推进阶段 #线索编号 阶段名称,例如「推进阶段 #12 定制方案发送」")
    word, details = parse_details(rest)
    word, answers = typed_entry(ctx, word)           # 「定制方案发送 电话 价格」
    details = {**answers, **details}
    if not word:
        raise UserError(f"请写明要推进到哪个阶段。可选阶段:{stage_choices(ctx)}")
    stage = find_stage(ctx, word)
    action = Action.CLOSE_LEAD if stage.outcome else Action.ADVANCE_STAGE
    with ctx.db.uow() as s:
        lead = lead_for(ctx, s, lead_id, action)
        try:
            act = advance_stage(s, ctx.cfg, lead, stage.key, ctx.me.id, ctx.event.platform, ctx.now, details)
        except StageGateError as err:
            raise UserError(gate_hint(lead_id, stage, err)) from None
        except EntryActionNeeded as err:        # the move waits for 沟通方式 and 核心异议点: ask with buttons
            if err.problem:                     # a typed answer that is not on the list: say so first
                ctx.send_now(Reply(f"{err}。"))
            card = entry_card(lead_id, lead.title, err)
            remember_card(ctx, lead_id, stage.key, card)
            return Reply(card)
        except LossReasonNeeded as err:
            if err.given:           # a reason that is not on the list: say so, then offer the list
                ctx.send_now(Reply(f"{err}。"))
            return Reply(loss_card(ctx, lead_id, lead.title, stage))
        except StageError as err:
            raise UserError(str(err)) from None
        title, moved = lead.title, (act.text or "").removeprefix("阶段:")
    done = {"won": " 恭喜赢单!", "lost": " 已记录输单。"}.get(stage.outcome or "", "")
    return f"已推进 #{lead_id} {title}:{moved}{done}"


# ---- 转派 ----------------------------------------------------------------------------------------

def find_rep(ctx: Context, word: str) -> Rep:
    rep = next((r for r in ctx.cfg.org.reps if word in (r.id, r.name)), None)
    if rep is None:
        raise UserError(f"没有找到同事「{word}」,请写姓名,例如:转派 #12 李娜")
    return rep


def reassign_cmd(ctx: Context) -> list[Reply]:
    lead_id, rest = lead_args(ctx, "转派 #线索编号 同事姓名,例如「转派 #12 李娜」")
    if not rest:
        raise UserError("请写明转派给谁,例如:转派 #12 李娜")
    to = find_rep(ctx, rest.split()[0])
    with ctx.db.uow() as s:
        lead = lead_for(ctx, s, lead_id, Action.REASSIGN)
        previous, title = lead.owner_rep_id, lead.title
        try:
            _, notices = reassign(s, ctx.cfg, lead, to.id, ctx.me.id, ctx.now)
        except AssignError as err:
            raise UserError(str(err)) from None
    ctx.deliver(notices)
    replies = [Reply(f"已将 #{lead_id} {title} 转派给 {to.name}(原负责人:{rep_name(ctx.cfg, previous)})。")]
    if previous and previous not in (ctx.me.id, to.id):
        replies.append(Reply(f"线索 #{lead_id} {title} 已由 {ctx.me.name} 转派给 {to.name}。", to_rep=previous))
    return replies


# ---- 静音提醒 / 取消静音 --------------------------------------------------------------------------

def find_customer(ctx: Context, s: Session, query: str, *, lifting: bool) -> Customer:
    """`C5` (or `#5`, `5`) or a name fragment, among the rep's customers (and, to unmute, the ones
    they muted)."""
    if not query:
        raise UserError("请写客户名称或编号,例如:静音提醒 优品 / 静音提醒 C5")
    digits = re.fullmatch(r"(?:客户)?[#＃Cc]?(\d+)", query)
    rows = rep_customers(s, ctx.me.id, customer_id=int(digits.group(1)) if digits else None, name_part=query,
                         include_muted=lifting, limit=6)
    if not rows:
        raise UserError(f"你负责的客户中没有找到「{query}」。")
    if len(rows) > 1:
        names = " / ".join(f"C{c.id} {c.name}" for c in rows[:5])
        raise UserError(f"找到多个客户,请用编号指定:{names}")
    ctx.require(Action.UNMUTE if lifting else Action.MUTE, customer_facts(s, rows[0]))
    return rows[0]


def mute_cmd(ctx: Context) -> str:
    with ctx.db.uow() as s:
        customer = find_customer(ctx, s, ctx.data.get("args", "").strip(), lifting=False)
        mute(s, ctx.me.id, customer.id, ctx.me.id, ctx.event.platform, ctx.now)
        name, cid = customer.name, customer.id
    return f"已静音:不再提醒客户C{cid} {name} 的跟进超时(主管仍会收到)。发送「取消静音 C{cid}」可恢复。"


def unmute_cmd(ctx: Context) -> str:
    with ctx.db.uow() as s:
        customer = find_customer(ctx, s, ctx.data.get("args", "").strip(), lifting=True)
        lifted = unmute(s, ctx.me.id, customer.id, ctx.me.id, ctx.event.platform, ctx.now)
        name, cid = customer.name, customer.id
    return f"已恢复提醒客户C{cid} {name}。" if lifted else f"客户C{cid} {name} 本来就没有静音。"


# ---- 公海 / 领取 ---------------------------------------------------------------------------------

def pool_cmd(ctx: Context) -> str:
    ctx.require(Action.LIST_POOL)
    teams = pool_scope(ctx.cfg, ctx.principal)
    with ctx.db.uow() as s:
        leads = pool_leads(s, teams, POOL_LIST)
        lines = [f"· #{ld.id} {ld.title} · 电话 {visible_phone(s, ctx.cfg, ld, ctx.me.id) or '—'}" for ld in leads]
    if not lines:
        return "公海里暂时没有可领取的线索。"
    return "\n".join([f"公海线索(前 {len(lines)} 条):", *lines, "回复「领取 #编号」领取"])


def claim_cmd(ctx: Context) -> str:
    lead_id, _ = lead_args(ctx, "领取 #线索编号,例如「领取 #12」")
    with ctx.db.uow() as s:
        lead = get_lead(s, lead_id)
        if lead is None:
            raise UserError(f"没有找到线索 #{lead_id}。")
        try:     # the service asks the policy (Action.CLAIM) with the claimer's limits as they are now
            claim_from_pool(s, ctx.cfg, lead, ctx.me.id, ctx.now)
        except PoolError as err:
            raise UserError(str(err)) from None
        title, phone = lead.title, visible_phone(s, ctx.cfg, lead, ctx.me.id)
    contact = f",电话 {phone}" if phone else ""
    return f"已领取 #{lead_id} {title}{contact}。请尽快首次联系,回复「跟进 #{lead_id} 内容」记录跟进。"


# ---- registration --------------------------------------------------------------------------------

def register(registry: Registry) -> None:
    registry.add_command(advance_cmd, "推进阶段", "advance", usage="把线索推进到下一阶段(缺什么会告诉你)",
                         example="推进阶段 #12 定制方案发送")
    registry.add_command(reassign_cmd, "转派", "reassign", usage="把线索转给另一位同事(主管/管理员)",
                         example="转派 #12 李娜")
    registry.add_command(mute_cmd, "静音提醒", "mute", usage="不再提醒某个客户的跟进超时", example="静音提醒 优品")
    registry.add_command(unmute_cmd, "取消静音", "恢复提醒", "unmute", usage="恢复某个客户的提醒",
                         example="取消静音 优品")
    registry.add_command(pool_cmd, "公海", "pool", usage="查看可领取的公海线索", example="公海")
    registry.add_command(claim_cmd, "领取", "claim", usage="从公海领取线索", example="领取 #12")
