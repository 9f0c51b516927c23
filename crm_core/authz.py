"""Who may do what to which lead, customer, duplicate review or card: the one authorization
policy of crm-bot. Every chat command, card tap and API call asks `decide` (or `decide_tap`);
nothing else in the code base decides a permission.

Pure functions over the configuration and plain facts (`LeadFacts`, `CustomerFacts`,
`ReviewFacts`, `ClaimFacts`, `CardFacts`): no database, no I/O. The facts are loaded by
`crm_core/services/access.py` and `crm_core/services/tap_cards.py`. A refusal carries a
Chinese sentence for the person who asked (`Decision.reason`).

The rules:
- roles come from the config (`Rep.roles`): rep, supervisor, admin, steward, receive_leads;
  a departed rep may do nothing; the API's shared token is an admin (`API_TOKEN`);
- an admin may do everything to every lead;
- a supervisor acts on the leads of the teams they supervise (the team's `supervisor` in the
  config, with the supervisor role): the lead's team, or a team its owner belongs to;
- the owner works their lead (follow up, advance, close, edit); reminders are muted by the
  people who get them (the lead's owner, the customer's owner or a holder of one of its leads);
- reassigning, flagging for assistance and nudging belong to the lead's supervisors and admins;
- pool leads are claimed by active reps with the receive_leads role, from the pools of their
  own teams (or leads without a team), outside the former owner's cool-down, within their
  holding limit; phone numbers are shown in full to the owner, the supervisors and admins;
- a to-do is completed or postponed by its owner, the supervisors of its lead or of its owner's
  teams, and admins;
- a new contact joins a known company's customer when that customer is unowned, the joiner's
  own or their team's (or a team they supervise); another team's customer only when the config
  says so (`dedup.cross_team_join`: join | separate);
- a rep's availability (休假 / 离职 / 在岗, set in chat) is set by the supervisor of one of the
  rep's teams or an admin;
- the monthly CLV dashboard (over the API) is management's: admins, supervisors, finance and
  the people `clv.recipients` names (the rows and figures they read: crm_core/visibility.py);
- duplicate reviews are decided by the rep the card went to, the data steward (and reps with
  the steward role) or an admin;
- a card tap is judged on the STORED card (`CardFacts`), never on its payload: the card must
  exist and be unresolved, the tapped button must be one of its buttons with the values it was
  sent with, the action's rule must allow it, and a card sent to one person is for that person
  (or an admin).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from crm_core.assignment.pick import skip_reason
from crm_core.clock import local
from crm_core.config.schema import AppConfig, Rep


class Action(StrEnum):
    VIEW_OWN_WORK = "own.view"                  # 我的线索 / 我的待办
    SEARCH_CUSTOMERS = "customer.search"        # 查客户 (phones masked)
    CREATE_LEAD = "lead.create"                 # capture, the confirm card
    VIEW_LEAD = "lead.view"                     # 查线索 (phones masked unless VIEW_PHONE)
    VIEW_PHONE = "lead.view_phone"              # a lead's phone numbers in full
    EDIT_LEAD = "lead.edit"                     # 确认标签
    FOLLOW_UP = "lead.follow_up"                # 跟进 / 已跟进
    SNOOZE = "lead.snooze"                      # 延期1天
    ASK_HELP = "lead.ask_help"                  # 需要支援
    ADVANCE_STAGE = "lead.advance"              # 推进阶段 (not to a closing stage)
    CLOSE_LEAD = "lead.close"                   # 推进阶段 to 赢单 / 输单
    REASSIGN = "lead.reassign"                  # 转派
    FLAG_ASSIST = "lead.flag_assist"            # 标记需协同
    NUDGE = "lead.nudge"                        # 催办
    MUTE = "customer.mute"                      # 静音提醒 / 不再提醒此客户
    UNMUTE = "customer.unmute"                  # 取消静音 / 恢复提醒 (one's own mutes)
    LIST_POOL = "pool.list"                     # 公海
    CLAIM = "pool.claim"                        # 领取
    DECIDE_DUPLICATE = "dedup.decide"           # 关联 / 仍然新建 / 合并 / 不是重复
    SUBMIT_APPROVAL = "approval.submit"         # 提交审批 #12 合同 金额180万 (a lead one works)
    DECIDE_APPROVAL = "approval.decide"         # a quick reply / 审批意见 A3 同意|驳回 (the node's approver)
    COMMENT_APPROVAL = "approval.comment"       # 审批意见 A3 … (submitter, approvers, admins)
    WITHDRAW_APPROVAL = "approval.withdraw"     # 撤回审批 A3 (the submitter)
    MANAGE_APPROVAL_FLOWS = "approval.flows"    # flow versions and rollback (admins)
    REVIEW_ALL_DUPLICATES = "dedup.review_all"  # every open review (待审重复 beyond one's own)
    COMPLETE_TASK = "task.complete"             # 完成 T3 / the 完成 button on a to-do
    POSTPONE_TASK = "task.postpone"             # 延期 T3 到周五 / the 延期 button on a to-do
    JOIN_CUSTOMER = "customer.join"             # a new contact joins a known company's customer
    ACCEPT_HANDOVER = "handover.accept"         # 确认接收 on the handover card
    SET_AVAILABILITY = "rep.availability"       # 设置休假 / 已离职 / 恢复在岗 for a rep
    VIEW_AUDIT = "lead.audit"                   # 查记录 #12: a lead's audit trail
    CHECK_IN = "checkin.pick"                   # 晨会打卡: pick / submit one's own 主攻商机
    FORWARD_REPORT = "report.forward"           # 日报 → 转发给主管 (one's own report)
    API_USE = "api.use"                         # /api/v1 leads & customers, as the token's person sees them
    EXPORT = "data.export"                      # crm-bot export / GET /api/v1/export/*.csv: every row one sees
    API_READ = "api.read"
    VIEW_CLV_DASHBOARD = "clv.dashboard"        # 客户价值月报 over the API (rows and figures: visibility)
    API_WRITE = "api.write"


LABELS: dict[Action, str] = {
    Action.VIEW_OWN_WORK: "查看自己的线索和待办", Action.SEARCH_CUSTOMERS: "查客户",
    Action.CREATE_LEAD: "新建线索", Action.VIEW_LEAD: "查看线索", Action.VIEW_PHONE: "查看完整电话",
    Action.EDIT_LEAD: "修改线索", Action.FOLLOW_UP: "记录跟进", Action.SNOOZE: "延期提醒",
    Action.ASK_HELP: "请求支援", Action.ADVANCE_STAGE: "推进阶段", Action.CLOSE_LEAD: "关闭线索(赢单/输单)",
    Action.REASSIGN: "转派", Action.FLAG_ASSIST: "标记需协同", Action.NUDGE: "催办",
    Action.MUTE: "设置不再提醒", Action.UNMUTE: "恢复提醒", Action.LIST_POOL: "查看公海",
    Action.CLAIM: "领取公海线索", Action.DECIDE_DUPLICATE: "处理疑似重复",
    Action.REVIEW_ALL_DUPLICATES: "审核全部疑似重复",
    Action.SUBMIT_APPROVAL: "提交审批", Action.DECIDE_APPROVAL: "审批", Action.COMMENT_APPROVAL: "填写审批意见",
    Action.WITHDRAW_APPROVAL: "撤回审批", Action.MANAGE_APPROVAL_FLOWS: "管理审批流程",
    Action.SET_AVAILABILITY: "设置同事的在岗状态", Action.API_READ: "读取数据", Action.API_WRITE: "写入数据",
    Action.VIEW_AUDIT: "查看操作记录", Action.API_USE: "通过接口查看和录入", Action.EXPORT: "导出数据",
    Action.COMPLETE_TASK: "完成待办", Action.POSTPONE_TASK: "延期待办", Action.JOIN_CUSTOMER: "并入已有客户",
    Action.ACCEPT_HANDOVER: "接收交接",
    Action.CHECK_IN: "晨会打卡", Action.FORWARD_REPORT: "转发日报",
    Action.VIEW_CLV_DASHBOARD: "查看客户价值月报",
}


# ---- who asks ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Principal:
    """Someone asking: a configured rep (by id, with the config's roles), or the API token."""
    id: str
    name: str
    roles: frozenset[str]
    availability: str = "active"
    kind: Literal["rep", "api"] = "rep"

    @classmethod
    def of(cls, rep: Rep) -> "Principal":
        return cls(rep.id, rep.name, frozenset(rep.roles), rep.availability)

    def has(self, role: str) -> bool:
        return role in self.roles


# /api/v1's shared bearer tokens (`app.api_tokens`) are the explicit admin token; a personal token
# (crm_core/services/api_tokens.py) is its rep, with their roles and visibility (crm_core/visibility.py).
API_TOKEN = Principal(id="api", name="API", roles=frozenset({"admin"}), kind="api")


# ---- what about (plain facts, loaded by crm_core/services/access.py) -------------------------

@dataclass(frozen=True)
class LeadFacts:
    id: int
    owner: str | None
    team_id: str | None
    status: str = "open"            # open | pool | won | lost

    @property
    def in_pool(self) -> bool:
        return self.owner is None and self.status in ("open", "pool")


@dataclass(frozen=True)
class CustomerFacts:
    id: int
    owner: str | None
    lead_owners: frozenset[str] = frozenset()     # owners of the customer's open leads
    lead_teams: frozenset[str] = frozenset()      # teams of the customer's open leads


@dataclass(frozen=True)
class ReviewFacts:
    id: int
    assignee: str | None            # the rep (or steward) its card was sent to


@dataclass(frozen=True)
class ClaimFacts:
    """A 领取: the lead and the state of the claimer's limits at this moment."""
    lead: LeadFacts
    now: datetime
    held_open: int                  # open leads the claimer owns now
    holding_limit: int | None       # the claimer's limit (their max_open_leads, else the pool default)
    former_owner: str | None = None
    cooldown_until: datetime | None = None


@dataclass(frozen=True)
class RepFacts:
    """A colleague someone acts on (their availability): who, and the teams they belong to."""
    id: str
    name: str
    teams: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TaskFacts:
    """A to-do: its owner and, when it belongs to a lead, that lead."""
    id: int
    owner: str | None
    lead: LeadFacts | None = None


@dataclass(frozen=True)
class ApprovalFacts:
    """An approval (审批A3): who submitted it, who decides its current node, where it stands."""
    id: int
    submitter: str
    approvers: frozenset[str] = frozenset()     # the current node's deciders (escalations included)
    status: str = "pending"                     # pending | approved | rejected | withdrawn


Target = LeadFacts | CustomerFacts | ReviewFacts | ClaimFacts | TaskFacts | RepFacts | ApprovalFacts | None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""                # for the person who asked, when refused

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


# ---- relations ----------------------------------------------------------------------------

def is_admin(who: Principal) -> bool:
    return who.has("admin")


def is_steward(cfg: AppConfig, who: Principal) -> bool:
    """The configured data steward, and reps with the steward role."""
    return who.has("steward") or (who.kind == "rep" and cfg.org.data_steward == who.id)


def supervised_teams(cfg: AppConfig, who: Principal) -> set[str]:
    """The teams `who` supervises: named as the team's supervisor and holding the role."""
    if not who.has("supervisor"):
        return set()
    return {t.id for t in cfg.org.teams if t.supervisor == who.id}


def lead_teams(cfg: AppConfig, lead: LeadFacts) -> set[str]:
    """The lead's team and its owner's teams."""
    teams = {lead.team_id} if lead.team_id else set()
    if lead.owner:
        teams |= {t.id for t in cfg.org.teams_of(lead.owner)}
    return teams


def supervises(cfg: AppConfig, who: Principal, lead: LeadFacts) -> bool:
    return bool(supervised_teams(cfg, who) & lead_teams(cfg, lead))


def pool_scope(cfg: AppConfig, who: Principal) -> list[str] | None:
    """The teams whose 公海 `who` sees and claims from (leads without a team too); None = all."""
    if is_admin(who):
        return None
    return sorted({t.id for t in cfg.org.teams_of(who.id)} | supervised_teams(cfg, who))


# ---- the rules ----------------------------------------------------------------------------

Rule = Callable[[AppConfig, Principal, Any, Action], Decision]


def _anyone(cfg: AppConfig, who: Principal, target: Any, action: Action) -> Decision:
    return ALLOW


def _admin_only(cfg: AppConfig, who: Principal, target: Any, action: Action) -> Decision:
    return ALLOW if is_admin(who) else deny(f"抱歉,{LABELS[action]}需要管理员权限。")


def _api_use(cfg: AppConfig, who: Principal, target: Any, action: Action) -> Decision:
    """The API's leads and customers: the admin token, or a person through their own token
    (what they see is theirs: crm_core/visibility.py)."""
    if is_admin(who) or who.kind == "rep":
        return ALLOW
    return deny(f"抱歉,{LABELS[action]}需要管理员权限或个人令牌。")


def _clv_dashboard(cfg: AppConfig, who: Principal, target: Any, action: Action) -> Decision:
    """The monthly CLV dashboard is management's: admins, supervisors, finance and the people
    `clv.recipients` names. Which customers and figures they read is crm_core/visibility.py's (row
    scope, the money level)."""
    if is_admin(who) or who.has("supervisor") or who.has("finance") or who.id in cfg.clv.recipients:
        return ALLOW
    return deny("抱歉,客户价值月报只对主管、财务、管理层和管理员开放。")


def _view_phone(cfg: AppConfig, who: Principal, target: LeadFacts | CustomerFacts, action: Action) -> Decision:
    """A lead's phones: its owner, its supervisors, admins. A customer's: its owner, the owners of
    its open leads, the supervisors of their teams (or of the leads' teams), admins."""
    if is_admin(who):
        return ALLOW
    if isinstance(target, LeadFacts):
        if target.owner == who.id or supervises(cfg, who, target):
            return ALLOW
        return deny("电话号码只对线索负责人、所在团队主管和管理员完整显示。")
    owners = {o for o in (target.owner, *target.lead_owners) if o}
    teams = set(target.lead_teams) | {t.id for o in owners for t in cfg.org.teams_of(o)}
    if who.id in owners or supervised_teams(cfg, who) & teams:
        return ALLOW
    return deny("电话号码只对客户负责人、所在团队主管和管理员完整显示。")


def _works_lead(cfg: AppConfig, who: Principal, lead: LeadFacts, action: Action) -> Decision:
    """The owner, the lead's supervisors and admins."""
    if (lead.owner is not None and lead.owner == who.id) or is_admin(who) or supervises(cfg, who, lead):
        return ALLOW
    what = LABELS[action]
    if supervised_teams(cfg, who):
        return deny(f"抱歉,线索 #{lead.id} 不属于你主管的团队,你只能{what}自己团队的线索,操作未生效。")
    if lead.in_pool:
        return deny(f"线索 #{lead.id} 在公海中,请先发送「领取 #{lead.id}」再{what}。")
    return deny(f"线索 #{lead.id} 不是你负责的,无法{what}。")


def _supervises_lead(cfg: AppConfig, who: Principal, lead: LeadFacts, action: Action) -> Decision:
    if is_admin(who) or supervises(cfg, who, lead):
        return ALLOW
    return deny(f"抱歉,只有该线索所在团队的主管或管理员可以{LABELS[action]},你的操作未生效。")


def _mute(cfg: AppConfig, who: Principal, target: LeadFacts | CustomerFacts, action: Action) -> Decision:
    """Muting silences one's own reminders: for the people who get them."""
    if isinstance(target, LeadFacts):
        if target.owner is not None and target.owner == who.id:
            return ALLOW
        return deny(f"线索 #{target.id} 不是你负责的,无法{LABELS[action]}。")
    if who.id == target.owner or who.id in target.lead_owners:
        return ALLOW
    return deny(f"客户C{target.id} 不是你负责的,无法{LABELS[action]}。")


def _claim(cfg: AppConfig, who: Principal, claim: ClaimFacts, action: Action) -> Decision:
    why = skip_reason(cfg.org.rep(who.id))           # active, with the receive_leads role
    if why:
        return deny(f"无法领取:{why}。")
    lead = claim.lead
    if not lead.in_pool:
        return deny("该线索不在公海中。")
    scope = pool_scope(cfg, who)
    if scope is not None and lead.team_id is not None and lead.team_id not in scope:
        return deny("该线索在其他团队的公海中,只能领取本团队的公海线索。")
    until = claim.cooldown_until
    if claim.former_owner == who.id and until is not None and claim.now < until:
        return deny(f"该线索刚从您名下退回公海,{local(until, cfg.app.timezone):%m月%d日 %H:%M} 后才能重新领取。")
    limit = claim.holding_limit
    if limit is not None and claim.held_open >= limit:
        return deny(f"您当前持有 {claim.held_open} 条线索,已达上限 {limit} 条,请先跟进或释放后再领取。")
    return ALLOW


def _decide_duplicate(cfg: AppConfig, who: Principal, review: ReviewFacts, action: Action) -> Decision:
    if (review.assignee is not None and review.assignee == who.id) or is_steward(cfg, who) or is_admin(who):
        return ALLOW
    return deny("抱歉,只有收到这张卡片的销售、数据管理员或管理员可以处理。")


def _review_all(cfg: AppConfig, who: Principal, target: Any, action: Action) -> Decision:
    if is_steward(cfg, who) or is_admin(who):
        return ALLOW
    return deny("只有数据管理员或管理员可以审核全部疑似重复。")


def _supervises_rep(cfg: AppConfig, who: Principal, rep: RepFacts, action: Action) -> Decision:
    """A rep's availability: an admin, or the supervisor of one of the rep's teams."""
    if is_admin(who) or supervised_teams(cfg, who) & rep.teams:
        return ALLOW
    return deny(f"抱歉,只有{rep.name}所在团队的主管或管理员可以{LABELS[action]},操作未生效。")


def _works_task(cfg: AppConfig, who: Principal, task: TaskFacts, action: Action) -> Decision:
    """The to-do's owner, the supervisors of its lead or of its owner's teams, and admins."""
    if (task.owner is not None and task.owner == who.id) or is_admin(who):
        return ALLOW
    mine = supervised_teams(cfg, who)
    if task.owner is not None and mine & {t.id for t in cfg.org.teams_of(task.owner)}:
        return ALLOW
    if task.lead is not None and supervises(cfg, who, task.lead):
        return ALLOW
    return deny(f"待办 T{task.id} 不是你的,无法{LABELS[action]}。")


def same_team(cfg: AppConfig, a: str, b: str) -> bool:
    return bool({t.id for t in cfg.org.teams_of(a)} & {t.id for t in cfg.org.teams_of(b)})


def _join_customer(cfg: AppConfig, who: Principal, customer: CustomerFacts, action: Action) -> Decision:
    """Anyone may add a contact to an unowned customer, their own, or one of their team's (or
    their supervised teams'); another team's customer only when `dedup.cross_team_join` is join."""
    owner = customer.owner
    if owner is None or owner == who.id or is_admin(who) or cfg.dedup.cross_team_join == "join":
        return ALLOW
    if same_team(cfg, who.id, owner) or supervised_teams(cfg, who) & {t.id for t in cfg.org.teams_of(owner)}:
        return ALLOW
    return deny(f"客户C{customer.id} 属于其他团队,按公司设置不能直接并入。")


_APPROVAL_DONE = {"approved": "已通过", "rejected": "已驳回", "withdrawn": "已撤回"}


def _decides_approval(cfg: AppConfig, who: Principal, a: ApprovalFacts, action: Action) -> Decision:
    """The current node's approvers (an escalation's supervisor too) and admins; never one's own."""
    if a.status != "pending":
        return deny(f"审批A{a.id} {_APPROVAL_DONE.get(a.status, '已结束')},无需再操作。")
    if who.id == a.submitter and not is_admin(who):
        return deny("不能审批自己提交的审批。")
    if who.id in a.approvers or is_admin(who):
        return ALLOW
    return deny(f"审批A{a.id} 当前节点不是由你审批的,操作未生效。")


def _comments_approval(cfg: AppConfig, who: Principal, a: ApprovalFacts, action: Action) -> Decision:
    if who.id == a.submitter or who.id in a.approvers or is_admin(who):
        return ALLOW
    return deny(f"只有审批A{a.id} 的提交人、审批人和管理员可以{LABELS[action]}。")


def _withdraws_approval(cfg: AppConfig, who: Principal, a: ApprovalFacts, action: Action) -> Decision:
    if a.status != "pending":
        return deny(f"审批A{a.id} {_APPROVAL_DONE.get(a.status, '已结束')},不能再撤回。")
    if who.id == a.submitter or is_admin(who):
        return ALLOW
    return deny(f"只有提交人或管理员可以撤回审批A{a.id}。")


# action → (the rule, the kinds of target it judges; None: no target)
RULES: dict[Action, tuple[Rule, tuple[type, ...] | None]] = {
    Action.VIEW_OWN_WORK: (_anyone, None),
    Action.SEARCH_CUSTOMERS: (_anyone, None),
    Action.CREATE_LEAD: (_anyone, None),
    Action.VIEW_LEAD: (_anyone, (LeadFacts,)),          # every colleague may read a lead, phones masked
    Action.VIEW_PHONE: (_view_phone, (LeadFacts, CustomerFacts)),
    Action.EDIT_LEAD: (_works_lead, (LeadFacts,)),
    Action.FOLLOW_UP: (_works_lead, (LeadFacts,)),
    Action.SNOOZE: (_works_lead, (LeadFacts,)),
    Action.ASK_HELP: (_works_lead, (LeadFacts,)),
    Action.ADVANCE_STAGE: (_works_lead, (LeadFacts,)),
    Action.CLOSE_LEAD: (_works_lead, (LeadFacts,)),
    Action.REASSIGN: (_supervises_lead, (LeadFacts,)),
    Action.FLAG_ASSIST: (_supervises_lead, (LeadFacts,)),
    Action.NUDGE: (_supervises_lead, (LeadFacts,)),
    Action.VIEW_AUDIT: (_supervises_lead, (LeadFacts,)),   # the lead's supervisors and admins
    Action.MUTE: (_mute, (LeadFacts, CustomerFacts)),
    Action.UNMUTE: (_anyone, (CustomerFacts,)),            # one's own mute: `unmute` lifts only that
    Action.LIST_POOL: (_anyone, None),                     # scoped by pool_scope()
    Action.CLAIM: (_claim, (ClaimFacts,)),
    Action.DECIDE_DUPLICATE: (_decide_duplicate, (ReviewFacts,)),
    Action.SUBMIT_APPROVAL: (_works_lead, (LeadFacts,)),
    Action.DECIDE_APPROVAL: (_decides_approval, (ApprovalFacts,)),
    Action.COMMENT_APPROVAL: (_comments_approval, (ApprovalFacts,)),
    Action.WITHDRAW_APPROVAL: (_withdraws_approval, (ApprovalFacts,)),
    Action.MANAGE_APPROVAL_FLOWS: (_admin_only, None),
    Action.REVIEW_ALL_DUPLICATES: (_review_all, None),
    Action.SET_AVAILABILITY: (_supervises_rep, (RepFacts,)),
    Action.API_USE: (_api_use, None),                   # rights and visibility apply per row
    Action.EXPORT: (_api_use, None),                    # like the API: the rows and fields one sees
    Action.API_READ: (_admin_only, None),
    Action.VIEW_CLV_DASHBOARD: (_clv_dashboard, None),
    Action.API_WRITE: (_admin_only, None),
    Action.COMPLETE_TASK: (_works_task, (TaskFacts,)),
    Action.POSTPONE_TASK: (_works_task, (TaskFacts,)),
    Action.JOIN_CUSTOMER: (_join_customer, (CustomerFacts,)),
    Action.ACCEPT_HANDOVER: (_anyone, None),            # the card's recipient (checked on the card)
    Action.CHECK_IN: (_anyone, None),                   # one's own card; the service checks each lead is theirs
    Action.FORWARD_REPORT: (_anyone, None),             # one's own report (the card's recipient)
}

DEPARTED = "你的账号已标记为离职,无法再操作 crm-bot;如有疑问请联系管理员。"


def decide(cfg: AppConfig, who: Principal, action: Action, target: Target = None) -> Decision:
    """May `who` do `action` (to `target`)? A wrong kind of target is a programming error."""
    rule, kinds = RULES[action]
    if kinds is None:
        if target is not None:
            raise TypeError(f"{action} takes no target, got {type(target).__name__}")
    elif not isinstance(target, kinds):
        raise TypeError(f"{action} needs one of {[k.__name__ for k in kinds]}, got {type(target).__name__}")
    if who.kind == "rep" and who.availability == "departed":
        return deny(DEPARTED)
    return rule(cfg, who, target, action)


# ---- card taps ----------------------------------------------------------------------------

# A button's action key → what tapping it does. A key not listed here is obeyed by nobody.
TAP_ACTIONS: dict[str, Action] = {
    "lead.confirm": Action.CREATE_LEAD, "lead.edit": Action.CREATE_LEAD, "lead.cancel": Action.CREATE_LEAD,
    "draft.pick": Action.CREATE_LEAD, "draft.save": Action.CREATE_LEAD, "draft.drop": Action.CREATE_LEAD,
    "draft.keep": Action.CREATE_LEAD,
    "lead.tags": Action.EDIT_LEAD,
    "fuse.done": Action.FOLLOW_UP, "fuse.snooze": Action.SNOOZE, "fuse.help": Action.ASK_HELP,
    "fuse.assist": Action.FLAG_ASSIST, "fuse.nudge": Action.NUDGE, "lead.reassign": Action.REASSIGN,
    "followup.mute": Action.MUTE, "followup.unmute": Action.UNMUTE,
    "dedup.link": Action.DECIDE_DUPLICATE, "dedup.keep": Action.DECIDE_DUPLICATE,
    "dedup.merge": Action.DECIDE_DUPLICATE, "dedup.reject": Action.DECIDE_DUPLICATE,
    "edit.start": Action.EDIT_LEAD, "edit.field": Action.EDIT_LEAD, "lead.lost": Action.CLOSE_LEAD,
    "todo.done": Action.COMPLETE_TASK, "todo.later": Action.POSTPONE_TASK,
    "handover.accept": Action.ACCEPT_HANDOVER,
    "visit.start": Action.FOLLOW_UP, "visit.when": Action.FOLLOW_UP,      # 拜访纪要 (handlers/visit_note.py)
    "entry.channel": Action.ADVANCE_STAGE, "entry.more": Action.ADVANCE_STAGE,    # handlers/stage_entry.py
    "entry.pick": Action.ADVANCE_STAGE,
    "approval.reply": Action.DECIDE_APPROVAL,
    "approval.start": Action.SUBMIT_APPROVAL, "approval.pick": Action.SUBMIT_APPROVAL,
    "checkin.pick": Action.CHECK_IN, "checkin.unpick": Action.CHECK_IN, "checkin.submit": Action.CHECK_IN,
    "report.forward": Action.FORWARD_REPORT,
}

# What a tapped action is judged on (from the stored card): its lead, review or customer.
Subject = Literal["lead", "review", "customer", "task", "approval"]
TAP_SUBJECT: dict[Action, Subject | None] = {
    Action.CREATE_LEAD: None, Action.DECIDE_DUPLICATE: "review", Action.UNMUTE: "customer",
    Action.COMPLETE_TASK: "task", Action.POSTPONE_TASK: "task", Action.ACCEPT_HANDOVER: None,
    Action.DECIDE_APPROVAL: "approval",
    Action.CHECK_IN: None, Action.FORWARD_REPORT: None,
}

UNKNOWN_CARD = "没有找到这张卡片的记录(可能已失效或被改动),操作未生效。"
STALE_CARD = "这张卡片已经处理过了,无需重复操作。"
NOT_ON_CARD = "这张卡片上没有这个按钮,操作未生效。"
TAMPERED = "按钮内容与卡片记录不符,操作未生效。"
UNSUPPORTED = "这个按钮暂不支持,请更新卡片后再试。"
NO_SUBJECT = {"lead": "没有找到这张卡片上的线索,操作未生效。", "review": "这张卡片已经失效了,无需再操作。",
              "customer": "没有找到这张卡片上的客户,操作未生效。",
              "task": "没有找到这张卡片上的待办,操作未生效。",
              "approval": "没有找到这张卡片上的审批,操作未生效。"}


@dataclass(frozen=True)
class CardButton:
    action: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CardFacts:
    """A card as we stored it when it was sent (crm_core/services/tap_cards.py)."""
    id: str
    recipient: str | None           # the rep it was sent to; None: a group chat
    lead_id: int | None
    buttons: tuple[CardButton, ...]
    result: str | None = None
    resolved: bool = False


@dataclass(frozen=True)
class TapFacts:
    """What the platform says was tapped (untrusted)."""
    action: str
    values: Mapping[str, Any]
    card_id: str | None


@dataclass(frozen=True)
class Subjects:
    """The facts of what the stored card is about."""
    lead: LeadFacts | None = None
    review: ReviewFacts | None = None
    customer: CustomerFacts | None = None
    tasks: Mapping[int, TaskFacts] = field(default_factory=dict)   # every to-do the card's buttons name
    approval: ApprovalFacts | None = None

    def task(self, button: CardButton) -> TaskFacts | None:
        """The to-do the tapped button names (a card may list several)."""
        raw = str(button.values.get("task") or "").lstrip("Tt")
        return self.tasks.get(int(raw)) if raw.isdigit() else None


@dataclass(frozen=True)
class TapDecision(Decision):
    action: Action | None = None
    button: CardButton | None = None     # the stored button tapped: its values are the ones to use


def _refuse(reason: str) -> TapDecision:
    return TapDecision(False, reason)


def payload_lead(values: Mapping[str, Any]) -> int | None:
    raw = str(values.get("lead") or "").lstrip("#")
    return int(raw) if raw.isdigit() else None


def match_button(card: CardFacts, tap: TapFacts) -> CardButton | TapDecision:
    """The stored button the tap names (same action, every stored value the same), or why not."""
    same = [b for b in card.buttons if b.action == tap.action]
    if not same:
        return _refuse(NOT_ON_CARD)
    for button in same:
        if all(k in tap.values and str(tap.values[k]) == v for k, v in button.values.items()):
            return button
    return _refuse(TAMPERED)


def decide_tap(cfg: AppConfig, who: Principal, card: CardFacts | None, tap: TapFacts,
               subjects: Subjects) -> TapDecision:
    """May `who` tap this button? Judged on the stored card: it exists and is still open, the
    button is one of its own with its own values (lead id included), the action's rule allows
    it on the card's lead / review / customer, and the card was sent to `who` (or `who` is an
    admin; a card in a group chat is for its members, under the same rules)."""
    if card is None or (tap.card_id is not None and tap.card_id != card.id):
        return _refuse(UNKNOWN_CARD)
    if card.resolved:
        return _refuse(f"{STALE_CARD}({card.result})" if card.result else STALE_CARD)
    button = match_button(card, tap)
    if isinstance(button, TapDecision):
        return button
    claimed = payload_lead(tap.values)
    if claimed is not None and card.lead_id is not None and claimed != card.lead_id:
        return _refuse(TAMPERED)
    action = TAP_ACTIONS.get(button.action)
    if action is None:
        return _refuse(UNSUPPORTED)
    subject = TAP_SUBJECT.get(action, "lead")
    target: Target = None
    if subject == "task":
        target = subjects.task(button)
        if target is None:
            return _refuse(NO_SUBJECT[subject])
    elif subject is not None:
        target = getattr(subjects, subject)
        if target is None:
            return _refuse(NO_SUBJECT[subject])
    verdict = decide(cfg, who, action, target)
    if not verdict:
        return _refuse(verdict.reason)
    if card.recipient is not None and card.recipient != who.id and not is_admin(who):
        rep = cfg.org.rep(card.recipient)
        name = rep.name if rep else card.recipient
        return _refuse(f"这张卡片是发给{name}的,只有{name}本人或管理员可以操作,你的操作未生效。")
    return TapDecision(True, action=action, button=button)
