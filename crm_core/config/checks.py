"""Cross-reference checks over the raw config mapping (rep ids, team ids, steward...).
They run on the raw data so an admin sees these problems together with schema errors."""
from __future__ import annotations

from typing import Any


def _list(d: Any, key: str) -> list:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, list) else []


def _dict(d: Any, key: str) -> dict:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, dict) else {}


def cross_reference_problems(data: dict[str, Any]) -> list[str]:
    org = _dict(data, "org")
    reps = [r for r in _list(org, "reps") if isinstance(r, dict)]
    rep_ids = [r.get("id") for r in reps]
    problems: list[str] = []
    seen: set = set()
    for i, rid in enumerate(rep_ids):
        if rid in seen:
            problems.append(f"org.reps[{i}].id: duplicate rep id '{rid}'")
        seen.add(rid)
    problems += _platform_id_problems(reps)
    known = set(rep_ids)
    team_ids = []
    for i, team in enumerate(_list(org, "teams")):
        if not isinstance(team, dict):
            continue
        team_ids.append(team.get("id"))
        sup = team.get("supervisor")
        if sup is not None and sup not in known:
            problems.append(f"org.teams[{i}].supervisor: unknown rep '{sup}'")
        for j, m in enumerate(_list(team, "members")):
            if m not in known:
                problems.append(f"org.teams[{i}].members[{j}]: unknown rep '{m}'")
    steward = org.get("data_steward")
    if steward is not None and steward not in known:
        problems.append(f"org.data_steward: unknown rep '{steward}'")
    problems += _assignment_problems(_dict(data, "assignment"), set(team_ids))
    problems += _stage_problems(_dict(data, "funnel"))
    return problems


def _platform_id_problems(reps: list[dict]) -> list[str]:
    owner: dict[tuple[str, str], int] = {}
    out = []
    for i, r in enumerate(reps):
        for plat, uid in _dict(r, "platform_ids").items():
            if (plat, uid) in owner:
                out.append(f"org.reps[{i}].platform_ids.{plat}: user id '{uid}' is already used by "
                           f"org.reps[{owner[(plat, uid)]}]")
            owner[(plat, uid)] = i
    return out


def _assignment_problems(asg: dict, team_ids: set) -> list[str]:
    out = []
    dt = asg.get("default_team")
    if dt is not None and dt not in team_ids:
        out.append(f"assignment.default_team: unknown team '{dt}'")
    for i, rule in enumerate(_list(asg, "rules")):
        if isinstance(rule, dict) and rule.get("team") is not None and rule.get("team") not in team_ids:
            out.append(f"assignment.rules[{i}].team: unknown team '{rule.get('team')}'")
    return out


def _stage_problems(funnel: dict) -> list[str]:
    out = []
    seen: set = set()
    for i, st in enumerate(_list(funnel, "stages")):
        if isinstance(st, dict):
            if st.get("key") in seen:
                out.append(f"funnel.stages[{i}].key: duplicate stage key '{st.get('key')}'")
            seen.add(st.get("key"))
    return out
