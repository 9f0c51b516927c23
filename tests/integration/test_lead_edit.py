"""Leads maintained in chat, at handler level through the real dispatcher on SQLite and
PostgreSQL: edits in sentences, the 修改 command and the guided 修改 button (policy, audit, gate
re-evaluated, bad values refused with nothing written); numbers that say what they are (查客户
shows 客户C3; 跟进 C3 / #3 never silently lands on another record); 输单 asks for a configured
reason; 跟进 re-arms the fuse with the stage's own timeout on the working-time calendar; who
sees a phone (owner and their supervisor in full, others masked; the assignment card)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card
from cards.render.feishu import render_feishu
from cards.render.text import render_text
from crm_core.db.models import Activity, AuditLog, Contact, Customer, Lead, MatchKey
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput
from crm_core.worktime import stage_clock
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.load import build_registry
from handlers.notify import default_renderers

REGISTRY = build_registry()
PHONE = "13812345678"


def make_lead(rt, owner: str | None = "zhang.wei", team: str = "east-medical", **fields) -> int:  # noqa: ANN001
    data = {"source": "chat", "company": f"杭州{uuid.uuid4().hex[:4]}医疗器械有限公司", "contact_name": "王总",
            "phone": PHONE, "budget_cny": 500_000, **fields}
    data = {k: v for k, v in data.items() if v is not None}
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, LeadInput(**data), actor="zhang.wei", platform="wecom", now=rt.clock()).lead
        if owner:
            give_lead(s, lead, rt.cfg.org.rep(owner), team, "测试分配", "system", rt.clock())
        lead.team_id = team
        return lead.id


def run(rt, rep_id: str, text: str | None = None, *, card: Card | None = None, action: str | None = None,  # noqa: ANN001
        **values: str) -> list[Reply]:
    rep = rt.cfg.org.rep(rep_id)
    tap = None
    if card is not None:
        button = next(b for b in card.buttons
                      if b.action == action and all(b.value.get(k) == v for k, v in values.items()))
        tap = CardAction(key=button.action, values=dict(button.value), card_ref=card.card_id)
    ev = InboundEvent(platform=rep.platform, kind=EventKind.CARD_ACTION if tap else EventKind.TEXT,
                      event_id=uuid.uuid4().hex, sender_id=rep.platform_ids[rep.platform],
                      conversation_id=rep.platform_ids[rep.platform], text=text, action=tap)
    sent: list[Reply] = []
    ctx = Context(services=rt.services, event=ev, rep=rep, now=rt.clock(), emit=sent.append)
    answered = dispatch(ctx, REGISTRY)
    replies = [*sent, *answered]
    for i, reply in enumerate(replies):          # queued as the worker would: a tapped card's record exists
        Pipeline(rt).deliver(ev, rep, reply, i)
    return replies


def said(replies: list[Reply]) -> str:
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def card_of(replies: list[Reply]) -> Card:
    return next(r.item for r in replies if isinstance(r.item, Card))


def lead_state(rt, lead_id: int) -> tuple[Lead, Contact | None, Customer]:  # noqa: ANN001
    with rt.db.uow() as s:
        lead = s.get_one(Lead, lead_id)
        contact = s.get(Contact, lead.contact_id) if lead.contact_id else None
        customer = s.get_one(Customer, lead.customer_id)
        for row in (lead, contact, customer):
            if row is not None:
                s.expunge(row)
        return lead, contact, customer


def audits(rt, action: str, lead_id: int) -> list[AuditLog]:  # noqa: ANN001
    with rt.db.uow() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.target_id == str(lead_id))))
        for r in rows:
            s.expunge(r)
        return rows


# ---- edits --------------------------------------------------------------------------------------

def test_edit_sentences_write_audit_and_never_become_drafts(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    out = said(run(runtime, "zhang.wei", f"#{lead_id} 电话改成13900001111"))
    assert f"已修改线索#{lead_id}" in out and "电话:13900001111" in out
    out = said(run(runtime, "zhang.wei", f"线索{lead_id} 预算改成80万"))
    assert "预算:¥80万" in out
    out = said(run(runtime, "zhang.wei", f"修改 #{lead_id} 联系人 李总 产品 CT设备"))
    assert "联系人:李总" in out and "产品:CT设备" in out
    lead, contact, _ = lead_state(runtime, lead_id)
    assert (contact.phone, contact.phones, lead.budget_cny, contact.name, lead.product) == (
        "13900001111", ["13900001111"], 800_000, "李总", "CT设备")
    assert lead.title.endswith("· CT设备")                      # the derived title follows the product
    rows = audits(runtime, "lead.edit", lead_id)
    assert len(rows) == 3 and rows[0].actor == "zhang.wei"
    assert rows[0].detail == {"phone": {"from": "138****5678", "to": "139****1111"}}      # masked in the log
    with runtime.db.uow() as s:                          # the duplicate check finds the new number, not the old
        keys = set(s.scalars(select(MatchKey.value).where(MatchKey.contact_id == contact.id, MatchKey.kind == "phone")))
        assert any("13900001111" in k for k in keys) and not any(PHONE in k for k in keys)
        edits = s.scalar(select(func.count()).select_from(Activity).where(Activity.lead_id == lead_id,
                                                                           Activity.kind == "edit"))
        assert edits == 3
        assert s.scalar(select(func.count()).select_from(Lead)) == 1      # no draft became a lead
    assert runtime.kv.get("draft:zhang.wei") is None


def test_bad_values_get_a_chinese_reply_and_write_nothing(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    before = lead_state(runtime, lead_id)
    for text, reason in ((f"#{lead_id} 电话改成12345", "不是有效的电话号码"),
                         (f"#{lead_id} 预算改成很多", "不是有效的金额"),
                         (f"修改 #{lead_id} 电话 13900001111 预算 很多", "不是有效的金额"),   # one bad: none written
                         (f"#{lead_id} 公司改成无", "不能为空")):
        out = said(run(runtime, "zhang.wei", text))
        assert out.startswith("没有修改") and reason in out, out
    after = lead_state(runtime, lead_id)
    assert (after[1].phone, after[0].budget_cny, after[2].name) == (before[1].phone, before[0].budget_cny,
                                                                     before[2].name)
    assert audits(runtime, "lead.edit", lead_id) == []
    assert "没有找到线索#999" in said(run(runtime, "zhang.wei", "#999 电话改成13900001111"))


def test_the_policy_decides_who_may_edit(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)                                        # zhang.wei's, team east-medical
    out = said(run(runtime, "chen.jie", f"#{lead_id} 预算改成80万"))   # another team's rep
    assert "不是你负责的" in out and lead_state(runtime, lead_id)[0].budget_cny == 500_000
    assert "已修改" in said(run(runtime, "wang.fang", f"#{lead_id} 预算改成90万"))   # the team's supervisor
    assert lead_state(runtime, lead_id)[0].budget_cny == 900_000
    assert audits(runtime, "lead.edit", lead_id)[0].actor == "wang.fang"


def test_gate_is_re_evaluated_after_adding_the_phone(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, phone=None)                             # saved without a phone
    stuck = said(run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 定制方案发送"))
    assert "还缺:电话" in stuck and lead_state(runtime, lead_id)[0].stage == "qualify"
    assert f"「#{lead_id} 电话改成…」" in stuck                          # how to add it
    out = said(run(runtime, "zhang.wei", f"#{lead_id} 手机号是13900001111"))
    assert "条件已满足" in out and f"推进阶段 #{lead_id} 定制方案发送" in out
    moved = said(run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 定制方案发送"))
    assert "已推进" in moved and lead_state(runtime, lead_id)[0].stage == "proposal"
    # an edit that leaves something missing says what
    other = make_lead(runtime, phone=None, budget_cny=None)
    out = said(run(runtime, "zhang.wei", f"#{other} 电话改成13900002222"))
    assert "还缺:预算" in out


def test_guided_edit_from_the_lead_card(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    detail = card_of(run(runtime, "zhang.wei", f"查线索 #{lead_id}"))
    assert [b.text for b in detail.buttons] == ["修改", "拜访纪要"]
    assert not card_of(run(runtime, "chen.jie", f"查线索 #{lead_id}")).buttons      # may not edit: no button
    fields = card_of(run(runtime, "zhang.wei", card=detail, action="edit.start"))
    assert "电话" in [b.text for b in fields.buttons] and PHONE in render_text(fields)
    ask = said(run(runtime, "zhang.wei", card=fields, action="edit.field", field="phone"))
    assert "请回复线索#" in ask and PHONE in ask
    wrong = said(run(runtime, "zhang.wei", "12345"))                                  # a bad value: asked again
    assert "不是有效的电话号码" in wrong and "请重新回复电话" in wrong
    assert lead_state(runtime, lead_id)[1].phone == PHONE
    assert "电话:13900003333" in said(run(runtime, "zhang.wei", "139 0000 3333"))
    assert lead_state(runtime, lead_id)[1].phone == "13900003333"
    # the next message is an ordinary one again (a note becomes a draft, not a phone)
    assert "公司" in said(run(runtime, "zhang.wei", "记录张总要采购CT设备,预算300万,3月招标"))
    assert lead_state(runtime, lead_id)[1].phone == "13900003333"
    # 取消 drops a pending edit
    run(runtime, "zhang.wei", card=fields, action="edit.field", field="budget_cny")
    assert "没有修改" in said(run(runtime, "zhang.wei", "取消"))
    # someone else's tap on zhang.wei's card is refused by the tap check
    assert "不是你负责的" in said(run(runtime, "chen.jie", card=fields, action="edit.field", field="phone"))


def test_edit_command_without_a_number_still_corrects_the_draft(runtime) -> None:  # noqa: ANN001
    run(runtime, "zhang.wei", "记录杭州优品科技有限公司李经理13912345678要采购CRM,预算50万")
    out = said(run(runtime, "zhang.wei", "修改预算为200万"))
    assert "200万" in out                                              # the capture's confirm card
    with runtime.db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 0


# ---- numbers that say what they are -----------------------------------------------------------------

def test_customer_numbers_are_not_lead_numbers(runtime) -> None:  # noqa: ANN001
    first = make_lead(runtime, company="宁波华通机械有限公司")
    second = make_lead(runtime, company="宁波华通机械有限公司")
    with runtime.db.uow() as s:                          # both leads on one customer
        customer = s.get_one(Lead, second).customer_id
        s.get_one(Lead, first).customer_id = customer
    lone = make_lead(runtime, company="温州瓯江电子有限公司")
    with runtime.db.uow() as s:
        lone_customer = s.get_one(Lead, lone).customer_id
    found = said(run(runtime, "zhang.wei", "查客户 华通"))
    assert f"客户C{customer} 宁波华通" in found and f"#{customer} " not in found
    # 跟进 C<n>: the customer's only open lead, said out loud; several: asked which
    out = said(run(runtime, "zhang.wei", f"跟进 C{lone_customer} 电话沟通了"))
    assert f"已记录跟进:#{lone} " in out and f"客户C{lone_customer}只有一条跟进中的线索" in out
    out = said(run(runtime, "zhang.wei", f"跟进 C{customer} 电话沟通了"))
    assert "2 条跟进中的线索" in out and f"#{first}" in out and f"#{second}" in out
    with runtime.db.uow() as s:
        follows = s.scalar(select(func.count()).select_from(Activity).where(Activity.kind == "follow_up"))
    assert follows == 1                                                 # only the one said out loud
    # the explicit forms, and the old #n of lead commands, keep working
    assert "已记录跟进" in said(run(runtime, "zhang.wei", f"跟进 线索{second} 回访"))
    said(run(runtime, "zhang.wei", "查客户 瓯江"))
    assert "已记录跟进" in said(run(runtime, "zhang.wei", f"跟进 #{lone} 回访"))
    assert "T3 是待办编号" in said(run(runtime, "zhang.wei", "跟进 T3 回访"))
    # the other lead commands take the same forms
    assert f"线索 #{second}" in said(run(runtime, "zhang.wei", f"查线索 线索{second}"))
    assert "2 条跟进中的线索" in said(run(runtime, "zhang.wei", f"查线索 C{customer}"))
    out = said(run(runtime, "zhang.wei", f"推进阶段 C{lone_customer} 定制方案发送"))
    assert f"只有一条跟进中的线索:线索#{lone}" in out and "已推进" in out


def test_hash_number_seen_as_a_customer_asks_first(runtime) -> None:  # noqa: ANN001
    lead_a = make_lead(runtime, owner="li.na", company="宁波甬江科技有限公司")
    lead_b = make_lead(runtime)
    with runtime.db.uow() as s:                          # customer A keeps no lead: lead #A is not customer A's
        seen = s.get_one(Lead, lead_a).customer_id
        s.get_one(Lead, lead_a).customer_id = s.get_one(Lead, lead_b).customer_id
    assert f"客户C{seen}" in said(run(runtime, "wang.fang", "查客户 甬江"))   # the supervisor (admin) sees it
    out = said(run(runtime, "wang.fang", f"跟进 #{seen} 电话沟通了"))
    assert f"#{seen} 是线索编号" in out and f"客户C{seen}" in out
    with runtime.db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Activity).where(Activity.kind == "follow_up")) == 0
    assert f"已记录跟进:#{lead_b}" in said(run(runtime, "wang.fang", f"跟进 线索{lead_b} 电话沟通了"))
    # 我的客户 remembers the same way (li.na owns customer A; her lead A is listed under B), unless
    # the number is also one of the leads that list shows
    assert f"C{seen} 宁波甬江" in said(run(runtime, "li.na", "我的客户"))
    expected = "已记录跟进" if seen == lead_a else "是线索编号"
    assert expected in said(run(runtime, "li.na", f"跟进 #{seen} 电话沟通了"))


# ---- 输单 with a reason; 赢单 closes ------------------------------------------------------------------

def test_loss_needs_a_reason_from_the_list(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    ask = card_of(run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 输单"))
    labels = [b.text for b in ask.buttons]
    assert labels == list(runtime.cfg.funnel.loss_reasons.values())[:6] and "价格不合适" in labels
    assert lead_state(runtime, lead_id)[0].status == "open"                  # nothing closed yet
    out = said(run(runtime, "zhang.wei", card=ask, action="lead.lost", reason="competitor"))
    assert "已记录输单" in out and "选了竞品" in out
    lead = lead_state(runtime, lead_id)[0]
    assert (lead.status, lead.stage, lead.details["loss_reason"], lead.fuse_deadline) == ("lost", "lost", "competitor",
                                                                                          None)
    assert audits(runtime, "lead.stage", lead_id)[-1].detail["loss_reason"] == "competitor"
    assert "已经处理过" in said(run(runtime, "zhang.wei", card=ask, action="lead.lost", reason="price"))
    # the reason in the command, by a word of its label; a reason not on the list is refused
    other = make_lead(runtime)
    assert "不是可选的输单原因" in said(run(runtime, "zhang.wei", f"推进阶段 #{other} 输单 原因:天气"))
    assert lead_state(runtime, other)[0].status == "open"
    assert "原因:价格不合适" in said(run(runtime, "zhang.wei", f"推进阶段 #{other} 输单 原因:价格"))
    assert lead_state(runtime, other)[0].details["loss_reason"] == "price"
    # 赢单 closes the lead (its fuse stops)
    won = make_lead(runtime, stage=None)
    with runtime.db.uow() as s:
        s.get_one(Lead, won).stage = "negotiation"
    assert "恭喜赢单" in said(run(runtime, "zhang.wei", f"推进阶段 #{won} 赢单 异议:价格 决策链:张总 需求文件:a.docx"))
    lead = lead_state(runtime, won)[0]
    assert (lead.status, lead.fuse_deadline) == ("won", None)


# ---- 跟进 re-arms the fuse on the stage's own clock ---------------------------------------------------

def test_follow_up_rearms_the_fuse_with_the_stage_timeout_on_working_time(runtime, clock) -> None:  # noqa: ANN001
    clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)      # Friday 17:00 in Shanghai
    lead_id = make_lead(runtime)
    with runtime.db.uow() as s:
        s.get_one(Lead, lead_id).stage = "proposal"                     # 72 working hours
    stage = runtime.cfg.funnel.stage("proposal")
    assert stage is not None and stage.clock == "working"
    run(runtime, "zhang.wei", f"跟进 #{lead_id} 发了方案")
    lead = lead_state(runtime, lead_id)[0]
    expected = stage_clock(runtime.cfg, stage).add_hours(clock.now, stage.timeout_hours)
    assert lead.fuse_deadline == expected and lead.fuse_level == 0
    # 72 working hours from Friday 17:00 = 8 working days of 9 h: never the flat 72 calendar hours
    assert lead.fuse_deadline - clock.now > timedelta(days=9)
    assert lead.fuse_deadline.astimezone(timezone(timedelta(hours=8))).hour == 17
    # a calendar stage: its own timeout, in calendar hours
    other = make_lead(runtime)
    with runtime.db.uow() as s:
        s.get_one(Lead, other).stage = "negotiation"                    # 120 calendar hours
    run(runtime, "zhang.wei", f"跟进 #{other} 谈了价格")
    assert lead_state(runtime, other)[0].fuse_deadline == clock.now + timedelta(hours=120)


# ---- who sees a phone ----------------------------------------------------------------------------------

def test_phones_for_owner_and_supervisor_masked_for_others(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, owner="chen.jie", team="south-industry", company="佛山南海精工机械有限公司")
    for who in ("chen.jie", "liu.yang", "wang.fang"):     # owner, the team's supervisor, admin
        assert PHONE in said(run(runtime, who, "查客户 南海精工")), who
        assert PHONE in said(run(runtime, who, f"查线索 #{lead_id}")), who
    for who in ("zhang.wei", "li.na"):                    # other reps
        out = said(run(runtime, who, "查客户 南海精工")) + said(run(runtime, who, f"查线索 #{lead_id}"))
        assert PHONE not in out and "138****5678" in out, who
    # an edit's activity line is masked for others too, and its stars survive Feishu's markdown
    run(runtime, "chen.jie", f"#{lead_id} 电话改成13900001111")
    card = card_of(run(runtime, "li.na", f"查线索 #{lead_id}"))
    assert "13900001111" not in render_text(card) and "139****1111" in render_text(card)
    markdown = json.dumps(render_feishu(card), ensure_ascii=False)
    assert "139&#42;&#42;&#42;&#42;1111" in markdown and "13900001111" not in markdown


def test_assignment_card_carries_the_phone_for_the_new_owner(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime, owner=None)
    with runtime.db.uow() as s:
        _, notice = give_lead(s, s.get_one(Lead, lead_id), runtime.cfg.org.rep("li.na"), "east-medical",
                              "测试分配", "system", runtime.clock())
    card = default_renderers().render(runtime.cfg, notice)
    assert isinstance(card, Card)
    text = render_text(card)
    assert "电话: 13812345678" in text and "联系人: 王总" in text and "修改" in text


def test_edit_and_loss_cards_render_on_every_platform(runtime) -> None:  # noqa: ANN001
    from cards.render import render_dingtalk, render_dingtalk_update, render_wecom, render_wecom_update
    lead_id = make_lead(runtime)
    detail = card_of(run(runtime, "zhang.wei", f"查线索 #{lead_id}"))
    fields = card_of(run(runtime, "zhang.wei", card=detail, action="edit.start"))
    loss = card_of(run(runtime, "zhang.wei", f"推进阶段 #{lead_id} 输单"))
    for card in (detail, fields, loss):
        done = card.resolved("已处理")
        assert render_wecom(card, 1000002) and render_wecom_update(done, 1000002)
        assert render_dingtalk(card) and render_dingtalk_update(done)
        assert render_feishu(card) and render_feishu(done)
        assert len(card.buttons) <= 6 and "None" not in render_text(card)
