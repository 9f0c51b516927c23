"""What of a changed config a running deployment takes without a restart, and the rep
availability overrides set in chat. Pure functions over `AppConfig`: the composition root
(bot/live_config.py) decides when to call them and swaps the result in as one object.

Live (applied at once): org (reps, teams, availability), funnel, assignment, dedup, health,
alerts, pool, calendar, industries. Restart: app (addresses, database, Redis, tokens),
platforms (credentials, modes: the channels and connections are built at start-up),
schedules (the job triggers), voice (the loaded model), logging (set up at start-up)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, SecretStr

from crm_core.config.schema import AppConfig, Rep

RESTART_SECTIONS: tuple[str, ...] = tuple(n for n in ("app", "platforms", "schedules", "voice", "logging")
                                         if n in AppConfig.model_fields)
LIVE_SECTIONS: tuple[str, ...] = tuple(n for n in AppConfig.model_fields if n not in RESTART_SECTIONS)

SECTION_LABELS: dict[str, str] = {
    "org": "人员与团队", "funnel": "销售阶段", "assignment": "分配规则", "dedup": "查重阈值", "health": "健康分",
    "alerts": "告警", "pool": "公海规则", "calendar": "工作日历", "industries": "行业词表", "app": "基础设置",
    "platforms": "平台接入", "schedules": "定时任务", "voice": "语音识别", "logging": "日志格式",
    "visibility": "查看权限",
    "reports": "报表图片",
    "approvals": "审批流程",
    "clv": "客户价值与归因",
    "checkin": "晨会打卡",
    "visit_notes": "拜访纪要", "stage_entry": "进阶段必填动作", "coaching": "辅导推送",
}
AVAILABILITY_LABELS: dict[str, str] = {"active": "在岗", "on_leave": "休假", "departed": "已离职"}


@dataclass(frozen=True)
class AvailabilityOverride:
    """A rep's availability as set in chat (the `rep_availability` row), over the YAML's."""
    rep_id: str
    availability: str
    until: date | None = None        # local date, inclusive; None: until changed again
    set_by: str = ""
    note: str | None = None

    def in_force(self, today: date) -> bool:
        return self.until is None or today <= self.until


@dataclass(frozen=True)
class ReloadPlan:
    """A validated file against the running config: the config to run, the live sections that
    changed (applied now) and the changed keys that wait for a restart (kept as running)."""
    config: AppConfig
    applied: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)


def _dump(section: Any) -> Any:
    return section.model_dump(mode="json") if hasattr(section, "model_dump") else section


def changed_keys(old: Any, new: Any, path: str) -> list[str]:
    """Key paths under `path` whose values differ (secrets compare by value, never shown)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += changed_keys(old.get(k), new.get(k), f"{path}.{k}")
        return out
    return [] if old == new else [path]


def _secret_values(section: Any) -> Any:
    """The section as plain data with secrets' real values (so a changed secret is noticed)."""
    if isinstance(section, BaseModel):
        return {k: _secret_values(getattr(section, k)) for k in type(section).model_fields}
    if isinstance(section, SecretStr):
        return section.get_secret_value()
    if isinstance(section, dict):
        return {k: _secret_values(v) for k, v in section.items()}
    if isinstance(section, (list, tuple)):
        return [_secret_values(v) for v in section]
    return section


def plan_reload(running: AppConfig, new: AppConfig) -> ReloadPlan:
    """The config to run after a reload: `new`'s live sections, `running`'s restart sections."""
    keep = {name: getattr(running, name) for name in RESTART_SECTIONS}
    merged = new.model_copy(update=keep)
    applied = [n for n in LIVE_SECTIONS if _dump(getattr(running, n)) != _dump(getattr(new, n))]
    restart: list[str] = []
    for name in RESTART_SECTIONS:
        restart += changed_keys(_secret_values(getattr(running, name)), _secret_values(getattr(new, name)), name)
    return ReloadPlan(config=merged, applied=applied, needs_restart=restart)


def effective_rep(rep: Rep, override: AvailabilityOverride | None, today: date) -> Rep:
    if override is None or not override.in_force(today) or override.availability == rep.availability:
        return rep
    return rep.model_copy(update={"availability": override.availability})


def apply_overrides(cfg: AppConfig, overrides: list[AvailabilityOverride], today: date) -> AppConfig:
    """The config with the availability overrides in force on `today` applied to its reps
    (an override for a rep no longer in the YAML is ignored; `config check` names it)."""
    by_rep = {o.rep_id: o for o in overrides}
    reps = [effective_rep(r, by_rep.get(r.id), today) for r in cfg.org.reps]
    if all(a is b for a, b in zip(reps, cfg.org.reps)):
        return cfg
    return cfg.model_copy(update={"org": cfg.org.model_copy(update={"reps": reps})})


def override_lines(cfg: AppConfig, overrides: list[AvailabilityOverride], today: date) -> list[str]:
    """One line per override for `config check`: in force or expired, over what the YAML says."""
    lines = []
    for o in sorted(overrides, key=lambda x: x.rep_id):
        rep = cfg.org.rep(o.rep_id)
        state = AVAILABILITY_LABELS.get(o.availability, o.availability)
        until = f" until {o.until.isoformat()} / 至 {o.until.month}月{o.until.day}日" if o.until else ""
        if rep is None:
            lines.append(f"org.reps: availability override for unknown rep '{o.rep_id}' is ignored / "
                         f"「{o.rep_id}」不在配置中,聊天里设置的状态不起作用")
            continue
        yaml_state = AVAILABILITY_LABELS.get(rep.availability, rep.availability)
        status = "in force / 生效中" if o.in_force(today) else "expired / 已过期"
        lines.append(f"{rep.id} ({rep.name}): {o.availability}{until} set by {o.set_by} in chat, over YAML "
                     f"'{rep.availability}' [{status}] / {rep.name}:{state}(配置文件中为{yaml_state})")
    return lines
