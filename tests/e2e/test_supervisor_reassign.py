"""Issue 6 end to end over real HTTP through the sandbox: a lead idles past its fuse, the scan
(with the clock moved on) sends the supervisor card to 王芳 on Feishu, 王芳 taps 转派 → the lead
is 李娜's in the database, 李娜 hears it on DingTalk and the card is updated in place; the rep
张伟 tapping the same button is refused and nothing changes; a stale second tap does nothing."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from crm_core.db.models import Assignment, Lead
from crm_core.notices import FuseReminder, FuseSupervisor
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.fuse import scan_fuses
from crm_core.services.lead_input import LeadInput
from handlers.notify import default_renderers

WANG_FANG, ZHANG_WEI, LI_NA = "ou_wangfang", "ou_zhangwei", "manager7002"   # platform ids in the example org


def idle_lead(rt) -> int:  # noqa: ANN001
    data = LeadInput(source="chat", company="杭州优品医疗科技有限公司", contact_name="李经理", phone="13912345678",
                     budget_cny=800_000, industry="医疗", region="浙江", product="影像系统")
    now = rt.clock()
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, data, actor="zhang.wei", platform="wecom", now=now).lead
        give_lead(s, lead, rt.cfg.org.rep("zhang.wei"), "east-medical", "规则 华东医疗 → 轮流分配 → 张伟",
                  "system", now)
        return lead.id


def blow_fuse(rt, lead_id: int) -> str:  # noqa: ANN001
    """The scheduler's fuse scan 73 h later; returns the supervisor card's id."""
    with rt.db.uow() as s:
        notices = scan_fuses(s, rt.cfg, rt.clock() + timedelta(hours=73))
    assert len(notices) == 2
    assert {(type(n), n.to_rep) for n in notices} == {(FuseReminder, "zhang.wei"), (FuseSupervisor, "wang.fang")}
    assert rt.deliver(notices) == 2
    sup = next(n for n in notices if isinstance(n, FuseSupervisor))
    card = default_renderers().render(rt.cfg, sup)
    assert card is not None and not isinstance(card, str)
    return card.card_id


def lead_state(db, lead_id: int) -> tuple[str | None, int]:  # noqa: ANN001
    with db.uow() as s:
        owner = s.get(Lead, lead_id).owner_rep_id
        return owner, s.scalar(select(func.count()).select_from(Assignment).where(Assignment.lead_id == lead_id))


def texts_to(stack, platform: str, user: str) -> str:  # noqa: ANN001
    calls = [c for c in stack.sandbox.sent(platform) if c.recipient == user]
    return "\n".join(stack.sim.sent_as_text([c]) for c in calls)


def shown(stack, card_id: str) -> str:  # noqa: ANN001
    return json.dumps(stack.sandbox.find_card("feishu", [card_id])["card"], ensure_ascii=False)


def test_supervisor_reassigns_from_the_alert_card(stack, db) -> None:  # noqa: ANN001
    rt = stack.rt
    lead_id = idle_lead(rt)
    card_id = blow_fuse(rt, lead_id)
    assert stack.settle()
    alert = next(c for c in stack.sandbox.sent("feishu") if c.recipient == WANG_FANG
                 and "线索超时未跟进" in stack.sim.sent_as_text([c]))
    assert "转派给李娜" in stack.sim.sent_as_text([alert])
    assert "跟进提醒" in texts_to(stack, "wecom", "zhangwei")          # the rep's own reminder
    before = lead_state(db, lead_id)

    # the rep taps 转派 on the supervisor's card (e.g. a forwarded card): refused, nothing changes
    assert stack.sim.tap("feishu", ZHANG_WEI, alert, "lead.reassign", to="li.na").status_code == 200
    assert stack.settle()
    assert "只有该线索所在团队的主管或管理员" in texts_to(stack, "feishu", ZHANG_WEI)
    assert lead_state(db, lead_id) == before == ("zhang.wei", 1)
    assert "已由" not in shown(stack, card_id) and texts_to(stack, "dingtalk", LI_NA) == ""

    # the supervisor taps it: reassigned, 李娜 told on DingTalk, the card updated in place
    assert stack.sim.tap("feishu", WANG_FANG, alert, "lead.reassign", to="li.na").status_code == 200
    assert stack.settle()
    assert lead_state(db, lead_id) == ("li.na", 2)
    told = texts_to(stack, "dingtalk", LI_NA)
    assert "转派给你的线索" in told and f"#{lead_id}" in told
    assert "已由 王芳 转派给 李娜" in shown(stack, card_id)
    cards_to_wang = [c for c in stack.sandbox.sent("feishu", "im/messages") if c.recipient == WANG_FANG]
    assert len(cards_to_wang) == 1                                     # updated, not sent again

    # a second tap from a client still showing the old card, and the rep again: no effect
    stack.sim.tap("feishu", WANG_FANG, alert, "lead.reassign", stale_ok=True, to="li.na")
    stack.sim.tap("feishu", ZHANG_WEI, alert, "lead.reassign", stale_ok=True, to="li.na")
    assert stack.settle()
    assert lead_state(db, lead_id) == ("li.na", 2)
    assert texts_to(stack, "dingtalk", LI_NA).count("转派给你的线索") == 1
    assert "已经处理过" in texts_to(stack, "feishu", WANG_FANG)
