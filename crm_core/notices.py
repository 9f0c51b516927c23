"""Domain notices: what a service wants someone to be told. crm_core never renders or
sends; handlers/notify.py turns each notice into a card or text and sends it.

One frozen dataclass per kind, with typed fields (a field stays a dict / list only where the
payload is a genuinely nested report: a digest's items, a dedup review's two sides, the monthly
merge figures). `kind` is a class constant kept for logs, Reminder rows and dedupe keys.
Every concrete type is listed in NOTICE_TYPES (the one obvious home); each needs a renderer
(handlers/notify.py `default_renderers`, checked by tests/unit/test_notices.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from crm_core.clv.report import ClvDashboard

Items = list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Notice:
    kind: ClassVar[str] = ""
    supervisor_role: ClassVar[bool] = False   # always goes to the recipient in their supervisor role

    to_rep: str                    # config rep id of the recipient
    lead_id: int | None = None
    customer_id: int | None = None
    dedupe_key: str | None = None  # the same logical notice goes out once
    as_supervisor: bool = False    # sent to the team's supervisor_platform when configured

    @property
    def to_supervisor(self) -> bool:
        """Goes to someone in their supervisor role (their team's supervisor_platform)."""
        return self.as_supervisor or self.supervisor_role


@dataclass(frozen=True, kw_only=True)
class LeadNotice(Notice):
    """About one lead (not a kind of its own)."""
    lead_id: int
    title: str


# ---- assignment, 公海, routing --------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class LeadAssigned(LeadNotice):
    kind: ClassVar[str] = "lead.assigned"
    reason: str
    team: str | None = None
    previous_owner: str | None = None
    tags: tuple[str, ...] = ()     # from a form / expo scan: the owner only confirms them
    contact_name: str | None = None
    phone: str | None = None       # as the new owner may see it (the policy: in full for the owner)


@dataclass(frozen=True, kw_only=True)
class LeadPooled(LeadNotice):
    kind: ClassVar[str] = "lead.pool"
    supervisor_role: ClassVar[bool] = True
    reason: str
    team: str | None = None
    team_name: str | None = None
    skipped: tuple[tuple[str, str], ...] = ()   # (rep id, why not)
    platform: str | None = None


@dataclass(frozen=True, kw_only=True)
class RoutingPaused(Notice):
    kind: ClassVar[str] = "routing.paused"
    supervisor_role: ClassVar[bool] = True
    rep: str
    rep_name: str
    count: int
    hours: float
    until: str                     # ISO timestamp
    platform: str | None = None


@dataclass(frozen=True, kw_only=True)
class FirstContactReminder(LeadNotice):
    """The first-contact SLA passed and the owner has not contacted the new lead."""
    kind: ClassVar[str] = "first_contact.owner"
    assigned_at: str               # ISO timestamps
    due: str
    sla_hours: float
    clock: str = "calendar"        # calendar | working


@dataclass(frozen=True, kw_only=True)
class FirstContactEscalation(LeadNotice):
    """Still no first contact some hours after the SLA: the team's supervisor is told."""
    kind: ClassVar[str] = "first_contact.supervisor"
    supervisor_role: ClassVar[bool] = True
    owner: str
    assigned_at: str
    due: str
    sla_hours: float
    hours_overdue: float
    clock: str = "calendar"


# ---- the stage fuse, follow-up watch ----------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class FuseNotice(LeadNotice):
    """The facts every fuse notice carries (not a kind of its own)."""
    stage: str
    stage_name: str
    owner: str | None
    deadline: str                  # ISO timestamps
    last_activity_at: str
    hours_overdue: float
    idle_hours: float
    clock: str                     # "working" or "calendar"
    contact_name: str | None = None
    phone: str | None = None       # the renderer shows it as the policy lets the recipient see it


@dataclass(frozen=True, kw_only=True)
class FuseReminder(FuseNotice):
    kind: ClassVar[str] = "fuse.reminder"


@dataclass(frozen=True, kw_only=True)
class FuseSupervisor(FuseNotice):
    kind: ClassVar[str] = "fuse.supervisor"
    supervisor_role: ClassVar[bool] = True
    platform: str | None = None


@dataclass(frozen=True, kw_only=True)
class FuseDiagnosis(FuseNotice):
    kind: ClassVar[str] = "fuse.diagnosis"
    supervisor_role: ClassVar[bool] = True
    recent_activities: Items
    team_median_hours: float | None = None
    rep_conversion_30d: dict[str, Any] | None = None   # {"entered", "reached", "rate"}
    platform: str | None = None


@dataclass(frozen=True, kw_only=True)
class HelpRequested(LeadNotice):
    """需要支援 tapped on a reminder (emitted by the tap handler, not a scan)."""
    kind: ClassVar[str] = "fuse.help"
    supervisor_role: ClassVar[bool] = True
    owner: str | None
    stage: str
    team: str | None
    last_activity_at: str
    by: str                        # the rep who asked


@dataclass(frozen=True, kw_only=True)
class FollowupSupervisor(LeadNotice):
    kind: ClassVar[str] = "followup.supervisor"
    supervisor_role: ClassVar[bool] = True
    owner: str | None
    stage: str
    idle_hours: float
    last_activity_at: str
    platform: str | None = None


# ---- 公海 warnings, handover ----------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PoolWarning(LeadNotice):
    kind: ClassVar[str] = "pool.warning"
    return_at: str
    reason: str
    days_left: float


@dataclass(frozen=True, kw_only=True)
class PoolReturned(LeadNotice):
    kind: ClassVar[str] = "pool.returned"
    reason: str
    cooldown_until: str


@dataclass(frozen=True, kw_only=True)
class HandoverSummary(Notice):
    kind: ClassVar[str] = "handover.summary"
    from_rep: str
    from_name: str
    count: int
    to_pool: bool
    budget_total: int
    leads: Items                   # the first few, most important first: id, title, stage, ...
    customers: Items = field(default_factory=list)   # the first few customers: id, name, open, won, budget
    customer_count: int = 0


# ---- deduplication ----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class DuplicatePrompt(Notice):
    """The rep's possible-duplicate prompt; `view` is dedup_entry.review_view (both sides)."""
    kind: ClassVar[str] = "dedup.prompt"
    view: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class DuplicateReview(Notice):
    """The data steward's review; `view` is dedup_entry.review_view (both sides)."""
    kind: ClassVar[str] = "dedup.review"
    view: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CustomerJoined(Notice):
    """A lead of someone else's joined a customer you own (one company, one customer): who,
    with which contact (phone in full: the recipient owns the customer), new contact or known."""
    kind: ClassVar[str] = "customer.joined"
    customer_id: int
    customer: str
    title: str                     # the new lead's title
    by: str                        # the new lead's owner (a rep id), else who entered it (api, cli)
    contact_name: str | None
    phone: str | None
    new_contact: bool


@dataclass(frozen=True, kw_only=True)
class MergeReport(Notice):
    """The monthly merge figures (merge_report.merge_report) for one supervisor."""
    kind: ClassVar[str] = "merge.report"
    report: dict[str, Any]


# ---- customer health, daily digests -----------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class HealthNotice(Notice):
    """A customer's new health score (not a kind of its own)."""
    customer_id: int
    customer: str                  # the customer's name
    score: float
    level: str
    previous_score: float | None
    previous_level: str | None
    dimensions: dict[str, float]
    weakest: str
    weakest_label: str
    suggestion: str
    drop_percent: float | None = None
    owner: str | None = None       # set on the supervisors' copies
    owner_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class HealthRed(HealthNotice):
    kind: ClassVar[str] = "health.red"


@dataclass(frozen=True, kw_only=True)
class HealthDrop(HealthNotice):
    kind: ClassVar[str] = "health.drop"


@dataclass(frozen=True, kw_only=True)
class DigestRep(Notice):
    kind: ClassVar[str] = "digest.rep"
    date: str                      # ISO local day
    todos: Items
    todo_total: int
    overdue: Items
    overdue_total: int
    healthy: Items
    new_leads: Items


@dataclass(frozen=True, kw_only=True)
class DigestSupervisor(Notice):
    kind: ClassVar[str] = "digest.supervisor"
    supervisor_role: ClassVar[bool] = True
    date: str
    teams: list[str]
    penetration: Items
    overdue: Items
    red: Items
    red_total: int
    checkins: Items = field(default_factory=list)   # 晨会打卡 today: rep, name, checked_in, picks


# ---- morning focus check-in and the rep's 日报 (issue 17) --------------------------------------

@dataclass(frozen=True, kw_only=True)
class CheckinCard(Notice):
    """The morning 晨会打卡 card: the rep's open leads ranked (items, in the card's numbering),
    how many 主攻商机 to pick, and how yesterday's picks moved since they were picked."""
    kind: ClassVar[str] = "checkin.card"
    date: str                      # ISO local day
    picks: int
    items: Items                   # lead_id, title, customer, stage, due, due_kind, health, budget_cny
    moves: Items = field(default_factory=list)   # lead_id, title, customer, stages, follow_ups, todos_done, status
    moves_date: str | None = None  # the day those picks were made


@dataclass(frozen=True, kw_only=True)
class FocusLog(Notice):
    """《重点客户日志》: one rep's 主攻商机 of the day (and how the previous picks moved), to
    each of the rep's supervisors (as_supervisor) and the configured customer-service lead."""
    kind: ClassVar[str] = "checkin.log"
    rep: str
    rep_name: str
    date: str
    picks: Items
    moves: Items = field(default_factory=list)
    moves_date: str | None = None


@dataclass(frozen=True, kw_only=True)
class DailyReportForward(Notice):
    """A rep's 日报 forwarded to a supervisor with 转发给主管 (crm_core/services/daily_report.py)."""
    kind: ClassVar[str] = "report.daily"
    rep: str
    rep_name: str
    date: str
    report: dict[str, Any]


NOTICE_TYPES: tuple[type[Notice], ...] = (
    LeadAssigned, LeadPooled, RoutingPaused, FirstContactReminder, FirstContactEscalation,
    FuseReminder, FuseSupervisor, FuseDiagnosis, HelpRequested, FollowupSupervisor,
    PoolWarning, PoolReturned, HandoverSummary,
    DuplicatePrompt, DuplicateReview, MergeReport, CustomerJoined,
    HealthRed, HealthDrop, DigestRep, DigestSupervisor,
    CheckinCard, FocusLog, DailyReportForward,
)


# ---- approvals in chat (issue 17: 审批; crm_core/services/approvals.py) -----------------------

@dataclass(frozen=True, kw_only=True)
class ApprovalCard(Notice):
    """The card an approver decides on: the lead's facts, what changed since the previous
    submission, the node and its quick replies (one button each). `waited_hours` is set on the
    card an escalation sends to the approver's supervisor."""
    kind: ClassVar[str] = "approval.card"
    card_id: str
    approval_id: int
    flow_name: str
    flow_version: int
    title: str                     # the lead's title
    submitter_name: str
    facts: dict[str, Any]          # customer, amount, stage, product, owner, history
    changes: list[str]             # 金额:180万 → 160万
    revision: int
    node_index: int
    node_name: str
    node_count: int
    replies: list[str]             # the quick-reply labels, in the node's order
    decided: list[str] = field(default_factory=list)   # earlier nodes: 主管审批 · 王芳 同意
    waited_hours: float | None = None
    escalated_from: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalCardResolved(Notice):
    """An approver card someone else's decision (or a withdrawal) settled: updated in place
    (`replaces_card`) for its holder, its buttons gone and the outcome shown."""
    kind: ClassVar[str] = "approval.card_resolved"
    replaces_card: str
    content: dict[str, Any]        # the card as last sent (CardRecord.content)
    result: str


@dataclass(frozen=True, kw_only=True)
class ApprovalProgress(Notice):
    """The submitter (or an approver) told what happened to an approval: a node passed, the
    approval passed / was rejected / withdrawn / escalated, a comment, a reminder to decide."""
    kind: ClassVar[str] = "approval.progress"
    approval_id: int
    flow_name: str
    title: str
    event: str                     # node_approved | approved | rejected | withdrawn | escalated | comment | reminder
    actor_name: str | None = None
    node_name: str | None = None
    next_node: str | None = None
    comment: str | None = None
    waited_hours: float | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalFlowChanged(Notice):
    """A flow someone has a running approval on has a new current version (config edited, or
    an admin's rollback); running approvals stay on the version they started with."""
    kind: ClassVar[str] = "approval.flow_changed"
    flow_name: str
    old_version: int | None
    new_version: int
    rollback: bool = False
    running: list[int] = field(default_factory=list)   # the recipient's running approvals on it


NOTICE_TYPES += (ApprovalCard, ApprovalCardResolved, ApprovalProgress, ApprovalFlowChanged)


# ---- customer lifetime value (issue 18; crm_core/services/clv_dashboard.py) --------------------

@dataclass(frozen=True, kw_only=True)
class ClvDashboardNotice(Notice):
    """The monthly CLV dashboard to a supervisor or manager (handlers/clv_cards.py); `scoped`:
    cut to the recipient's rows (their visibility scope), the channel ranking the company's."""
    kind: ClassVar[str] = "clv.dashboard"
    dashboard: ClvDashboard
    scoped: bool = False


NOTICE_TYPES += (ClvDashboardNotice,)


# ---- coaching push (issue 17: 辅导推送; crm_core/services/coaching.py) -------------------------

@dataclass(frozen=True)
class CoachingWeek:
    week: str                      # ISO Monday of the week
    entered: int                   # the rep's leads that entered the stage that week
    reached: int                   # of them, reached the next stage within the window


@dataclass(frozen=True, kw_only=True)
class CoachingPush(Notice):
    """A rep's penetration from one stage to the next stayed low for weeks running: to the rep,
    and to the rep's supervisors (`as_supervisor`), with the stage's coaching material."""
    kind: ClassVar[str] = "coaching.push"
    rep: str
    rep_name: str
    from_stage: str
    to_stage: str
    from_name: str
    to_name: str
    weeks: tuple[CoachingWeek, ...]
    min_rate: float
    window_days: float
    material: str | None = None
    link: str | None = None


NOTICE_TYPES += (CoachingPush,)
