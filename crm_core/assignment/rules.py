"""Matching a lead against the configured assignment rules: region (province/city/macro
region), industry, source channel and deal size; multi-value fields match on any value.
Rules are evaluated in order, first match wins, then the default team."""
from __future__ import annotations

from dataclasses import dataclass, field

from crm_core.assignment.regions import lead_regions, normalize_region, split_values
from crm_core.config.schema import AppConfig, AssignmentRule, RuleMatch

STRATEGY_LABELS = {"round_robin": "轮流分配", "weighted": "加权分配", "least_open": "最少在手"}


@dataclass(frozen=True)
class LeadFacts:
    """What the rules look at, taken from the lead (customer values fill the gaps)."""
    region: str | None = None
    industry: str | None = None
    source: str | None = None
    budget_cny: int | None = None

    @classmethod
    def of(cls, lead: object, customer: object | None = None) -> "LeadFacts":
        def pick(name: str) -> str | None:
            value = getattr(lead, name, None)
            return value if value not in (None, "") else getattr(customer, name, None)
        return cls(region=pick("region"), industry=pick("industry"), source=pick("source"),
                   budget_cny=getattr(lead, "budget_cny", None))

    def describe(self) -> str:
        budget = f"{self.budget_cny:,} 元" if self.budget_cny is not None else "未知"
        return (f"地区 {self.region or '未知'} · 行业 {self.industry or '未知'} · "
                f"来源 {self.source or '未知'} · 预算 {budget}")


@dataclass(frozen=True)
class MatchResult:
    matched: bool
    misses: list[str] = field(default_factory=list)   # why not, one line per failed condition


@dataclass(frozen=True)
class Route:
    """Where a lead goes: the rule that matched (None = default team) and its team/strategy."""
    team_id: str | None
    strategy: str
    rule: AssignmentRule | None = None
    rule_index: int | None = None

    def label(self) -> str:
        if self.rule is not None:
            return f"规则 {self.rule.name}"
        return "默认团队" if self.team_id else "无规则命中且未设默认团队"


def industry_table(cfg: AppConfig) -> dict[str, list[str]]:
    """The industry keyword table: the config's override, else the extractor's default."""
    from crm_core.extract.industry import DEFAULT_INDUSTRIES
    return cfg.industries or DEFAULT_INDUSTRIES


def industry_matches(wanted: str, value: str, keywords: dict[str, list[str]] | None) -> bool:
    """'医疗' matches '医疗' and '医疗器械'; with a keyword table also its keywords."""
    wanted, value = wanted.strip(), value.strip()
    if not wanted or not value:
        return False
    if wanted == value or wanted in value:
        return True
    return any(k and k in value for k in (keywords or {}).get(wanted, []))


def _match_regions(m: RuleMatch, facts: LeadFacts) -> str | None:
    if not m.regions:
        return None
    places = lead_regions(facts.region)
    if places & {normalize_region(r) for r in m.regions}:
        return None
    return f"地区 {facts.region or '未知'} 不在 {'、'.join(m.regions)} 内"


def _match_industries(m: RuleMatch, facts: LeadFacts, keywords: dict[str, list[str]] | None) -> str | None:
    if not m.industries:
        return None
    values = split_values(facts.industry)
    if any(industry_matches(w, v, keywords) for w in m.industries for v in values):
        return None
    return f"行业 {facts.industry or '未知'} 不属于 {'、'.join(m.industries)}"


def _match_source(m: RuleMatch, facts: LeadFacts) -> str | None:
    if not m.sources:
        return None
    wanted = {s.strip().lower() for s in m.sources}
    if {v.lower() for v in split_values(facts.source)} & wanted:
        return None
    return f"来源 {facts.source or '未知'} 不在 {'、'.join(m.sources)} 内"


def _match_budget(m: RuleMatch, facts: LeadFacts) -> str | None:
    if m.min_budget is None and m.max_budget is None:
        return None
    # An unknown budget never satisfies a size condition: a big-deal team should not
    # receive leads nobody has sized yet.
    b = facts.budget_cny
    if b is not None and (m.min_budget is None or b >= m.min_budget) and (m.max_budget is None or b <= m.max_budget):
        return None
    lo = f"{m.min_budget:,}" if m.min_budget is not None else "0"
    hi = f"{m.max_budget:,}" if m.max_budget is not None else "不限"
    return f"预算 {'未知' if b is None else f'{b:,}'} 不在 {lo}–{hi} 元之间"


def match_rule(rule: AssignmentRule, facts: LeadFacts,
               keywords: dict[str, list[str]] | None = None) -> MatchResult:
    """All conditions of the rule must hold; an empty condition matches everything."""
    m = rule.match
    misses = [miss for miss in (_match_regions(m, facts), _match_industries(m, facts, keywords),
                                _match_source(m, facts), _match_budget(m, facts)) if miss]
    return MatchResult(matched=not misses, misses=misses)


def route(cfg: AppConfig, facts: LeadFacts) -> Route:
    """First matching rule, else the default team (round-robin), else no team."""
    table = industry_table(cfg)
    for i, rule in enumerate(cfg.assignment.rules):
        if match_rule(rule, facts, table).matched:
            return Route(team_id=rule.team, strategy=rule.strategy, rule=rule, rule_index=i)
    return Route(team_id=cfg.assignment.default_team, strategy="round_robin")
