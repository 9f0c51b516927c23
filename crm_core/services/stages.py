"""Moving a lead through the funnel: stage gates (what each stage needs before the lead may
leave it), the stage-change activity (who/when/from which platform) and the stage fuse
(deadline from the new stage's timeout on its clock). Won/lost stages close the lead."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.coaching import objection_presets
from crm_core.config.schema import AppConfig, Stage
from crm_core.config.vocabulary import GATE_ITEMS
from crm_core.db.models import Activity, Contact, Customer, Lead, Task
from crm_core.worktime import stage_clock

# What the reps see when an item is missing (one home: the config vocabulary).
FIELD_LABELS = GATE_ITEMS
_LEAD_FIELDS = ("budget_cny", "product", "timeline", "next_action", "industry", "region", "title", "source")
_CONTACT_FIELDS = {"contact_name": "name", "contact_title": "title", "phone": "phone", "email": "email",
                   "wechat_id": "wechat_id"}
_CUSTOMER_FIELDS = {"company": "name"}


class StageError(ValueError):
    """A stage move that cannot happen; the message is for the rep."""


class StageGateError(StageError):
    """Refused: the current stage's requirements are not met. `missing` lists item keys."""

    def __init__(self, missing: list[str], invalid: dict[str, str] | None = None):
        self.missing = missing
        self.invalid = invalid or {}
        parts = []
        if missing:
            parts.append("还缺:" + "、".join(label(k) for k in missing))
        parts += [f"{label(k)}无效:{why}" for k, why in self.invalid.items()]
        super().__init__("无法推进阶段," + ";".join(parts))


class LossReasonNeeded(StageError):
    """输单 needs a reason from the configured list (funnel.loss_reasons); `choices` maps each
    code to its label."""

    def __init__(self, choices: dict[str, str], given: str | None = None):
        self.choices, self.given = choices, given
        names = "、".join(choices.values())
        super().__init__(f"「{given}」不是可选的输单原因,请从这些中选:{names}" if given
                         else f"输单需要选择原因:{names}")


def loss_reason(cfg: AppConfig, word: str | None) -> str:
    """The configured loss-reason code a rep's word names (code, label, or the one label that
    contains it or that it contains), else LossReasonNeeded."""
    reasons = cfg.funnel.loss_reasons
    w = (word or "").strip()
    if not w:
        raise LossReasonNeeded(reasons)
    exact = [k for k, v in reasons.items() if w in (k, v)]
    near = [k for k, v in reasons.items() if w in v or v in w]
    found = exact or (near if len(near) == 1 else [])
    if not found:
        raise LossReasonNeeded(reasons, w)
    return found[0]


def label(item: str) -> str:
    """What reps read for a gate item; never the key itself (a key outside the vocabulary
    reads as 「所需资料」)."""
    return FIELD_LABELS.get(item, "所需资料")


def fuse_deadline_for(cfg: AppConfig, stage: Stage | None, start: datetime) -> datetime | None:
    """When the stage's fuse blows, counted on the stage's clock (None for won/lost)."""
    if stage is None or stage.outcome is not None:
        return None
    return stage_clock(cfg, stage).add_hours(start, stage.timeout_hours)


def reset_fuse(cfg: AppConfig, lead: Lead, now: datetime) -> None:
    """A fresh fuse from `now` (an update, a new owner, a new stage all cancel escalation)."""
    lead.fuse_deadline = fuse_deadline_for(cfg, cfg.funnel.stage(lead.stage), now)
    lead.fuse_level = 0


def gate_items(cfg: AppConfig, from_key: str, to_key: str) -> list[str]:
    """Requirements to satisfy when moving from one stage to another: every stage left
    behind going forward; nothing to lose a lead or to step back."""
    stages = cfg.funnel.stages
    keys = [s.key for s in stages]
    i, j = keys.index(from_key), keys.index(to_key)
    target = stages[j]
    if target.outcome == "lost" or (j < i and target.outcome is None):
        return []
    passed = stages[i:] if target.outcome == "won" else stages[i:j]
    items: list[str] = []
    for st in passed:
        if st.outcome is None:
            items += [r for r in st.required if r not in items]
    return items


def _present(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value not in (None, [], {}, ())


def check_items(session: Session, cfg: AppConfig, lead: Lead, items: list[str],
                details: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """(missing, invalid) for the given requirement keys."""
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    customer = session.get(Customer, lead.customer_id)
    missing: list[str] = []
    invalid: dict[str, str] = {}
    for item in items:
        if item in _CONTACT_FIELDS:
            value = getattr(contact, _CONTACT_FIELDS[item], None)
        elif item in _CUSTOMER_FIELDS:
            value = getattr(customer, _CUSTOMER_FIELDS[item], None)
        elif item in _LEAD_FIELDS:
            value = getattr(lead, item)
        else:
            value = details.get(item)
        if not _present(value):
            missing.append(item)
        elif item == "objection_category" and (problem := _objection_problem(cfg, value)):
            invalid[item] = problem
    return missing, invalid


def _objection_problem(cfg: AppConfig, value: Any) -> str | None:
    """Objection categories come from a fixed list so reports can count them."""
    if value is None or value in cfg.funnel.objection_categories:
        return None
    return f"“{value}”不在可选类别({'、'.join(cfg.funnel.objection_categories)})中"


def advance_stage(session: Session, cfg: AppConfig, lead: Lead, to_stage: str, actor: str,
                  platform: str | None, now: datetime, details: dict[str, Any] | None = None) -> Activity:
    """Move `lead` to `to_stage` or raise StageGateError listing exactly what is missing.
    `details` (e.g. {"objection_category": "价格"}) is saved on the lead with the move."""
    target = cfg.funnel.stage(to_stage)
    if target is None:
        raise StageError(f"没有名为“{to_stage}”的阶段")
    if lead.status != "open":
        raise StageError("线索已关闭或在公海中,不能推进阶段")
    source = cfg.funnel.stage(lead.stage)
    if source is None:
        raise StageError(f"线索当前阶段“{lead.stage}”已不在配置中,请管理员检查")
    if lead.stage == to_stage:
        raise StageError(f"线索已在“{target.name}”阶段")
    given = dict(details or {})
    answers = {k: given.pop(k) for k in ENTRY_KEYS if k in given}     # stage-entry answers: an activity, not lead data
    if target.outcome == "lost":         # a lost lead says why, from the configured list
        given["loss_reason"] = loss_reason(cfg, given.get("loss_reason"))
    merged = {**(lead.details or {}), **given}
    missing, invalid = check_items(session, cfg, lead, gate_items(cfg, lead.stage, to_stage), merged)
    problem = _objection_problem(cfg, given.get("objection_category"))
    if problem:       # a wrong category is refused even when this move does not need one
        invalid["objection_category"] = problem
    if missing or invalid:
        raise StageGateError(missing, invalid)
    entry = entry_answers(cfg, target, answers)
    act = _move(session, cfg, lead, source, target, actor, platform, now, merged, sorted(given))
    if entry is not None:
        record_entry(session, lead, target, act, entry, actor, platform, now)
    return act


# ---- minimum effective action on entering a stage (issue 17; config: stage_entry) ----------------
# Entering a stage listed in `stage_entry.stages` needs 沟通方式 (one of `stage_entry.channels`) and
# 核心异议点 (one of the presets, crm_core/config/coaching.py `objection_presets`). The move waits
# for them: without both, advance_stage raises EntryActionNeeded and the caller asks with buttons
# (handlers/stage_entry.py); with both, the move and a `stage_entry` activity are written together.

ENTRY_KEYS = ("entry_channel", "entry_objection")


class EntryActionNeeded(StageError):
    """Entering `stage` needs the rep's 沟通方式 and 核心异议点 from these choices."""

    def __init__(self, stage: Stage, channels: list[str], objections: list[str], problem: str | None = None):
        self.stage, self.channels, self.objections, self.problem = stage, channels, objections, problem
        super().__init__(problem or f"进入“{stage.name}”需要先选择沟通方式和核心异议点")


def entry_answers(cfg: AppConfig, target: Stage, answers: dict[str, Any]) -> dict[str, str] | None:
    """The checked answers for a stage that asks for them (None for one that does not)."""
    if target.key not in cfg.stage_entry.stages:
        return None
    channels = list(cfg.stage_entry.channels)
    objections = objection_presets(cfg.stage_entry, cfg.funnel.objection_categories)
    channel, objection = (str(answers.get(k) or "").strip() for k in ENTRY_KEYS)
    problem = None
    if channel and channel not in channels:
        problem = f"“{channel}”不是可选的沟通方式({'、'.join(channels)})"
    elif objection and objection not in objections:
        problem = f"“{objection}”不是可选的核心异议点({'、'.join(objections)})"
    if problem or not channel or not objection:
        raise EntryActionNeeded(target, channels, objections, problem)
    return {"channel": channel, "objection": objection}


def record_entry(session: Session, lead: Lead, target: Stage, move: Activity, entry: dict[str, str], actor: str,
                 platform: str | None, now: datetime) -> Activity:
    act = Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="stage_entry", actor=actor, platform=platform,
                   text=f"进入{target.name}:沟通方式 {entry['channel']},核心异议点 {entry['objection']}",
                   created_at=now, data={"stage": target.key, "move": move.id, **entry})
    session.add(act)
    session.flush()
    return act


def _move(session: Session, cfg: AppConfig, lead: Lead, source: Stage, target: Stage, actor: str,
          platform: str | None, now: datetime, merged: dict[str, Any], given: list[str]) -> Activity:
    reason = cfg.funnel.loss_reasons.get(str(merged.get("loss_reason"))) if target.outcome == "lost" else None
    act = Activity(customer_id=lead.customer_id, lead_id=lead.id, kind="stage", actor=actor, platform=platform,
                   text=f"阶段:{source.name} → {target.name}" + (f"(原因:{reason})" if reason else ""),
                   created_at=now,
                   data={"from": source.key, "to": target.key, "from_entered_at": lead.stage_entered_at.isoformat(),
                         "owner": lead.owner_rep_id, "team": lead.team_id, "details": given})
    session.add(act)
    lead.details = merged       # a new dict: JSON columns only notice reassignment
    lead.stage, lead.stage_entered_at = target.key, now
    lead.last_activity_at = now
    if target.outcome is not None:
        lead.status = target.outcome
    if target.outcome == "lost":         # nothing left to do for a lost lead: its to-dos leave lists and digests
        session.execute(update(Task).where(Task.lead_id == lead.id, Task.status == "open")
                        .values(status="cancelled"))
    reset_fuse(cfg, lead, now)
    audit.record(session, actor, "lead.stage", platform=platform, target_type="lead", target_id=lead.id,
                 detail={"from": source.key, "to": target.key,
                         **({"loss_reason": merged["loss_reason"]} if reason else {})}, now=now)
    session.flush()
    return act
