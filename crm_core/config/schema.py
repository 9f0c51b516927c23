"""Typed configuration model. Unknown keys are errors (extra="forbid") so a typo in the
admin's YAML never passes silently. Cross-references (rep ids, team ids) are checked in
`checks.py`, which works on the raw mapping so it reports even when the schema fails."""
from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator,
                      model_validator)

from crm_core.config.checkin import Checkin
from crm_core.config.reports import Reports

from crm_core.config.approvals import Approvals
from crm_core.config.visibility import Visibility
from crm_core.config.clv import Clv
from crm_core.config.coaching import Coaching, StageEntry, VisitNotes



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppSection(Strict):
    data_dir: str = "./data"
    database_url: str | None = None          # default: sqlite file under data_dir
    redis_url: str | None = None             # default: embedded in-process
    key_prefix: str = "crmbot"
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_base_url: str = "http://127.0.0.1:8080"
    api_tokens: list[SecretStr] = Field(default_factory=list)
    metrics_token: SecretStr | None = None   # set: GET /metrics needs "Authorization: Bearer <it>"
    worker_threads: int = Field(2, ge=1, le=64)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # A Redis that keeps nothing on disk loses every queued callback when it restarts, so start-up
    # refuses it (crm_core/kv/redis_persistence.py); true accepts that loss (tests, throwaway setups).
    redis_allow_no_persistence: bool = False
    # SIGTERM: how long `serve` / `worker` let the messages being processed finish before exiting;
    # what is unfinished (and everything still queued) is processed after the next start.
    shutdown_grace_seconds: float = Field(20.0, ge=0, le=3600)
    # A platform answering 5xx or timing out is down, not refusing the message: a reply is retried
    # (at most 30 s apart after its first attempts) until this many minutes after it was written,
    # then left dead for `crm-bot outbox retry`.
    outbound_retry_minutes: int = Field(60, ge=1, le=1440)


class _PlatformBase(Strict):
    enabled: bool = False
    replay_window_seconds: int = Field(3600, ge=0)


class WeComConfig(_PlatformBase):
    corp_id: str = ""
    agent_id: int | None = None
    secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: SecretStr = SecretStr("")
    api_base: str = "https://qyapi.weixin.qq.com"
    group_webhooks: dict[str, SecretStr] = Field(default_factory=dict)   # team id -> robot key

    @model_validator(mode="after")
    def _required_when_enabled(self) -> "WeComConfig":
        if self.enabled:
            _require(self, ("corp_id", "agent_id", "secret", "token", "encoding_aes_key"))
            if len(self.encoding_aes_key.get_secret_value()) != 43:
                raise ValueError("encoding_aes_key must be exactly 43 characters")
        return self


class DingTalkRobot(Strict):
    access_token: SecretStr
    secret: SecretStr | None = None          # SEC... signing secret


def _dingtalk_webhook_hosts() -> list[str]:
    return ["oapi.dingtalk.com", "api.dingtalk.com"]


class DingTalkConfig(_PlatformBase):
    """`replay_window_seconds` (inherited) bounds the encrypted event subscription, whose
    signature covers the body; HTTP robot callbacks have their own, shorter window."""
    mode: Literal["http", "stream"] = "http"
    app_key: str = ""
    app_secret: SecretStr = SecretStr("")
    robot_code: str = ""
    api_base: str = "https://api.dingtalk.com"
    oapi_base: str = "https://oapi.dingtalk.com"
    group_robots: dict[str, DingTalkRobot] = Field(default_factory=dict)  # team id -> custom robot
    stream_silence_seconds: int = Field(180, ge=10)
    # HTTP robot callbacks: their `sign` covers the timestamp only, not the body, so a captured
    # (timestamp, sign) pair is good for any body while the timestamp is fresh. Each pair is
    # accepted once; this window (≤ DingTalk's own hour; it cannot be turned off) bounds the rest.
    robot_callback_window_seconds: int = Field(300, ge=1, le=3600)
    # Replies through a message's sessionWebhook go only to these hosts ("host" or "host:port";
    # https, or http on a loopback address for the sandbox); another host: the robot API answers.
    session_webhook_hosts: list[str] = Field(default_factory=_dingtalk_webhook_hosts)
    # Cards are instances of a card-platform template the admin builds once (卡片平台 → 新建模板,
    # variables in config/dingtalk-card-template.json): its id, "….schema". Without it no card
    # with buttons can call back (the robot's ordinary card never does over Stream).
    card_template_id: str = ""
    # HTTP mode only: taps are POSTed to {app.public_base_url}/callback/dingtalk/card, which crm-bot
    # registers under this route key (POST /v1.0/card/callbacks/register) with this secret as
    # `apiSecret`; the registered URL carries a token derived from it, which the route checks.
    card_callback_route_key: str = Field("crm-bot", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    card_callback_secret: SecretStr = SecretStr("")

    @field_validator("session_webhook_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        bad = [h for h in hosts if not _WEBHOOK_HOST.fullmatch(h)]
        if bad:
            raise ValueError(f"not a host or host:port: {', '.join(map(repr, bad))}")
        return [h.lower() for h in hosts]

    @model_validator(mode="after")
    def _required_when_enabled(self) -> "DingTalkConfig":
        if self.enabled:
            _require(self, ("app_key", "app_secret", "robot_code"))
        return self


_WEBHOOK_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")


class FeishuConfig(_PlatformBase):
    mode: Literal["http", "long_connection"] = "http"
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    verification_token: SecretStr = SecretStr("")
    encrypt_key: SecretStr = SecretStr("")
    api_base: str = "https://open.feishu.cn"

    @model_validator(mode="after")
    def _required_when_enabled(self) -> "FeishuConfig":
        if self.enabled:
            _require(self, ("app_id", "app_secret", "verification_token"))
        return self


def _require(obj: BaseModel, names: tuple[str, ...]) -> None:
    missing = []
    for n in names:
        v = getattr(obj, n)
        if isinstance(v, SecretStr):
            v = v.get_secret_value()
        if v in (None, ""):
            missing.append(n)
    if missing:
        raise ValueError(f"required when enabled: {', '.join(missing)}")


class Platforms(Strict):
    wecom: WeComConfig = WeComConfig()
    dingtalk: DingTalkConfig = DingTalkConfig()
    feishu: FeishuConfig = FeishuConfig()

    def enabled(self) -> list[str]:
        return [p for p in PLATFORMS if getattr(self, p).enabled]


# The config's platform names are the sections of `platforms:` (the one list of them here).
PLATFORMS: tuple[str, ...] = tuple(Platforms.model_fields)


def _known_platform(name: str) -> str:
    if name not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r} (one of: {', '.join(PLATFORMS)})")
    return name


PlatformName = Annotated[str, AfterValidator(_known_platform)]


# finance / service: see only what `visibility:` gives them (crm_core/config/visibility.py)
Role = Literal["rep", "supervisor", "admin", "steward", "receive_leads", "finance", "service"]


def _default_roles() -> list[Role]:
    return ["rep", "receive_leads"]


class Rep(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1)
    platform: PlatformName                         # where this person is reached
    platform_ids: dict[PlatformName, str]
    roles: list[Role] = Field(default_factory=_default_roles)
    availability: Literal["active", "on_leave", "departed"] = "active"
    weight: int = Field(1, ge=0, le=100)           # for weighted assignment
    max_open_leads: int | None = Field(None, ge=1)  # holding limit for 公海 claims

    @model_validator(mode="after")
    def _primary_has_id(self) -> "Rep":
        if self.platform not in self.platform_ids:
            raise ValueError(f"platform_ids has no id for its platform '{self.platform}'")
        return self


class Team(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str
    supervisor: str
    members: list[str] = Field(default_factory=list)
    supervisor_platform: PlatformName | None = None   # cards to the supervisor go here


class Org(Strict):
    reps: list[Rep] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    data_steward: str | None = None

    def rep(self, rep_id: str) -> Rep | None:
        return next((r for r in self.reps if r.id == rep_id), None)

    def rep_by_platform_id(self, platform: str, user_id: str) -> Rep | None:
        return next((r for r in self.reps if r.platform_ids.get(platform) == user_id), None)

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def teams_of(self, rep_id: str) -> list[Team]:
        return [t for t in self.teams if rep_id in t.members]


class Stage(Strict):
    key: str = Field(min_length=1)
    name: str = Field(min_length=1)
    required: list[str] = Field(default_factory=list)   # fields/actions needed to leave
    timeout_hours: float = Field(72, gt=0)
    clock: Literal["calendar", "working"] = "calendar"
    outcome: Literal["won", "lost"] | None = None        # terminal stages


LOSS_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEFAULT_LOSS_REASONS = {"price": "价格不合适", "competitor": "选了竞品", "budget": "预算不足", "timing": "时机未到",
                        "no_need": "需求取消", "other": "其他原因"}


class Funnel(Strict):
    stages: list[Stage] = Field(min_length=1)
    objection_categories: list[str] = Field(default_factory=lambda: ["价格", "竞品", "预算", "时机", "决策链", "功能"])
    capture_required: list[str] = Field(default_factory=lambda: ["company", "contact_name"])
    # Why a lead was lost: code → the label reps pick on the 输单 card (reports count the codes).
    loss_reasons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LOSS_REASONS))

    @field_validator("loss_reasons")
    @classmethod
    def _loss_reasons(cls, v: dict[str, str]) -> dict[str, str]:
        problems = [f"'{k}' is not a code (lower-case letters, digits, _) / 「{k}」不是代码(小写字母、数字、下划线)"
                    for k in v if not LOSS_CODE.match(k)]
        problems += [f"'{k}' has no label / 「{k}」没有中文名称" for k, label in v.items() if not label.strip()]
        labels = [label.strip() for label in v.values()]
        problems += [f"label '{x}' is used twice / 名称「{x}」重复" for x in sorted({x for x in labels if labels.count(x) > 1})]
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @model_validator(mode="after")
    def _lost_needs_reasons(self) -> "Funnel":
        if any(s.outcome == "lost" for s in self.stages) and not self.loss_reasons:
            raise ValueError("loss_reasons: a lost stage needs at least one loss reason / "
                             "有输单阶段时 loss_reasons 至少要有一个输单原因")
        return self

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)


class RuleMatch(Strict):
    regions: list[str] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    min_budget: int | None = Field(None, ge=0)
    max_budget: int | None = Field(None, ge=0)


class AssignmentRule(Strict):
    name: str
    match: RuleMatch = RuleMatch()
    team: str
    strategy: Literal["round_robin", "weighted", "least_open"] = "round_robin"


class Assignment(Strict):
    default_team: str | None = None
    rules: list[AssignmentRule] = Field(default_factory=list)
    first_contact_sla_hours: float = Field(48, gt=0)
    # a new lead not contacted within the SLA: the owner is reminded at the deadline, the team's
    # supervisor told this many hours later (counted on first_contact_clock) if still nobody called
    first_contact_escalate_hours: float = Field(4, gt=0)
    first_contact_clock: Literal["calendar", "working"] = "calendar"
    slow_first_contact_hours: float = Field(2, gt=0)
    slow_first_contact_count: int = Field(3, ge=1)


class Pool(Strict):
    """The public pool (公海): when an owned lead goes back to its team's pool, the warning to
    its owner before that, the former owner's cool-down and the default holding limit."""
    idle_days: float = Field(30, gt=0)               # no follow-up for this long → back to the pool
    max_open_days: float = Field(90, gt=0)           # not won this long after being taken → back
    warn_days_before: float = Field(3, ge=0)         # the owner's warning card, this long before
    cooldown_days: float = Field(7, ge=0)            # the former owner may not reclaim it during this
    max_holding: int | None = Field(None, ge=1)      # open leads a rep may hold to claim (a rep's max_open_leads wins)

    @model_validator(mode="after")
    def _warning_before_return(self) -> "Pool":
        if self.warn_days_before >= min(self.idle_days, self.max_open_days):
            raise ValueError("warn_days_before must be shorter than idle_days and max_open_days / "
                             "提前提醒天数必须小于回收天数")
        return self


DedupSignal = Literal["phone", "email", "company", "name", "wechat"]


def _default_dedup_weights() -> dict[DedupSignal, float]:
    return {"phone": 100, "email": 90, "company": 75, "name": 40, "wechat": 95}


class Dedup(Strict):
    merge_threshold: float = Field(92, ge=0, le=100)
    prompt_threshold: float = Field(85, ge=0, le=100)
    review_threshold: float = Field(75, ge=0, le=100)
    weights: dict[DedupSignal, float] = Field(default_factory=_default_dedup_weights)
    survivor: Literal["newest", "oldest"] = "newest"
    # a new contact at a company another team's rep owns: join that customer (its owner is told)
    # or keep a separate customer for the data steward to review (labels: vocabulary.CROSS_TEAM_JOIN)
    cross_team_join: Literal["join", "separate"] = "join"

    @model_validator(mode="after")
    def _ordered(self) -> "Dedup":
        if not self.review_threshold <= self.prompt_threshold <= self.merge_threshold:
            raise ValueError("thresholds must satisfy review_threshold <= prompt_threshold <= merge_threshold")
        return self


HealthDimension = Literal["activity", "value", "dependency", "risk", "growth"]


def _default_health_weights() -> dict[HealthDimension, float]:
    return {"activity": 25, "value": 30, "dependency": 20, "risk": 15, "growth": 10}


class Health(Strict):
    weights: dict[HealthDimension, float] = Field(default_factory=_default_health_weights)
    red_below: float = Field(60, ge=0, le=100)
    green_above: float = Field(85, ge=0, le=100)
    notify_supervisor: bool = True
    drop_alert_percent: float = Field(15, gt=0, le=100)

    @field_validator("weights")
    @classmethod
    def _sum_100(cls, v: dict[str, float]) -> dict[str, float]:
        if abs(sum(v.values()) - 100) > 0.01:
            raise ValueError(f"weights must add up to 100 (they add up to {sum(v.values()):g})")
        return v


class Job(Strict):
    enabled: bool = True
    cron: str | None = None           # "30 9 * * 1-5"
    every_minutes: float | None = Field(None, gt=0)
    # How late a run may still start (busy scheduler, or every instance down at fire time);
    # missed runs within it are coalesced into one. Default: half the interval, 60 min for cron.
    grace_minutes: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_trigger(self) -> "Job":
        if self.enabled and (self.cron is None) == (self.every_minutes is None):
            raise ValueError("give exactly one of cron / every_minutes")
        return self


def _job(**kw) -> Job:
    return Job(**kw)


class OutboxSweep(Job):
    # an outbound message still queued / failed / held with no progress for this long lost its
    # queue message (Redis failed between the insert and the put): it is put back on the queue
    stall_minutes: float = Field(5, gt=0)


class Schedules(Strict):
    heartbeat: Job = _job(every_minutes=5)
    fuse_scan: Job = _job(every_minutes=10)
    health_scores: Job = _job(cron="0 2 * * *")
    health_refresh: Job = _job(every_minutes=15)      # customers with new activity since the last run
    rep_digest: Job = _job(cron="30 9 * * 1-5")
    supervisor_digest: Job = _job(cron="0 10 * * 1-5")
    merge_report: Job = _job(cron="0 9 1 * *")
    followup_scan: Job = _job(every_minutes=30)       # 48 h without follow-up → supervisor
    pool_scan: Job = _job(cron="0 8 * * *")           # 公海: warnings and returns
    routing_check: Job = _job(every_minutes=15)       # slow first contact → out of rotation today
    first_contact_scan: Job = _job(every_minutes=15)  # first-contact SLA: owner reminded, then supervisor
    coaching_scan: Job = _job(cron="0 8 * * 1")      # Monday: low stage penetration 3 weeks running → coaching card
    morning_checkin: Job = _job(cron="45 8 * * 1-5")  # 晨会打卡 card to each rep (working days only)
    outbox_sweep: OutboxSweep = OutboxSweep(every_minutes=2)   # re-queue outbound messages that lost theirs
    clv_nightly: Job = _job(cron="30 2 * * *")        # attribution + CLV snapshots (crm_core/clv)
    clv_dashboard: Job = _job(cron="0 9 5 * *")       # monthly CLV dashboard, the 5th by default
    approval_timeouts: Job = _job(every_minutes=10)   # 审批: reminders, 48 h escalation, flow changes told


class AlertRoute(Strict):
    type: Literal["platform", "webhook", "smtp"]
    platform: PlatformName | None = None     # type=platform: another platform's ops chat
    chat_id: str | None = None
    url: str | None = None                   # type=webhook
    smtp_host: str | None = None             # type=smtp
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str | None = None
    mail_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> "AlertRoute":
        need = {"platform": ("platform", "chat_id"), "webhook": ("url",),
                "smtp": ("smtp_host", "mail_from", "mail_to")}[self.type]
        missing = [n for n in need if getattr(self, n) in (None, "", [])]
        if missing:
            raise ValueError(f"type {self.type} needs: {', '.join(missing)}")
        return self


class Alerts(Strict):
    routes: dict[PlatformName, AlertRoute] = Field(default_factory=dict)  # where alerts about X go
    ops_chats: dict[PlatformName, str] = Field(default_factory=dict)      # heartbeat test-message target
    inbound_silence_minutes: float = Field(60, gt=0)
    # count silence in working hours only (nights and weekends are quiet) or in calendar time
    inbound_silence_clock: Literal["calendar", "working"] = "working"
    backlog_minutes: float = Field(10, gt=0)          # oldest waiting inbound message older = backlog
    worker_silence_minutes: float = Field(3, gt=0)    # no worker heartbeat this long = worker down
    fail_for_minutes: float = Field(2, ge=0)
    reminder_minutes: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _other_route(self) -> "Alerts":
        same = [p for p, r in self.routes.items() if r.type == "platform" and r.platform == p]
        if same:
            raise ValueError(f"alerts about {', '.join(same)} must go over a different route, not the same platform")
        return self


LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
COMPUTE_TYPES = ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16",
                 "bfloat16", "float32")


def _language(value: str) -> str:
    code = value.strip().lower().replace("_", "-").split("-")[0]
    if not LANGUAGE_CODE.match(code):
        raise ValueError(f"'{value}' is not a language code like zh or en / 「{value}」不是语言代码(例如 zh、en)")
    return code


class Voice(Strict):
    """The transcriber (see README, 语音识别模型): every setting of crm_core.voice.TranscriberSettings."""

    backend: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    model_path: str | None = None            # a faster-whisper (CTranslate2) model dir; default: packaged base
    compute_type: str = "int8"               # CTranslate2 type: int8 on CPU
    language: str | None = None              # None/auto: Mandarin unless another of `languages` is sure
    languages: list[str] = Field(default_factory=lambda: ["zh", "en"])
    switch_probability: float = 0.8          # detection this sure picks a language after the first
    initial_prompt: str | None = None        # None: the built-in Chinese prompt; "": none
    crm_hotwords: bool = True                # the rep's customers, contacts and catalog help the ear
    beam_size: int = 1                       # 1: greedy, fastest, per-character confidence
    threads: int = 2
    review_below: float = 0.4                # fields from characters less sure than this: 请核对
    max_seconds: float = Field(180, gt=0)

    @field_validator("compute_type")
    @classmethod
    def _compute_type(cls, v: str) -> str:
        if v not in COMPUTE_TYPES:
            raise ValueError(f"'{v}' is not one of {', '.join(COMPUTE_TYPES)} / 「{v}」不是可用的计算类型"
                             f"({'、'.join(COMPUTE_TYPES)})")
        return v

    @field_validator("beam_size", "threads")
    @classmethod
    def _count(cls, v: int, info: ValidationInfo) -> int:
        top = 10 if info.field_name == "beam_size" else 64
        if not 1 <= v <= top:
            raise ValueError(f"must be a whole number from 1 to {top} (got {v}) / 应为 1 到 {top} 的整数(现在是 {v})")
        return v

    @field_validator("switch_probability", "review_below")
    @classmethod
    def _probability(cls, v: float, info: ValidationInfo) -> float:
        low = 0.5 if info.field_name == "switch_probability" else 0.0
        if not low <= v <= 1.0:
            raise ValueError(f"must be between {low} and 1 (got {v}) / 应在 {low} 到 1 之间(现在是 {v})")
        return v

    @field_validator("initial_prompt")
    @classmethod
    def _prompt(cls, v: str | None) -> str | None:
        if v is not None and len(v) > 200:
            raise ValueError(f"at most 200 characters (got {len(v)}): Whisper reads only the end of a long "
                             f"prompt / 最多 200 字(现在 {len(v)} 字):过长的提示词模型只读末尾")
        return v

    @field_validator("language")
    @classmethod
    def _one_language(cls, v: str | None) -> str | None:
        if v is None or v.strip().lower() in ("auto", "detect", ""):
            return None
        return _language(v)

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        codes = [_language(x) for x in v]
        if not codes:
            raise ValueError("list at least one language, e.g. [zh, en] / 至少列出一种语言,例如 [zh, en]")
        if len(set(codes)) != len(codes):
            raise ValueError("a language is listed twice / 有语言重复")
        return codes

    @field_validator("model_path")
    @classmethod
    def _model_path(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("empty path; leave it out for the packaged model / 路径为空;用内置模型请删掉此项")
        return v


class Calendar(Strict):
    work_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])   # ISO weekday
    work_hours: tuple[str, str] = ("09:00", "18:00")
    holidays: list[date] = Field(default_factory=list)
    makeup_workdays: list[date] = Field(default_factory=list)    # 调休


class LoggingSection(Strict):
    # text: "time LEVEL logger: message"; json: one JSON object per line (time, level, event,
    # message, platform and ids) for a log collector. Phones are masked and secrets never
    # written in either.
    format: Literal["text", "json"] = "text"
    # How much `serve`, `worker` and `scheduler` write: info (the default) also writes a line per
    # start, job run and reconnect; warning only what needs a look; debug everything (noisy).
    # Read at start-up. `-v` on the command line means debug for that run.
    level: Literal["debug", "info", "warning", "error"] = "info"


class AppConfig(Strict):
    app: AppSection = AppSection()
    platforms: Platforms = Platforms()
    org: Org = Org()
    funnel: Funnel = Funnel(stages=[Stage(key="qualify", name="需求确认")])
    assignment: Assignment = Assignment()
    pool: Pool = Pool()
    dedup: Dedup = Dedup()
    health: Health = Health()
    schedules: Schedules = Schedules()
    alerts: Alerts = Alerts()
    voice: Voice = Voice()
    industries: dict[str, list[str]] | None = None   # extraction keyword table override
    # the product catalog: names reps say (a voice note's prompt and name correction, extraction)
    products: list[str] = Field(default_factory=list)
    calendar: Calendar = Calendar()
    logging: LoggingSection = LoggingSection()
    reports: Reports = Reports()                     # 报表图片 (crm_core/config/reports.py)
    visibility: Visibility = Visibility()           # 查看权限 (crm_core/config/visibility.py)
    checkin: Checkin = Checkin()                      # 晨会打卡 / 《重点客户日志》 (crm_core/config/checkin.py)
    approvals: Approvals = Approvals()               # 审批流程 (crm_core/config/approvals.py)
    clv: Clv = Clv()                                 # 客户终身价值与归因 (crm_core/config/clv.py)
    # 拜访纪要 / 进阶段必填动作 / 辅导推送 (crm_core/config/coaching.py)
    visit_notes: VisitNotes = VisitNotes()
    stage_entry: StageEntry = StageEntry()
    coaching: Coaching = Coaching()
