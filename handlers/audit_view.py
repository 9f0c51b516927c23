"""查记录 #12: a lead's audit trail in chat (who did what, when), for the lead's supervisors and
admins (Action.VIEW_AUDIT in crm_core/authz.py); the newest entries, oldest first."""
from __future__ import annotations

from crm_core.authz import Action
from crm_core.services.access import load_lead_facts
from crm_core.services.audit_trail import AuditQuery, audit_entries, entry_line
from handlers.commands import LEAD_REF
from handlers.context import Context, UserError
from handlers.registry import Registry

CHAT_LIMIT = 30          # a chat message stays readable; the CLI and API page further


def lead_audit(ctx: Context) -> str:
    m = LEAD_REF.match(ctx.data.get("args", "").strip())
    if not m or m.group(2).strip():
        raise UserError("请这样写:查记录 #线索编号,例如「查记录 #12」。")
    lead_id = int(m.group(1))
    with ctx.db.uow() as s:
        facts = load_lead_facts(s, lead_id)
        if facts is None:
            raise UserError(f"没有找到线索 #{lead_id}。")
        ctx.require(Action.VIEW_AUDIT, facts)
        entries = audit_entries(s, AuditQuery(lead_id=lead_id, limit=CHAT_LIMIT + 1))
    if not entries:
        return f"线索 #{lead_id} 还没有操作记录。"
    shown = entries[-CHAT_LIMIT:]
    head = f"线索 #{lead_id} 的操作记录(共 {len(shown)} 条,按时间先后):"
    if len(entries) > CHAT_LIMIT:
        head = f"线索 #{lead_id} 的操作记录(最近 {CHAT_LIMIT} 条,更早的请用命令「crm-bot audit --lead {lead_id}」查看):"
    viewer = ctx.viewer               # edited amounts / phones / pain points as the reader may see them
    return "\n".join([head] + [entry_line(ctx.cfg, e, ctx.cfg.app.timezone, viewer) for e in shown])


def register(registry: Registry) -> None:
    registry.add_command(lead_audit, "查记录", "操作记录", "audit", usage="查看一条线索的操作记录(主管/管理员)",
                         example="查记录 #12")
