"""What a viewer sees of the rows that leave crm-bot (issue 18): a field filter and a row scope,
derived once from the config's `visibility:` section and the viewer's roles. Pure, like
crm_core/authz.py (whose `Action.VIEW_PHONE` still judges a phone row by row: a role's `phone:
visible` means "in full where the policy allows, masked elsewhere").

Every output path asks the same `Viewer`: the chat replies and cards (through the read models
in crm_core/services/lead_view.py, customer_list.py, queries.py), the digests and reports
(crm_core/services/digest.py, the API's funnel report), the API (crm_core/services/queries.py
`lead_view` / `customer_view`) and the exports (crm_core/services/export.py). A person with
several roles gets the widest level of each field and the union of the scopes."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_core.authz import Action, CustomerFacts, LeadFacts, Principal, decide, is_admin, supervised_teams
from crm_core.config.schema import AppConfig
from crm_core.config.visibility import FIELDS, Level
from crm_core.extract.phone import mask_phones_in_text
from crm_core.normalize import mask_phone

ORDER: dict[str, int] = {"hidden": 0, "masked": 1, "visible": 2}
MASKED_TEXT = "***"
# An edit's activity text (crm_core/services/lead_edit.py `Change.line`, labels of its FIELDS):
# the edited fields whose values a visibility rule covers.
EDIT_PREFIX = "修改:"
EDIT_LABELS = {"预算": "budget", "电话": "phone"}
# A stage entry's record (crm_core/services/stages.py: 「进入方案:沟通方式 微信,核心异议点 价格」): its
# objection is a pain point.
OBJECTION_MARK = ",核心异议点 "
# A masked amount shows its size, not its figure.
BANDS: tuple[tuple[int, str], ...] = ((100_000, "10万以下"), (500_000, "10万–50万"), (1_000_000, "50万–100万"),
                                      (5_000_000, "100万–500万"))


@dataclass(frozen=True)
class RowScope:
    """The rows a viewer may see: everything, or the union of their own, their teams' and the
    pool's. `reps`: the viewer and (team scope) the members of their teams and supervised teams;
    `teams`: those teams (a lead of one of them is in scope whoever owns it)."""
    all: bool
    reps: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    pool: bool = False

    def lead(self, lead: LeadFacts) -> bool:
        if self.all:
            return True
        if lead.owner is None:
            return self.pool or (lead.team_id is not None and lead.team_id in self.teams)
        return lead.owner in self.reps or (lead.team_id is not None and lead.team_id in self.teams)

    def customer(self, c: CustomerFacts) -> bool:
        if self.all:
            return True
        owners = {o for o in (c.owner, *c.lead_owners) if o}
        if not owners:
            return self.pool
        return bool(owners & self.reps) or bool(set(c.lead_teams) & self.teams)


def _view_roles(who: Principal) -> list[str]:
    """The roles whose visibility rules apply: the viewing roles held, else those of a rep."""
    held = [r for r in ("admin", "supervisor", "steward", "finance", "service", "rep") if who.has(r)]
    return held or ["rep"]


def row_scope(cfg: AppConfig, who: Principal) -> RowScope:
    scopes: set[str] = set()
    for role in _view_roles(who):
        scopes |= set(cfg.visibility.role(role).scope)
    if "all" in scopes:
        return RowScope(all=True)
    reps = {who.id} if "own" in scopes or "team" in scopes else set()
    teams: set[str] = set()
    if "team" in scopes:
        teams = {t.id for t in cfg.org.teams_of(who.id)} | supervised_teams(cfg, who)
        reps |= {m for t in cfg.org.teams if t.id in teams for m in t.members}
    return RowScope(all=False, reps=frozenset(reps), teams=frozenset(teams), pool="pool" in scopes)


def field_levels(cfg: AppConfig, who: Principal) -> dict[str, Level]:
    levels: dict[str, Level] = {f: "hidden" for f in FIELDS}
    for role in _view_roles(who):
        rule = cfg.visibility.role(role)
        for f in FIELDS:
            lvl = rule.level(f)
            if ORDER[lvl] > ORDER[levels[f]]:
                levels[f] = lvl
    return levels


def mask(name: str, value: Any) -> Any:
    """`value` as a viewer who may not read it sees it (None stays None)."""
    if value is None or value == "":
        return value
    if name == "phone":
        return mask_phone(str(value))
    if name == "budget" and isinstance(value, (int, float)):
        return next((label for top, label in BANDS if value <= top), "500万以上")
    if name in ("id_number", "bank_account"):
        text = str(value)
        return "*" * max(len(text) - 4, 4) + text[-4:]
    return MASKED_TEXT


Target = LeadFacts | CustomerFacts | None


@dataclass(frozen=True)
class Viewer:
    """One person's (or the admin token's) view: `level(field, row)`, `show(field, value, row)`
    (None when hidden: callers leave the field out), `scope` for the rows."""
    cfg: AppConfig
    who: Principal
    levels: Mapping[str, Level] = field(default_factory=dict)
    scope: RowScope = RowScope(all=True)

    @classmethod
    def of(cls, cfg: AppConfig, who: Principal) -> "Viewer":
        return cls(cfg, who, field_levels(cfg, who), row_scope(cfg, who))

    def level(self, name: str, row: Target = None) -> Level:
        lvl = self.levels[name]
        if name == "phone" and lvl == "visible" and row is not None and not is_admin(self.who):
            if not decide(self.cfg, self.who, Action.VIEW_PHONE, row).allowed:
                return "masked"
        return lvl

    def hidden(self, name: str, row: Target = None) -> bool:
        return self.level(name, row) == "hidden"

    def show(self, name: str, value: Any, row: Target = None) -> Any:
        lvl = self.level(name, row)
        if lvl == "hidden":
            return None
        return value if lvl == "visible" else mask(name, value)

    def text(self, value: str | None, row: Target = None) -> str | None:
        """A note or transcript: hidden or masked as `notes`, its phones as `phone`; an edit's
        record (「修改:预算:¥50万 → ¥80万」) also as the fields it names, a stage entry's objection
        as `pain_points`."""
        lvl = self.level("notes", row)
        if lvl != "visible" or not value:
            return None if lvl == "hidden" else mask("notes", value)
        if value.startswith(EDIT_PREFIX):
            value = self._edit_text(value, row)
        if OBJECTION_MARK in value and (lvl := self.level("pain_points", row)) != "visible":
            head = value.partition(OBJECTION_MARK)[0]
            value = head if lvl == "hidden" else f"{head}{OBJECTION_MARK}{MASKED_TEXT}"
        return value if self.level("phone", row) == "visible" else mask_phones_in_text(value)

    def _edit_text(self, value: str, row: Target) -> str:
        parts = []
        for part in value.removeprefix(EDIT_PREFIX).split(";"):
            label = part.split(":", 1)[0]
            lvl = self.level(EDIT_LABELS[label], row) if label in EDIT_LABELS else "visible"
            if lvl == "masked" and EDIT_LABELS.get(label) == "phone":
                parts.append(mask_phones_in_text(part))      # 电话:139****1111 → 139****2222
            elif lvl != "hidden":
                parts.append(part if lvl == "visible" else f"{label}:{MASKED_TEXT}")
        return EDIT_PREFIX + ";".join(parts) if parts else EDIT_PREFIX + "已修改"

    def masks(self, values: Mapping[str, Any], row: Target = None) -> tuple[dict[str, Any], frozenset[str]]:
        """For a read model: the masked text of each masked field and the set of hidden ones."""
        masked = {k: mask(k, v) for k, v in values.items() if self.level(k, row) == "masked"}
        return masked, frozenset(k for k in values if self.level(k, row) == "hidden")

    def breakdown(self, by_rep: Mapping[str, Any], by_team: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A report's per-rep and per-team rows cut to the viewer's scope (everything for `all`;
        the pool's row with `pool`); per-rep rows keyed by rep id need `owner` not hidden."""
        if self.scope.all:
            reps, teams = dict(by_rep), dict(by_team)
        else:
            reps = {k: v for k, v in by_rep.items() if k in self.scope.reps or (self.scope.pool and k.startswith("("))}
            teams = {k: v for k, v in by_team.items() if k in self.scope.teams}
        return ({} if self.levels["owner"] == "hidden" else reps), teams

    def filter_dict(self, view: dict[str, Any], keys: Mapping[str, str], row: Target = None) -> dict[str, Any]:
        """An API object with each key of `keys` (key → field) left out when hidden, masked when
        masked; the others as they are."""
        out = dict(view)
        for key, name in keys.items():
            if key not in out:
                continue
            lvl = self.level(name, row)
            if lvl == "hidden":
                del out[key]
            elif lvl == "masked":
                out[key] = mask(name, out[key])
        return out


class NotInScope(PermissionError):
    """A row outside the viewer's scope was asked for by number; the message is for them."""


def out_of_scope(kind: str, ref: str) -> NotInScope:
    return NotInScope(f"{kind}{ref} 不在你的查看范围内;如需查看,请联系主管或管理员。")
