"""Domain tables: customers, contacts, leads, activities, tasks, assignments, merges,
reminders, message logs, cards and the audit log. Business rules live in services."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_core.db.types import UTCDateTime, utcnow

ID = BigInteger().with_variant(Integer(), "sqlite")   # SQLite autoincrement needs INTEGER


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Customer(Base):
    """A company (or a person when B2C). Merged customers stay, pointing at the survivor."""
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    company_key: Mapped[str | None] = mapped_column(String(200), index=True)
    region: Mapped[str | None] = mapped_column(String(50))
    industry: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(50))
    owner_rep_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active | merged
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    health_score: Mapped[float | None] = mapped_column(Float)
    health_level: Mapped[str | None] = mapped_column(String(8))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(32))        # normalized primary phone
    phones: Mapped[list[Any]] = mapped_column(default=list)      # every number as entered
    email: Mapped[str | None] = mapped_column(String(200))
    wechat_id: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(50))
    is_alias: Mapped[bool] = mapped_column(Boolean, default=False)  # kept after a merge
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchKey(Base):
    """Dedup blocking keys (normalized phone, email, company key, name+company, wechat):
    the entry check asks this index for candidates instead of scanning customers."""
    __tablename__ = "match_keys"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    __table_args__ = (Index("ix_match_keys_kind_value", "kind", "value"),)


class Lead(Base):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    title: Mapped[str] = mapped_column(String(200))
    product: Mapped[str | None] = mapped_column(String(100))
    budget_cny: Mapped[int | None] = mapped_column(BigInteger)
    timeline: Mapped[str | None] = mapped_column(String(10))     # YYYY-MM or YYYY-MM-DD
    next_action: Mapped[str | None] = mapped_column(String(50))
    industry: Mapped[str | None] = mapped_column(String(50))
    region: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(50))       # channel code: chat, web_form, expo...
    stage: Mapped[str] = mapped_column(String(50))
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | won | lost | pool
    owner_rep_id: Mapped[str | None] = mapped_column(String(64), index=True)
    team_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_contact_at: Mapped[datetime | None] = mapped_column()
    fuse_deadline: Mapped[datetime | None] = mapped_column()     # stage timeout, indexed for the scan
    fuse_level: Mapped[int] = mapped_column(Integer, default=0)  # 0 none, 1 reminded, 2 supervisor, 3 diagnosis
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # stage-gate fields/actions
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    __table_args__ = (Index("ix_leads_status_fuse", "status", "fuse_deadline"),)


class Activity(Base):
    """Everything that happened to a lead/customer: notes, follow-ups, voice notes (with
    transcript and audio reference), stage changes, assignments, merges."""
    __tablename__ = "activities"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str | None] = mapped_column(Text)
    transcript: Mapped[str | None] = mapped_column(Text)
    audio_ref: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str | None] = mapped_column(String(64))
    platform: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    owner_rep_id: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")   # open | done | cancelled
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


class Assignment(Base):
    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    rep_id: Mapped[str | None] = mapped_column(String(64))     # None = public pool
    team_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    assigned_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MergeRecord(Base):
    """One merge: the exact prior rows (snapshot) so `merge undo` restores them."""
    __tablename__ = "merge_records"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_ids: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(50))
    actor: Mapped[str | None] = mapped_column(String(64))
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    undone_at: Mapped[datetime | None] = mapped_column()


class DedupReview(Base):
    """A possible duplicate waiting for a rep's or data steward's decision."""
    __tablename__ = "dedup_reviews"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | merged | rejected
    reviewer: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(16))        # prompt (rep) | review (steward)
    assignee: Mapped[str | None] = mapped_column(String(64))    # rep id the card was sent to
    merge_id: Mapped[int | None] = mapped_column(ID)            # the MergeRecord a 合并 decision made
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class Reminder(Base):
    """A reminder/escalation that was sent; the unique key makes each step happen once."""
    __tablename__ = "reminders"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipient: Mapped[str | None] = mapped_column(String(64))
    card_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mute(Base):
    __tablename__ = "mutes"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    rep_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column()
    __table_args__ = (Index("ix_mutes_rep_customer", "rep_id", "customer_id"),)


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str | None] = mapped_column(String(100))
    rep_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    platform_time: Mapped[datetime | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="received")  # received | done | failed
    error: Mapped[str | None] = mapped_column(String(300))
    __table_args__ = (UniqueConstraint("platform", "event_id", name="uq_inbound_platform_event"),)


class OutboundMessage(Base):
    __tablename__ = "outbound_messages"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))          # text | markdown | card | card_update
    card_id: Mapped[str | None] = mapped_column(String(128), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued|sent|failed|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(300))
    platform_msg_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column()


class CardRecord(Base):
    """A card we sent: its neutral content and the platform handles needed to update it."""
    __tablename__ = "cards"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(100))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    platform_ref: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()


class HealthSnapshot(Base):
    __tablename__ = "health_snapshots"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(8))
    dimensions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditLog(Base):
    """Who did what, from which platform."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    platform: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(50))
    target_type: Mapped[str | None] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RepAvailability(Base):
    """A supervisor's availability setting for a rep (「设置休假 李娜 到12月10日」, 「李娜 已离职」):
    it overrides `org.reps[].availability` of the YAML until `until` (a local date, inclusive;
    None: until changed again). crm_core/services/availability.py reads and writes it."""
    __tablename__ = "rep_availability"
    rep_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    availability: Mapped[str] = mapped_column(String(16))          # active | on_leave | departed
    until: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(200))
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- customer lifetime value: orders, touchpoints, attribution, CLV (issue 18) ----------------

class Order(Base):
    """A customer's order (API / import). `(source, external_id)` makes an import idempotent;
    orders flagged as fraud are kept but never attributed nor counted in CLV."""
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    source: Mapped[str] = mapped_column(String(50))                # the system it came from
    external_id: Mapped[str] = mapped_column(String(100))
    amount: Mapped[float] = mapped_column(Float)                   # CNY
    gross_margin: Mapped[float] = mapped_column(Float)             # CNY, what attribution credits
    ordered_at: Mapped[datetime] = mapped_column()
    channel: Mapped[str] = mapped_column(String(40))
    is_fraud: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_orders_source_external"),
                      Index("ix_orders_customer_at", "customer_id", "ordered_at"),
                      Index("ix_orders_ordered_at", "ordered_at"))


class Touchpoint(Base):
    """A contact with a customer before or between orders: ad click, service chat, visit, call,
    campaign. Chat activities (crm_core/clv/sources.py) and earlier orders are read as
    touchpoints where they are stored, never copied here. A service ticket may carry
    `clv_impact` and a `winback_probability` (0..1) that the CLV model uses."""
    __tablename__ = "touchpoints"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column()
    source: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str] = mapped_column(String(100))
    clv_impact: Mapped[bool] = mapped_column(Boolean, default=False)
    winback_probability: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_touchpoints_source_external"),
                      Index("ix_touchpoints_customer_at", "customer_id", "at"))


class AttributionCredit(Base):
    """Attributed gross margin per month of the order (business time zone), channel and model,
    all four models at once; rebuilt by each attribution run (crm_core/services/clv_attribution.py).
    A customer's own credits are computed on demand (crm_core/clv/attribution.py)."""
    __tablename__ = "attribution_credits"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(16))
    margin: Mapped[float] = mapped_column(Float)
    orders: Mapped[float] = mapped_column(Float)        # order shares credited (sums to the orders)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ix_attribution_model_month", "model", "month"),)


class ClvSnapshot(Base):
    """A customer's CLV as of a day (the nightly job), with the value it is compared to."""
    __tablename__ = "clv_snapshots"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ID)
    as_of: Mapped[date] = mapped_column(Date)
    clv: Mapped[float] = mapped_column(Float)
    previous: Mapped[float | None] = mapped_column(Float)      # the CLV about a month earlier
    monthly_margin: Mapped[float] = mapped_column(Float)
    alive: Mapped[float] = mapped_column(Float)                # the probability the customer still buys
    last_interaction: Mapped[datetime | None] = mapped_column()
    __table_args__ = (UniqueConstraint("customer_id", "as_of", name="uq_clv_customer_day"),
                      Index("ix_clv_as_of", "as_of"))


# ---- morning focus check-in (issue 17: 晨会打卡, 《重点客户日志》) -------------------------------
class FocusCheckin(Base):
    """One rep's morning check-in on one local working day: the open leads the card offered,
    ranked, in the card's numbering (`candidates`), the 主攻商机 picked so far (`picks`, lead ids
    in the order picked) and when they were submitted (the supervisors' 《重点客户日志》 went out
    then). One row per rep and day; crm_core/services/checkin.py reads and writes it."""
    __tablename__ = "focus_checkins"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    rep_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, index=True)
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    picks: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")      # open | submitted
    platform: Mapped[str | None] = mapped_column(String(16))             # where it was submitted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    __table_args__ = (UniqueConstraint("rep_id", "day", name="uq_focus_checkins_rep_day"),)


# ---- approvals in chat (issue 17: 审批) -------------------------------------------------------
class ApprovalFlowVersion(Base):
    """One version of an approval flow's definition (the config's `approvals.flows.<code>`, as
    JSON, with its hash). A changed definition in the config becomes a new version; the one
    marked `current` is what NEW approvals start on (a rollback moves the mark back). Each
    approval keeps the version it started with. crm_core/services/approval_versions.py."""
    __tablename__ = "approval_flow_versions"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    flow: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(40))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hash: Mapped[str] = mapped_column(String(64))
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64), default="config")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("flow", "version", name="uq_approval_flow_version"),)


class Approval(Base):
    """An approval (审批A3) of one lead on one flow version: the lead's facts when submitted,
    what changed since the previous submission of the same lead and flow, the resolved nodes
    (`plan`: name, approvers, quick replies) and where it stands."""
    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    flow: Mapped[str] = mapped_column(String(32))
    flow_version_id: Mapped[int] = mapped_column(ForeignKey("approval_flow_versions.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    submitter: Mapped[str] = mapped_column(String(64), index=True)
    amount_cny: Mapped[int | None] = mapped_column(BigInteger)
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changes: Mapped[list[Any]] = mapped_column(default=list)
    revision: Mapped[int] = mapped_column(Integer, default=1)          # 第n次提交 of this lead and flow
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("approvals.id"))
    plan: Mapped[list[Any]] = mapped_column(default=list)
    node_index: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|rejected|withdrawn
    platform: Mapped[str | None] = mapped_column(String(16))
    node_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    __table_args__ = (Index("ix_approvals_status", "status"),)


class ApprovalStep(Base):
    """What happened to an approval: submitted, approved / rejected at a node (with the quick
    reply and comment), a comment, a reminder, an escalation, a withdrawal. `once` makes a
    decision, reminder or escalation happen once per node however often it is tried."""
    __tablename__ = "approval_steps"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"), index=True)
    node_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    once: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- issue 18: per-user API tokens (crm_core/services/api_tokens.py) ---------------------------

class ApiToken(Base):
    """A person's API token: only its SHA-256 is kept (the token is shown once, at creation).
    It acts as `rep_id` with that rep's configured roles, narrowed to `roles` when given."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rep_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    roles: Mapped[list[Any]] = mapped_column(default=list)          # empty: the rep's roles
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
