"""Field-sales coaching settings (issue 17): the structured visit note (拜访纪要), the minimum
effective action asked when a lead enters a stage (沟通方式 + 核心异议点, with buttons), and the
weekly coaching push when a rep's stage penetration stays low. Three sections of the root
config: `visit_notes`, `stage_entry`, `coaching`. Stage keys are checked against the funnel by
`field_work_problems` (run by `config check` with the other cross-references)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_OBJECTIONS = 12          # presets on the 核心异议点 card (paged five at a time)
MAX_CHANNELS = 6             # one card row of buttons on every platform
VisitPart = Literal["topic", "needs", "commitments", "next_follow_up"]
ALL_PARTS: tuple[VisitPart, ...] = ("topic", "needs", "commitments", "next_follow_up")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _labels(v: list[str], most: int, what: str) -> list[str]:
    cleaned = [x.strip() for x in v]
    problems = []
    if any(not x for x in cleaned):
        problems.append(f"an empty {what} / {what}不能为空")
    if len(set(cleaned)) != len(cleaned):
        problems.append(f"a {what} is listed twice / 有重复的{what}")
    if len(cleaned) > most:
        problems.append(f"at most {most} (got {len(cleaned)}) / 最多 {most} 个(现有 {len(cleaned)} 个)")
    if any(len(x) > 12 for x in cleaned):
        problems.append(f"a {what} longer than 12 characters does not fit a button / {what}超过 12 个字,按钮放不下")
    if problems:
        raise ValueError("; ".join(problems))
    return cleaned


class VisitNotes(_Section):
    # the parts the bot asks for when one free message leaves them out (the others stay empty)
    ask_for: list[VisitPart] = Field(default_factory=lambda: list(ALL_PARTS))
    # buttons offered for the next follow-up time (plus typing any day: 「12月10日」「周五」)
    time_choices: list[str] = Field(default_factory=lambda: ["明天", "后天", "下周一"])

    @field_validator("time_choices")
    @classmethod
    def _choices(cls, v: list[str]) -> list[str]:
        return _labels(v, 5, "time choice")


class StageEntry(_Section):
    # entering one of these stages asks for 沟通方式 and 核心异议点 before the move is recorded
    stages: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=lambda: ["电话", "面谈", "腾讯会议"])
    # the 核心异议点 presets; empty: funnel.objection_categories
    objections: list[str] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one channel / 至少配置一种沟通方式")
        return _labels(v, MAX_CHANNELS, "channel")

    @field_validator("objections")
    @classmethod
    def _objections(cls, v: list[str]) -> list[str]:
        return _labels(v, MAX_OBJECTIONS, "objection")


class Material(_Section):
    text: str = Field(min_length=1, max_length=300)
    link: str | None = Field(None, pattern=r"^https?://\S{1,500}$")


class Coaching(_Section):
    enabled: bool = True
    min_rate: float = Field(0.65, gt=0, le=1)          # penetration A → B below this is low
    weeks: int = Field(3, ge=1, le=8)                  # low this many complete weeks running → push (a card field each)
    window_days: float = Field(7, gt=0, le=60)         # B reached within this long after entering A
    min_entries: int = Field(3, ge=1)                  # a week with fewer entries into A is not judged
    # stage pairs [A, B] watched; empty: each open stage to the next (the last to won)
    pairs: list[tuple[str, str]] = Field(default_factory=list)
    material: dict[str, Material] = Field(default_factory=dict)    # stage A key → coaching material


def objection_presets(stage_entry: StageEntry, funnel_categories: list[str]) -> list[str]:
    """The 核心异议点 buttons: the configured presets, else the funnel's objection categories."""
    return list(stage_entry.objections or funnel_categories)[:MAX_OBJECTIONS]


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def field_work_problems(data: dict[str, Any]) -> list[str]:
    """Stage keys in stage_entry / coaching name funnel stages; the 核心异议点 presets (the
    funnel's categories when none are given) fit the card ("key.path: English / 中文")."""
    if not isinstance(data, dict):
        return []
    funnel = _section(data, "funnel")
    stages = [s for s in funnel.get("stages") or [] if isinstance(s, dict)]
    keys = {str(s.get("key")): s.get("outcome") for s in stages}
    out: list[str] = []

    def check(path: str, key: Any, open_only: bool = False) -> None:
        if str(key) not in keys:
            out.append(f"{path}: unknown stage '{key}' / 没有这个阶段「{key}」")
        elif open_only and keys[str(key)] is not None:
            out.append(f"{path}: '{key}' is a closing stage / 「{key}」是结束阶段,不能设置进入动作")

    entry = _section(data, "stage_entry")
    for i, key in enumerate(entry.get("stages") or []):
        check(f"stage_entry.stages[{i}]", key, open_only=True)
    if entry.get("stages") and not entry.get("objections"):
        cats = funnel.get("objection_categories")
        if isinstance(cats, list) and len(cats) > MAX_OBJECTIONS:
            out.append(f"stage_entry.objections: funnel.objection_categories has {len(cats)}, the card takes "
                       f"{MAX_OBJECTIONS}; list up to {MAX_OBJECTIONS} here / 异议类别超过 {MAX_OBJECTIONS} 个,"
                       f"请在这里列出最多 {MAX_OBJECTIONS} 个")
    coaching = _section(data, "coaching")
    for i, pair in enumerate(coaching.get("pairs") or []):
        for j, key in enumerate(pair if isinstance(pair, list) else []):
            check(f"coaching.pairs[{i}][{j}]", key)
    for key in (coaching.get("material") or {}):
        check(f"coaching.material.{key}", key)
    return out
