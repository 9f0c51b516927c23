"""Live configuration (issue 15): a rep set on leave by `config reload` or by the supervisor's
chat command is skipped by the very next lead, without a restart — on SQLite and PostgreSQL,
with the embedded store and with Redis, by two instances (two Runtime objects on one database
and one store: the chat command on one, the lead on the other). A rejected file changes
nothing; restart-only keys are named and kept; 「李娜 已离职」 hands her leads over."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
import yaml
from sqlalchemy import select

from bot.events import EventKind, InboundEvent
from bot.live_config import ReloadResult
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.web import create_app
from crm_core.db.models import AuditLog, Lead, RepAvailability
from crm_core.kv.keys import CONFIG_GEN_KEY
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput
from tests.conftest import EXAMPLE

AUTH = {"Authorization": "Bearer change-me-local-token"}


@pytest.fixture
def two(cfg, db, kv_store, clock):  # noqa: ANN001, ANN201
    """Two instances of one deployment: one database, one store (Redis: two connections)."""
    a = Runtime(cfg=cfg, db=db, kv=kv_store.client(), clock=clock)
    b = Runtime(cfg=cfg, db=db, kv=kv_store.client(), clock=clock)
    yield a, b


def post_leads(rt: Runtime, n: int) -> list[str]:
    """`n` new leads through the API of `rt` (浙江 医疗 → east-medical, round robin): owners."""
    client = create_app(rt).test_client()
    owners = []
    for _ in range(n):
        body = {"channel": "expo", "company": f"杭州{uuid.uuid4().hex[:6]}医疗器械有限公司", "contact_name": "王总",
                "region": "浙江", "industry": "医疗"}
        res = client.post("/api/v1/leads", json=body, headers=AUTH)
        assert res.status_code == 201, res.get_json()
        owners.append(res.get_json()["lead"]["owner"])
    return owners


def say(rt: Runtime, rep_id: str, text: str) -> str:
    """A chat message from `rep_id` through the instance's pipeline; the text replies."""
    rep = rt.cfg.org.rep(rep_id)
    assert rep is not None
    uid = rep.platform_ids[rep.platform]
    ev = InboundEvent(platform=rep.platform, kind=EventKind.TEXT, event_id=uuid.uuid4().hex, sender_id=uid,
                      conversation_id=uid, text=text)
    pipeline = Pipeline(rt)
    replies: list[str] = []
    pipeline.deliver = lambda event, r, reply, i: replies.append(str(reply.item))  # type: ignore[method-assign]
    pipeline.process_inbound({"event": ev.to_dict()})
    return "\n".join(replies)


def test_chat_leave_is_skipped_by_the_next_lead_on_the_other_instance(two) -> None:  # noqa: ANN001
    a, b = two
    assert set(post_leads(b, 2)) == {"zhang.wei", "li.na"}           # both in the rotation
    reply = say(a, "wang.fang", "设置休假 李娜 到12月10日")
    assert "李娜 休假至 12月10日" in reply and "12月11日起自动恢复" in reply, reply
    assert post_leads(b, 4) == ["zhang.wei"] * 4                      # b: no restart, no wait
    assert b.cfg.org.rep("li.na").availability == "on_leave"
    assert b.services.cfg is b.cfg and b.notifier.cfg is b.cfg        # swapped as one object
    with b.db.uow() as s:
        row = s.get(RepAvailability, "li.na")
        assert (row.availability, row.until, row.set_by) == ("on_leave", date(2026, 12, 10), "wang.fang")
        assert s.scalar(select(AuditLog).where(AuditLog.action == "rep.availability")).target_id == "li.na"
    assert "恢复在岗" in say(a, "wang.fang", "恢复在岗 李娜")
    assert "li.na" in post_leads(b, 2)


def test_leave_ends_by_itself_after_its_last_day(two, clock) -> None:  # noqa: ANN001
    a, b = two
    say(a, "wang.fang", "设置休假 李娜 到11月25日")                    # the clock: 2026-11-22
    assert post_leads(b, 2) == ["zhang.wei"] * 2
    clock.advance(days=3)                                             # 11-25: still on leave
    assert post_leads(b, 2) == ["zhang.wei"] * 2
    clock.advance(days=1)                                             # 11-26: back, nobody had to say so
    assert "li.na" in post_leads(b, 2)


def test_only_the_reps_supervisor_or_an_admin_may_set_it(two) -> None:  # noqa: ANN001
    a, b = two
    refused = say(a, "liu.yang", "设置休假 李娜")                       # supervises south-industry only
    assert "只有李娜所在团队的主管或管理员" in refused
    assert "只有" in say(a, "zhang.wei", "设置休假 李娜")                 # a rep
    with a.db.uow() as s:
        assert s.get(RepAvailability, "li.na") is None                # nothing written
    assert set(post_leads(b, 2)) == {"zhang.wei", "li.na"}
    assert "没有找到同事「李四」" in say(a, "wang.fang", "设置休假 李四")
    assert "看不懂日期" in say(a, "wang.fang", "设置休假 李娜 到下下周")


def test_departed_in_chat_hands_her_leads_over(two, clock) -> None:  # noqa: ANN001
    a, b = two
    now = clock()
    with a.db.uow() as s:
        for i in range(3):
            lead = save_lead(s, a.cfg, LeadInput(source="chat", company=f"杭州第{i}医疗器械有限公司", contact_name="王总"),
                             actor="li.na", platform="dingtalk", now=now).lead
            give_lead(s, lead, a.cfg.org.rep("li.na"), "east-medical", "测试", "system", now)
    reply = say(a, "wang.fang", "李娜 已离职 交给 张伟")
    assert "已将 李娜 标记为离职" in reply and "3 条线索已交接给 张伟" in reply, reply
    with a.db.uow() as s:
        owners = set(s.scalars(select(Lead.owner_rep_id)))
    assert owners == {"zhang.wei"}
    assert post_leads(b, 3) == ["zhang.wei"] * 3
    assert "已标记为离职" in say(b, "li.na", "我的线索")                   # the policy sees it too
    # a note about a customer's contact is not a command: it goes to capture as before
    assert "没有找到同事" not in say(a, "zhang.wei", "王总已离职")


def write_config(tmp_path, mutate) -> str:  # noqa: ANN001
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / f"crm-bot-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return str(path)


def on_leave(raw: dict) -> None:
    next(r for r in raw["org"]["reps"] if r["id"] == "li.na")["availability"] = "on_leave"


def test_reload_applies_to_every_instance(two, tmp_path) -> None:  # noqa: ANN001
    a, b = two
    assert set(post_leads(b, 2)) == {"zhang.wei", "li.na"}
    result = a.reload_config(write_config(tmp_path, on_leave), actor="test")
    assert result.ok and result.applied == ["org"] and not result.needs_restart, result
    assert post_leads(b, 4) == ["zhang.wei"] * 4


def test_rejected_file_changes_nothing_and_says_why(two, tmp_path) -> None:  # noqa: ANN001
    a, b = two
    running, gen = b.cfg, a.kv.get(CONFIG_GEN_KEY)

    def broken(raw: dict) -> None:
        on_leave(raw)
        raw["funnel"]["stages"][1]["required"] = ["requirement_file"]

    result = a.reload_config(write_config(tmp_path, broken))
    assert not result.ok
    assert any(p.startswith("funnel.stages[1].required[0]: 'requirement_file'") and "是不是「requirements_file」" in p
               for p in result.problems), result.problems
    assert "rejected, nothing changed" in result.lines()[0] and "配置未生效" in result.lines()[0]
    assert a.kv.get(CONFIG_GEN_KEY) == gen and b.cfg is running and a.cfg.org.rep("li.na").availability == "active"
    assert set(post_leads(b, 2)) == {"zhang.wei", "li.na"}
    missing = a.reload_config(str(tmp_path / "nope.yaml"))
    assert not missing.ok and "not found" in missing.problems[0]


def test_restart_only_keys_are_named_and_kept(two, tmp_path) -> None:  # noqa: ANN001
    a, b = two

    def change(raw: dict) -> None:
        on_leave(raw)
        raw["app"]["port"] = 9999
        raw["platforms"]["wecom"]["secret"] = "rotated-secret"
        raw["dedup"]["prompt_threshold"] = 80

    result = a.reload_config(write_config(tmp_path, change))
    assert result.ok and result.applied == ["org", "dedup"], result
    assert result.needs_restart == ["app.port", "platforms.wecom.secret"]
    text = "\n".join(result.lines())
    assert "需重启后生效" in text and "rotated-secret" not in text
    b.sync_config()
    assert b.cfg.app.port == 8080 and b.cfg.dedup.prompt_threshold == 80      # live part applied, port kept
    assert b.cfg.platforms.wecom.secret.get_secret_value() != "rotated-secret"


def test_result_lines_are_bilingual() -> None:
    ok = ReloadResult(True, "x.yaml", "abc", applied=["org", "assignment"], needs_restart=["app.port"])
    text = "\n".join(ok.lines())
    assert "配置已生效 / applied" in text and "人员与团队、分配规则" in text and "app.port" in text


def test_config_check_shows_the_availability_set_in_chat(two, db_url, monkeypatch) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from bot.cli import cli
    a, _ = two
    say(a, "wang.fang", "设置休假 李娜 到12月10日")
    monkeypatch.setenv("CRM_BOT_DATABASE_URL", db_url)
    res = CliRunner().invoke(cli, ["config", "check", "--config", str(EXAMPLE)])
    assert res.exit_code == 0, res.output
    assert ("availability / 在岗状态: li.na (李娜): on_leave until 2026-12-10 / 至 12月10日 set by wang.fang in chat, "
            "over YAML 'active'") in res.output, res.output
    assert "李娜:休假(配置文件中为在岗)" in res.output


def test_leave_dates_as_people_write_them(two, clock) -> None:  # noqa: ANN001
    from handlers.availability import parse_until
    today = clock().date()                                                    # 2026-11-22
    assert parse_until("12月10日", today) == date(2026, 12, 10)
    assert parse_until("1月5号", today) == date(2027, 1, 5)                    # past this year: next year's
    assert parse_until("2027-02-01", today) == date(2027, 2, 1)
    assert parse_until("12/1", today) == date(2026, 12, 1)
    a, _ = two
    assert "1月5日(含)" in say(a, "wang.fang", "设置休假 李娜 至1月5日") and "1月6日起" in say(a, "wang.fang", "设置休假 李娜 到1月5日")
    assert "已经过去了" in say(a, "wang.fang", "设置休假 李娜 到2026-11-01")
    assert "不存在" in say(a, "wang.fang", "设置休假 李娜 到2月30日")
