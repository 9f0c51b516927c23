"""Issue 14, first acceptance line: a rep's week, one scripted conversation per platform through
the real server, workers and the sandbox platforms (SQLite; the bot's clock is moved day by day
and a minute per message, so DingTalk's 20-a-minute limit never makes anyone wait).

Mon: a note with a phone follow-up mid-draft and a correction, confirmed; the same customer again
→ the duplicate card → 关联到已有客户. Tue: a voice note (DingTalk's recognition text; a committed
Mandarin recording on WeCom / Feishu) and the same customer once more → 仍然新建. Wed: 推进阶段 is
refused for the missing phone, the phone is added by a sentence, 推进阶段 passes. Thu: 完成 a
to-do from the 我的待办 card. Fri: 输单 with a reason; the fuse scan sends the supervisor's card and
the supervisor taps 转派. Mon again: the digest lists the open to-dos and none of the finished,
cancelled or handed-over ones. The stored rows are asserted after every step."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.job_runs import run_job_now
from crm_core.config import load_config
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Assignment, Contact, Customer, Lead, OutboundMessage, Task
from handlers.drafts import DraftStore
from sandbox import SentCall
from sandbox.stack import LocalStack
from tests.conftest import EXAMPLE
from tests.e2e.conftest import REPS

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

VOICE = Path(__file__).resolve().parents[2] / "bench" / "data" / "voice_zh"
SPOKEN = "刚跟苏州恒达精密机械有限公司的周总通完电话,他们想上进销存系统,预算一百二十万左右,让我月底前把方案发过去。"
FORMATS = {"wecom": "amr", "feishu": "opus"}
SUPERVISOR = {"wecom": ("feishu", "ou_wangfang"), "dingtalk": ("feishu", "ou_wangfang"),
              "feishu": ("dingtalk", "manager7003")}
TAKER = {"wecom": ("li.na", "李娜"), "dingtalk": ("zhang.wei", "张伟"), "feishu": ("li.na", "李娜")}
TAKER_AT = {"li.na": ("dingtalk", "manager7002"), "zhang.wei": ("wecom", "zhangwei")}
MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)          # 09:00 in Shanghai


def week_config(tmp_path: Path) -> AppConfig:
    """The example, with 李娜 also in 华南制造 so 陈杰's supervisor has someone to hand a lead to."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "members: [chen.jie]" in text
    path = tmp_path / "crm-bot.yaml"
    path.write_text(text.replace("members: [chen.jie]", "members: [chen.jie, li.na]"), encoding="utf-8")
    return load_config(path, env={})


class WeekClock:
    """The bot's clock: real time runs (per-second send windows need it), shifted to the week's
    day and moved on by `set` / `advance`."""

    def __init__(self, start: datetime):
        self.set(start)

    def set(self, when: datetime) -> None:
        self.offset = when - datetime.now(timezone.utc)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


class Week:
    """One rep talking to the running bot; every message moves the clock a minute on."""

    def __init__(self, stack: LocalStack, platform: str, clock: WeekClock):
        self.stack, self.platform, self.clock, self.user = stack, platform, clock, REPS[platform]
        rep = stack.cfg.org.rep_by_platform_id(platform, self.user)
        assert rep is not None
        self.rep = rep.id
        self.calls: list[SentCall] = []
        stack.sim.clock = lambda: clock().timestamp()      # callbacks are signed at the bot's time

    def day(self, days: int, hour: int = 9) -> None:
        """Move the bot's clock to `hour`:00 (Shanghai) of `days` after Monday."""
        self.clock.set(MONDAY + timedelta(days=days, hours=hour - 9))

    def say(self, text: str, expect: str) -> str:
        return self._wait(lambda: self.stack.sim.send_text(self.platform, self.user, text), expect)

    def tap(self, call: SentCall, button: str, expect: str, *, platform: str | None = None, user: str | None = None,
            **values: str) -> str:
        return self._wait(lambda: self.stack.sim.tap(platform or self.platform, user or self.user, call, button,
                                                     **values), expect, platform)

    def voice(self, audio: bytes, fmt: str, expect: str, recognition: str | None = None) -> str:
        return self._wait(lambda: self.stack.sim.send_voice(self.platform, self.user, audio, fmt=fmt,
                                                            duration_ms=9000, recognition=recognition), expect)

    def _wait(self, act, expect: str, platform: str | None = None) -> str:  # noqa: ANN001
        self.clock.advance(minutes=1)
        mark = self.stack.sandbox.last_seq()
        assert act().status_code == 200
        return self.after(mark, expect, platform)

    def after(self, mark: int, expect: str, platform: str | None = None) -> str:
        """What the bot sent on the platform since `mark`, once it holds `expect` (polled)."""
        deadline = time.monotonic() + 20
        while True:
            self.stack.settle(timeout=30, quiet=0.1)
            self.calls = self.stack.sandbox.sent(platform or self.platform, after=mark)
            text = self.stack.sim.sent_as_text(self.calls)
            if expect in text:
                return text
            if time.monotonic() > deadline:       # what was queued shows a reply the platform dropped
                with self.stack.rt.db.uow() as s:
                    queued = [(m.id, m.kind, m.status, str(m.body)[:200]) for m in s.scalars(
                        select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(3))]
                pytest.fail(f"no 「{expect}」 in what was sent since:\n{text}\nlast queued: {queued}")
            time.sleep(0.2)

    def card(self, title: str) -> SentCall:
        return next(c for c in reversed(self.calls) if title in self.stack.sim.sent_as_text([c]))


# ---- the stored rows ----------------------------------------------------------------------------

def lead(db, lead_id: int) -> dict:  # noqa: ANN001
    with db.uow() as s:
        ld = s.get_one(Lead, lead_id)
        contact = s.get(Contact, ld.contact_id) if ld.contact_id else None
        return {"customer": ld.customer_id, "company": s.get_one(Customer, ld.customer_id).name,
                "contact": contact.name if contact else None, "phone": contact.phone if contact else None,
                "budget": ld.budget_cny, "product": ld.product, "stage": ld.stage, "status": ld.status,
                "owner": ld.owner_rep_id, "source": ld.source, "details": dict(ld.details or {})}


def leads(db) -> list[int]:  # noqa: ANN001
    with db.uow() as s:
        return list(s.scalars(select(Lead.id).order_by(Lead.id)))


def counts(db) -> tuple[int, int, int]:  # noqa: ANN001
    """(active customers, their people: contacts that are not another record's alias, leads)"""
    with db.uow() as s:
        active = select(Customer.id).where(Customer.status == "active")
        return (s.scalar(select(func.count()).select_from(active.subquery())) or 0,
                s.scalar(select(func.count(Contact.id)).where(Contact.customer_id.in_(active),
                                                              Contact.is_alias.is_(False))) or 0,
                s.scalar(select(func.count(Lead.id))) or 0)


def tasks(db) -> dict[int, tuple]:  # noqa: ANN001
    with db.uow() as s:
        return {t.id: (t.lead_id, t.status, t.owner_rep_id, t.due_date) for t in s.scalars(select(Task))}


def activities(db, lead_id: int) -> list[str]:  # noqa: ANN001
    with db.uow() as s:
        return list(s.scalars(select(Activity.kind).where(Activity.lead_id == lead_id).order_by(Activity.id)))


def newest_lead(db, before: list[int]) -> int:  # noqa: ANN001
    (new,) = set(leads(db)) - set(before)
    return new


# ---- the week -----------------------------------------------------------------------------------

def test_a_reps_week(platform, db_url, db, tmp_path) -> None:  # noqa: ANN001
    """Mon → next Mon on one platform; the printed time is the journey's wall time (-s shows it)."""
    started = time.monotonic()
    clock = WeekClock(MONDAY)
    stack = LocalStack(week_config(tmp_path), db_url, clock=clock)
    stack.sandbox.state.clock = lambda: clock().timestamp()   # the platforms' own windows (duplicate check)
    with stack:
        w = Week(stack, platform, clock)
        rep = w.rep

        # ---- Monday: a note, a phone mid-draft, a correction after the card, 确认 --------------
        drafts = DraftStore(stack.rt.kv)
        assert "哪家公司" in w.say("记录联系人李明,要采购CT设备,预算300万,下周三演示", "哪家公司")
        d = drafts.get(rep)
        assert d is not None and (d.fields["contact_name"], d.fields["budget_cny"], d.fields["company"]) == (
            "李明", 3_000_000, None)
        assert counts(db) == (0, 0, 0)
        answer = w.say("李明手机是13912345678", "哪家公司")
        d = drafts.get(rep)
        assert "电话" in answer and (d.fields["phone"], d.fields["product"], d.fields["company"]) == (
            "13912345678", "CT设备", None)
        w.say("杭州优品电子商务有限公司", "新线索")
        assert drafts.get(rep).fields["company"] == "杭州优品电子商务有限公司" and counts(db) == (0, 0, 0)
        w.say("预算不是300万是280万", "280万")
        assert drafts.get(rep).fields["budget_cny"] == 2_800_000 and counts(db) == (0, 0, 0)
        w.tap(w.card("新线索"), "确认", "已保存线索")
        assert drafts.get(rep) is None
        (first,) = leads(db)
        keys = ("company", "contact", "phone", "product", "budget", "stage", "status", "owner")
        assert {k: lead(db, first)[k] for k in keys} == {
            "company": "杭州优品电子商务有限公司", "contact": "李明", "phone": "13912345678", "product": "CT设备",
            "budget": 2_800_000, "stage": "qualify", "status": "open", "owner": rep}
        assert counts(db) == (1, 1, 1)
        demo_task = {tid for tid, t in tasks(db).items() if t[0] == first}
        assert len(demo_task) == 1 and all(t[1] == "open" and t[2] == rep for t in tasks(db).values())
        assert activities(db, first) == ["created", "assigned"]

        # the same customer again, written another way: the duplicate card → 关联到已有客户
        w.say("记录优品电商,联系人李明,想加一台超声,明天拜访", "新线索")
        prompt = w.tap(w.card("新线索"), "确认", "检测到潜在重复")
        assert "1395678" not in prompt and "139****5678" in prompt.replace("\\*", "*").replace("＊", "*")   # masked, not markdown-eaten
        second = newest_lead(db, [first])
        assert counts(db) == (2, 2, 2)                       # saved as new until the rep decides
        assert activities(db, second) == ["created", "assigned"]
        w.tap(w.card("检测到潜在重复"), "关联到已有客户", "已关联到已有客户")
        assert lead(db, second)["customer"] == lead(db, first)["customer"]
        assert counts(db) == (1, 1, 2)                       # the merged record's 李明 is kept as an alias
        with db.uow() as s:
            assert s.scalar(select(func.count(Contact.id)).where(Contact.is_alias.is_(True))) == 1
        assert lead(db, second)["owner"] == rep and lead(db, second)["status"] == "open"
        visit_task = {tid for tid, t in tasks(db).items() if t[0] == second}
        assert len(visit_task) == 1

        # ---- Tuesday: a voice note; the same customer once more → 仍然新建 ---------------------
        w.day(1)
        before = leads(db)
        if platform == "dingtalk":
            heard = w.voice(b"#!AMR\n", "amr", "新线索", recognition=SPOKEN)
            assert "识别内容" in heard and "正在识别" not in heard      # the platform's text: no ASR run
        else:
            audio = (VOICE / f"zh004.{FORMATS[platform]}").read_bytes()
            heard = w.voice(audio, FORMATS[platform], "新线索")
            if "哪家公司" in heard and "新线索" not in heard:
                heard = w.say("苏州恒达精密机械有限公司", "新线索")
        assert counts(db)[2] == len(before)
        w.tap(w.card("新线索"), "确认", "已保存线索")
        voiced = newest_lead(db, before)
        v = lead(db, voiced)
        assert v["source"] == "voice" and v["phone"] is None and v["owner"] == rep and v["stage"] == "qualify"
        assert "voice_note" in activities(db, voiced)
        scheme_task = {tid for tid, t in tasks(db).items() if t[0] == voiced}
        assert (v["contact"], v["product"], v["budget"]) == ("周总", "进销存系统", 1_200_000)
        assert len(scheme_task) == 1 and tasks(db)[min(scheme_task)][1:3] == ("open", rep)
        assert counts(db) == (2, 2, 3)

        before = leads(db)
        w.say("记录杭州优品电商,联系人李明,要一套消毒设备,预算50万,明天回电话", "新线索")
        w.tap(w.card("新线索"), "确认", "检测到潜在重复")
        third = newest_lead(db, before)
        w.tap(w.card("检测到潜在重复"), "仍然新建", "已保留为新客户")
        assert lead(db, third)["customer"] != lead(db, first)["customer"]
        assert counts(db) == (3, 3, 4) and activities(db, third) == ["created", "assigned"]
        call_task = {tid for tid, t in tasks(db).items() if t[0] == third}
        assert len(call_task) == 1 and tasks(db)[min(call_task)][1] == "open"

        # ---- Wednesday: the gate refuses for the phone; the phone is added; the gate passes -----
        w.day(2)
        refused = w.say(f"推进阶段 #{voiced} 定制方案发送", "还缺")
        assert "电话" in refused and lead(db, voiced)["stage"] == "qualify"
        assert activities(db, voiced) == ["created", "assigned", "voice_note"]
        edited = w.say(f"#{voiced} 电话改成13800001111", "已修改")
        assert "13800001111" in edited and "条件已满足" in edited
        assert lead(db, voiced)["phone"] == "13800001111" and lead(db, voiced)["stage"] == "qualify"
        w.say(f"推进阶段 #{voiced} 定制方案发送", "定制方案发送")
        assert lead(db, voiced)["stage"] == "proposal" and lead(db, voiced)["status"] == "open"
        assert activities(db, voiced) == ["created", "assigned", "voice_note", "edit", "stage"]
        assert counts(db) == (3, 3, 4)

        # ---- Thursday: 完成 the visit to-do from the 我的待办 card -----------------------------
        w.day(3)
        (visit,) = visit_task
        w.say("我的待办", f"T{visit}")
        w.tap(w.card(f"T{visit}"), f"完成 T{visit}", f"T{visit} 已完成")
        assert tasks(db)[visit][1] == "done"
        assert all(t[1] == "open" for tid, t in tasks(db).items() if tid != visit)
        assert activities(db, second)[-1] == "todo_done" and lead(db, second)["status"] == "open"

        # ---- Friday: 输单 with a reason --------------------------------------------------------
        w.day(4)
        w.say(f"推进阶段 #{third} 输单", "为什么输单")
        w.tap(w.card("为什么输单"), "价格不合适", "输单")
        t = lead(db, third)
        assert (t["stage"], t["status"], t["details"]["loss_reason"]) == ("lost", "lost", "price")
        assert all(tasks(db)[tid][1] == "cancelled" for tid in call_task)      # nothing left to do for it
        assert tasks(db)[visit][1] == "done" and tasks(db)[min(scheme_task)][1] == "open"
        assert activities(db, third) == ["created", "assigned", "stage"] and counts(db) == (3, 3, 4)

        # the fuse scan: the supervisor's card for the idle Monday lead; a tap hands it over
        sup_platform, sup_user = SUPERVISOR[platform]
        taker, taker_name = TAKER[platform]
        mark = stack.sandbox.last_seq()
        assert run_job_now(stack.rt, "fuse_scan", clock()).ok
        w.after(mark, f"转派给{taker_name}", sup_platform)
        alert = next(c for c in reversed(w.calls) if c.recipient == sup_user
                     and f"#{first} " in (shown := stack.sim.sent_as_text([c])) and f"转派给{taker_name}" in shown)
        assert lead(db, first)["owner"] == rep
        w.tap(alert, "lead.reassign", f"转派给 {taker_name}", platform=sup_platform, user=sup_user, to=taker)
        assert (lead(db, first)["owner"], lead(db, first)["status"]) == (taker, "open")
        assert lead(db, second)["owner"] == rep and tasks(db)[min(demo_task)][1:3] == ("open", taker)
        with db.uow() as s:
            assert s.scalar(select(func.count(Assignment.id)).where(Assignment.lead_id == first)) == 2
        assert activities(db, first) == ["created", "assigned", "assigned"]
        assert "转派给你的线索" in stack.sim.sent_as_text(
            [c for c in stack.sandbox.sent(TAKER_AT[taker][0]) if c.recipient == TAKER_AT[taker][1]])

        # ---- next Monday: the digest ---------------------------------------------------------
        w.day(7, hour=9)
        clock.advance(minutes=30)
        mark = stack.sandbox.last_seq()
        assert run_job_now(stack.rt, "rep_digest", clock()).ok
        digest = w.after(mark, "今日待办")
        open_mine = [tid for tid, t in tasks(db).items() if t[1] == "open" and t[2] == rep]
        assert open_mine == sorted(scheme_task) and all(f"T{tid}" in digest for tid in open_mine)
        for gone in (visit, *demo_task, *call_task):       # done; handed over with its lead; cancelled
            assert f"T{gone}" not in digest
        assert f"#{second}" in digest and f"#{first}" not in digest and f"#{third}" not in digest
    print(f"\n{platform}: the week took {time.monotonic() - started:.1f} s")
