"""The morning focus check-in with a frozen clock, on SQLite and PostgreSQL: Monday 08:45 the job
sends each rep with open leads a ranked card; 张伟 picks by buttons (a repeated 选 changes
nothing), submits, and 王芳 (his supervisor) gets the 《重点客户日志》 once; a second submit is
refused; the supervisor digest says who checked in; a follow-up on one pick, and Tuesday's card
shows that pick moved and the other did not. Also: typed picks, taps by someone else or on an
old card refused, the job silent on a weekend and on a second run, and 日报 → 转发给主管 once."""
from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card, card_from_dict
from cards.render.text import render_text
from crm_core.db.models import Activity, AuditLog, CardRecord, Customer, FocusCheckin, Lead, Task
from crm_core.services.checkin import ranked_leads
from crm_core.services.digest import supervisor_digests
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.drafts import Draft, DraftStore
from handlers.load import build_registry
from scheduler.jobs import morning_checkin

REGISTRY = build_registry()
_ids = itertools.count(1)
USERS = {"zhang.wei": ("wecom", "zhangwei"), "li.na": ("wecom", "lina"), "wang.fang": ("feishu", "ou_wangfang")}
MONDAY_0845 = datetime(2026, 11, 23, 0, 45, tzinfo=timezone.utc)
MONDAY = date(2026, 11, 23)


@pytest.fixture
def monday(clock):  # noqa: ANN001, ANN201
    clock.now = MONDAY_0845
    return clock


def run(runtime, rep_id: str, ev: InboundEvent) -> list[Reply]:  # noqa: ANN001
    rep = runtime.cfg.org.rep(rep_id)
    replies = dispatch(Context(services=runtime.services, event=ev, rep=rep, now=runtime.clock()), REGISTRY)
    for i, reply in enumerate(replies):      # through the outbox, as the worker does: card records exist
        Pipeline(runtime).deliver(ev, rep, reply, i)
    return replies


def say(runtime, rep_id: str, text: str) -> list[Reply]:  # noqa: ANN001
    platform, uid = USERS[rep_id]
    return run(runtime, rep_id, InboundEvent(platform=platform, kind=EventKind.TEXT, event_id=f"m{next(_ids)}",
                                             sender_id=uid, conversation_id=uid, text=text))


def tap(runtime, rep_id: str, card: Card, label: str) -> list[Reply]:  # noqa: ANN001
    platform, uid = USERS[rep_id]
    button = next(b for b in card.buttons if b.text.startswith(label))
    ev = InboundEvent(platform=platform, kind=EventKind.CARD_ACTION, event_id=f"t{next(_ids)}", sender_id=uid,
                      conversation_id=uid, action=CardAction(button.action, dict(button.value), card.card_id))
    return run(runtime, rep_id, ev)


def text_of(replies: list[Reply]) -> str:
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def cards(runtime, kind: str, recipient: str | None = None) -> list[Card]:  # noqa: ANN001
    with runtime.db.uow() as s:
        q = select(CardRecord).where(CardRecord.kind == kind).order_by(CardRecord.created_at, CardRecord.id)
        rows = [r for r in s.scalars(q) if recipient is None or r.recipient == recipient]
        return [card_from_dict(r.content) for r in rows]


def stored(runtime, card_id: str) -> tuple[Card, str | None]:  # noqa: ANN001
    with runtime.db.uow() as s:
        rec = s.get_one(CardRecord, card_id)
        return card_from_dict(rec.content), rec.result


def seed(runtime) -> dict[str, int]:  # noqa: ANN001
    """张伟: four open leads (a to-do due today, a stage timer in 2 days, two without deadline:
    healthier first, then the bigger budget); 李娜: one; 陈杰: none."""
    ids: dict[str, int] = {}
    now = MONDAY_0845
    with runtime.db.uow() as s:
        def lead(key: str, owner: str, company: str, health: float | None, budget: int | None, **kw) -> Lead:  # noqa: ANN003
            c = Customer(name=company, owner_rep_id=owner, status="active", health_score=health)
            s.add(c)
            s.flush()
            ld = Lead(customer_id=c.id, title=f"{company} 影像系统", stage="qualify", status="open", owner_rep_id=owner,
                      team_id="east-medical", budget_cny=budget, stage_entered_at=now - timedelta(days=3), **kw)
            s.add(ld)
            s.flush()
            ids[key] = ld.id
            return ld
        due = lead("due_today", "zhang.wei", "宁波甬江医院", 40, 50_000)
        s.add(Task(customer_id=due.customer_id, lead_id=due.id, owner_rep_id="zhang.wei", title="寄样品",
                   due_date=MONDAY, status="open"))
        lead("timer", "zhang.wei", "杭州优品医疗", 60, 80_000, fuse_deadline=now + timedelta(days=2))
        lead("healthy", "zhang.wei", "苏州瑞达医院", 90, 10_000)
        lead("big", "zhang.wei", "温州康达诊所", 50, 2_000_000)
        lead("lina", "li.na", "嘉兴南湖医院", None, None)
    return ids


def test_ranking_deadline_then_health_then_amount(runtime, monday) -> None:  # noqa: ANN001
    ids = seed(runtime)
    with runtime.db.uow() as s:
        order = [it["lead_id"] for it in ranked_leads(s, runtime.cfg, "zhang.wei", monday())]
    assert order == [ids["due_today"], ids["timer"], ids["healthy"], ids["big"]]


def test_checkin_log_and_next_day_moves(runtime, monday) -> None:  # noqa: ANN001
    ids = seed(runtime)
    assert morning_checkin(runtime, monday())["cards"] == 2            # 张伟 and 李娜; 陈杰 has no open lead
    assert morning_checkin(runtime, monday())["cards"] == 0            # once a day
    [card] = cards(runtime, "checkin.card", "zhangwei")
    shown = render_text(card)
    assert f"1. #{ids['due_today']}" in shown and "待办今天到期" in shown and f"4. #{ids['big']}" in shown

    monday.advance(minutes=5)
    [picked] = tap(runtime, "zhang.wei", card, "选 1")
    assert picked.update and isinstance(picked.item, Card)
    card = stored(runtime, card.card_id)[0]
    assert any(b.text == "取消 1" for b in card.buttons)
    tap(runtime, "zhang.wei", card, "选 3")
    card = stored(runtime, card.card_id)[0]
    with runtime.db.uow() as s:
        row = s.scalars(select(FocusCheckin).where(FocusCheckin.rep_id == "zhang.wei")).one()
        assert row.picks == [ids["due_today"], ids["healthy"]] and row.status == "open"
    # the 选 1 of the first rendering again: not on the card any more, refused; picks unchanged
    refused = text_of(tap(runtime, "zhang.wei", card_from_dict({**_as_dict(card), "buttons": [
        {"text": "选 1", "action": "checkin.pick", "value": {"pick": str(ids["due_today"]), "day": "2026-11-23"}}]}),
        "选 1"))
    assert "按钮内容与卡片记录不符" in refused
    # someone else tapping 张伟's card: refused, nothing changes
    assert "只有张伟本人" in text_of(tap(runtime, "li.na", card, "选 2"))

    [done] = tap(runtime, "zhang.wei", card, "提交")
    assert isinstance(done.item, Card) and "已提交主攻商机" in (done.item.result or "")
    [log] = cards(runtime, "checkin.log", "ou_wangfang")
    assert "张伟" in log.title and f"#{ids['due_today']}" in render_text(log) and f"#{ids['healthy']}" in render_text(log)
    assert "已经提交过了" in text_of(say(runtime, "zhang.wei", "主攻 1 2"))
    assert len(cards(runtime, "checkin.log", "ou_wangfang")) == 1
    with runtime.db.uow() as s:
        assert s.scalar(select(AuditLog).where(AuditLog.action == "checkin.submit")) is not None

    # the supervisor digest (10:00): 张伟 checked in, 李娜 did not
    monday.now = MONDAY_0845 + timedelta(minutes=75)
    with runtime.db.uow() as s:
        [digest] = [n for n in supervisor_digests(s, runtime.cfg, monday()) if n.to_rep == "wang.fang"]
    assert {c["name"]: c["checked_in"] for c in digest.checkins} == {"张伟": True, "李娜": False}

    # a follow-up on one pick; Tuesday's card shows it moved, the other did not
    monday.advance(hours=4)
    assert "已记录跟进" in text_of(say(runtime, "zhang.wei", f"跟进 #{ids['healthy']} 电话沟通了报价,客户认可"))
    with runtime.db.uow() as s:           # a supervisor's nudge is not the rep moving the deal
        lead = s.get_one(Lead, ids["due_today"])
        s.add(Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="nudge", actor="wang.fang",
                       text="主管催办", created_at=monday()))
    monday.now = MONDAY_0845 + timedelta(days=1)
    assert morning_checkin(runtime, monday())["cards"] == 2
    tuesday = cards(runtime, "checkin.card", "zhangwei")[-1]
    text = render_text(tuesday)
    assert "上次主攻进展" in text and "1 个有进展" in text
    assert f"✔ #{ids['healthy']}" in text and "跟进 1 次" in text
    assert f"✘ #{ids['due_today']}" in text and "没有进展" in text
    # Monday's card is old now: a tap on it is refused
    assert "已经处理过" in text_of(tap(runtime, "zhang.wei", card, "提交"))
    # 李娜 never submitted Monday's card: on Tuesday it is out of date
    lina_monday = cards(runtime, "checkin.card", "manager7002")[0]
    assert "已经过期" in text_of(tap(runtime, "li.na", lina_monday, "选 1"))


def _as_dict(card: Card) -> dict:
    from cards.model import card_to_dict
    return card_to_dict(card)


def test_typed_numbers_submit_and_weekend_silent(runtime, monday) -> None:  # noqa: ANN001
    ids = seed(runtime)
    saturday = MONDAY_0845 - timedelta(days=2)
    assert morning_checkin(runtime, saturday)["cards"] == 0
    # no card today yet: a bare 「1 3」 is an ordinary message, not a check-in
    say(runtime, "zhang.wei", "1 3")
    with runtime.db.uow() as s:
        assert s.scalar(select(FocusCheckin).where(FocusCheckin.rep_id == "zhang.wei")) is None
    assert "晨会打卡" in text_of(say(runtime, "zhang.wei", "主攻"))
    assert "卡片上没有第 9 条" in text_of(say(runtime, "zhang.wei", "9"))
    # a draft question waiting for a number takes 「1」 first (its first choice), not the check-in
    store = DraftStore(runtime.kv)
    store.save("zhang.wei", Draft(fields={"company": "宁波甬江医院"},
                                  pending={"kind": "choice", "card_id": "draft-x-1", "choices": [{"label": "公司"}]}))
    say(runtime, "zhang.wei", "1")
    with runtime.db.uow() as s:
        assert s.scalars(select(FocusCheckin).where(FocusCheckin.rep_id == "zhang.wei")).one().status == "open"
    store.clear("zhang.wei")
    reply = text_of(say(runtime, "zhang.wei", "1 3"))
    assert f"#{ids['due_today']}" in reply and f"#{ids['healthy']}" in reply and "重点客户日志" in reply
    assert len(cards(runtime, "checkin.log", "ou_wangfang")) == 1
    # 「主攻 #n」 with another rep's lead is refused
    assert "不是你跟进中的线索" in text_of(say(runtime, "li.na", f"主攻 #{ids['big']}"))


def test_daily_report_forwarded_once(runtime, monday) -> None:  # noqa: ANN001
    ids = seed(runtime)
    monday.advance(hours=8)
    say(runtime, "zhang.wei", f"跟进 #{ids['timer']} 上门演示,客户要报价")
    with runtime.db.uow() as s:
        task_id = s.scalars(select(Task.id).where(Task.lead_id == ids["due_today"])).one()
    say(runtime, "zhang.wei", f"完成 T{task_id}")
    [reply] = say(runtime, "zhang.wei", "日报")
    assert isinstance(reply.item, Card)
    shown = render_text(reply.item)
    assert "张伟的日报" in shown and "上门演示" in shown and f"T{task_id}" in shown
    [sent] = tap(runtime, "zhang.wei", reply.item, "转发给主管")
    assert isinstance(sent.item, Card) and "已转发给王芳" in (sent.item.result or "")
    [fwd] = cards(runtime, "report.daily", "ou_wangfang")
    assert "张伟的日报" in fwd.title and "上门演示" in render_text(fwd) and not fwd.buttons
    again = text_of(tap(runtime, "zhang.wei", reply.item, "转发给主管"))
    assert "已经处理过" in again or "已经转发" in again
    assert len(cards(runtime, "report.daily", "ou_wangfang")) == 1
    [fresh] = say(runtime, "zhang.wei", "日报")
    assert isinstance(fresh.item, Card)
    assert "只有张伟本人" in text_of(tap(runtime, "li.na", fresh.item, "转发给主管"))
    assert len(cards(runtime, "report.daily", "ou_wangfang")) == 1


def test_copy_to_gets_the_log_too(runtime, monday) -> None:  # noqa: ANN001
    from crm_core.config.checkin import Checkin
    from crm_core.notices import FocusLog
    from crm_core.services.checkin import ensure_checkin, log_recipients, submit
    ids = seed(runtime)
    cfg = runtime.cfg.model_copy(update={"checkin": Checkin(copy_to="liu.yang")})
    assert log_recipients(cfg, "zhang.wei") == [("wang.fang", True), ("liu.yang", False)]
    with runtime.db.uow() as s:
        row = ensure_checkin(s, cfg, "zhang.wei", monday())
        assert row is not None
        _, notices = submit(s, cfg, "zhang.wei", row.day, monday(), "wecom", picks=[ids["big"]])
    assert [(n.to_rep, n.as_supervisor) for n in notices] == [("wang.fang", True), ("liu.yang", False)]
    assert all(isinstance(n, FocusLog) and n.picks[0]["lead_id"] == ids["big"] for n in notices)


def test_forward_and_submit_are_once_even_when_racing(runtime, monday) -> None:  # noqa: ANN001
    """Two taps that both passed the card check (two workers): the Reminder rows and the
    check-in's status let only the first one send."""
    from crm_core.services.checkin import CheckinError, ensure_checkin, submit
    from crm_core.services.daily_report import forward_report
    ids = seed(runtime)
    with runtime.db.uow() as s:
        sups, first = forward_report(s, runtime.cfg, "zhang.wei", MONDAY, "report-abc", monday(), "wecom")
    with runtime.db.uow() as s:
        _, second = forward_report(s, runtime.cfg, "zhang.wei", MONDAY, "report-abc", monday(), "wecom")
    assert sups == ["wang.fang"] and len(first) == 1 and second == []
    with runtime.db.uow() as s:
        row = ensure_checkin(s, runtime.cfg, "zhang.wei", monday())
        assert row is not None
        _, logs = submit(s, runtime.cfg, "zhang.wei", MONDAY, monday(), "wecom", picks=[ids["big"]])
    assert len(logs) == 1
    with runtime.db.uow() as s, pytest.raises(CheckinError, match="已经提交过了"):
        submit(s, runtime.cfg, "zhang.wei", MONDAY, monday(), "wecom", picks=[ids["timer"]])
