"""crm_core/visibility.py without a database: row scope (own / team / pool / all and their
union over several roles), field levels (the widest role wins, VIEW_PHONE still judges phones),
masks, defaults equal to the behaviour before `visibility:` existed, and the config warning for
a rule nobody's role uses."""
from __future__ import annotations

import pytest

from crm_core.authz import API_TOKEN, CustomerFacts, LeadFacts, Principal
from crm_core.config.checks import reference_warnings
from crm_core.visibility import Viewer, mask
from tests.helpers.visibility_config import config_with

ZHANG = LeadFacts(1, "zhang.wei", "east-medical")       # east-medical: zhang.wei, li.na, zhao.min (wang.fang)
CHEN = LeadFacts(2, "chen.jie", "south-industry")
POOL = LeadFacts(3, None, None, "pool")
EAST_POOL = LeadFacts(4, None, "east-medical", "pool")
ROWS = {"zhang": ZHANG, "chen": CHEN, "pool": POOL, "east_pool": EAST_POOL}


def viewer(rep_id: str, scope: list[str] | None = None, fields: dict[str, str] | None = None,
           roles: dict | None = None) -> Viewer:
    rule = {"scope": scope} if scope else {}
    rule |= {"fields": fields} if fields else {}
    cfg = config_with({"roles": roles or {"sales": rule, "supervisor": rule, "steward": rule}}, {})
    rep = cfg.org.rep(rep_id)
    assert rep is not None
    return Viewer.of(cfg, Principal.of(rep))


SCOPES = [  # (person, scope, rows they see)
    ("li.na", ["own"], set()),
    ("li.na", ["team"], {"zhang", "east_pool"}),
    ("li.na", ["pool"], {"pool", "east_pool"}),
    ("li.na", ["own", "pool"], {"pool", "east_pool"}),
    ("zhang.wei", ["own"], {"zhang"}),
    ("chen.jie", ["team"], {"chen"}),
    ("wang.fang", ["team"], {"zhang", "chen", "pool", "east_pool"}),   # admin too: the default all
    ("liu.yang", ["team"], {"chen"}),                  # supervisor of south-industry (and steward, same rule)
    ("li.na", ["all"], set(ROWS)),
]


@pytest.mark.parametrize("who, scope, seen", SCOPES, ids=[f"{w}-{'+'.join(s)}" for w, s, _ in SCOPES])
def test_row_scope(who: str, scope: list[str], seen: set[str]) -> None:
    v = viewer(who, scope)
    assert {name for name, row in ROWS.items() if v.scope.lead(row)} == seen


def test_customer_scope_counts_lead_owners_and_teams() -> None:
    v = viewer("li.na", ["team"])
    assert v.scope.customer(CustomerFacts(1, None, frozenset({"zhang.wei"})))
    assert v.scope.customer(CustomerFacts(2, "chen.jie", frozenset(), frozenset({"east-medical"})))
    assert not v.scope.customer(CustomerFacts(3, "chen.jie"))
    assert not v.scope.customer(CustomerFacts(4, None))                  # the pool: not in team scope
    assert viewer("li.na", ["pool"]).scope.customer(CustomerFacts(4, None))


def test_defaults_are_the_behaviour_before() -> None:
    cfg = config_with({}, {})
    for rep in ("zhang.wei", "wang.fang", "liu.yang"):
        v = Viewer.of(cfg, Principal.of(cfg.org.rep(rep)))
        assert v.scope.all and set(v.levels.values()) == {"visible"}
    admin = Viewer.of(cfg, API_TOKEN)
    assert admin.level("phone", CHEN) == "visible"
    rep = Viewer.of(cfg, Principal.of(cfg.org.rep("li.na")))
    assert rep.level("phone", ZHANG) == "masked" and rep.level("phone", LeadFacts(9, "li.na", None)) == "visible"
    assert rep.show("phone", "13900001111", ZHANG) == "139****1111"
    finance = Viewer.of(cfg, Principal.of(cfg.org.rep("sun.li")))
    assert finance.levels["budget"] == "visible" and finance.levels["pain_points"] == "hidden"
    assert finance.show("pain_points", "价格") is None


def test_the_widest_role_wins() -> None:
    cfg = config_with({"roles": {"finance": {"default": "hidden", "fields": {"budget": "visible"}},
                                 "service": {"default": "hidden", "fields": {"notes": "masked", "budget": "masked"},
                                             "scope": ["own"]}}}, {})
    both = Principal("x", "X", frozenset({"finance", "service"}))
    v = Viewer.of(cfg, both)
    assert v.levels["budget"] == "visible" and v.levels["notes"] == "masked" and v.levels["owner"] == "hidden"
    assert v.scope.all                                      # finance's default scope: all


@pytest.mark.parametrize("name, value, masked", [
    ("phone", "13900001111", "139****1111"), ("budget", 80_000, "10万以下"), ("budget", 500_000, "10万–50万"),
    ("budget", 3_000_000, "100万–500万"), ("budget", 9_000_000, "500万以上"),
    ("bank_account", "6222020200112233445", "***************3445"), ("id_number", "12", "****12"),
    ("notes", "客户很满意", "***"), ("owner", "zhang.wei", "***"), ("notes", None, None)])
def test_masks(name: str, value: object, masked: object) -> None:
    assert mask(name, value) == masked


def test_notes_mask_their_phones_by_the_phone_rule() -> None:
    v = viewer("li.na")
    assert v.text("回电13900001111", ZHANG) == "回电139****1111"
    assert v.text("回电13900001111", LeadFacts(9, "li.na", None)) == "回电13900001111"


def test_a_rule_for_a_role_nobody_holds_is_a_warning() -> None:
    cfg = config_with({"roles": {"service": {}}}, {})
    assert not [w for w in reference_warnings(cfg) if w.startswith("visibility.")]
    cfg = cfg.model_copy(update={"org": cfg.org.model_copy(update={
        "reps": [r for r in cfg.org.reps if "service" not in r.roles]})})
    assert [w for w in reference_warnings(cfg) if w.startswith("visibility.")] == [
        "visibility.roles.service: nobody in org.reps has this role, the rule applies to no one / "
        "没有人有「service」这个角色,这条查看权限规则不作用于任何人"]


def test_phones_on_cards_follow_the_roles_too() -> None:
    """The assignment / pool cards' phone (handlers/workflow_cards.py shown_phone): VIEW_PHONE for
    a rep, the role's level on top (service: hidden here, so not even masked)."""
    from handlers.workflow_cards import shown_phone
    cfg = config_with({"roles": {"service": {"default": "hidden"}}}, {})
    assert shown_phone(cfg, "zhang.wei", 1, "zhang.wei", "east-medical", "13900001111") == "13900001111"
    assert shown_phone(cfg, "li.na", 1, "zhang.wei", "east-medical", "13900001111") == "139****1111"
    assert shown_phone(cfg, "zhou.qi", 1, "zhang.wei", "east-medical", "13900001111") == "—"


@pytest.mark.parametrize("level, shown", [("visible", "¥50万"), ("masked", "10万–50万"), ("hidden", None)])
def test_handover_card_money_follows_the_receivers_role(level: str, shown: str | None) -> None:
    from cards.render.text import render_text
    from crm_core.notices import HandoverSummary
    from handlers.workflow_cards import handover_summary
    cfg = config_with({"roles": {"sales": {"fields": {"budget": level}}}}, {})
    notice = HandoverSummary(to_rep="li.na", from_rep="zhang.wei", from_name="张伟", count=1, to_pool=False,
                             budget_total=500_000, customer_count=1,
                             leads=[{"id": 1, "title": "CRM采购", "stage": "qualify", "budget_cny": 500_000}],
                             customers=[{"id": 3, "name": "杭州优品", "open": 1, "budget_cny": 500_000}])
    text = render_text(handover_summary(cfg, notice))
    if shown:
        assert text.count(shown) == 3, text           # the total, the customer, the lead
    else:
        assert "50万" not in text and "预算" not in text, text
