"""拜访纪要 at handler level through the real dispatcher, on SQLite and PostgreSQL: one free message
fills the template and is saved (a `visit_note` activity with the parts in its JSON, a to-do due
on the next follow-up day, the lead's fuse re-armed); a missing part is asked once; a missing
day is a card with day buttons whose tap is authorised and works once; 「拜访纪要 #12」 then the
message, the lead card's 拜访纪要 button, 取消, and a colleague who may not write one."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from cards.model import Card
from crm_core.db.models import Activity, Lead, Task
from tests.integration.test_lead_edit import card_of, make_lead, run, said


def visit_rows(rt, lead_id: int) -> tuple[list[Activity], list[Task]]:  # noqa: ANN001
    with rt.db.uow() as s:
        acts = list(s.scalars(select(Activity).where(Activity.lead_id == lead_id, Activity.kind == "visit_note")))
        tasks = list(s.scalars(select(Task).where(Task.lead_id == lead_id).order_by(Task.id)))
        for row in (*acts, *tasks):
            s.expunge(row)
        return acts, tasks


def test_one_free_message_saves_activity_and_todo(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    with runtime.db.uow() as s:
        before = s.get_one(Lead, lead_id).fuse_deadline
    runtime.clock.advance(hours=2)
    replies = run(runtime, "zhang.wei", f"拜访纪要 #{lead_id} 今天和王总聊了二期扩容方案,他最关心数据迁移的风险,"
                                        "我们答应周五前给出迁移方案,下周三再去拜访。")
    card = card_of(replies)
    assert card.title.startswith("拜访纪要已保存") and len(replies) == 1       # no question asked
    acts, tasks = visit_rows(runtime, lead_id)
    assert len(acts) == 1
    data = acts[0].data
    assert (data["topic"], data["commitments"]) == ("二期扩容方案", "周五前给出迁移方案")
    assert "数据迁移" in data["needs"] and data["next_follow_up"] == "2026-11-25"   # Sunday 11-22 → 下周三
    new = [t for t in tasks if t.id == data["task"]]
    assert new and new[0].due_date == date(2026, 11, 25) and new[0].owner_rep_id == "zhang.wei"
    assert "迁移方案" in new[0].title and f"T{new[0].id}" in (card.footer or "")
    with runtime.db.uow() as s:
        assert s.get_one(Lead, lead_id).fuse_deadline > before              # a visit is a follow-up


def test_one_missing_part_is_one_question(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    out = run(runtime, "zhang.wei", f"拜访纪要 #{lead_id} 沟通了报价,客户希望价格再降5%,下周一再约")
    assert "已记下" in said(out) and "我方承诺事项" in said(out) and not visit_rows(runtime, lead_id)[0]
    out = run(runtime, "zhang.wei", "明天发新报价单")
    assert card_of(out).title.startswith("拜访纪要已保存")
    acts, _ = visit_rows(runtime, lead_id)
    assert acts[0].data["commitments"] == "明天发新报价单" and acts[0].data["next_follow_up"] == "2026-11-23"
    # the conversation is over: the next free message is a new lead draft again, not a part
    assert "拜访纪要" not in said(run(runtime, "zhang.wei", "宁波康达医疗的刘经理想要CT设备"))


def test_missing_day_is_a_card_with_day_buttons_tapped_once(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    out = run(runtime, "zhang.wei", f"拜访纪要 #{lead_id} 聊了合同条款,客户要求付款周期改成60天,我们承诺内部申请")
    card = card_of(out)
    assert [b.text for b in card.buttons] == ["明天", "后天", "下周一"]
    refused = run(runtime, "li.na", card=card, action="visit.when", day="明天")      # not the card's rep
    assert "不是你负责的" in said(refused) and not visit_rows(runtime, lead_id)[0]
    done = run(runtime, "zhang.wei", card=card, action="visit.when", day="明天")
    assert any(r.update and isinstance(r.item, Card) and r.item.result for r in done)
    acts, tasks = visit_rows(runtime, lead_id)
    assert len(acts) == 1 and acts[0].data["next_follow_up"] == "2026-11-23"
    again = run(runtime, "zhang.wei", card=card, action="visit.when", day="后天")
    assert "处理过" in said(again) and len(visit_rows(runtime, lead_id)[0]) == 1
    assert sum(1 for t in visit_rows(runtime, lead_id)[1] if t.due_date == date(2026, 11, 23)) >= 1


def test_typed_day_and_bad_day(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    run(runtime, "zhang.wei", f"拜访纪要 #{lead_id} 聊了培训方案,客户希望安排在周末,我们会调整讲师档期")
    assert "没看懂" in said(run(runtime, "zhang.wei", "看情况吧"))
    assert card_of(run(runtime, "zhang.wei", "12月10日")).title.startswith("拜访纪要已保存")
    assert visit_rows(runtime, lead_id)[0][0].data["next_follow_up"] == "2026-12-10"


def test_command_then_message_and_cancel(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    out = said(run(runtime, "zhang.wei", f"拜访纪要 #{lead_id}"))
    assert "请发送" in out and "取消" in out
    out = said(run(runtime, "zhang.wei", "今天讨论了上线计划,客户担心时间来不及"))
    assert "我方承诺事项" in out
    assert "已放弃" in said(run(runtime, "zhang.wei", "取消"))
    assert not visit_rows(runtime, lead_id)[0]
    assert "没有待确认的线索" in said(run(runtime, "zhang.wei", "取消"))      # 取消 is the draft's again


def test_colleague_without_rights_is_refused_before_any_question(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    out = said(run(runtime, "chen.jie", f"拜访纪要 #{lead_id} 聊了报价"))
    assert "拜访纪要已保存" not in out and "下次" not in out
    assert not visit_rows(runtime, lead_id)[0]


def test_lead_card_button_starts_a_note_once(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    card = card_of(run(runtime, "zhang.wei", f"查线索 #{lead_id}"))
    assert "拜访纪要" in [b.text for b in card.buttons]
    assert "请发送" in said(run(runtime, "zhang.wei", card=card, action="visit.start"))
    run(runtime, "zhang.wei", "今天聊了续约,客户想要八折")
    assert "正在记录" in said(run(runtime, "zhang.wei", card=card, action="visit.start"))   # no restart
    out = run(runtime, "zhang.wei", "我们申请特批,下周一前反馈")
    assert card_of(out).title.startswith("拜访纪要已保存")
    data = visit_rows(runtime, lead_id)[0][0].data
    assert data["needs"] == "想要八折" and data["commitments"] == "我们申请特批,下周一前反馈"
    assert data["next_follow_up"] == (date(2026, 11, 22) + timedelta(days=1)).isoformat()


def test_past_day_is_refused(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    run(runtime, "zhang.wei", f"拜访纪要 #{lead_id} 聊了报价,客户希望降价,我们会申请")
    out = said(run(runtime, "zhang.wei", "昨天"))
    assert "没看懂" in out or "过去" in out
    assert not visit_rows(runtime, lead_id)[0]


def test_voice_answers_an_open_note(runtime) -> None:  # noqa: ANN001
    """A spoken answer (here DingTalk's own recognition text) goes to the open note, not to a draft."""
    import uuid

    from bot.events import EventKind, InboundEvent, MediaRef
    from handlers.context import Context
    from handlers.dispatch import dispatch
    from tests.integration.test_lead_edit import REGISTRY

    lead_id = make_lead(runtime, owner="li.na")
    run(runtime, "li.na", f"拜访纪要 #{lead_id}")
    rep = runtime.cfg.org.rep("li.na")
    ev = InboundEvent(platform="dingtalk", kind=EventKind.VOICE, event_id=uuid.uuid4().hex,
                      sender_id=rep.platform_ids["dingtalk"], conversation_id=rep.platform_ids["dingtalk"],
                      media=MediaRef(key="dl-code", recognition="今天沟通了续费折扣,客户想要八折,我方会申请特批,下周一前反馈"))
    replies = dispatch(Context(services=runtime.services, event=ev, rep=rep, now=runtime.clock()), REGISTRY)
    assert "识别到" in said(replies) and card_of(replies).title.startswith("拜访纪要已保存")
    data = visit_rows(runtime, lead_id)[0][0].data
    assert (data["topic"], data["needs"], data["next_follow_up"]) == ("续费折扣", "想要八折", "2026-11-23")


def test_note_dropped_when_the_lead_is_handed_over_meanwhile(runtime) -> None:  # noqa: ANN001
    from crm_core.services.assign import reassign

    lead_id = make_lead(runtime)
    run(runtime, "zhang.wei", f"拜访纪要 #{lead_id}")
    with runtime.db.uow() as s:
        reassign(s, runtime.cfg, s.get_one(Lead, lead_id), "chen.jie", "wang.fang", runtime.clock())
    out = said(run(runtime, "zhang.wei", "今天聊了报价,客户希望降价,我们会申请,明天再约"))
    assert "未保存" in out and not visit_rows(runtime, lead_id)[0]
    assert "拜访纪要" not in said(run(runtime, "zhang.wei", "宁波康达医疗的刘经理想要CT设备"))   # a draft again


def test_bare_command_asks_which_lead_or_takes_the_only_one(runtime) -> None:  # noqa: ANN001
    first = make_lead(runtime)
    out = said(run(runtime, "zhang.wei", "拜访纪要"))
    assert "请发送" in out and f"#{first}" in out                      # the only open lead
    run(runtime, "zhang.wei", "取消")
    second = make_lead(runtime)
    out = said(run(runtime, "zhang.wei", "拜访纪要"))
    assert "记哪条线索" in out and f"#{first}" in out and f"#{second}" in out
    out = run(runtime, "zhang.wei", f"#{second} 今天聊了续约价格,客户希望九折,我们承诺申请特价,下周一再约")
    assert card_of(out).title.startswith("拜访纪要已保存")
    assert visit_rows(runtime, second)[0] and not visit_rows(runtime, first)[0]
