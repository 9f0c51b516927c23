"""Lossless customer merge and its exact undo.

A merge moves every contact (kept as a source-tagged alias), lead, activity, task, mute and
blocking key of the merged customers to the survivor, marks them `merged` (never deleted) and
stores the before/after image of every row it touched; `undo_merge` restores the before image
three-way, refusing when later changes depend on the merge.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, delete, select, update
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.db.models import (Activity, Contact, Customer, DedupReview, Lead, MatchKey, MergeRecord, Mute,
                                Order, Task, Touchpoint)
from crm_core.db.types import UTCDateTime
from crm_core.services.lead_input import CHANNEL_LABELS

# Tables whose rows follow a merged customer to the survivor (by their customer_id column).
MOVED = (Contact, MatchKey, Lead, Activity, Task, Mute, Order, Touchpoint)    # orders, touchpoints: issue 18 CLV
RowModel = type[Customer | Contact | MatchKey | Lead | Activity | Task | Mute | Order | Touchpoint]
MODELS: dict[str, RowModel] = {m.__tablename__: m for m in (Customer, *MOVED)}
# Fields copied onto the survivor when it lacks them; a different value goes to extra["history"].
ABSORBED = ("company_key", "region", "industry", "source", "owner_rep_id")
SOFT_COLUMNS = frozenset({"updated_at"})   # bookkeeping: a later change there never blocks an undo
# Rows created after the merge that hang on a moved row: undoing would tear them apart.
DEPENDENTS = ((Activity, "lead_id", "leads", "跟进记录"), (Task, "lead_id", "leads", "待办"),
              (Lead, "contact_id", "contacts", "线索"), (MatchKey, "contact_id", "contacts", "查重索引"))


class MergeError(ValueError):
    """A merge or undo that cannot be done; the message is for people (Chinese)."""


def to_json(value: Any) -> Any:
    """Row value → JSON-safe value (datetimes as ISO with time zone, dates as ISO)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def from_json(table: FromClause, column: str, value: Any) -> Any:
    if value is None:
        return None
    kind = table.c[column].type
    if isinstance(kind, UTCDateTime):
        return datetime.fromisoformat(value)
    if type(kind).__name__ == "Date":
        return date.fromisoformat(value)
    return value


def table_rows(session: Session, table: FromClause, where: ColumnElement[bool]) -> dict[str, dict[str, Any]]:
    """{str(pk): full JSON-safe row} for the rows of `table` matching `where`, in pk order."""
    rows = session.execute(select(table).where(where).order_by(table.c.id)).mappings()
    return {str(row["id"]): {k: to_json(v) for k, v in row.items()} for row in rows}


def pick_survivor(cfg: AppConfig, customers: Sequence[Customer]) -> Customer:
    """The most recently created customer (or the oldest, per `dedup.survivor`)."""
    order = sorted(customers, key=lambda c: (c.created_at, c.id))
    return order[-1] if cfg.dedup.survivor == "newest" else order[0]


def _load_group(session: Session, ids: Sequence[int]) -> list[Customer]:
    customers = []
    for cid in dict.fromkeys(ids):
        customer = session.get(Customer, cid)
        if customer is None:
            raise MergeError(f"客户C{cid} 不存在")
        if customer.status != "active":
            raise MergeError(f"客户C{cid} 已合并到客户C{customer.merged_into_id},不能再次合并")
        customers.append(customer)
    if len(customers) < 2:
        raise MergeError("至少需要两个不同的客户才能合并")
    return customers


def _capture(session: Session, survivor_id: int, other_ids: list[int]) -> dict[str, dict[str, dict[str, Any]]]:
    customers = Customer.__table__
    image = {"customers": table_rows(session, customers, customers.c.id.in_([survivor_id, *other_ids]))}
    for model in MOVED:
        table = model.__table__
        image[model.__tablename__] = table_rows(session, table, table.c.customer_id.in_(other_ids))
    return image


def _recapture(session: Session, image: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The same rows (by primary key) as they are now."""
    out = {}
    for name, rows in image.items():
        table = MODELS[name].__table__
        out[name] = table_rows(session, table, table.c.id.in_([int(pk) for pk in rows])) if rows else {}
    return out


def _absorb(survivor: Customer, others: list[Customer], merge_id: int, now: datetime) -> None:
    """Fill the survivor's empty fields; keep every conflicting value (names included) in history."""
    extra = dict(survivor.extra or {})
    history = list(extra.get("history", []))
    for other in others:
        for name in ("name", *ABSORBED):
            mine, theirs = getattr(survivor, name), getattr(other, name)
            if theirs in (None, "") or theirs == mine:
                continue
            if mine in (None, "") and name != "name":
                setattr(survivor, name, theirs)
            else:
                history.append({"merge_id": merge_id, "from_customer": other.id, "field": name,
                                "value": theirs, "kept": mine, "at": now.isoformat()})
        for key, value in (other.extra or {}).items():
            if key == "history" or extra.get(key) == value:
                continue
            if key not in extra:
                extra[key] = value
            else:
                history.append({"merge_id": merge_id, "from_customer": other.id, "field": f"extra.{key}",
                                "value": value, "kept": extra[key], "at": now.isoformat()})
    extra["history"] = history
    survivor.extra = extra          # a new dict: plain JSON columns only notice reassignment
    survivor.updated_at = now


def _move(session: Session, survivor: Customer, others: list[Customer], now: datetime) -> None:
    other_ids = [o.id for o in others]
    labels = {o.id: o.source for o in others}
    for contact in session.scalars(select(Contact).where(Contact.customer_id.in_(other_ids))):
        code = contact.source or labels.get(contact.customer_id)
        contact.source = CHANNEL_LABELS.get(code, code) if code else None
        contact.customer_id, contact.is_alias = survivor.id, True
    session.flush()
    for model in (MatchKey, Activity, Task, Mute, Order, Touchpoint):
        session.execute(update(model).where(model.customer_id.in_(other_ids)).values(customer_id=survivor.id))
    session.execute(update(Lead).where(Lead.customer_id.in_(other_ids)).values(customer_id=survivor.id,
                                                                                 updated_at=now))
    for other in others:
        other.status, other.merged_into_id, other.updated_at = "merged", survivor.id, now


def merge_customers(session: Session, cfg: AppConfig, survivor_id: int | None, others: Sequence[int],
                    actor: str, now: datetime, score: float | None = None, source: str | None = None,
                    reason: str | None = None) -> MergeRecord:
    """Merge `others` into `survivor_id` (or into the one `dedup.survivor` picks when None).

    `source` says what triggered it (entry, prompt, review, scan, import, manual). Returns the
    MergeRecord whose id `undo_merge` takes."""
    session.flush()
    group = _load_group(session, [*([survivor_id] if survivor_id is not None else []), *others])
    survivor = next(c for c in group if c.id == survivor_id) if survivor_id is not None else pick_survivor(cfg, group)
    merged = [c for c in group if c.id != survivor.id]
    before = _capture(session, survivor.id, [c.id for c in merged])
    record = MergeRecord(survivor_id=survivor.id, merged_ids=[c.id for c in merged], score=score,
                         reason=reason or _reason(merged, score), source=source, actor=actor, snapshot={},
                         created_at=now)
    session.add(record)
    session.flush()
    _absorb(survivor, merged, record.id, now)
    _move(session, survivor, merged, now)
    note = Activity(customer_id=survivor.id, kind="merged", actor=actor, created_at=now,
                    text=f"合并了 {len(merged)} 条重复客户记录:" + "、".join(f"#{c.id} {c.name}" for c in merged),
                    data={"merge_id": record.id, "merged_ids": record.merged_ids, "score": score})
    session.add(note)
    session.flush()
    record.snapshot = {"version": 1, "before": before, "after": _recapture(session, before),
                       "created": {"activities": [note.id]}}
    audit.record(session, actor, "customer.merge", target_type="customer", target_id=survivor.id,
                 detail={"merge_id": record.id, "merged_ids": record.merged_ids, "score": score, "source": source},
                 now=now)
    return record


def _reason(merged: list[Customer], score: float | None) -> str:
    sources = sorted({CHANNEL_LABELS.get(c.source or "", c.source or "未知来源") for c in merged})
    head = f"相似度 {score:.1f}" if score is not None else "手动合并"
    return f"{head} · {'/'.join(sources)}"[:200]


def _later_merge(session: Session, record: MergeRecord) -> int | None:
    """Id of a later, not undone merge that involves one of this merge's customers."""
    ids = {record.survivor_id, *record.merged_ids}
    later = session.execute(select(MergeRecord.id, MergeRecord.survivor_id, MergeRecord.merged_ids)
                            .where(MergeRecord.id > record.id, MergeRecord.undone_at.is_(None))
                            .order_by(MergeRecord.id.desc()))
    return next((mid for mid, survivor, merged in later if ids & {survivor, *(merged or [])}), None)


def _dependents(session: Session, snapshot: dict[str, Any]) -> list[str]:
    """Rows created after the merge that point at a moved lead or contact."""
    found = []
    known = {name: {int(pk) for pk in rows} for name, rows in snapshot["before"].items()}
    created = set(snapshot.get("created", {}).get("activities", []))
    for model, column, parent, label in DEPENDENTS:
        parents = known.get(parent) or set()
        if not parents:
            continue
        own = known.get(model.__tablename__, set()) | (created if model is Activity else set())
        rows = session.scalars(select(model.id).where(getattr(model, column).in_(parents))).all()
        extra = sorted(set(rows) - own)
        if extra:
            found.append(f"{label} #{', #'.join(map(str, extra[:5]))}")
    return found


def _restore_plan(session: Session,
                  snapshot: dict[str, Any]) -> tuple[list[tuple[RowModel, int, dict[str, Any]]], list[str]]:
    """(updates, conflicts): per row, every column the merge changed goes back to its before value
    when nobody changed it since; a column changed both by the merge and later is a conflict."""
    plan: list[tuple[RowModel, int, dict[str, Any]]] = []
    conflicts: list[str] = []
    current = _recapture(session, snapshot["before"])
    for name, rows in snapshot["before"].items():
        model, table = MODELS[name], MODELS[name].__table__
        for pk, before in rows.items():
            after, now_row = snapshot["after"][name].get(pk), current[name].get(pk)
            if after is None or now_row is None:
                conflicts.append(f"{name} #{pk} 已不存在")
                continue
            values = {}
            for col, old in before.items():
                if old == after[col] or now_row[col] != after[col]:
                    if old != after[col] and col not in SOFT_COLUMNS:
                        conflicts.append(f"{name} #{pk} 的 {col} 在合并后又被修改")
                    values[col] = from_json(table, col, now_row[col])
                else:
                    values[col] = from_json(table, col, old)
            plan.append((model, int(pk), values))
    return plan, conflicts


def undo_merge(session: Session, merge_id: int, actor: str, now: datetime) -> MergeRecord:
    """Put every row the merge touched back exactly as it was; refused (MergeError) when the merge
    was already undone, a later merge involves its customers, or later rows depend on it."""
    record = session.get(MergeRecord, merge_id)
    if record is None:
        raise MergeError(f"没有编号为 {merge_id} 的合并记录")
    if record.undone_at is not None:
        raise MergeError(f"合并 #{merge_id} 已于 {local(record.undone_at).strftime('%Y-%m-%d %H:%M')} 撤销,不能重复撤销")
    session.flush()
    later = _later_merge(session, record)
    if later is not None:
        raise MergeError(f"合并 #{merge_id} 之后这些客户又参与了合并 #{later},请先撤销 #{later}")
    dependents = _dependents(session, record.snapshot)
    if dependents:
        raise MergeError(f"合并 #{merge_id} 之后新增的记录依赖合并结果({';'.join(dependents)}),无法撤销")
    plan, conflicts = _restore_plan(session, record.snapshot)
    if conflicts:
        raise MergeError(f"合并 #{merge_id} 之后记录又有改动,无法精确撤销:{';'.join(conflicts[:5])}")
    # children first, customers last: restored foreign keys point at rows that are active again
    for model, pk, values in sorted(plan, key=lambda item: item[0] is Customer):
        session.execute(update(model).where(model.id == pk).values(**{k: v for k, v in values.items() if k != "id"}))
    created = record.snapshot.get("created", {}).get("activities", [])
    if created:
        session.execute(delete(Activity).where(Activity.id.in_(created)))   # the merge's own note
    reopened = _reopen_reviews(session, merge_id)
    record.undone_at = now
    audit.record(session, actor, "customer.merge_undo", target_type="merge", target_id=merge_id,
                 detail={"survivor_id": record.survivor_id, "merged_ids": record.merged_ids,
                         "reopened_reviews": reopened}, now=now)
    session.flush()
    return record


def _reopen_reviews(session: Session, merge_id: int) -> list[int]:
    """The duplicate reviews whose 合并/关联 decision made this merge are open again: the pair is
    a question once more (「待审重复」 lists it, a scan does not queue it twice). Returns their ids."""
    reviews = session.scalars(select(DedupReview).where(DedupReview.merge_id == merge_id)
                              .order_by(DedupReview.id)).all()
    for review in reviews:
        review.status, review.reviewer, review.decided_at, review.merge_id = "open", None, None, None
    return [review.id for review in reviews]

