"""`crm-bot config check` warnings about assignment: rules that can never match, rules
shadowed by an earlier rule whose match is a superset, and teams with no eligible rep.
Each warning starts with its key path so the admin finds the line in the YAML."""
from __future__ import annotations

from crm_core.assignment.pick import skip_reason
from crm_core.assignment.regions import KNOWN, covered_by, normalize_region
from crm_core.assignment.rules import industry_matches, industry_table
from crm_core.config.schema import AppConfig, AssignmentRule, RuleMatch


def known_industries(cfg: AppConfig) -> set[str]:
    """Industry values a rule can name: the keys of the industry keyword table."""
    return set(industry_table(cfg))


def _never_matches(path: str, m: RuleMatch, industries: set[str]) -> list[str]:
    out = []
    if m.min_budget is not None and m.max_budget is not None and m.min_budget > m.max_budget:
        out.append(f"{path}.match: min_budget {m.min_budget} 大于 max_budget {m.max_budget},"
                   "该规则永远不会命中 (never matches)")
    for j, region in enumerate(m.regions):
        if normalize_region(region) not in KNOWN:
            out.append(f"{path}.match.regions[{j}]: 未知地区 '{region}',不会命中任何线索 (unknown region)")
    for j, ind in enumerate(m.industries):
        if ind.strip() not in industries:
            out.append(f"{path}.match.industries[{j}]: 未知行业 '{ind}',不在行业表中 (unknown industry)")
    return out


def _can_match(m: RuleMatch) -> bool:
    if m.min_budget is not None and m.max_budget is not None and m.min_budget > m.max_budget:
        return False
    return not m.regions or any(normalize_region(r) in KNOWN for r in m.regions)


def covers(a: RuleMatch, b: RuleMatch, keywords: dict[str, list[str]] | None = None) -> bool:
    """True when every lead matching `b` also matches `a` (so `a` first shadows `b`)."""
    if a.regions:
        outer = {normalize_region(r) for r in a.regions}
        if not b.regions or not all(covered_by(r, outer) for r in b.regions):
            return False
    if a.industries and (not b.industries or not all(
            any(industry_matches(x, y, keywords) for x in a.industries) for y in b.industries)):
        return False
    if a.sources and (not b.sources or not {s.lower() for s in b.sources} <= {s.lower() for s in a.sources}):
        return False
    if a.min_budget is not None and (b.min_budget is None or b.min_budget < a.min_budget):
        return False
    return a.max_budget is None or (b.max_budget is not None and b.max_budget <= a.max_budget)


def _shadowed(i: int, rule: AssignmentRule, earlier: list[AssignmentRule],
              keywords: dict[str, list[str]] | None) -> list[str]:
    for k, prior in enumerate(earlier):
        if _can_match(prior.match) and covers(prior.match, rule.match, keywords):
            return [f"assignment.rules[{i}]: 规则 '{rule.name}' 被前面的规则 assignment.rules[{k}] "
                    f"'{prior.name}' 完全覆盖,永远不会生效 (shadowed by an earlier rule)"]
    return []


def _team_problems(cfg: AppConfig) -> list[str]:
    out = []
    for i, team in enumerate(cfg.org.teams):
        if not team.members:
            out.append(f"org.teams[{i}].members: 团队 '{team.name}' 没有成员,分到这里的线索都会进入公海 (empty team)")
            continue
        reasons = {m: skip_reason(cfg.org.rep(m)) for m in team.members}
        if all(reasons.values()):
            why = "、".join(f"{m}({r})" for m, r in reasons.items())
            out.append(f"org.teams[{i}]: 团队 '{team.name}' 没有可接收线索的成员:{why} (no eligible rep)")
    return out


def lint_rules(cfg: AppConfig) -> list[str]:
    """All assignment warnings, in config order."""
    industries = known_industries(cfg)
    out: list[str] = []
    rules = cfg.assignment.rules
    for i, rule in enumerate(rules):
        path = f"assignment.rules[{i}]"
        out += _never_matches(path, rule.match, industries)
        team = cfg.org.team(rule.team)
        if team is not None and not team.members:
            out.append(f"{path}.team: 团队 '{rule.team}' 没有成员,命中此规则的线索只会进入公海 (empty team)")
        elif team is None:
            out.append(f"{path}.team: 未知团队 '{rule.team}' (unknown team)")
        if _can_match(rule.match):
            out += _shadowed(i, rule, rules[:i], industry_table(cfg))
    if cfg.assignment.default_team is None:
        out.append("assignment.default_team: 未设置默认团队,没有规则命中的线索将无人负责 (no default team)")
    return out + _team_problems(cfg)
