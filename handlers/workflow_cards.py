"""What people see for the workflow notices (assignment, 公海, routing pauses, the stage fuse,
follow-up watch, handover): one renderer per notice type, all built from the notice's fields and
the org config (no database reads), with the buttons the tap handlers in workflow_actions serve.
`register` adds them to a Renderers (handlers/notify.py)."""
from __future__ import annotations

import hashlib
from datetime import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cards.model import Button, Card, Field, Level
from crm_core.assignment.pick import skip_reason
from crm_core.authz import LeadFacts, Principal
from crm_core.clock import local
from crm_core.config.schema import AppConfig, Team
from crm_core.notices import (FollowupSupervisor, FuseDiagnosis, FuseNotice, FuseReminder, FuseSupervisor,
                              HandoverSummary, HelpRequested, LeadAssigned, LeadNotice, LeadPooled, Notice,
                              PoolReturned, PoolWarning, RoutingPaused)
from crm_core.normalize import mask_phone
from crm_core.visibility import Viewer
from handlers.lead_card import money

if TYPE_CHECKING:
    from handlers.notify import Renderers

MAX_REASSIGN_BUTTONS = 4          # + 标记需协同 + 催办 = the 6 buttons a WeCom card allows
RECENT_ITEMS = 5
HANDOVER_LINES = 10
ACTIVITY_LABELS = {"follow_up": "跟进", "stage": "阶段", "assigned": "分配", "created": "新建",
                   "voice_note": "语音", "postpone": "延期", "handover": "交接", "nudge": "催办",
                   "assist": "协同", "help": "求助", "mute": "静音", "unmute": "恢复提醒"}


# ---- small helpers shared with the tap handlers and commands ---------------------------------

SYSTEM_ACTORS = {"system": "系统", "cli": "管理员(命令行)", "api": "接口", "scheduler": "系统"}


def rep_name(cfg: AppConfig, rep_id: str | None) -> str:
    rep = cfg.org.rep(rep_id) if rep_id else None
    return rep.name if rep else SYSTEM_ACTORS.get(rep_id or "", "已不在名单的同事" if rep_id else "公海")   # never an id


def when(cfg: AppConfig, value: str | datetime | None) -> str:
    """An ISO timestamp or datetime as local "11-22 14:03" ("—" when unknown)."""
    if not value:
        return "—"
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return local(dt, cfg.app.timezone).strftime("%m-%d %H:%M")


def card_id_for(prefix: str, notice: Notice) -> str:
    """Stable per logical notice: re-rendering the same notice gives the same card id."""
    basis = notice.dedupe_key or f"{notice.kind}:{notice.to_rep}:{notice!r}"
    digest = hashlib.sha1(basis.encode()).hexdigest()[:12]
    return f"{prefix}-{notice.lead_id or 0}-{digest}"


def lead_label(notice: LeadNotice) -> str:
    title = notice.title or ""
    return f"#{notice.lead_id} {title}".strip() if notice.lead_id else title or "—"


def title_with_customer(title: str | None, customer: str | None) -> str:
    """「title · customer」, the customer left out when the title already names it (a lead's
    title starts with its company: 「演示:杭州优品 · CRM」)."""
    title, customer = str(title or "").strip(), str(customer or "").strip()
    if not customer or customer in title or customer[:4] in title:
        return title or customer or "—"
    return f"{title} · {customer}" if title else customer


def stage_label(cfg: AppConfig, stage: str | None, name: str | None = None) -> str:
    """The stage's display name: `name` when the notice carries one, else the funnel's."""
    if name:
        return str(name)
    found = cfg.funnel.stage(stage or "")
    return found.name if found else ("已停用的阶段" if stage else "—")     # never the key


def stage_name(cfg: AppConfig, data: dict[str, Any]) -> str:
    return stage_label(cfg, data.get("stage"), data.get("stage_name"))


def hours(value: float | None) -> str:
    return "—" if value is None else f"{float(value):g} 小时"


def team_for(cfg: AppConfig, owner: str | None, supervisor: str | None,
             team_id: str | None = None) -> Team | None:
    """The team a supervisor card is about: the notice's team, else the owner's team led by
    this supervisor, else the owner's first team, else the supervisor's first team."""
    if team_id and cfg.org.team(team_id):
        return cfg.org.team(team_id)
    owned = cfg.org.teams_of(owner) if owner else []
    led = [t for t in owned if t.supervisor == supervisor]
    if led or owned:
        return (led or owned)[0]
    return next((t for t in cfg.org.teams if t.supervisor == supervisor), None)


def reassign_candidates(cfg: AppConfig, team: Team | None, owner: str | None) -> list[str]:
    """Team members who can take a lead now (active, receive leads), the owner excepted."""
    if team is None:
        return []
    return [m for m in team.members if m != owner and skip_reason(cfg.org.rep(m)) is None]


def reassign_buttons(cfg: AppConfig, lead_id: int, candidates: list[str]) -> list[Button]:
    return [Button(f"转派给{rep_name(cfg, rep)}", "lead.reassign", {"lead": str(lead_id), "to": rep}, "primary")
            for rep in candidates[:MAX_REASSIGN_BUTTONS]]


def supervisor_buttons(cfg: AppConfig, notice: LeadNotice, owner: str | None, team_id: str | None = None,
                       with_assist: bool = True) -> tuple[Button, ...]:
    team = team_for(cfg, owner, notice.to_rep, team_id)
    value = {"lead": str(notice.lead_id)}
    buttons = reassign_buttons(cfg, notice.lead_id, reassign_candidates(cfg, team, owner))
    if with_assist:
        buttons.append(Button("标记需协同", "fuse.assist", value))
    buttons.append(Button("催办", "fuse.nudge", value, "danger"))
    return tuple(buttons)


def reassign_footer(notice: Notice) -> str:
    return f"转派给其他人:回复「转派 #{notice.lead_id} 姓名」"


# ---- assignment, 公海, routing --------------------------------------------------------------

def shown_phone(cfg: AppConfig, to_rep: str, lead_id: int, owner: str | None, team: str | None,
                phone: str) -> str:
    """A phone on a card for `to_rep`: in full when the policy lets them see the lead's phones
    (its owner, its supervisors, admins), else masked."""
    rep = cfg.org.rep(to_rep)
    if rep is None:
        return mask_phone(phone)
    lead = LeadFacts(id=lead_id, owner=owner, team_id=team)
    shown = Viewer.of(cfg, Principal.of(rep)).show("phone", phone, lead)   # crm_core/visibility.py
    return "—" if shown is None else str(shown)


def assigned_phone(cfg: AppConfig, notice: LeadAssigned) -> str:
    """The phone on the new owner's card (the owner always may see it in full)."""
    if not notice.phone:
        return "无电话"
    return shown_phone(cfg, notice.to_rep, notice.lead_id, notice.to_rep, notice.team, notice.phone)


def lead_assigned(cfg: AppConfig, notice: LeadAssigned) -> Card:
    previous = notice.previous_owner
    fields = [Field("线索", lead_label(notice), short=False), Field("分配原因", notice.reason or "—", short=False)]
    if previous:
        fields.append(Field("原负责人", rep_name(cfg, previous)))
    if notice.contact_name or notice.phone:
        fields.append(Field("联系人", notice.contact_name or "—"))
        fields.append(Field("电话", assigned_phone(cfg, notice)))
    tags = notice.tags
    if tags:       # from a form / expo scan: saved without asking, the owner only confirms the tags
        fields.append(Field("标签", "、".join(tags), short=False))
    buttons: tuple[Button, ...] = (Button("确认标签", "lead.tags", {"lead": str(notice.lead_id)}, style="primary"),) \
        if tags else ()
    buttons += (Button("修改", "edit.start", {"lead": str(notice.lead_id)}),)
    return Card(card_id=card_id_for("assigned", notice), title="转派给你的线索" if previous else "新线索分配给你",
                level=Level.INFO, fields=tuple(fields), buttons=buttons,
                footer=f"请尽快首次联系;回复「跟进 #{notice.lead_id} 内容」记录跟进")


def lead_pool(cfg: AppConfig, notice: LeadPooled) -> Card:
    skipped = "、".join(f"{rep_name(cfg, rep)}({why})" for rep, why in notice.skipped)
    team = cfg.org.team(notice.team) if notice.team else None
    active = [m for m in (team.members if team else []) if (r := cfg.org.rep(m)) and r.availability == "active"]
    return Card(card_id=card_id_for("pool", notice), title="线索无人可分配,已进入公海", level=Level.WARNING,
                fields=(Field("线索", lead_label(notice), short=False),
                        Field("团队", notice.team_name or "—"),
                        Field("原因", notice.reason or "—", short=False)),
                text=f"未分配的成员:{skipped}" if skipped else None,
                buttons=tuple(reassign_buttons(cfg, notice.lead_id, active)),
                footer=reassign_footer(notice))


def routing_paused(cfg: AppConfig, notice: RoutingPaused) -> Card:
    text = (f"{notice.rep_name or rep_name(cfg, notice.rep)} 今天有 {notice.count} 条线索"
            f"超过 {hours(notice.hours)}未首次联系,已暂停优先分配至 {when(cfg, notice.until)}。")
    return Card(card_id=card_id_for("paused", notice), title="销售暂停优先分配", level=Level.WARNING,
                text=text, footer="暂停期间只有在其他成员都不可用时才会分给他")


# ---- the stage fuse ---------------------------------------------------------------------------

def fuse_fields(cfg: AppConfig, notice: FuseNotice, with_owner: bool) -> list[Field]:
    fields = [Field("线索", lead_label(notice), short=False)]
    if with_owner:
        fields.append(Field("负责人", rep_name(cfg, notice.owner)))
    clock = "(工作时间)" if notice.clock == "working" else ""
    fields += [Field("阶段", stage_label(cfg, notice.stage, notice.stage_name)),
               Field("已超时", hours(notice.hours_overdue) + clock),
               Field("上次更新", when(cfg, notice.last_activity_at))]
    if notice.phone:           # call now: in full for whom the policy allows (the owner, supervisors)
        who = " ".join(p for p in (notice.contact_name, shown_phone(cfg, notice.to_rep, notice.lead_id,
                                                                      notice.owner, None, notice.phone)) if p)
        fields.append(Field("联系人", who))
    return fields


def fuse_reminder(cfg: AppConfig, notice: FuseReminder) -> Card:
    value = {"lead": str(notice.lead_id)}
    mute = {**value, "customer": str(notice.customer_id)}
    return Card(card_id=card_id_for("fuse-r", notice), title="跟进提醒:线索停留超时", level=Level.WARNING,
                fields=tuple(fuse_fields(cfg, notice, with_owner=False)),
                buttons=(Button("已跟进", "fuse.done", value, "primary"), Button("延期1天", "fuse.snooze", value),
                         Button("需要支援", "fuse.help", value), Button("不再提醒此客户", "followup.mute", mute)),
                footer=f"回复「跟进 #{notice.lead_id} 内容」记录跟进,主管已同步收到提醒")


def fuse_supervisor(cfg: AppConfig, notice: FuseSupervisor) -> Card:
    return Card(card_id=card_id_for("fuse-s", notice), title="线索超时未跟进", level=Level.DANGER,
                fields=tuple(fuse_fields(cfg, notice, with_owner=True)),
                buttons=supervisor_buttons(cfg, notice, notice.owner), footer=reassign_footer(notice))


def activity_lines(cfg: AppConfig, items: list[dict[str, Any]]) -> list[str]:
    lines = []
    for a in items[:RECENT_ITEMS]:
        raw = str(a.get("kind") or "")
        kind = ACTIVITY_LABELS.get(raw, "动态")
        text = without_label((a.get("text") or "").replace("\n", " "), kind)
        lines.append(f"· {when(cfg, a.get('at'))} {rep_name(cfg, a.get('actor'))} {kind}{(':' + text) if text else ''}")
    return lines or ["· 暂无记录"]


def without_label(text: str, label: str) -> str:
    """`text` without a leading 「label:」 it repeats (「阶段:阶段:需求确认 → 方案」)."""
    for sep in (":", "：", " "):
        if label and text.startswith(label + sep):
            return text[len(label) + 1:].lstrip()
    return text


def conversion_text(conv: dict[str, Any] | None) -> str:
    if not conv or not conv.get("entered"):
        return "近30天无数据"
    return f"{conv['reached']}/{conv['entered']}({conv['rate'] * 100:.0f}%)"


def fuse_diagnosis(cfg: AppConfig, notice: FuseDiagnosis) -> Card:
    fields = fuse_fields(cfg, notice, with_owner=True)
    fields += [Field("团队同阶段一般停留", hours(notice.team_median_hours)),
               Field("负责人近30天此阶段推进成功", conversion_text(notice.rep_conversion_30d))]
    text = "**最近动态**\n" + "\n".join(activity_lines(cfg, notice.recent_activities or []))
    return Card(card_id=card_id_for("fuse-d", notice), title="诊断:线索超时 24 小时仍无进展", level=Level.DANGER,
                fields=tuple(fields), text=text, buttons=supervisor_buttons(cfg, notice, notice.owner),
                footer=reassign_footer(notice))


# ---- follow-up watch, 公海 warnings, handover ------------------------------------------------

def followup_supervisor(cfg: AppConfig, notice: FollowupSupervisor) -> Card:
    fields = (Field("线索", lead_label(notice), short=False), Field("负责人", rep_name(cfg, notice.owner)),
              Field("阶段", stage_label(cfg, notice.stage)), Field("未跟进", hours(notice.idle_hours)),
              Field("上次更新", when(cfg, notice.last_activity_at)))
    return Card(card_id=card_id_for("follow-s", notice), title="已分配线索长时间未跟进", level=Level.WARNING,
                fields=fields, buttons=supervisor_buttons(cfg, notice, notice.owner, with_assist=False),
                footer=reassign_footer(notice))


def pool_warning(cfg: AppConfig, notice: PoolWarning) -> Card:
    value = {"lead": str(notice.lead_id)}
    return Card(card_id=card_id_for("pool-w", notice), title="线索即将退回公海", level=Level.WARNING,
                fields=(Field("线索", lead_label(notice), short=False), Field("退回时间", when(cfg, notice.return_at)),
                        Field("剩余", f"{float(notice.days_left or 0):g} 天"), Field("原因", notice.reason or "—")),
                buttons=(Button("已跟进", "fuse.done", value, "primary"),),
                footer=f"有新进展请回复「跟进 #{notice.lead_id} 内容」,跟进后将重新计时")


def pool_returned(cfg: AppConfig, notice: PoolReturned) -> Card:
    return Card(card_id=card_id_for("pool-r", notice), title="线索已退回公海", level=Level.INFO,
                fields=(Field("线索", lead_label(notice), short=False), Field("原因", notice.reason or "—"),
                        Field("可重新领取", f"{when(cfg, notice.cooldown_until)} 之后")),
                footer=f"冷却期后可回复「领取 #{notice.lead_id}」重新领取")


Amount = Callable[[int | None], str | None]


def amount_for(cfg: AppConfig, to_rep: str | None) -> Amount:
    """Money on a card as its recipient may see it (crm_core/visibility.py `budget`): the figure,
    a size band when masked, None when hidden."""
    rep = cfg.org.rep(to_rep) if to_rep else None
    viewer = Viewer.of(cfg, Principal.of(rep)) if rep is not None else None

    def shown(value: int | None) -> str | None:
        if viewer is None or value is None:
            return money(value)
        seen = viewer.show("budget", value)
        return None if seen is None else seen if isinstance(seen, str) else money(seen)
    return shown


def handover_lines(cfg: AppConfig, leads: list[dict[str, Any]], amount: Amount = money) -> list[str]:
    return [f"· #{ld['id']} {ld.get('title') or ''} · {stage_label(cfg, ld.get('stage'))}"
            + (f" · {a}" if (a := amount(ld.get('budget_cny'))) is not None else "")
            + f" · 上次更新 {when(cfg, ld.get('last_activity_at'))}" for ld in leads[:HANDOVER_LINES]]


def handover_customer_lines(customers: list[dict[str, Any]], amount: Amount = money) -> list[str]:
    out = []
    for c in customers[:HANDOVER_LINES]:
        state = [f"{c['open']} 条跟进中" if c.get("open") else "", f"已赢单 {c['won']} 条" if c.get("won") else ""]
        shown = amount(c["budget_cny"]) if c.get("budget_cny") else None
        budget = f" · 预算 {shown}" if shown else ""
        out.append(f"· C{c['id']} {c.get('name') or ''} · {'、'.join(x for x in state if x) or '暂无线索'}{budget}")
    return out


def handover_summary(cfg: AppConfig, notice: HandoverSummary) -> Card:
    """One card for the whole handover: the customers (won ones too) and the open leads, most
    important first; the receiver confirms with 确认接收."""
    count, leads = int(notice.count or 0), notice.leads or []
    customers, n_customers = notice.customers or [], int(notice.customer_count or 0)
    who = notice.from_name or rep_name(cfg, notice.from_rep)
    amount = amount_for(cfg, notice.to_rep)         # the receiver's view of money (issue 18)
    total = amount(notice.budget_total or 0)
    what = f"{n_customers} 个客户、{count} 条跟进中的线索" if n_customers else f"{count} 条线索"
    title = f"{who} 的 {what}已退回公海" if notice.to_pool else f"{who} 的 {what}已交接给你"
    parts = []
    if customers:
        parts.append("**客户**(按重要程度排列)")
        parts += handover_customer_lines(customers, amount)
        if n_customers > min(len(customers), HANDOVER_LINES):
            parts.append(f"…另有 {n_customers - min(len(customers), HANDOVER_LINES)} 个,发送「我的客户」查看")
    if leads:
        parts.append("**跟进中的线索**(按重要程度排列)")
        lines = handover_lines(cfg, leads, amount)
        parts += lines
        if count > len(lines):
            parts.append(f"…另有 {count - len(lines)} 条,发送「我的线索」查看")
    buttons = () if notice.to_pool else (Button("确认接收", "handover.accept", {"from": notice.from_rep},
                                                style="primary"),)
    return Card(card_id=card_id_for("handover", notice), title=title, level=Level.INFO,
                fields=(Field("客户数", str(n_customers)), Field("线索数", str(count)),
                        *([Field("预算合计", total)] if total is not None else [])),
                text="\n".join(parts) or None, buttons=buttons,
                footer="已为每个客户和线索记录交接说明;请确认接收并尽快逐一联系客户")


def help_requested(cfg: AppConfig, notice: HelpRequested) -> Card:
    """需要支援 tapped on a reminder (emitted by the tap handler, not a scan)."""
    fields = (Field("线索", lead_label(notice), short=False), Field("负责人", rep_name(cfg, notice.owner)),
              Field("阶段", stage_label(cfg, notice.stage)), Field("上次更新", when(cfg, notice.last_activity_at)))
    return Card(card_id=card_id_for("help", notice), title=f"{rep_name(cfg, notice.by)} 请求支援",
                level=Level.WARNING, fields=fields, buttons=supervisor_buttons(cfg, notice, notice.owner, notice.team),
                footer=reassign_footer(notice))


def register(renderers: Renderers) -> None:
    renderers.register(LeadAssigned, lead_assigned)
    renderers.register(LeadPooled, lead_pool)
    renderers.register(RoutingPaused, routing_paused)
    renderers.register(FuseReminder, fuse_reminder)
    renderers.register(FuseSupervisor, fuse_supervisor)
    renderers.register(FuseDiagnosis, fuse_diagnosis)
    renderers.register(FollowupSupervisor, followup_supervisor)
    renderers.register(PoolWarning, pool_warning)
    renderers.register(PoolReturned, pool_returned)
    renderers.register(HandoverSummary, handover_summary)
    renderers.register(HelpRequested, help_requested)
