"""The audit trail read back (SQLite and PostgreSQL, frozen clock): a lead's story — created,
assigned, a duplicate prompt answered 仍然新建, its fuse fired, moved a stage, 转派 by the
supervisor — through the service, `crm-bot audit` (table and JSON), `GET /api/v1/audit`
(filters, 400 with the parameter named) and 查记录 #N in chat (supervisors of the lead's team
and admins only)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from bot.cli.audit import audit_cmd, width
from bot.events import EventKind, InboundEvent
from crm_core.db.models import Lead
from crm_core.services.assign import give_lead, reassign
from crm_core.services.audit_trail import AuditQuery, audit_entries, parse_time
from crm_core.services.capture import save_lead
from crm_core.services.dedup_entry import decide_review, open_review
from crm_core.services.fuse import scan_fuses
from crm_core.services.lead_input import LeadInput
from crm_core.services.stages import advance_stage
from handlers.context import Context
from handlers.dispatch import dispatch
from handlers.load import build_registry

TOKEN = {"Authorization": "Bearer change-me-local-token"}
REGISTRY = build_registry()
STORY = ["lead.create", "lead.assign", "dedup.keep", "lead.fuse", "lead.stage", "lead.assign"]
FUSE_AT = timedelta(hours=73)


def new_lead(rt, now: datetime, owner: str = "zhang.wei", team: str = "east-medical") -> tuple[int, int]:  # noqa: ANN001
    data = {"source": "chat", "company": f"杭州{uuid.uuid4().hex[:4]}医疗器械有限公司", "contact_name": "王总",
            "phone": "13812345678", "budget_cny": 500_000, "industry": "医疗", "region": "浙江"}
    with rt.db.uow() as s:
        lead = save_lead(s, rt.cfg, LeadInput(**data), actor=owner, platform="wecom", now=now).lead
        give_lead(s, lead, rt.cfg.org.rep(owner), team, "测试分配", "system", now)
        return lead.id, lead.customer_id


def story(rt, clock) -> tuple[int, int, datetime]:  # noqa: ANN001
    """One lead through the flow; returns (lead, customer, when it started)."""
    start = clock.now
    other_lead, other_customer = new_lead(rt, start - timedelta(days=3))           # an older look-alike
    lead_id, customer_id = new_lead(rt, start)
    with rt.db.uow() as s:
        review, _ = open_review(s, rt.cfg, customer_id, other_customer, 91.0, "prompt", "zhang.wei", start)
        decide_review(s, rt.cfg, review.id, "keep", "zhang.wei", clock.advance(minutes=1))    # 仍然新建
    clock.now = start + FUSE_AT                                                     # untouched: the fuse fires
    with rt.db.uow() as s:
        assert any(n.lead_id == lead_id for n in scan_fuses(s, rt.cfg, clock.now))
    with rt.db.uow() as s:
        advance_stage(s, rt.cfg, s.get(Lead, lead_id), "proposal", "zhang.wei", "wecom", clock.advance(hours=1),
                      {"requirements_file": "需求.pdf"})
    with rt.db.uow() as s:
        reassign(s, rt.cfg, s.get(Lead, lead_id), "li.na", "wang.fang", clock.advance(minutes=5))   # 转派
    return lead_id, customer_id, start


def say(rt, rep_id: str, text: str) -> str:  # noqa: ANN001
    rep = rt.cfg.org.rep(rep_id)
    ev = InboundEvent(platform=rep.platform, kind=EventKind.TEXT, event_id=uuid.uuid4().hex,
                      sender_id=rep.platform_ids[rep.platform], conversation_id=rep.platform_ids[rep.platform],
                      text=text)
    replies = dispatch(Context(services=rt.services, event=ev, rep=rep, now=rt.clock()), REGISTRY)
    assert all(isinstance(r.item, str) for r in replies)
    return "\n".join(str(r.item) for r in replies)


def test_a_leads_story_reads_back_in_order(runtime, clock) -> None:  # noqa: ANN001
    lead_id, customer_id, start = story(runtime, clock)
    with runtime.db.uow() as s:
        entries = audit_entries(s, AuditQuery(lead_id=lead_id))
        by_customer = audit_entries(s, AuditQuery(customer_id=customer_id))
        by_supervisor = audit_entries(s, AuditQuery(rep="wang.fang"))
        by_li_na = audit_entries(s, AuditQuery(rep="li.na"))
        window = audit_entries(s, AuditQuery(lead_id=lead_id, since=start + timedelta(minutes=30),
                                             until=start + FUSE_AT + timedelta(minutes=30)))
        newest_two = audit_entries(s, AuditQuery(lead_id=lead_id, limit=2))
        assert audit_entries(s, AuditQuery(lead_id=999_999)) == []
    assert [e.action for e in entries] == STORY
    assert [e.action for e in by_customer] == STORY
    assert [(e.action, e.target_id) for e in by_supervisor] == [("lead.assign", str(lead_id))]
    assert [e.action for e in by_li_na] == ["lead.assign"]                 # given to her
    assert [e.action for e in window] == ["lead.fuse"]
    assert [e.action for e in newest_two] == ["lead.stage", "lead.assign"]  # the newest, oldest first
    assert entries[3].actor == "system" and entries[3].detail["level"] == 2
    with pytest.raises(ValueError):
        AuditQuery(since=start, until=start)
    with pytest.raises(ValueError):
        AuditQuery(limit=0)


def test_cli_table_and_json(runtime, clock) -> None:  # noqa: ANN001
    lead_id, _customer, start = story(runtime, clock)
    cli = CliRunner()
    res = cli.invoke(audit_cmd, ["--lead", str(lead_id)], obj=runtime)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["时间", "操作人", "平台", "操作", "对象", "内容"]
    assert "仍然新建" in res.output and "需求确认 → 定制方案发送" in res.output
    assert "定时任务" in res.output or "系统" in res.output
    assert "转派（王芳）：张伟 → 李娜" in res.output and lines[-1] == "共 6 条。"     # as people read it
    # the columns line up on screen: each row's 操作 column starts at the same display column
    starts = {width(line[:line.index(word)]) for line, word in zip(lines[1:4], ("新建线索", "分配", "仍然新建"))}
    assert len(starts) == 1
    rows = [json.loads(x) for x in cli.invoke(audit_cmd, ["--lead", str(lead_id), "--json"], obj=runtime)
            .output.splitlines()]
    assert [r["action"] for r in rows] == STORY and rows[0]["target_id"] == str(lead_id)
    day = f"{(start + FUSE_AT).astimezone(parse_time('2026-01-01', 'Asia/Shanghai').tzinfo):%Y-%m-%d}"
    only_day = cli.invoke(audit_cmd, ["--lead", str(lead_id), "--since", day, "--json"], obj=runtime).output
    assert [json.loads(x)["action"] for x in only_day.splitlines()] == STORY[3:]
    before = cli.invoke(audit_cmd, ["--lead", str(lead_id), "--until", day, "--json"], obj=runtime).output
    assert [json.loads(x)["action"] for x in before.splitlines()] == STORY   # --until DAY takes the whole day
    by_name = cli.invoke(audit_cmd, ["--rep", "王芳", "--json"], obj=runtime).output
    assert len(by_name.splitlines()) == 1
    for bad in (["--rep", "nobody"], ["--since", "yesterday"], ["--lead", "0"],
                ["--since", "2026-12-02", "--until", "2026-12-01"]):
        res = cli.invoke(audit_cmd, bad, obj=runtime)
        assert res.exit_code == 2 and "Traceback" not in res.output, (bad, res.output)
    assert "没有符合条件" in cli.invoke(audit_cmd, ["--lead", "999999"], obj=runtime).output


def test_api_filters_and_refusals(runtime, clock) -> None:  # noqa: ANN001
    from bot.web import create_app
    lead_id, customer_id, start = story(runtime, clock)
    client = create_app(runtime).test_client()
    assert client.get(f"/api/v1/audit?lead={lead_id}").status_code == 401
    body = client.get(f"/api/v1/audit?lead={lead_id}", headers=TOKEN).get_json()
    assert [e["action"] for e in body["entries"]] == STORY and body["count"] == 6
    since = (start + FUSE_AT).isoformat()
    body = client.get("/api/v1/audit", query_string={"customer": customer_id, "since": since}, headers=TOKEN).get_json()
    assert [e["action"] for e in body["entries"]] == STORY[3:]
    assert client.get("/api/v1/audit?rep=wang.fang&limit=1", headers=TOKEN).get_json()["count"] == 1
    pages, offset = [], 0                              # paging: newest first, each page read forward
    while offset is not None:
        page = client.get(f"/api/v1/audit?lead={lead_id}&limit=4&offset={offset}", headers=TOKEN).get_json()
        pages.append([e["action"] for e in page["entries"]])
        offset = page["next_offset"]
    assert pages == [STORY[2:], STORY[:2]]
    assert client.get(f"/api/v1/audit?lead={lead_id}&offset=6", headers=TOKEN).get_json()["entries"] == []
    for query, param in (("offset=-1", "offset"), ("offset=x", "offset"), ("lead=abc", "lead"), ("lead=-1", "lead"), ("limit=501", "limit"), ("limit=0", "limit"),
                         ("rep=nobody", "rep"), ("since=tomorrow", "since"), ("until=2026-13-01", "until"),
                         ("colour=red", "colour"), ("lead=1&lead=2", "lead"),
                         ("since=2026-12-02&until=2026-12-01", "since")):
        res = client.get(f"/api/v1/audit?{query}", headers=TOKEN)
        assert res.status_code == 400, query
        assert res.get_json()["param"] == param and res.get_json()["message"].startswith(param), query


def test_chat_query_for_supervisors_and_admins(runtime, clock) -> None:  # noqa: ANN001
    lead_id, _customer, _start = story(runtime, clock)
    south_lead, _ = new_lead(runtime, clock.now, owner="chen.jie", team="south-industry")
    shown = say(runtime, "wang.fang", f"查记录 #{lead_id}")                 # admin, the team's supervisor
    assert shown.startswith(f"线索 #{lead_id} 的操作记录(共 6 条") and "张伟 新建线索" in shown
    assert "仍然新建" in shown and "王芳 分配" in shown and "13812345678" not in shown
    assert "不属于" in say(runtime, "liu.yang", f"查记录 #{lead_id}") or "只有" in say(runtime, "liu.yang",
                                                                                        f"查记录 #{lead_id}")
    assert "陈杰 新建线索" in say(runtime, "liu.yang", f"查记录 #{south_lead}")   # his own team's lead
    refused = say(runtime, "zhang.wei", f"查记录 #{lead_id}")                  # the former owner, a rep
    assert "只有该线索所在团队的主管或管理员" in refused and "操作记录(" not in refused
    assert "没有找到线索 #999999" in say(runtime, "wang.fang", "查记录 #999999")
    assert "请这样写" in say(runtime, "wang.fang", "查记录 abc")
