"""Short commands for the common moves, Chinese first with English aliases:
帮助 / 新建 / 查客户 / 跟进 (我的待办: handlers/todos.py). Workflow commands live in handlers/workflow.py."""
from __future__ import annotations

import re

from crm_core.authz import Action
from crm_core.refs import show_customer
from crm_core.services.access import lead_facts
from crm_core.services.activity import ActivityError, record_follow_up
from crm_core.services.journey import customer_journey, latest_clv
from crm_core.services.queries import get_lead, search_customers
from crm_core.services.rows import Lead, Session
from handlers.capture import new_draft
from handlers.clv_cards import JOURNEY_LINES, clv_line, journey_lines
from crm_core.visibility import MASKED_TEXT
from handlers.context import Context, Reply, UserError
from handlers.registry import Registry
from handlers.which import lead_ref, remember_customers

LEAD_REF = re.compile(r"^#?(\d+)\s*(.*)$", re.S)


def help_text(registry: Registry, topic: str = "") -> str:
    """帮助: every command on one line, in the order they were registered (short enough for one
    WeCom text); 「帮助 审批」: the commands whose name has the word, each with its example."""
    shown = [cmd for cmd in registry.commands if cmd.example and cmd.name not in ("帮助", "取消")]
    topic = topic.strip()
    if topic:
        hits = [cmd for cmd in shown if topic in cmd.name or cmd.name in topic]
        if not hits:
            return f"没有叫「{topic}」的命令。发「帮助」查看全部命令。"
        return "\n".join(f"· {cmd.name}:{cmd.usage}\n  例:{cmd.example}" for cmd in hits)
    lines = ["直接说客户情况就能建线索,也可以发语音。常用命令:"]
    lines += [f"· {cmd.name}:{cmd.usage}" for cmd in shown]
    lines.append("发「帮助 审批」这样的词看例子;说「取消」放弃正在做的事。")
    return "\n".join(lines)


def new_cmd(ctx: Context) -> list[Reply]:
    rest = ctx.data.get("args", "")
    if not rest:
        return [Reply("请在「新建」后面说客户情况,例如:新建 杭州优品 李经理 13912345678 预算50万")]
    return new_draft(ctx, rest)


def find_customer(ctx: Context) -> str:
    q = ctx.data.get("args", "").strip()
    if not q:
        raise UserError("请在「查客户」后面写客户名称或电话,例如:查客户 优品")
    ctx.require(Action.SEARCH_CUSTOMERS)
    with ctx.db.uow() as s:
        # the sender's rows only; phones in full for the customer's owner, its leads' owners and
        # their supervisors, owner and phone as the sender's roles allow (crm_core/visibility.py)
        hits = search_customers(s, q, limit=20, viewer=ctx.viewer)[:10]
    if not hits:
        return f"没有找到与「{q}」相关的客户。"
    remember_customers(ctx, [h.id for h in hits])
    lines = [f"找到 {len(hits)} 个客户:"]
    for hit in hits:
        phone = hit.contact_phone or ""
        who = f" · {hit.contact_name or ''} {phone}" if hit.has_contact else ""
        owner = "" if "owner" in hit.hidden else (
            f"(负责人:{hit.owner_rep_id if hit.owner_rep_id == MASKED_TEXT else rep_name(ctx, hit.owner_rep_id)})")
        lines.append(f"{show_customer(hit.id)} {hit.name}{who.rstrip()}{owner}")
    lines.append("客户编号以 C 开头,线索编号以 # 开头;给客户记跟进:跟进 C编号 内容")
    if len(hits) == 1:            # one customer: its full journey (全旅程时间轴), latest first
        with ctx.db.uow() as s:
            money = ctx.viewer.level("budget")
            journey = journey_lines(ctx.cfg, customer_journey(s, hits[0].id, JOURNEY_LINES), amounts=money)
            snap = latest_clv(s, hits[0].id)
            value = clv_line(snap.clv, snap.previous, snap.as_of, money) if snap else None
        if journey:
            lines += [*([value] if value else []), "全旅程时间轴(最近):", *journey]
    return "\n".join(lines)


def rep_name(ctx: Context, rep_id: str | None) -> str:
    rep = ctx.cfg.org.rep(rep_id) if rep_id else None
    return rep.name if rep else ("已不在名单的同事" if rep_id else "公海")      # never an id


def lead_for(ctx: Context, s: Session, lead_id: int, action: Action) -> Lead:
    """The lead, once the policy lets the sender do `action` to it (else a UserError)."""
    lead = get_lead(s, lead_id)
    if lead is None:
        raise UserError(f"没有找到线索 #{lead_id}。")
    ctx.require(action, lead_facts(lead))
    return lead


def follow_up(ctx: Context) -> str:
    usage = "跟进 #线索编号 跟进内容,例如「跟进 #12 今天电话沟通了报价」"
    lead_id, text, note = lead_ref(ctx, ctx.data.get("args", "").strip(), usage)
    if not text:
        raise UserError(f"请这样写:{usage}")
    with ctx.db.uow() as s:
        lead = lead_for(ctx, s, lead_id, Action.FOLLOW_UP)
        try:       # with the config: the fuse re-arms with the stage's own timeout on its clock
            record_follow_up(s, lead, ctx.me.id, ctx.event.platform, text, ctx.now, ctx.cfg)
        except ActivityError as err:
            raise UserError(f"{err}。") from None
        title = lead.title
    return f"已记录跟进:#{lead_id} {title}{note}"


def register(registry: Registry) -> None:
    def help_cmd(ctx: Context) -> str:
        return help_text(registry, ctx.data.get("args", ""))

    registry.add_command(help_cmd, "帮助", "help", "?", "？", usage="帮助", example="帮助")
    registry.add_command(new_cmd, "新建", "新线索", "new", usage="新建一条线索",
                         example="新建 杭州优品 李经理 13912345678 想上CRM 预算50万")
    registry.add_command(find_customer, "查客户", "查询客户", "find", usage="按名称、电话查客户", example="查客户 优品")
    registry.add_command(follow_up, "跟进", "follow", usage="给线索记一条跟进",
                         example="跟进 #12 今天电话沟通了报价,客户下周回复")
