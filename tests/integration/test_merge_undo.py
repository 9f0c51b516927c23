"""Merge keeps everything and undo restores the exact previous rows (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.db.models import (Activity, Assignment, AuditLog, Contact, Customer, Lead, MatchKey, MergeRecord,
                                Task)
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput
from crm_core.services.merge import MergeError, merge_customers, undo_merge

COMPARED = (Customer, Contact, Activity, Task, Lead, MatchKey, Assignment)


def full_rows(db) -> dict[str, list[dict[str, Any]]]:  # noqa: ANN001
    """Every column of every row of the compared tables, as the database returns them."""
    with db.engine.connect() as conn:
        return {m.__tablename__: [dict(r) for r in conn.execute(select(m.__table__).order_by(m.__table__.c.id))
                                  .mappings()] for m in COMPARED}


def add_customer(db, cfg, now, *, source: str, company: str, name: str, phone: str, owner: str | None,  # noqa: ANN001
                 extra: dict | None = None, health: float | None = None) -> int:
    """A customer with a lead, a to-do, a note, an assignment, as the capture path stores them."""
    data = LeadInput(source=source, company=company, contact_name=name, phone=phone, product="CRM",
                     next_action="演示", timeline="2026-12", note="初次沟通")
    with db.uow() as s:
        res = save_lead(s, cfg, data, actor="zhang.wei", platform="wecom", now=now, owner_rep_id=owner)
        res.customer.owner_rep_id, res.customer.health_score = owner, health
        res.customer.extra = extra or {}
        s.add(Activity(customer_id=res.customer.id, lead_id=res.lead.id, kind="note", text="客户关心价格",
                       actor="zhang.wei", created_at=now, data={"mood": "positive", "nested": {"a": [1, 2]}}))
        s.add(Task(customer_id=res.customer.id, lead_id=res.lead.id, owner_rep_id=owner, title="回电",
                   due_date=date(2026, 12, 1), created_at=now, done_at=now + timedelta(hours=1), status="done"))
        s.add(Assignment(lead_id=res.lead.id, rep_id=owner, team_id="east-medical", reason="规则:华东医疗",
                         assigned_by="system", created_at=now))
        return res.customer.id


@pytest.fixture
def trio(db, cfg, clock):  # noqa: ANN001, ANN201
    a = add_customer(db, cfg, clock(), source="expo", company="杭州优品电子商务有限公司", name="李明",
                     phone="13912345678", owner="zhang.wei", extra={"grade": "A"}, health=71.25)
    clock.advance(days=3)
    b = add_customer(db, cfg, clock(), source="web_form", company="优品(杭州)电子商务有限公司", name="李总",
                     phone="13912345678", owner="li.na", extra={"grade": "B", "wechat_group": "优品群"})
    clock.advance(days=1)
    c = add_customer(db, cfg, clock(), source="call", company="杭州优品电商", name="李明", phone="0571-88886666",
                     owner=None)
    clock.advance(hours=2)
    return a, b, c


def test_merge_moves_everything_and_keeps_both_values(db, cfg, clock, trio) -> None:  # noqa: ANN001
    a, b, _ = trio
    with db.uow() as s:
        record = merge_customers(s, cfg, None, [a, b], actor="liu.yang", now=clock(), score=96.5, source="review")
        merge_id, survivor = record.id, record.survivor_id
    assert survivor == b                      # newest survives by default
    with db.uow() as s:
        old, new = s.get(Customer, a), s.get(Customer, b)
        assert (old.status, old.merged_into_id) == ("merged", b)
        assert s.scalars(select(Lead.customer_id).where(Lead.customer_id == a)).all() == []
        assert len(s.scalars(select(Lead).where(Lead.customer_id == b)).all()) == 2
        assert len(s.scalars(select(Task).where(Task.customer_id == b)).all()) == 4
        assert len(s.scalars(select(Assignment).join(Lead, Assignment.lead_id == Lead.id)
                             .where(Lead.customer_id == b)).all()) == 2
        aliases = s.scalars(select(Contact).where(Contact.customer_id == b, Contact.is_alias)).all()
        assert [(c.name, c.source) for c in aliases] == [("李明", "展会扫码")]
        assert set(s.scalars(select(MatchKey.customer_id).where(MatchKey.contact_id == aliases[0].id))) == {b}
        history = {(h["field"], h["value"], h["kept"]) for h in new.extra["history"]}
        assert ("name", "杭州优品电子商务有限公司", "优品(杭州)电子商务有限公司") in history
        assert ("owner_rep_id", "zhang.wei", "li.na") in history
        assert ("extra.grade", "A", "B") in history
        assert (old.health_score, new.health_score) == (71.25, None)   # derived: recomputed, never copied
        assert s.scalar(select(MergeRecord.merged_ids).where(MergeRecord.id == merge_id)) == [a]


@pytest.mark.parametrize("survivor_rule, expected", [("newest", 1), ("oldest", 0)])
def test_survivor_follows_config(db, cfg, clock, trio, survivor_rule: str, expected: int) -> None:  # noqa: ANN001
    cfg = cfg.model_copy(update={"dedup": cfg.dedup.model_copy(update={"survivor": survivor_rule})})
    a, b, _ = trio
    with db.uow() as s:
        record = merge_customers(s, cfg, None, [b, a], actor="liu.yang", now=clock(), source="scan")
        assert record.survivor_id == (a, b)[expected]


def test_undo_restores_byte_identical_rows(db, cfg, clock, trio) -> None:  # noqa: ANN001
    a, b, c = trio
    before = full_rows(db)
    with db.uow() as s:
        merge_id = merge_customers(s, cfg, None, [a, b, c], actor="liu.yang", now=clock(), score=93.0).id
    assert full_rows(db) != before
    clock.advance(minutes=5)
    with db.uow() as s:
        undo_merge(s, merge_id, actor="wang.fang", now=clock())
    assert full_rows(db) == before
    with db.uow() as s:
        assert s.get(MergeRecord, merge_id).undone_at == clock()
        assert s.scalar(select(AuditLog.action).where(AuditLog.action == "customer.merge_undo")) is not None
        with pytest.raises(MergeError, match="不能重复撤销"):
            undo_merge(s, merge_id, actor="wang.fang", now=clock())


def test_later_merge_must_be_undone_first(db, cfg, clock, trio) -> None:  # noqa: ANN001
    a, b, c = trio
    before = full_rows(db)
    with db.uow() as s:
        first = merge_customers(s, cfg, b, [a], actor="liu.yang", now=clock()).id
    clock.advance(minutes=1)
    with db.uow() as s:
        second = merge_customers(s, cfg, c, [b], actor="liu.yang", now=clock()).id
    with db.uow() as s, pytest.raises(MergeError, match=f"请先撤销 #{second}"):
        undo_merge(s, first, actor="liu.yang", now=clock())
    with db.uow() as s:
        undo_merge(s, second, actor="liu.yang", now=clock())
    with db.uow() as s:
        undo_merge(s, first, actor="liu.yang", now=clock())
    assert full_rows(db) == before


def test_undo_keeps_later_edits_that_do_not_conflict(db, cfg, clock, trio) -> None:  # noqa: ANN001
    a, b, _ = trio
    with db.uow() as s:
        merge_id = merge_customers(s, cfg, b, [a], actor="liu.yang", now=clock()).id
    with db.uow() as s:
        lead = s.scalars(select(Lead).where(Lead.created_by == "zhang.wei").order_by(Lead.id)).first()
        lead.stage, lead.updated_at = "proposal", clock() + timedelta(hours=1)
        moved_lead = lead.id
    with db.uow() as s:
        undo_merge(s, merge_id, actor="liu.yang", now=clock())
    with db.uow() as s:
        lead = s.get(Lead, moved_lead)
        assert (lead.customer_id, lead.stage) == (a, "proposal")   # back home, the later edit kept


@pytest.mark.parametrize("change, message", [
    ("activity", "跟进记录"),       # a note on a moved lead, written after the merge
    ("extra", "extra"),            # the survivor's fields edited after the merge
])
def test_undo_refused_when_later_rows_depend_on_it(db, cfg, clock, trio, change: str, message: str) -> None:  # noqa: ANN001
    a, b, _ = trio
    with db.uow() as s:
        merge_id = merge_customers(s, cfg, b, [a], actor="liu.yang", now=clock()).id
    with db.uow() as s:
        moved = s.scalars(select(Lead.id).where(Lead.customer_id == b).order_by(Lead.id)).first()
        if change == "activity":
            s.add(Activity(customer_id=b, lead_id=moved, kind="note", text="合并后的跟进", created_at=clock()))
        else:
            s.get(Customer, b).extra = {"grade": "S"}
    before_attempt = full_rows(db)
    with db.uow() as s, pytest.raises(MergeError, match=message):
        undo_merge(s, merge_id, actor="liu.yang", now=clock())
    assert full_rows(db) == before_attempt
    with db.uow() as s:
        assert s.get(MergeRecord, merge_id).undone_at is None


@pytest.mark.parametrize("ids, message", [
    ("self", "至少需要两个"),
    ("merged", "已合并到"),
    ("missing", "不存在"),
])
def test_merge_refuses_bad_groups(db, cfg, clock, trio, ids: str, message: str) -> None:  # noqa: ANN001
    a, b, c = trio
    with db.uow() as s:
        if ids == "merged":
            merge_customers(s, cfg, b, [a], actor="liu.yang", now=clock())
    group = {"self": [a, a], "merged": [c, a], "missing": [a, 999_999]}[ids]
    with db.uow() as s, pytest.raises(MergeError, match=message):
        merge_customers(s, cfg, None, group, actor="liu.yang", now=clock())


def test_undo_reopens_the_duplicate_review_that_made_the_merge(db, cfg, clock, trio) -> None:  # noqa: ANN001
    from crm_core.db.models import DedupReview
    from crm_core.services.dedup_entry import decide_review, open_review, open_reviews_for
    from crm_core.services.dedup_scan import _reviewed_pairs
    a, b, _ = trio
    steward = "liu.yang"
    with db.uow() as s:
        review, _ = open_review(s, cfg, a, b, 81.5, "review", steward, clock(), notify=False)
        review_id = review.id
    with db.uow() as s:
        outcome = decide_review(s, cfg, review_id, "merge", steward, clock())
        assert outcome.changed and outcome.merge is not None
        merge_id = outcome.merge.id
        assert s.get(DedupReview, review_id).status == "merged"
        assert open_reviews_for(s, cfg, steward, 10)[0] == 0
    clock.advance(hours=1)
    with db.uow() as s:
        undo_merge(s, merge_id, actor=steward, now=clock())
    with db.uow() as s:
        review = s.get(DedupReview, review_id)
        assert (review.status, review.reviewer, review.decided_at, review.merge_id) == ("open", None, None, None)
        total, rows = open_reviews_for(s, cfg, steward, 10)       # 「待审重复」 offers the pair again
        assert (total, [r.id for r in rows]) == (1, [review_id])
        assert frozenset((a, b)) in _reviewed_pairs(s, {a, b})    # queued once: a scan adds no second one
        detail = s.scalars(select(AuditLog.detail).where(AuditLog.action == "customer.merge_undo")).one()
        assert detail["reopened_reviews"] == [review_id]
    with db.uow() as s:                                           # and it can be decided again
        again = decide_review(s, cfg, review_id, "reject", steward, clock())
        assert again.changed and s.get(DedupReview, review_id).status == "rejected"
