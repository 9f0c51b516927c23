"""`crm-bot assign explain <lead-id>`: how a lead would be routed right now, rule by rule,
member by member. Read-only: it peeks at the rotation counters without advancing them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crm_core.assignment.pick import Pick, pick_rep
from crm_core.assignment.rules import STRATEGY_LABELS, LeadFacts, industry_table, match_rule, route
from crm_core.config.schema import AppConfig, Team
from crm_core.db.models import Customer, Lead
from crm_core.kv.base import KV


def _name(cfg: AppConfig, rep_id: str | None) -> str:
    rep = cfg.org.rep(rep_id) if rep_id else None
    return rep.name if rep else (rep_id or "无(公海)")


def _rule_lines(cfg: AppConfig, facts: LeadFacts) -> list[str]:
    lines, decided = [], False
    for i, rule in enumerate(cfg.assignment.rules, start=1):
        if decided:
            lines.append(f"规则 {i}「{rule.name}」:未评估(前面的规则已命中)")
            continue
        result = match_rule(rule, facts, industry_table(cfg))
        if result.matched:
            team = cfg.org.team(rule.team)
            lines.append(f"规则 {i}「{rule.name}」:命中 → 团队 {team.name if team else rule.team},"
                         f"{STRATEGY_LABELS[rule.strategy]}")
            decided = True
        else:
            lines.append(f"规则 {i}「{rule.name}」:未命中 — " + ";".join(result.misses))
    if not decided:
        default = cfg.org.team(cfg.assignment.default_team) if cfg.assignment.default_team else None
        lines.append(f"没有规则命中 → 默认团队 {default.name}(轮流分配)" if default
                     else "没有规则命中,且未设置默认团队")
    return lines


def _member_lines(cfg: AppConfig, team: Team, pick: Pick) -> list[str]:
    skipped = dict(pick.skipped)
    lines = []
    for rep_id in team.members:
        if rep_id in skipped:
            state = f"跳过({skipped[rep_id]})"
        elif rep_id in pick.paused:
            state = "今日暂停优先轮转(仅在无人可分时接收)"
        else:
            state = "可分配"
        if rep_id in pick.open_counts:
            state += f",在手 {pick.open_counts[rep_id]} 条"
        lines.append(f"  成员 {_name(cfg, rep_id)}:{state}")
    return lines


def explain(session: Session, cfg: AppConfig, kv: KV, lead_id: int, now: datetime) -> list[str]:
    """Human-readable routing trace for one lead (Chinese, one line per step)."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        return [f"找不到线索 #{lead_id}"]
    facts = LeadFacts.of(lead, session.get(Customer, lead.customer_id))
    lines = [f"线索 #{lead.id}「{lead.title}」当前负责人:{_name(cfg, lead.owner_rep_id)}",
             f"匹配依据:{facts.describe()}"]
    lines += _rule_lines(cfg, facts)
    r = route(cfg, facts)
    team = cfg.org.team(r.team_id) if r.team_id else None
    if team is None:
        return lines + ["结果:进入公海,通知管理员"]
    pick = pick_rep(session, cfg, kv, team, r.strategy, now, dry_run=True)
    lines.append(f"团队 {team.name}({STRATEGY_LABELS[r.strategy]}):")
    lines += _member_lines(cfg, team, pick)
    if pick.rep is None:
        return lines + [f"结果:无可分配人员 → 进入 {team.name} 公海,通知主管 {_name(cfg, team.supervisor)}"]
    return lines + [f"结果:现在分配将给 {pick.rep.name}(原因:{r.label()} → "
                    f"{STRATEGY_LABELS[r.strategy]} → {pick.rep.name})"]
