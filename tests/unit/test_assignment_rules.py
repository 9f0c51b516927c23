"""Assignment rules: matching (region hierarchy, industry, multi-value fields, source, deal
size), routing order, picking inside a team (unavailable reps skipped, paused reps last),
the empty-team → pool path, and the config-check warnings (never-match, shadowed rules)."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any, Callable

import pytest
import yaml

from crm_core.assignment.lint import lint_rules
from crm_core.assignment.pick import pause_for_today, pick_rep, weighted_sequence
from crm_core.assignment.rules import LeadFacts, match_rule, route
from crm_core.config.loader import parse_config
from crm_core.config.schema import AppConfig, AssignmentRule, RuleMatch
from crm_core.kv import EmbeddedKV
from crm_core.notices import LeadPooled
from tests.conftest import EXAMPLE

NOW = datetime(2027, 1, 4, 2, 0, tzinfo=timezone.utc)     # Monday 10:00 in Shanghai


def raw_example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def config(edit: Callable[[dict], Any] | None = None) -> AppConfig:
    raw = copy.deepcopy(_RAW)
    if edit is not None:
        edit(raw)
    return parse_config(raw, env={})


_RAW = raw_example()


def facts(region=None, industry=None, source=None, budget=None) -> LeadFacts:  # noqa: ANN001
    return LeadFacts(region=region, industry=industry, source=source, budget_cny=budget)


MATCH_CASES = [
    # (rule match, lead facts, matches?)
    ({"regions": ["浙江"]}, facts("浙江"), True),
    ({"regions": ["浙江"]}, facts("杭州"), True),                        # city inside the province
    ({"regions": ["浙江"]}, facts("浙江省杭州市西湖区"), True),
    ({"regions": ["浙江省"]}, facts("宁波市"), True),                    # suffixes on either side
    ({"regions": ["浙江"]}, facts("广东"), False),
    ({"regions": ["浙江"]}, facts(None), False),
    ({"regions": ["杭州"]}, facts("浙江"), False),                       # a province is not a city
    ({"regions": ["华东"]}, facts("苏州"), True),                        # macro region
    ({"regions": ["华东"]}, facts("广州"), False),
    ({"regions": ["广西"]}, facts("广西壮族自治区南宁市"), True),
    ({"regions": ["浙江"]}, facts("广东、浙江"), True),                  # multi-value lead field
    ({"regions": ["江苏", "上海"]}, facts("上海"), True),                # multi-value rule
    ({"industries": ["医疗"]}, facts(industry="医疗"), True),
    ({"industries": ["医疗"]}, facts(industry="医疗器械"), True),
    ({"industries": ["医疗"]}, facts(industry="制造"), False),
    ({"industries": ["医疗"]}, facts(industry="制造,医疗"), True),
    ({"industries": ["医疗", "教育"]}, facts(industry="教育"), True),
    ({"industries": ["医疗"]}, facts(industry=None), False),
    ({"sources": ["expo", "web_form"]}, facts(source="expo"), True),
    ({"sources": ["expo"]}, facts(source="EXPO"), True),
    ({"sources": ["expo"]}, facts(source="chat"), False),
    ({"min_budget": 1_000_000}, facts(budget=2_000_000), True),
    ({"min_budget": 1_000_000}, facts(budget=1_000_000), True),
    ({"min_budget": 1_000_000}, facts(budget=999_999), False),
    ({"min_budget": 1_000_000}, facts(budget=None), False),              # unsized leads don't qualify
    ({"max_budget": 100_000}, facts(budget=100_001), False),
    ({"min_budget": 10, "max_budget": 100}, facts(budget=50), True),
    ({"regions": ["浙江"], "industries": ["医疗"]}, facts("杭州", "医疗"), True),
    ({"regions": ["浙江"], "industries": ["医疗"]}, facts("杭州", "制造"), False),
    ({}, facts(), True),                                                 # catch-all
]


@pytest.mark.parametrize("match, lead, expected", MATCH_CASES)
def test_match_rule(match: dict, lead: LeadFacts, expected: bool) -> None:
    result = match_rule(AssignmentRule(name="r", team="t", match=RuleMatch(**match)), lead)
    assert result.matched is expected
    assert bool(result.misses) is (not expected)


def test_industry_keyword_table() -> None:
    rule = AssignmentRule(name="r", team="t", match=RuleMatch(industries=["医疗"]))
    table = {"医疗": ["医院", "诊所"]}
    assert match_rule(rule, facts(industry="民营医院"), table).matched
    assert not match_rule(rule, facts(industry="民营医院")).matched


@pytest.mark.parametrize("lead, rule_name, team", [
    (facts("浙江", "医疗"), "华东医疗", "east-medical"),
    (facts("宁波", "民营医院"), "华东医疗", "east-medical"),             # via the industry keyword table
    (facts("深圳", "制造", budget=2_000_000), "华南制造大单", "south-industry"),
    (facts("深圳", "制造", budget=500_000), None, "east-medical"),        # too small → default team
    (facts("北京", "教育"), None, "east-medical"),
])
def test_route_first_match_then_default(lead: LeadFacts, rule_name: str | None, team: str) -> None:
    r = route(config(), lead)
    assert (r.rule.name if r.rule else None, r.team_id) == (rule_name, team)


def _team_cfg(members: list[dict]) -> AppConfig:
    """The example plus a team 'solo' made of the given reps."""
    def edit(raw: dict) -> None:
        for m in members:
            raw["org"]["reps"].append({"platform": "wecom", "platform_ids": {"wecom": m["id"]}, "name": m["id"], **m})
        raw["org"]["teams"].append({"id": "solo", "name": "单兵", "supervisor": "wang.fang",
                                    "members": [m["id"] for m in members]})
    return config(edit)


@pytest.mark.parametrize("members, expected, skipped", [
    ([{"id": "a", "availability": "on_leave"}, {"id": "b"}], "b", {"a": "休假中"}),
    ([{"id": "a", "availability": "departed"}, {"id": "b"}], "b", {"a": "已离职"}),
    ([{"id": "a", "roles": ["rep"]}, {"id": "b"}], "b", {"a": "没有接收线索角色"}),
    ([{"id": "a", "availability": "on_leave"}, {"id": "b", "roles": ["supervisor"]}], None,
     {"a": "休假中", "b": "没有接收线索角色"}),
])
def test_unavailable_reps_are_skipped(members: list[dict], expected: str | None, skipped: dict) -> None:
    cfg = _team_cfg(members)
    kv = EmbeddedKV(prefix="t-skip")
    picks = [pick_rep(None, cfg, kv, cfg.org.team("solo"), "round_robin", NOW).rep for _ in range(4)]  # type: ignore[arg-type]
    assert {p.id if p else None for p in picks} == {expected}
    assert dict(pick_rep(None, cfg, kv, cfg.org.team("solo"), "round_robin", NOW).skipped) == skipped  # type: ignore[arg-type]


@pytest.mark.parametrize("weights, picks, counts", [
    ([1, 1, 1], 6, [2, 2, 2]),
    ([2, 1], 6, [4, 2]),
    ([3, 1, 0], 8, [6, 2, 0]),            # weight 0 never receives
    ([0, 0], 4, [2, 2]),                  # all zero: plain rotation
])
def test_weighted_and_round_robin_shares(weights: list[int], picks: int, counts: list[int]) -> None:
    members = [{"id": f"r{i}", "weight": w} for i, w in enumerate(weights)]
    cfg = _team_cfg(members)
    kv = EmbeddedKV(prefix="t-w")
    got = [pick_rep(None, cfg, kv, cfg.org.team("solo"), "weighted", NOW).rep.id  # type: ignore[arg-type]
           for _ in range(picks)]
    assert [got.count(f"r{i}") for i in range(len(weights))] == counts
    rr = [pick_rep(None, cfg, kv, cfg.org.team("solo"), "round_robin", NOW).rep.id  # type: ignore[arg-type]
          for _ in range(len(weights) * 2)]
    assert all(rr.count(f"r{i}") == 2 for i in range(len(weights)))


def test_weighted_sequence_spreads_turns() -> None:
    cfg = _team_cfg([{"id": "a", "weight": 2}, {"id": "b", "weight": 1}])
    seq = [r.id for r in weighted_sequence([cfg.org.rep("a"), cfg.org.rep("b")])]
    assert sorted(seq) == ["a", "a", "b"] and seq[0] == "a"


def test_paused_reps_go_last_and_dry_run_does_not_advance() -> None:
    cfg = _team_cfg([{"id": "a"}, {"id": "b"}])
    team, kv = cfg.org.team("solo"), EmbeddedKV(prefix="t-pause")
    pause_for_today(kv, "a", NOW)
    assert {pick_rep(None, cfg, kv, team, "round_robin", NOW).rep.id for _ in range(4)} == {"b"}  # type: ignore[arg-type]
    pause_for_today(kv, "b", NOW)
    last = pick_rep(None, cfg, kv, team, "round_robin", NOW)  # type: ignore[arg-type]
    assert last.rep is not None and last.from_paused
    peek = [pick_rep(None, cfg, kv, team, "round_robin", NOW, dry_run=True).rep.id for _ in range(3)]  # type: ignore[arg-type]
    assert len(set(peek)) == 1
    tomorrow = NOW.replace(day=5)
    assert not pick_rep(None, cfg, kv, team, "round_robin", tomorrow).from_paused  # type: ignore[arg-type]


def _rule(name: str, team: str = "east-medical", **match: Any) -> dict:
    return {"name": name, "team": team, "match": match}


def _set_rules(*rules: dict) -> Callable[[dict], None]:
    return lambda raw: raw["assignment"].__setitem__("rules", list(rules))


LINT_CASES = [
    # (config edit, expected warning fragments; empty = no assignment-rule warnings)
    (None, []),
    (_set_rules(_rule("反了", min_budget=500, max_budget=100)), ["assignment.rules[0].match: min_budget 500"]),
    (_set_rules(_rule("火星", regions=["浙江", "火星"])), ["assignment.rules[0].match.regions[1]: 未知地区 '火星'"]),
    (_set_rules(_rule("全部"), _rule("华东医疗", regions=["浙江"])),
     ["assignment.rules[1]: 规则 '华东医疗' 被前面的规则 assignment.rules[0]"]),
    (_set_rules(_rule("华东", regions=["华东"]), _rule("杭州医疗", regions=["杭州"], industries=["医疗"])),
     ["assignment.rules[1]: 规则 '杭州医疗' 被前面的规则 assignment.rules[0]"]),
    (_set_rules(_rule("杭州", regions=["杭州"]), _rule("浙江", regions=["浙江"])), []),
    (_set_rules(_rule("大单", min_budget=1_000_000), _rule("超大单", min_budget=5_000_000)),
     ["assignment.rules[1]: 规则 '超大单' 被前面的规则"]),
    (_set_rules(_rule("超大单", min_budget=5_000_000), _rule("大单", min_budget=1_000_000)), []),
    (_set_rules(_rule("展会", sources=["expo", "web_form"]), _rule("展会医疗", sources=["expo"], industries=["医疗"])),
     ["assignment.rules[1]: 规则 '展会医疗' 被前面的规则"]),
    (_set_rules(_rule("展会", sources=["expo"]), _rule("展会官网", sources=["expo", "web_form"])), []),
    (_set_rules(_rule("反了", min_budget=9, max_budget=1), _rule("小单", max_budget=5)), ["min_budget 9"]),
]


@pytest.mark.parametrize("edit, expected", LINT_CASES)
def test_lint_rules(edit: Callable | None, expected: list[str]) -> None:
    warnings = [w for w in lint_rules(config(edit)) if w.startswith("assignment.rules")]
    for fragment in expected:
        assert any(fragment in w for w in warnings), (fragment, warnings)
    assert len(warnings) == len(expected), warnings


@pytest.mark.parametrize("table, industries, unknown", [
    (None, ["医疗", "航天"], [1]),                                    # the extractor's default table
    (None, ["医疗器械"], [0]),                                        # not a table value: never extracted
    ({"医疗": ["医院"], "航天": ["火箭"]}, ["医疗", "航天", "制造"], [2]),   # the config's override
])
def test_lint_unknown_industry(table: dict | None, industries: list[str], unknown: list[int]) -> None:
    def edit(raw: dict) -> None:
        raw["industries"] = table
        raw["assignment"]["rules"][0]["match"]["industries"] = industries
        raw["assignment"]["rules"][1]["match"]["industries"] = []
    warnings = [w for w in lint_rules(config(edit)) if "未知行业" in w]
    assert [w.split(":")[0] for w in warnings] == [f"assignment.rules[0].match.industries[{j}]" for j in unknown]


@pytest.mark.parametrize("members, fragment", [
    ([], "org.teams[2].members: 团队 '单兵' 没有成员"),
    ([{"id": "a", "availability": "on_leave"}, {"id": "b", "roles": ["rep"]}], "org.teams[2]: 团队 '单兵' 没有可接收线索的成员"),
])
def test_lint_teams_without_eligible_reps(members: list[dict], fragment: str) -> None:
    cfg = _team_cfg(members)
    assert any(w.startswith(fragment) for w in lint_rules(cfg))


def test_lint_rule_pointing_at_empty_team() -> None:
    cfg = _team_cfg([])
    edit_cfg = cfg.model_copy(update={"assignment": cfg.assignment.model_copy(update={
        "rules": [AssignmentRule(name="空", team="solo", match=RuleMatch(regions=["上海"]))]})})
    assert any(w.startswith("assignment.rules[0].team: 团队 'solo' 没有成员") for w in lint_rules(edit_cfg))


def test_empty_team_sends_lead_to_pool_and_tells_supervisor(db) -> None:  # noqa: ANN001
    from crm_core.db.models import Assignment
    from crm_core.services.assign import assign_lead
    from crm_core.services.capture import save_lead
    from crm_core.services.lead_input import LeadInput
    cfg = _team_cfg([{"id": "a", "availability": "on_leave"}])
    cfg = cfg.model_copy(update={"assignment": cfg.assignment.model_copy(update={
        "rules": [AssignmentRule(name="上海专线", team="solo", match=RuleMatch(regions=["上海"]))]})})
    with db.uow() as s:
        lead = save_lead(s, cfg, LeadInput(source="expo", company="上海某医院", region="上海"),
                         actor="zhang.wei", platform="wecom", now=NOW).lead
        row, notices = assign_lead(s, cfg, EmbeddedKV(prefix="t-pool"), lead, NOW, "system")
        assert (lead.owner_rep_id, lead.team_id, lead.status) == (None, "solo", "open")
        assert row.rep_id is None and "公海" in row.reason and "上海专线" in row.reason
        assert [(type(n), n.to_rep) for n in notices] == [(LeadPooled, "wang.fang")]
        assert isinstance(notices[0], LeadPooled) and notices[0].skipped == (("a", "休假中"),)
        assert notices[0].to_supervisor
        assert s.query(Assignment).count() == 1
