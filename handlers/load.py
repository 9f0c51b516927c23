"""The handler registry the bot uses, built explicitly: every handler module registers its
commands, card actions, event kinds and the free-text fallback, in this order (帮助 lists the
commands in the order they were registered)."""
from __future__ import annotations

from handlers import (
    capture, commands, dedup_actions, lead_actions, lead_view, voice, workflow, workflow_actions,
)
from handlers import audit_view
from handlers import availability
from handlers import handover_actions, my_customers, todos
from handlers import lead_edit, loss
from handlers import checkin, daily_report
from handlers import approvals
from handlers import stage_entry, visit_note
from handlers.registry import Registry


def build_registry() -> Registry:
    registry = Registry()
    capture.register(registry)
    lead_actions.register(registry)
    voice.register(registry)
    commands.register(registry)
    todos.register(registry)
    my_customers.register(registry)
    handover_actions.register(registry)
    lead_view.register(registry)
    lead_edit.register(registry)          # after capture: it wraps the free-text handler
    loss.register(registry)
    audit_view.register(registry)
    workflow.register(registry)
    workflow_actions.register(registry)
    dedup_actions.register(registry)
    availability.register(registry)
    approvals.register(registry)
    checkin.register(registry)           # 晨会打卡: wraps the free-text handler (a bare 「1 3 5」)
    daily_report.register(registry)
    visit_note.register(registry)        # 拜访纪要: wraps the free-text handler and 取消
    stage_entry.register(registry)       # 进阶段必填: 沟通方式 / 核心异议点 buttons
    return registry
