"""Authorization, table-driven, on both databases: every chat command, card tap and API endpoint
against each role (rep, supervisor, admin, steward, a departed rep) and each relation to the
lead (own lead, same team, other team, pool), plus tampered taps (lead id, card id, button,
values changed; resolved cards). A refusal must say why in Chinese AND change nothing: the whole
database is compared before and after, and a refused tap leaves its card usable (no KV claim).
One policy decides all of it (crm_core/authz.py); these tests only look from the outside.

The org (the example config's teams, roles made distinct):
  华东医疗 east-medical: supervisor 王芳 wang.fang (supervisor only), members 张伟 zhang.wei,
      李娜 li.na, 吴欣 wu.xin, 赵敏 zhao.min (on leave)
  华南制造 south-industry: supervisor 刘洋 liu.yang (supervisor only), member 陈杰 chen.jie
  孙丽 sun.li admin · 钱宇 qian.yu data steward · 周退 zhou.tui departed
Leads: "east" (张伟's, east-medical), "south" (陈杰's, south-industry), "pool" (east-medical's 公海,
returned from 赵敏), "own2" (another of 张伟's). Actors are named by their relation to "east"."""
from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text

from bot.events import CardAction, EventKind, InboundEvent
from bot.pipeline import Pipeline
from cards.model import Card, card_from_dict
from cards.render.text import render_text
from crm_core.authz import LABELS, RULES, TAP_ACTIONS, Action, Principal
from crm_core.config.loader import parse_config
from crm_core.config.schema import AppConfig, Rep, Team
from crm_core.db import Database
from crm_core.db.models import Activity, Assignment, Base, CardRecord, DedupReview, Lead
from crm_core.db.models import Approval, ApprovalStep, FocusCheckin, Reminder, Task
from crm_core.config.approvals import Approvals
from crm_core.config.coaching import StageEntry
from crm_core.notices import CheckinCard
from crm_core.services.checkin import card_notice, ensure_checkin
from crm_core.notices import FuseReminder, FuseSupervisor, LeadAssigned, Notice
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.dedup_entry import open_review
from crm_core.services.followup import is_muted
from crm_core.services.fuse import scan_fuses
from crm_core.services.lead_input import LeadInput
from crm_core.services.pool import return_to_pool
from handlers.context import Context, Reply
from handlers.dispatch import dispatch
from handlers.load import build_registry
from handlers.notify import default_renderers
from tests.conftest import EXAMPLE

REGISTRY = build_registry()
RENDERERS = default_renderers()
TOKEN = "change-me-local-token"

ACTORS = {
    "owner": "zhang.wei",               # owns "east"
    "teammate": "li.na",                # same team as "east"
    "outsider": "chen.jie",             # another team (owns "south")
    "supervisor": "wang.fang",          # supervises east-medical
    "other_supervisor": "liu.yang",     # supervises south-industry only
    "admin": "sun.li",
    "steward": "qian.yu",
    "departed": "zhou.tui",
}
ROLES = list(ACTORS)

# What the refusals say (fragments of the policy's Chinese reasons)
NOT_YOURS = "不是你负责的"
OTHER_TEAM = "不属于你主管的团队"
CLAIM_FIRST = "在公海中,请先发送「领取"
SUPERVISORS_ONLY = "只有该线索所在团队的主管或管理员"
DEPARTED = "已标记为离职"
TO_ZHANG = "这张卡片是发给张伟的"
DECIDERS_ONLY = "只有收到这张卡片的销售、数据管理员或管理员可以处理"
UNKNOWN_CARD = "没有找到这张卡片的记录(可能已失效或被改动),操作未生效。"
STALE_CARD = "这张卡片已经处理过了,无需重复操作。"
NOT_ON_CARD = "这张卡片上没有这个按钮,操作未生效。"
TAMPERED = "按钮内容与卡片记录不符,操作未生效。"


# ---------------------------------------------------------------- the org and the world
def _rep(rep_id: str, name: str, platform: str, user: str, roles: list[Any], availability: Any = "active") -> Rep:
    return Rep(id=rep_id, name=name, platform=platform, platform_ids={platform: user}, roles=roles,
               availability=availability)


def authz_org(cfg: AppConfig) -> AppConfig:
    reps = [
        _rep("zhang.wei", "张伟", "wecom", "zhangwei", ["rep", "receive_leads"]),
        _rep("li.na", "李娜", "dingtalk", "manager7002", ["rep", "receive_leads"]),
        _rep("wu.xin", "吴欣", "dingtalk", "manager7004", ["rep", "receive_leads"]),
        _rep("zhao.min", "赵敏", "wecom", "zhaomin", ["rep", "receive_leads"], "on_leave"),
        _rep("chen.jie", "陈杰", "feishu", "ou_chenjie", ["rep", "receive_leads"]),
        _rep("wang.fang", "王芳", "feishu", "ou_wangfang", ["supervisor"]),
        _rep("liu.yang", "刘洋", "dingtalk", "manager7003", ["supervisor"]),
        _rep("sun.li", "孙丽", "wecom", "sunli", ["admin"]),
        _rep("qian.yu", "钱宇", "feishu", "ou_qianyu", ["steward"]),
        _rep("zhou.tui", "周退", "wecom", "zhoutui", ["rep", "receive_leads"], "departed"),
    ]
    teams = [Team(id="east-medical", name="华东医疗", supervisor="wang.fang", supervisor_platform="feishu",
                  members=["zhang.wei", "li.na", "wu.xin", "zhao.min"]),
             Team(id="south-industry", name="华南制造", supervisor="liu.yang", members=["chen.jie"])]
    org = cfg.org.model_copy(update={"reps": reps, "teams": teams, "data_steward": "qian.yu"})
    # issue 17: a one-node 报价审批 at the submitter's supervisor
    approvals = Approvals.model_validate({"flows": {"quote": {"name": "报价审批", "words": ["报价"], "nodes": [
        {"name": "主管审批", "approver": "supervisor"}]}}})
    return cfg.model_copy(update={"org": org, "approvals": approvals})


OBJECTIONS = ["价格", "竞品", "预算", "时机", "决策链", "功能", "交付周期"]
VISIT_NO_DAY = "聊了合同条款,客户要求付款周期改成60天,我们承诺内部申请"
VISIT_FULL = "今天和王总聊了二期扩容方案,他最关心数据迁移的风险,我们答应周五前给出迁移方案,下周三再去拜访。"


def with_stage_entry(rt) -> None:  # noqa: ANN001
    """Entering 定制方案发送 asks 沟通方式 and 核心异议点 first (seven presets: two pages, so 更多 is a
    button too). Only where a case needs it: the other rows advance to that stage directly."""
    rt.apply_config(rt.cfg.model_copy(update={"stage_entry": StageEntry(stages=["proposal"], objections=OBJECTIONS)}))


_DATABASES: dict[str, Database] = {}


@pytest.fixture
def db(db_url):  # noqa: ANN001, ANN201
    """The conftest's `db`, cheaper for ~800 small cases: one engine per database for the module
    (no reconnecting), emptied after each test by DELETE (a TRUNCATE of every table took
    0.5-0.7 s on PostgreSQL; the tests write a few dozen rows)."""
    database = _DATABASES.get(db_url) or _DATABASES.setdefault(db_url, Database(db_url))
    yield database
    with database.engine.begin() as c:
        for t in reversed(Base.metadata.sorted_tables):
            c.execute(t.delete())


@functools.cache
def example_yaml() -> Any:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def cfg():  # noqa: ANN201
    """The example config with this org, validated afresh for each test from YAML read once for the
    module (parsing the file took 40 ms a case; validating takes 1 ms)."""
    return authz_org(parse_config(copy.deepcopy(example_yaml()), {}, str(EXAMPLE)))


@pytest.fixture
def rt(runtime):  # noqa: ANN001, ANN201
    return runtime


@dataclasses.dataclass
class World:
    leads: dict[str, int]
    customers: dict[str, int]


LEADS = [  # (key, owner, team, company, phone)
    ("east", "zhang.wei", "east-medical", "杭州优品医疗器械有限公司", "13812345678"),
    ("south", "chen.jie", "south-industry", "佛山华通机械制造有限公司", "13912345678"),
    ("pool", "zhao.min", "east-medical", "宁波康达医疗科技有限公司", "13712345678"),
    ("own2", "zhang.wei", "east-medical", "温州瑞安医药有限公司", "13612345678"),
]
PHONES = {key: phone for key, _, _, _, phone in LEADS}


# The world is built once per database (per xdist worker) through the services, kept as rows, and
# restored into each later test's emptied database: the same rows, ids and sequences as a fresh
# build (the clock starts at the same instant in every test), without building it again.
_BUILT: dict[str, tuple[World, dict[str, list[dict[str, Any]]]]] = {}


def world(rt) -> World:  # noqa: ANN001
    key = rt.db.engine.url.render_as_string(hide_password=False)
    if key in _BUILT:
        w, rows = _BUILT[key]
        restore(rt, rows)
        return w
    def rows_now() -> dict[str, list[dict[str, Any]]]:
        with rt.db.engine.connect() as c:
            return {t.name: [dict(r._mapping) for r in c.execute(select(t))] for t in Base.metadata.sorted_tables}
    before = rows_now()     # what the runtime wrote itself (the approval flow's version, its audit row)
    w = build_world(rt)
    built = {name: new for name, rows in rows_now().items() if (new := [r for r in rows if r not in before[name]])}
    _BUILT[key] = (w, built)
    return w


def restore(rt, rows: dict[str, list[dict[str, Any]]]) -> None:  # noqa: ANN001
    with rt.db.engine.begin() as c:
        for t in Base.metadata.sorted_tables:
            if t.name in rows:
                c.execute(t.insert(), rows[t.name])
        if c.dialect.name == "postgresql":       # each id sequence just past the restored rows
            owned = c.execute(text(
                "SELECT s.relname, t.relname, a.attname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
                "JOIN pg_class t ON d.refobjid = t.oid "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
                "WHERE s.relkind = 'S' AND t.relnamespace = s.relnamespace")).all()
            for seq, table, col in owned:
                top = f'COALESCE((SELECT MAX("{col}") FROM "{table}"), 0) + 1'
                c.execute(text(f"SELECT setval('\"{seq}\"', {top}, false)"))


def build_world(rt) -> World:  # noqa: ANN001
    now = rt.clock()
    leads: dict[str, int] = {}
    with rt.db.uow() as s:
        for key, owner, team, company, phone in LEADS:
            data = LeadInput(source="chat", company=company, contact_name="王总", phone=phone, budget_cny=500_000,
                             industry="医疗", region="浙江")
            lead = save_lead(s, rt.cfg, data, actor=owner, platform="wecom", now=now).lead
            give_lead(s, lead, rt.cfg.org.rep(owner), team, "测试分配", "system", now)
            leads[key] = lead.id
        return_to_pool(s, rt.cfg, s.get(Lead, leads["pool"]), now, "30 天未跟进")
        customers = {key: s.get(Lead, lead_id).customer_id for key, lead_id in leads.items()}
    return World(leads, customers)


# ---------------------------------------------------------------- driving the bot
def send(rt, actor: str, *, text: str | None = None, tap: CardAction | None = None,  # noqa: ANN001
         deliver: bool = False) -> list[Reply]:
    """One event from `actor` on their platform through the real dispatcher. `deliver`: the
    replies are queued in the outbox as the worker would (a card's record, a card's update)."""
    rep = rt.cfg.org.rep(actor)
    user = rep.platform_ids[rep.platform]
    ev = InboundEvent(platform=rep.platform, kind=EventKind.CARD_ACTION if tap else EventKind.TEXT,
                      event_id=uuid.uuid4().hex, sender_id=user, conversation_id=user, text=text, action=tap)
    replies = dispatch(Context(services=rt.services, event=ev, rep=rep, now=rt.clock()), REGISTRY)
    if deliver:
        for i, reply in enumerate(replies):
            Pipeline(rt).deliver(ev, rep, reply, i)
    return replies


def said(replies: list[Reply]) -> str:
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def snapshot(rt) -> dict[str, list[tuple[str, ...]]]:  # noqa: ANN001
    """Every row of every table."""
    with rt.db.uow() as s:
        return {t.name: sorted(tuple(repr(v) for v in row) for row in s.execute(select(t)).all())
                for t in Base.metadata.sorted_tables}


def lead_row(rt, lead_id: int) -> Lead:  # noqa: ANN001
    with rt.db.uow() as s:
        lead = s.get_one(Lead, lead_id)
        s.expunge(lead)
        return lead


def count(rt, model: Any, *where: Any) -> int:  # noqa: ANN001
    with rt.db.uow() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


# ---------------------------------------------------------------- chat commands × roles × leads
# (allowed actors → the effect happens; refused actors → what the reply says, else `default`)
Row = tuple[set[str], dict[str, str], str]

WORKS: dict[str, Row] = {          # 跟进 / 推进阶段 / 输单: the owner, the lead's supervisor, admins
    "east": ({"owner", "supervisor", "admin"}, {"other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS),
    "south": ({"outsider", "other_supervisor", "admin"}, {"supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS),
    "pool": ({"supervisor", "admin"}, {"other_supervisor": OTHER_TEAM, "departed": DEPARTED}, CLAIM_FIRST),
}
FOLLOW_UP: dict[str, Row] = {
    **WORKS,          # a pool lead: allowed to look at, but it must be claimed before a follow-up
    "pool": (set(), {"supervisor": "请先领取再记录跟进", "admin": "请先领取再记录跟进",
                     "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, CLAIM_FIRST),
}
ADVANCE: dict[str, Row] = {
    **WORKS,          # a pool lead cannot change stage, whoever asks
    "pool": (set(), {"supervisor": "不能推进阶段", "admin": "不能推进阶段",
                     "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, CLAIM_FIRST),
}
REASSIGN: dict[str, Row] = {       # 转派: the lead's supervisor, admins
    "east": ({"supervisor", "admin"}, {"departed": DEPARTED}, SUPERVISORS_ONLY),
    "south": ({"other_supervisor", "admin"}, {"departed": DEPARTED}, SUPERVISORS_ONLY),
    "pool": ({"supervisor", "admin"}, {"departed": DEPARTED}, SUPERVISORS_ONLY),
}
CLAIM: dict[str, Row] = {          # 领取: active reps with receive_leads, from their own team's pool
    "pool": ({"owner", "teammate"}, {"outsider": "其他团队的公海", "departed": DEPARTED}, "没有接收线索角色"),
    "east": (set(), {"owner": "不在公海中", "teammate": "不在公海中", "outsider": "不在公海中",
                     "departed": DEPARTED}, "没有接收线索角色"),
}
MUTE: dict[str, Row] = {           # 静音提醒: one's own reminders, about one's own customers
    "east": ({"owner"}, {}, "没有找到"),
    "south": ({"outsider"}, {}, "没有找到"),
    "pool": (set(), {}, "没有找到"),       # nobody holds the pool lead's customer
}


def followed_up(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert count(rt, Activity, Activity.lead_id == w.leads[lead], Activity.kind == "follow_up",
                 Activity.actor == actor) == 1


def advanced(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert lead_row(rt, w.leads[lead]).stage == "proposal"


def closed_lost(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    row = lead_row(rt, w.leads[lead])
    assert (row.stage, row.status) == ("lost", "lost")


def reassigned(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert lead_row(rt, w.leads[lead]).owner_rep_id == "wu.xin"


def claimed(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert lead_row(rt, w.leads[lead]).owner_rep_id == actor


def muted(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    with rt.db.uow() as s:
        assert is_muted(s, actor, w.customers[lead])


# issue 17. 提交审批 is working the lead; an admin has nobody to approve (the admins but himself), and a
# lead in the pool cannot be submitted
SUBMIT: dict[str, Row] = {
    "east": ({"owner", "supervisor"}, {"admin": "找不到审批人", "other_supervisor": OTHER_TEAM, "departed": DEPARTED},
             NOT_YOURS),
    "south": ({"outsider", "other_supervisor"}, {"admin": "找不到审批人", "supervisor": OTHER_TEAM,
                                                  "departed": DEPARTED}, NOT_YOURS),
    "pool": (set(), {"supervisor": "不能再提交审批", "admin": "不能再提交审批", "other_supervisor": OTHER_TEAM,
                     "departed": DEPARTED}, CLAIM_FIRST),
}
# 张伟's pending 报价审批 on "east" (approver 王芳): who decides, comments, withdraws
DECIDE: dict[str, Row] = {"east": ({"supervisor", "admin"}, {"owner": "不能审批自己提交的审批", "departed": DEPARTED},
                                   "不是由你审批的")}
COMMENT: dict[str, Row] = {"east": ({"owner", "supervisor", "admin"}, {"departed": DEPARTED},
                                    "只有审批A")}
WITHDRAW: dict[str, Row] = {"east": ({"owner", "admin"}, {"departed": DEPARTED}, "只有提交人或管理员可以撤回")}
VISIT: dict[str, Row] = {           # 拜访纪要 is a follow-up: a pool lead must be claimed first
    **WORKS,
    "pool": (set(), {"supervisor": "请先领取", "admin": "请先领取", "other_supervisor": OTHER_TEAM,
                     "departed": DEPARTED}, CLAIM_FIRST),
}


def submitted(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert count(rt, Approval, Approval.lead_id == w.leads[lead], Approval.submitter == actor,
                 Approval.status == "pending") == 1 and count(rt, Approval) == 1


def the_approval(rt) -> Approval:  # noqa: ANN001
    with rt.db.uow() as s:
        a = s.scalars(select(Approval)).one()
        s.expunge(a)
        return a


def decided(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert the_approval(rt).status == "approved"
    assert count(rt, ApprovalStep, ApprovalStep.kind == "approve", ApprovalStep.actor == actor) == 1


def commented(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert the_approval(rt).status == "pending"
    assert count(rt, ApprovalStep, ApprovalStep.kind == "comment", ApprovalStep.actor == actor) == 1


def withdrawn(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert the_approval(rt).status == "withdrawn"
    assert count(rt, ApprovalStep, ApprovalStep.kind == "withdraw", ApprovalStep.actor == actor) == 1


def visit_noted(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    assert count(rt, Activity, Activity.lead_id == w.leads[lead], Activity.kind == "visit_note",
                 Activity.actor == actor) == 1 and count(rt, Activity, Activity.kind == "visit_note") == 1


def entry_asked(rt, w: World, lead: str, actor: str) -> None:  # noqa: ANN001
    """推进阶段 into a stage with an entry action: the card asks first, the lead has not moved."""
    assert lead_row(rt, w.leads[lead]).stage == "qualify"


Effect = Callable[[Any, World, str, str], None]
COMMANDS: dict[str, tuple[str, dict[str, Row], Effect, str]] = {
    # name: (message, table, effect when allowed, what the allowed reply says)
    "follow_up": ("跟进 #{lead} 今天电话沟通了报价", FOLLOW_UP, followed_up, "已记录跟进"),
    "advance": ("推进阶段 #{lead} 定制方案发送", ADVANCE, advanced, "已推进"),
    "close_lost": ("推进阶段 #{lead} 输单 原因:价格", ADVANCE, closed_lost, "已记录输单"),
    "reassign": ("转派 #{lead} wu.xin", REASSIGN, reassigned, "转派给 吴欣"),
    "claim": ("领取 #{lead}", CLAIM, claimed, "已领取"),
    "mute": ("静音提醒 #{customer}", MUTE, muted, "已静音"),
    "submit_approval": ("提交审批 #{lead} 报价", SUBMIT, submitted, "已提交报价审批"),
    "decide_approval": ("审批意见 A{approval} 同意 可以按此报价", DECIDE, decided, "已同意"),
    "comment_approval": ("审批意见 A{approval} 请补充竞品报价", COMMENT, commented, "已把你的意见记到"),
    "withdraw_approval": ("撤回审批 A{approval} 客户改需求", WITHDRAW, withdrawn, "已撤回"),
    "visit_note": ("拜访纪要 #{lead} " + VISIT_FULL, VISIT, visit_noted, "拜访纪要已保存"),
    "stage_entry": ("推进阶段 #{lead} 定制方案发送", ADVANCE, entry_asked, "这次是怎么沟通的"),
}
COMMAND_CASES = [(name, lead, role) for name, (_, table, _, _) in COMMANDS.items() for lead in table for role in ROLES]


@pytest.mark.parametrize("command, lead, role", COMMAND_CASES)
def test_command(rt, command: str, lead: str, role: str) -> None:  # noqa: ANN001
    w = world(rt)
    message, table, effect, ok = COMMANDS[command]
    allowed, refusals, default = table[lead]
    actor = ACTORS[role]
    approval = submit_quote(rt, w) if "{approval}" in message else None
    if command == "stage_entry":
        with_stage_entry(rt)
    before = snapshot(rt)
    out = said(send(rt, actor, text=message.format(lead=w.leads[lead], customer=w.customers[lead], approval=approval)))
    if role in allowed:
        assert ok in out, out
        effect(rt, w, lead, actor)
    else:
        assert refusals.get(role, default) in out, out
        assert snapshot(rt) == before, "a refused command changed the database"


# 查线索: every colleague may read a lead; phones in full for its owner, its supervisor and admins
FULL_PHONE = {"east": {"owner", "supervisor", "admin"}, "south": {"outsider", "other_supervisor", "admin"},
              "pool": {"supervisor", "admin"}}


@pytest.mark.parametrize("lead, role", [(lead, role) for lead in FULL_PHONE for role in ROLES])
def test_view_lead_and_phone(rt, lead: str, role: str) -> None:  # noqa: ANN001
    w = world(rt)
    before = snapshot(rt)
    out = said(send(rt, ACTORS[role], text=f"查线索 #{w.leads[lead]}"))
    phone = PHONES[lead]
    if role == "departed":
        assert DEPARTED in out and f"线索 #{w.leads[lead]}" not in out
    else:
        assert f"线索 #{w.leads[lead]}" in out, out
        full = role in FULL_PHONE[lead]
        assert (phone in out) == full and ((phone[:3] + "****" + phone[-4:]) in out) == (not full), out
    assert snapshot(rt) == before


# Commands about oneself: everyone but a departed rep
OWN = ["我的线索", "我的待办", "查客户 优品", "公海", "待审重复", "新建 杭州优品 李经理 13912345678 预算50万", "我的审批"]


@pytest.mark.parametrize("message, role", [(m, r) for m in OWN for r in ROLES],
                         ids=[f"{i}-{r}" for i in range(len(OWN)) for r in ROLES])
def test_own_commands(rt, message: str, role: str) -> None:  # noqa: ANN001
    world(rt)
    before = snapshot(rt)
    out = said(send(rt, ACTORS[role], text=message))
    assert (DEPARTED in out) == (role == "departed"), out
    assert snapshot(rt) == before
    if message == "公海" and role != "departed":            # scoped to one's teams; phones masked for reps
        sees_pool = role in ("owner", "teammate", "supervisor", "admin")
        assert ("宁波康达" in out) == sees_pool, out
        assert (PHONES["pool"] in out) == (role in ("supervisor", "admin")), out


# ---------------------------------------------------------------- cards
def card_on_record(rt, card_id: str) -> Card:  # noqa: ANN001
    with rt.db.uow() as s:
        return card_from_dict(s.get_one(CardRecord, card_id).content)


def notice_cards(rt, notices: list[Notice]) -> dict[tuple[type, int | None], Card]:  # noqa: ANN001
    rt.deliver(notices)
    out = {}
    for n in notices:
        card = RENDERERS.render(rt.cfg, n)
        assert isinstance(card, Card)
        out[(type(n), n.lead_id)] = card_on_record(rt, card.card_id)
    return out


def make_cards(rt, clock, w: World, kinds: set[str]) -> dict[str, Card]:  # noqa: ANN001
    """The cards as the bot sends them (notices through the notifier, replies through the
    outbox), read back from their records."""
    cards: dict[str, Card] = {}
    if kinds & {"reminder", "supervisor", "south_supervisor", "unmute"}:
        clock.advance(hours=73)                       # the fuses blow: reminder + supervisor cards
        with rt.db.uow() as s:
            notices = scan_fuses(s, rt.cfg, clock.now)
        sent = notice_cards(rt, notices)
        cards["reminder"] = sent[(FuseReminder, w.leads["east"])]
        cards["supervisor"] = sent[(FuseSupervisor, w.leads["east"])]
        cards["south_supervisor"] = sent[(FuseSupervisor, w.leads["south"])]
    if "unmute" in kinds:
        tap = button_tap(cards["reminder"], "followup.mute")
        replies = send(rt, "zhang.wei", tap=tap, deliver=True)
        cards["unmute"] = card_on_record(rt, next(r.item.card_id for r in replies
                                                  if isinstance(r.item, Card) and not r.update))
    if "tags" in kinds:
        notice = LeadAssigned(to_rep="zhang.wei", lead_id=w.leads["east"], customer_id=w.customers["east"],
                              title="展会线索", reason="展会导入", team="east-medical", tags=("展会", "医疗器械"),
                              dedupe_key="tags-test")
        cards["tags"] = notice_cards(rt, [notice])[(LeadAssigned, w.leads["east"])]
    for kind, assignee, pair in (("prompt", "zhang.wei", ("east", "south")), ("review", "qian.yu", ("own2", "south"))):
        if kind in kinds:
            with rt.db.uow() as s:
                _, notice = open_review(s, rt.cfg, w.customers[pair[0]], w.customers[pair[1]], 80.0, kind,  # type: ignore[arg-type]
                                        assignee, clock.now)
            assert notice is not None
            cards[kind] = notice_cards(rt, [notice])[(type(notice), None)]
    if "confirm" in kinds:
        replies = send(rt, "zhang.wei", text="记录杭州优品科技的王总 13912345678 预算50万", deliver=True)
        cards["confirm"] = card_on_record(rt, next(r.item.card_id for r in replies if isinstance(r.item, Card)))
    if "checkin" in kinds:                        # 张伟's 晨会打卡 card, as the morning job sends it
        with rt.db.uow() as s:
            row = ensure_checkin(s, rt.cfg, "zhang.wei", clock.now)
            assert row is not None
            notice = card_notice(s, rt.cfg, row, clock.now)
        cards["checkin"] = notice_cards(rt, [notice])[(CheckinCard, None)]
    if "report" in kinds:                         # 张伟's 日报 with 转发给主管
        replies = send(rt, "zhang.wei", text="日报", deliver=True)
        cards["report"] = card_on_record(rt, next(r.item.card_id for r in replies if isinstance(r.item, Card)))
    if kinds & {"detail", "apvpick"}:             # 张伟's 查线索 card: 修改 / 拜访纪要 / 提交审批
        cards["detail"] = sent_card(rt, "zhang.wei", text=f"查线索 #{w.leads['east']}")
    if "apvpick" in kinds:                        # its 提交审批: the card with a button per flow
        cards["apvpick"] = sent_card(rt, "zhang.wei", tap=button_tap(cards["detail"], "approval.start"))
    if "approval" in kinds:                       # 张伟's 报价审批 on "east": the approver card at 王芳
        approval_id = submit_quote(rt, w)
        with rt.db.uow() as s:
            [rec] = s.scalars(select(CardRecord).where(CardRecord.id.startswith(f"apv{approval_id}n")))
            assert rec.recipient == "ou_wangfang"
            cards["approval"] = card_from_dict(rec.content)
    if kinds & {"entry", "entry2"}:               # 推进阶段 into 定制方案发送: 沟通方式 first
        with_stage_entry(rt)
        cards["entry"] = sent_card(rt, "zhang.wei", text=f"推进阶段 #{w.leads['east']} 定制方案发送")
    if "entry2" in kinds:                         # 电话 chosen: the same card, 核心异议点 (two pages)
        send(rt, "zhang.wei", tap=button_tap(cards["entry"], "entry.channel", channel="电话"), deliver=True)
        cards["entry2"] = card_on_record(rt, cards["entry"].card_id)
        assert {b.action for b in cards["entry2"].buttons} == {"entry.pick", "entry.more"}
    if "visit_when" in kinds:                     # a 拜访纪要 without a day: 下次什么时候跟进?
        cards["visit_when"] = sent_card(rt, "zhang.wei", text=f"拜访纪要 #{w.leads['east']} {VISIT_NO_DAY}")
    return cards


def sent_card(rt, actor: str, **event: Any) -> Card:  # noqa: ANN001
    """The one new card `actor`'s message or tap is answered with, delivered, from its record."""
    replies = send(rt, actor, deliver=True, **event)
    [card_id] = [r.item.card_id for r in replies if isinstance(r.item, Card) and not r.update]
    return card_on_record(rt, card_id)


def submit_quote(rt, w: World) -> int:  # noqa: ANN001
    """张伟 submits 报价审批 for "east" (approver: 王芳, his team's supervisor); its id."""
    assert "已提交报价审批" in said(send(rt, "zhang.wei", text=f"提交审批 #{w.leads['east']} 报价", deliver=True))
    with rt.db.uow() as s:
        return s.scalars(select(Approval.id).where(Approval.lead_id == w.leads["east"])).one()


def button_tap(card: Card, action: str, **values: str) -> CardAction:
    """The tap a platform reports for one of the card's own buttons."""
    button = next(b for b in card.buttons if b.action == action and all(b.value.get(k) == v for k, v in values.items()))
    return CardAction(key=button.action, values=dict(button.value), card_ref=card.card_id)


def activity(kind: str) -> Callable[[Any, World, str, list[Reply]], None]:
    def check(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
        assert count(rt, Activity, Activity.lead_id == w.leads["east"], Activity.kind == kind,
                     Activity.actor == actor) == 1
    return check


def mute_set(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    with rt.db.uow() as s:
        assert is_muted(s, actor, w.customers["east"])


def reassigned_by_card(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert lead_row(rt, w.leads["east"]).owner_rep_id == "wu.xin"


def tags_confirmed(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert lead_row(rt, w.leads["east"]).details["tags_confirmed_by"] == actor


def review_rejected(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    with rt.db.uow() as s:
        assert [(r.status, r.reviewer) for r in s.scalars(select(DedupReview))] == [("rejected", actor)]


def unmuted(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    """One's own mute is lifted (an admin tapping 张伟's card lifts only the admin's: none)."""
    with rt.db.uow() as s:
        assert is_muted(s, "zhang.wei", w.customers["east"]) == (actor != "zhang.wei")
    assert ("已恢复提醒此客户" if actor == "zhang.wei" else "此客户本来就在提醒中") in said(replies)


def nudged_south(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert count(rt, Activity, Activity.lead_id == w.leads["south"], Activity.kind == "nudge",
                 Activity.actor == actor) == 1


def lead_saved(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert count(rt, Lead) == len(LEADS) + 1 and "已保存为线索" in said(replies)


def checkin_picked(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    with rt.db.uow() as s:
        assert [len(r.picks) for r in s.scalars(select(FocusCheckin))] == [1]


def report_forwarded(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert count(rt, Reminder, Reminder.kind == "report.daily") >= 1 and "已转发给" in said(replies)


def visit_waiting(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    """拜访纪要 on the lead card: the bot waits for the tapper's note (no row yet)."""
    assert rt.kv.get(f"visit_note:{actor}") is not None and "请发送" in said(replies)
    assert count(rt, Activity, Activity.kind == "visit_note") == 0


def visit_saved(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert count(rt, Activity, Activity.lead_id == w.leads["east"], Activity.kind == "visit_note",
                  Activity.actor == actor) == 1
    assert count(rt, Task, Task.lead_id == w.leads["east"]) == 1 and "拜访纪要已保存" in said(replies)


def flows_offered(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    """提交审批 on the lead card: a new card with a button per flow, nothing submitted yet."""
    [card] = [r.item for r in replies if isinstance(r.item, Card)]
    assert [(b.action, b.value) for b in card.buttons] == [("approval.pick", {"lead": str(w.leads["east"]),
                                                                                "flow": "quote"})]
    assert count(rt, Approval) == 0


def approval_submitted(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert count(rt, Approval, Approval.lead_id == w.leads["east"], Approval.submitter == actor,
                  Approval.status == "pending") == 1
    assert count(rt, Approval) == 1 and "已提交报价审批" in said(replies)


def approval_decided(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    """The one node decided by the tapper: the approval is approved, one decision written."""
    assert count(rt, Approval, Approval.status == "approved") == 1
    assert count(rt, ApprovalStep, ApprovalStep.kind == "approve", ApprovalStep.actor == actor) == 1
    assert count(rt, ApprovalStep, ApprovalStep.kind.in_(("approve", "reject"))) == 1


def objections_shown(page: int) -> Callable[[Any, World, str, list[Reply]], None]:
    """沟通方式 / 更多: the card shows (page `page` of) 核心异议点; the lead has not moved."""
    def check(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
        [card] = [r.item for r in replies if r.update]
        shown = [b.text for b in card.buttons if b.action == "entry.pick"]
        assert shown == (OBJECTIONS[:5] if page == 0 else OBJECTIONS[5:]), shown
        assert lead_row(rt, w.leads["east"]).stage == "qualify"
    return check


def stage_entered(rt, w: World, actor: str, replies: list[Reply]) -> None:  # noqa: ANN001
    assert lead_row(rt, w.leads["east"]).stage == "proposal"
    assert count(rt, Activity, Activity.lead_id == w.leads["east"], Activity.kind == "stage_entry",
                  Activity.actor == actor) == 1


TapRow = tuple[str, str, dict[str, str], set[str], dict[str, str], str, Callable[[Any, World, str, list[Reply]], None]]
TAPS: list[TapRow] = [
    # (card, button, its values, allowed, refused → reply, default refusal, effect)
    # 张伟's reminder: the owner's buttons; an admin may act on anyone's card
    ("reminder", "fuse.done", {}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, activity("follow_up")),
    ("reminder", "fuse.snooze", {}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, activity("postpone")),
    ("reminder", "fuse.help", {}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, activity("help")),
    ("reminder", "followup.mute", {}, {"owner"}, {"departed": DEPARTED}, NOT_YOURS, mute_set),   # one's own reminders
    # 王芳's supervisor card: the lead's supervisor and admins
    ("supervisor", "lead.reassign", {"to": "wu.xin"}, {"supervisor", "admin"}, {"departed": DEPARTED},
     SUPERVISORS_ONLY, reassigned_by_card),
    ("supervisor", "fuse.assist", {}, {"supervisor", "admin"}, {"departed": DEPARTED}, SUPERVISORS_ONLY,
     activity("assist")),
    ("supervisor", "fuse.nudge", {}, {"supervisor", "admin"}, {"departed": DEPARTED}, SUPERVISORS_ONLY,
     activity("nudge")),
    # 刘洋's card about the other team's lead: 王芳 (not her team) may not
    ("south_supervisor", "fuse.nudge", {}, {"other_supervisor", "admin"}, {"departed": DEPARTED}, SUPERVISORS_ONLY,
     nudged_south),
    # 确认标签 on 张伟's assignment card
    ("tags", "lead.tags", {}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, tags_confirmed),
    # a duplicate prompt sent to 张伟 (the steward may decide reviews, but this card is 张伟's)
    ("prompt", "dedup.keep", {}, {"owner", "admin"}, {"steward": TO_ZHANG, "departed": DEPARTED}, DECIDERS_ONLY,
     review_rejected),
    # the steward's review card
    ("review", "dedup.reject", {}, {"steward", "admin"}, {"departed": DEPARTED}, DECIDERS_ONLY, review_rejected),
    # 恢复提醒 on 张伟's unmute card
    ("unmute", "followup.unmute", {}, {"owner", "admin"}, {"departed": DEPARTED}, TO_ZHANG, unmuted),
    # 确认 on 张伟's draft: an admin may tap it, but the draft is 张伟's own
    ("confirm", "lead.confirm", {}, {"owner"}, {"admin": "已经处理过或已过期", "departed": DEPARTED}, TO_ZHANG,
     lead_saved),
    # 张伟's 晨会打卡 and 日报: his own only (an admin may not pick or forward for him)
    ("checkin", "checkin.pick", {}, {"owner"}, {"admin": "只能由本人操作", "departed": DEPARTED}, TO_ZHANG,
     checkin_picked),
    ("report", "report.forward", {}, {"owner"}, {"admin": "只能由本人转发", "departed": DEPARTED}, TO_ZHANG,
     report_forwarded),
    # issue 17. 张伟's 查线索 card: 拜访纪要 and 提交审批 are working the lead (owner, admin on anyone's
    # card; his supervisor may work the lead, but the card is 张伟's)
    ("detail", "visit.start", {}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, visit_waiting),
    ("detail", "approval.start", {}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, flows_offered),
    # the flow picked: submitted once; an admin has nobody above him to approve (the admins but himself)
    ("apvpick", "approval.pick", {"flow": "quote"}, {"owner"},
     {"admin": "找不到审批人", "supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED},
     NOT_YOURS, approval_submitted),
    # 王芳's approver card for 张伟's 报价审批: the node's approver and admins; never the submitter
    ("approval", "approval.reply", {"reply": "0"}, {"supervisor", "admin"},
     {"owner": "不能审批自己提交的审批", "departed": DEPARTED}, "不是由你审批的", approval_decided),
    # 张伟's stage-entry card: advancing the lead, on his card
    ("entry", "entry.channel", {"channel": "电话"}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, objections_shown(0)),
    ("entry2", "entry.more", {}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, objections_shown(1)),
    ("entry2", "entry.pick", {"objection": "价格"}, {"owner", "admin"},
     {"supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED}, NOT_YOURS, stage_entered),
    # 张伟's 下次什么时候跟进? card: the note waiting is his own (an admin has none open)
    ("visit_when", "visit.when", {"day": "明天"}, {"owner"},
     {"admin": "已经保存或放弃", "supervisor": TO_ZHANG, "other_supervisor": OTHER_TEAM, "departed": DEPARTED},
     NOT_YOURS, visit_saved),
]
NEW_MESSAGE = {"visit.start", "approval.start"}     # answered with a new message, the card stays as it is
TAP_CASES = [(row[0], row[1], role) for row in TAPS for role in ROLES]


@pytest.mark.parametrize("card_kind, button, role", TAP_CASES)
def test_tap(rt, clock, card_kind: str, button: str, role: str) -> None:  # noqa: ANN001
    _, _, values, allowed, refusals, default, effect = next(r for r in TAPS if r[:2] == (card_kind, button))
    w = world(rt)
    card = make_cards(rt, clock, w, {card_kind})[card_kind]
    actor = ACTORS[role]
    before = snapshot(rt)
    tap = button_tap(card, button, **values)
    replies = send(rt, actor, tap=tap)
    if role in allowed:
        expected = [] if button in NEW_MESSAGE else [card.card_id]
        assert [r.item.card_id for r in replies if r.update] == expected, said(replies)
        effect(rt, w, actor, replies)
        # idempotent: the same tap again (before the card's update reached the chat) changes nothing
        done = snapshot(rt)
        again = send(rt, actor, tap=tap)
        assert snapshot(rt) == done, f"a second {button} changed the database: {said(again)}"
        effect(rt, w, actor, replies)
    else:
        assert refusals.get(role, default) in said(replies), said(replies)
        assert not any(r.update for r in replies)
        assert snapshot(rt) == before, "a refused tap changed the database"
        assert rt.kv.get(f"wf:tap:{card.card_id}") is None        # the card is still usable


# ---------------------------------------------------------------- tampered taps
Forge = Callable[[World, dict[str, Card]], CardAction | None]


def forged(card: str, action: str, card_ref: str | None = None, **values: Any) -> Forge:
    """A tap on `card` whose payload says `action` with `values` ({lead} / {lead:south} / {review:other}
    filled in from the world), under `card_ref` when given."""
    def make(w: World, cards: dict[str, Card]) -> CardAction:
        filled = {k: (str(w.leads[v.removeprefix("lead:")]) if isinstance(v, str) and v.startswith("lead:") else v)
                  for k, v in values.items()}
        ref = cards[card_ref].card_id if card_ref in cards else (card_ref or cards[card].card_id)
        return CardAction(key=action, values=filled, card_ref=ref)
    return make


def with_card_ref(card: str, action: str, ref: Callable[[Card], str | None], **match: str) -> Forge:
    def make(w: World, cards: dict[str, Card]) -> CardAction:
        tap = button_tap(cards[card], action, **match)
        return dataclasses.replace(tap, card_ref=ref(cards[card]))
    return make


def altered(card: str, action: str, match: dict[str, str] | None = None, **changes: str) -> Forge:
    """The real tap of one of `card`'s buttons with some of its values changed ("lead:south": that lead's id)."""
    def make(w: World, cards: dict[str, Card]) -> CardAction:
        tap = button_tap(cards[card], action, **(match or {}))
        filled = {k: str(w.leads[v.removeprefix("lead:")]) if v.startswith("lead:") else v for k, v in changes.items()}
        return dataclasses.replace(tap, values={**tap.values, **filled})
    return make


TAMPER = [
    # (case, cards to send first, tapper, the forged tap, reply)
    # issue 17's cards: every value their buttons carry is checked against the stored card
    ("approval id changed on a quick reply", "approval", "supervisor",
     altered("approval", "approval.reply", {"reply": "0"}, approval="999999"), TAMPERED),
    ("quick reply slot changed", "approval", "supervisor", altered("approval", "approval.reply", {"reply": "0"},
                                                                   reply="7"), TAMPERED),
    ("approval node changed", "approval", "admin", altered("approval", "approval.reply", {"reply": "0"}, node="1"),
     TAMPERED),
    ("flow changed on the flow pick", "apvpick", "owner", altered("apvpick", "approval.pick", flow="contract"),
     TAMPERED),
    ("lead id changed on the flow pick", "apvpick", "owner", altered("apvpick", "approval.pick", lead="lead:own2"),
     TAMPERED),
    ("lead id changed on 拜访纪要", "detail", "owner", altered("detail", "visit.start", lead="lead:south"), TAMPERED),
    ("lead id changed on 提交审批, admin", "detail", "admin", altered("detail", "approval.start", lead="lead:south"),
     TAMPERED),
    ("stage changed on the stage-entry card", "entry", "owner",
     altered("entry", "entry.channel", {"channel": "电话"}, stage="won"), TAMPERED),
    ("channel changed on the stage-entry card", "entry", "owner",
     altered("entry", "entry.channel", {"channel": "电话"}, channel="微信"), TAMPERED),
    ("objection changed on the stage-entry card", "entry2", "owner",
     altered("entry2", "entry.pick", {"objection": "价格"}, objection="随便写的"), TAMPERED),
    ("lead id changed on the stage-entry card", "entry2", "admin",
     altered("entry2", "entry.pick", {"objection": "价格"}, lead="lead:south"), TAMPERED),
    ("day changed on the visit-note card", "visit_when", "owner",
     altered("visit_when", "visit.when", {"day": "明天"}, day="2020-01-01"), TAMPERED),
    ("stage-entry button on the approver card", "approval", "admin",
     lambda w, c: dataclasses.replace(button_tap(c["approval"], "approval.reply", reply="0"), key="entry.pick"),
     NOT_ON_CARD),
    ("lead id changed to another team's lead", "reminder", "owner",
     forged("reminder", "fuse.done", lead="lead:south"), TAMPERED),
    ("lead id changed to another own lead", "reminder", "owner",
     forged("reminder", "fuse.done", lead="lead:own2"), TAMPERED),
    ("lead id changed, even by an admin", "supervisor", "admin",
     forged("supervisor", "lead.reassign", lead="lead:south", to="wu.xin"), TAMPERED),
    ("lead id changed on the tags card", "tags", "owner", forged("tags", "lead.tags", lead="lead:own2"), TAMPERED),
    ("reassign target changed", "supervisor", "supervisor",
     forged("supervisor", "lead.reassign", lead="lead:east", to="chen.jie"), TAMPERED),
    ("a value left out", "supervisor", "supervisor", forged("supervisor", "lead.reassign", lead="lead:east"), TAMPERED),
    ("review id changed", "prompt", "owner", forged("prompt", "dedup.link", review="999999"), TAMPERED),
    ("draft id changed", "confirm", "owner", forged("confirm", "lead.confirm", draft="forged"), TAMPERED),
    ("card id changed to one never sent", "reminder", "owner",
     with_card_ref("reminder", "fuse.done", lambda c: c.card_id + "-forged"), UNKNOWN_CARD),
    ("card id changed to one never sent, admin", "supervisor", "admin",
     with_card_ref("supervisor", "lead.reassign", lambda c: "fuse-s-0-forged", to="wu.xin"), UNKNOWN_CARD),
    ("no card id", "reminder", "owner", with_card_ref("reminder", "fuse.done", lambda c: None), UNKNOWN_CARD),
    ("card id changed to another real card", "supervisor", "owner",
     forged("reminder", "fuse.done", card_ref="supervisor", lead="lead:east"), NOT_ON_CARD),
    ("action not on the card (reassign on a reminder)", "reminder", "owner",
     forged("reminder", "lead.reassign", lead="lead:east", to="wu.xin"), NOT_ON_CARD),
    ("action not on the card, admin", "reminder", "admin", forged("reminder", "fuse.nudge", lead="lead:east"), NOT_ON_CARD),
    ("action not on the card (merge on a prompt)", "prompt", "owner",
     lambda w, c: dataclasses.replace(button_tap(c["prompt"], "dedup.link"), key="dedup.merge"), NOT_ON_CARD),
]


@pytest.mark.parametrize("case, kind, role, forge, reply", TAMPER, ids=[t[0] for t in TAMPER])
def test_tampered_tap_is_refused_and_changes_nothing(rt, clock, case: str, kind: str, role: str,  # noqa: ANN001
                                                     forge: Forge, reply: str) -> None:
    w = world(rt)
    cards = make_cards(rt, clock, w, {kind})
    tap = forge(w, cards)
    before = snapshot(rt)
    replies = send(rt, ACTORS[role], tap=tap)
    assert [r.item for r in replies] == [reply]
    assert snapshot(rt) == before
    for card in cards.values():
        assert rt.kv.get(f"wf:tap:{card.card_id}") is None


@pytest.mark.parametrize("role", ["supervisor", "admin", "owner"])
def test_resolved_card_is_refused_whoever_taps(rt, clock, role: str) -> None:  # noqa: ANN001
    w = world(rt)
    card = make_cards(rt, clock, w, {"supervisor"})["supervisor"]
    done = send(rt, "wang.fang", tap=button_tap(card, "fuse.nudge"), deliver=True)    # resolves the card
    result = next(r.item.result for r in done if r.update)
    before = snapshot(rt)
    again = send(rt, ACTORS[role], tap=button_tap(card, "lead.reassign", to="wu.xin"))
    assert [r.item for r in again] == [f"{STALE_CARD}({result})"]
    assert snapshot(rt) == before and lead_row(rt, w.leads["east"]).owner_rep_id == "zhang.wei"


# issue 17's cards once used: (card, the tap that uses it, by, a later tap of another of its buttons)
USED = {
    "approval": (("approval.reply", {"reply": "0"}, "wang.fang"), ("approval.reply", {"reply": "1"}, "admin")),
    "apvpick": (("approval.pick", {}, "zhang.wei"), ("approval.pick", {}, "owner")),
    "entry2": (("entry.pick", {"objection": "价格"}, "zhang.wei"), ("entry.pick", {"objection": "竞品"}, "admin")),
    "visit_when": (("visit.when", {"day": "明天"}, "zhang.wei"), ("visit.when", {"day": "后天"}, "owner")),
}


@pytest.mark.parametrize("kind", list(USED))
def test_used_issue17_card_is_refused(rt, clock, kind: str) -> None:  # noqa: ANN001
    """The card's update delivered (resolved on record): any later tap is refused, nothing changes."""
    w = world(rt)
    card = make_cards(rt, clock, w, {kind})[kind]
    (button, values, actor), (later, later_values, role) = USED[kind]
    assert any(r.update for r in send(rt, actor, tap=button_tap(card, button, **values), deliver=True))
    with rt.db.uow() as s:
        result = s.get_one(CardRecord, card.card_id).result     # as the chat shows it
    assert result
    before = snapshot(rt)
    again = send(rt, ACTORS[role], tap=button_tap(card, later, **later_values))
    assert [r.item for r in again] == [f"{STALE_CARD}({result})"]
    assert snapshot(rt) == before


@pytest.mark.parametrize("actor, command, status, reply", [
    ("zhang.wei", "撤回审批 A{id}", "withdrawn", "已撤回"),
    ("wang.fang", "审批意见 A{id} 同意 可以", "approved", "已由 王芳 同意"),
], ids=["withdrawn", "decided in chat"])
def test_approval_card_after_chat_is_refused(rt, clock, actor: str, command: str, status: str,  # noqa: ANN001
                                             reply: str) -> None:
    """Withdrawn, or decided with 审批意见: a quick reply on the approver's card afterwards decides nothing."""
    w = world(rt)
    card = make_cards(rt, clock, w, {"approval"})["approval"]
    send(rt, actor, text=command.format(id=the_approval(rt).id), deliver=True)
    assert the_approval(rt).status == status
    for tapper in ("wang.fang", "sun.li"):
        before = snapshot(rt)
        out = said(send(rt, tapper, tap=button_tap(card, "approval.reply", reply="0")))
        assert reply in out and the_approval(rt).status == status, out
        assert snapshot(rt) == before


# ---------------------------------------------------------------- the two attacks, as found
def test_attack_supervisor_of_another_team_cannot_close_a_lead(rt) -> None:  # noqa: ANN001
    """「推进阶段 #1 输单」 by 刘洋 (supervisor of 华南制造) closed 华东医疗's lead as lost."""
    w = world(rt)
    before = snapshot(rt)
    out = said(send(rt, "liu.yang", text=f"推进阶段 #{w.leads['east']} 输单 原因:价格"))
    assert OTHER_TEAM in out and "已记录输单" not in out
    assert lead_row(rt, w.leads["east"]).status == "open" and snapshot(rt) == before
    # the supervisor of the lead's own team may
    assert "已记录输单" in said(send(rt, "wang.fang", text=f"推进阶段 #{w.leads['east']} 输单 原因:价格"))
    assert lead_row(rt, w.leads["east"]).status == "lost"


def test_attack_tap_with_the_lead_id_changed_writes_no_follow_up(rt, clock) -> None:  # noqa: ANN001
    """张伟 changed the lead id in his 已跟进 tap: the follow-up was written on another lead."""
    w = world(rt)
    card = make_cards(rt, clock, w, {"reminder"})["reminder"]
    real = button_tap(card, "fuse.done")
    for target in ("south", "own2"):
        forged_tap = dataclasses.replace(real, values={**real.values, "lead": str(w.leads[target])})
        before = snapshot(rt)
        assert [r.item for r in send(rt, "zhang.wei", tap=forged_tap)] == [TAMPERED]
        assert snapshot(rt) == before
    assert count(rt, Activity, Activity.kind == "follow_up") == 0
    # the card was not used up: the real tap lands on the card's own lead
    send(rt, "zhang.wei", tap=real, deliver=True)
    assert count(rt, Activity, Activity.kind == "follow_up", Activity.lead_id == w.leads["east"]) == 1
    assert count(rt, Activity, Activity.kind == "follow_up") == 1


def test_attack_resolved_card_with_its_card_id_changed_does_not_reassign_again(rt, clock) -> None:  # noqa: ANN001
    """王芳 reassigned from her card; the same card with its card id altered reassigned the lead
    a second time."""
    w = world(rt)
    cards = make_cards(rt, clock, w, {"supervisor"})
    card = cards["supervisor"]
    assert {b.value.get("to") for b in card.buttons if b.action == "lead.reassign"} == {"li.na", "wu.xin"}
    send(rt, "wang.fang", tap=button_tap(card, "lead.reassign", to="li.na"), deliver=True)
    assert lead_row(rt, w.leads["east"]).owner_rep_id == "li.na"
    assignments = count(rt, Assignment, Assignment.lead_id == w.leads["east"])
    second = button_tap(card, "lead.reassign", to="wu.xin")
    for ref, reply in ((card.card_id, None), (card.card_id + "-2", UNKNOWN_CARD), ("x" + card.card_id, UNKNOWN_CARD),
                       (card.card_id + "@forged", None), (cards["reminder"].card_id, NOT_ON_CARD)):
        before = snapshot(rt)
        out = [r.item for r in send(rt, "wang.fang", tap=dataclasses.replace(second, card_ref=ref))]
        assert len(out) == 1 and (out[0] == reply if reply else out[0].startswith(STALE_CARD)), out
        assert snapshot(rt) == before
    assert lead_row(rt, w.leads["east"]).owner_rep_id == "li.na"
    assert count(rt, Assignment, Assignment.lead_id == w.leads["east"]) == assignments


# ---------------------------------------------------------------- the API
LEAD_BODY = {"source": "expo", "company": "上海新辰医疗科技有限公司", "contact_name": "周经理",
             "phone": "13500001111"}
ENDPOINTS = [  # (method, path, body, status for the admin token)
    ("POST", "/api/v1/leads", LEAD_BODY, 201),
    ("GET", "/api/v1/leads", None, 200),
    ("GET", "/api/v1/leads/{east}", None, 200),
    ("GET", "/api/v1/customers", None, 200),
    ("GET", "/api/v1/reports/funnel", None, 200),
    ("GET", "/api/v1/health/channels", None, 200),
    ("GET", "/api/v1/clv", None, 200),
]
CALLERS = {  # who calls → (Authorization header, status when refused, error)
    "no token": (None, 401, "unauthorized"),
    "wrong token": ("Bearer not-the-token", 401, "unauthorized"),
    "shared token (admin)": (f"Bearer {TOKEN}", None, None),
    "shared token, non-admin principal": (f"Bearer {TOKEN}", 403, "forbidden"),
}


@pytest.mark.parametrize("method, path, body, status", ENDPOINTS, ids=[f"{e[0]} {e[1]}" for e in ENDPOINTS])
@pytest.mark.parametrize("caller", list(CALLERS))
def test_api(rt, monkeypatch, caller: str, method: str, path: str, body: dict | None,  # noqa: ANN001
             status: int) -> None:
    from bot.web import create_app
    api_module = importlib.import_module("bot.web.api")     # (bot.web's `api` is the blueprint)
    w = world(rt)
    header, refused, error = CALLERS[caller]
    if caller.endswith("non-admin principal"):      # should the token ever stand for someone else
        monkeypatch.setattr(api_module, "API_TOKEN", Principal("integration", "集成", frozenset({"rep"}), kind="api"))
    client = create_app(rt).test_client()
    before = snapshot(rt)
    res = client.open(path.format(east=w.leads["east"]), method=method, json=body,
                      headers={"Authorization": header} if header else {})
    if refused is None:
        assert res.status_code == status, res.get_json()
        if method == "POST":
            assert count(rt, Lead) == len(LEADS) + 1
        else:
            assert snapshot(rt) == before
    else:
        assert res.status_code == refused and res.get_json()["error"] == error, res.get_json()
        assert snapshot(rt) == before
        if refused == 403:
            assert "需要管理员权限" in res.get_json()["message"]


# ---------------------------------------------------------------- the policy's own tables
def test_every_action_has_a_rule_and_a_chinese_label() -> None:
    assert set(RULES) == set(Action) == set(LABELS)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in LABELS[a]) for a in Action)


def test_every_button_our_handlers_obey_is_in_the_policy() -> None:
    keys = set(TAP_ACTIONS)
    for key in keys:
        assert REGISTRY.match_action(key) is not None, key
    assert {row[1] for row in TAPS} <= keys
    issue17 = {"approval.reply", "approval.start", "approval.pick", "visit.start", "visit.when", "entry.channel",
               "entry.more", "entry.pick", "checkin.pick", "report.forward"}
    assert issue17 <= {row[1] for row in TAPS}, issue17 - {row[1] for row in TAPS}

