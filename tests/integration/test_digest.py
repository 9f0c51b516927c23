"""Daily digests with a frozen clock (Monday 2026-11-23 09:30 Shanghai), on SQLite and
PostgreSQL: the rep's top 3 to-dos, overdue follow-ups, healthiest customers and new leads;
nothing for reps with nothing to do; the supervisor's team digest; and no duplicates when
the job runs twice."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from crm_core.db.models import Activity, Assignment, Customer, Lead, OutboundMessage, Task
from crm_core.notices import DigestRep, DigestSupervisor
from crm_core.services.digest import rep_digests, since_previous_workday, supervisor_digests
from scheduler.jobs import rep_digest, supervisor_digest

MONDAY_0930 = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)
TODAY = date(2026, 11, 23)


@pytest.fixture
def monday(clock):  # noqa: ANN001, ANN201
    clock.now = MONDAY_0930
    return clock


def _customer(s, name, owner, score=None, level=None):  # noqa: ANN001, ANN202
    c = Customer(name=name, owner_rep_id=owner, status="active", health_score=score, health_level=level)
    s.add(c)
    s.flush()
    return c


def _lead(s, c, owner, title, budget=None, **kw):  # noqa: ANN001, ANN003, ANN202
    lead = Lead(customer_id=c.id, title=title, stage="qualify", status="open", owner_rep_id=owner,
                team_id="east-medical", budget_cny=budget, stage_entered_at=MONDAY_0930 - timedelta(days=10), **kw)
    s.add(lead)
    s.flush()
    return lead


def _task(s, c, owner, title, due, lead=None, status="open"):  # noqa: ANN001, ANN202
    s.add(Task(customer_id=c.id, lead_id=lead.id if lead else None, owner_rep_id=owner, title=title,
               due_date=due, status=status))


def seed(db) -> dict[str, int]:  # noqa: ANN001
    ids = {}
    with db.uow() as s:
        big = _customer(s, "宁波甬江医院", "zhang.wei")
        small = _customer(s, "苏州小诊所", "zhang.wei")
        l_big, l_small = _lead(s, big, "zhang.wei", "手术室设备", 1_000_000), _lead(s, small, "zhang.wei", "耗材", 50_000)
        cases = [("三天前该回访", TODAY - timedelta(days=3), l_small), ("昨天该报价", TODAY - timedelta(days=1), l_small),
                 ("今天演示(大单)", TODAY, l_big), ("今天寄样(小单)", TODAY, l_small),
                 ("明天拜访", TODAY + timedelta(days=1), l_big)]
        for title, due, lead in cases:
            _task(s, big if lead is l_big else small, "zhang.wei", title, due, lead)
        _task(s, small, "zhang.wei", "已完成的旧任务", TODAY - timedelta(days=5), l_small, status="done")
        late = _lead(s, big, "zhang.wei", "复查设备", 200_000, fuse_deadline=MONDAY_0930 - timedelta(hours=5))
        ids["late_lead"] = late.id
        for i, score in enumerate((91, 88, 95, 70, 86, 40)):
            _customer(s, f"客户{i}", "zhang.wei", score, "red" if score < 60 else "green" if score > 85 else "yellow")
        # chen.jie: only a lead assigned on Saturday (and an older one from last Wednesday)
        cj = _customer(s, "佛山精工机械", "chen.jie")
        for title, at in (("周六新线索", datetime(2026, 11, 21, 7, 0, tzinfo=timezone.utc)),
                          ("上周三的线索", datetime(2026, 11, 18, 7, 0, tzinfo=timezone.utc))):
            lead = _lead(s, cj, "chen.jie", title)
            s.add(Assignment(lead_id=lead.id, rep_id="chen.jie", team_id="south-industry", reason="规则", created_at=at))
            ids[title] = lead.id
        # zhao.min is on leave: her overdue task must not produce a digest
        zm = _customer(s, "请假中客户", "zhao.min")
        _task(s, zm, "zhao.min", "请假前的任务", TODAY - timedelta(days=2))
        _customer(s, "红色客户甲", "li.na", 35.0, "red")
        s.add(Activity(customer_id=big.id, kind="follow_up", created_at=MONDAY_0930 - timedelta(days=1)))
    return ids


def test_since_previous_workday_skips_the_weekend(cfg):  # noqa: ANN001
    monday = since_previous_workday(cfg, MONDAY_0930)
    assert monday.date() == date(2026, 11, 20) and monday.hour == 0          # Friday 00:00 local
    tuesday = since_previous_workday(cfg, MONDAY_0930 + timedelta(days=1))
    assert tuesday.date() == date(2026, 11, 23)


def test_rep_digest_content(cfg, db, monday):  # noqa: ANN001
    ids = seed(db)
    with db.uow() as s:
        digests = {n.to_rep: n for n in rep_digests(s, cfg, monday.now)}
    assert set(digests) == {"zhang.wei", "chen.jie"}     # li.na has nothing to do, zhao.min is on leave
    zw, cj = digests["zhang.wei"], digests["chen.jie"]
    assert isinstance(zw, DigestRep) and isinstance(cj, DigestRep)
    assert [t["title"] for t in zw.todos] == ["三天前该回访", "昨天该报价", "今天演示(大单)"]
    assert zw.todo_total == 4 and [t["overdue_days"] for t in zw.todos] == [3, 1, 0]
    assert [x["lead_id"] for x in zw.overdue] == [ids["late_lead"]] and zw.overdue_total == 1
    assert [x["score"] for x in zw.healthy] == [95, 91, 88, 86, 70]        # top 5, never a red one
    assert zw.new_leads == []
    assert [x["lead_id"] for x in cj.new_leads] == [ids["周六新线索"]] and cj.todos == []
    assert digests["zhang.wei"].dedupe_key == "digest.rep:zhang.wei:2026-11-23"


def test_supervisor_digest_content(cfg, db, monday):  # noqa: ANN001
    seed(db)
    with db.uow() as s:
        digests = {n.to_rep: n for n in supervisor_digests(s, cfg, monday.now)}
    assert set(digests) == {"wang.fang"}          # liu.yang's team has nothing overdue and no red customer
    digest = digests["wang.fang"]
    assert isinstance(digest, DigestSupervisor) and digest.as_supervisor and digest.to_supervisor
    overdue = {o["rep"]: (o["tasks"], o["leads"]) for o in digest.overdue}
    assert overdue == {"zhang.wei": (2, 1), "zhao.min": (1, 0)}
    assert [r["customer"] for r in digest.red] == ["红色客户甲", "客户5"] and digest.red_total == 2


def _cards(db) -> list[tuple[str, str]]:  # noqa: ANN001
    with db.uow() as s:
        rows = s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "card")).all()
        return sorted((r.platform, r.recipient) for r in rows)


def test_jobs_send_each_digest_once(cfg, db, runtime, monday):  # noqa: ANN001
    seed(db)
    first = (rep_digest(runtime, monday.now), supervisor_digest(runtime, monday.now))
    sent = _cards(db)
    second = (rep_digest(runtime, monday.now + timedelta(minutes=5)),
              supervisor_digest(runtime, monday.now + timedelta(minutes=5)))
    assert [r["sent"] for r in first] == [2, 1] and [r["sent"] for r in second] == [0, 0]
    # each person on their own platform; the supervisor on the team's supervisor_platform
    assert sent == [("feishu", "ou_chenjie"), ("feishu", "ou_wangfang"), ("wecom", "zhangwei")]
    assert _cards(db) == sent
    tomorrow = rep_digest(runtime, monday.now + timedelta(days=1))
    assert tomorrow["sent"] == 1                  # a new day: zhang.wei's to-dos are still open
