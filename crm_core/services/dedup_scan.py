"""`scan`: duplicate groups among the existing active customers. Contacts are loaded in keyset
chunks into `DedupRecord`s, grouped with `find_duplicate_groups` (merged above the merge threshold,
survivor per config), and review-band pairs are queued for the data steward once per pair."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig
from crm_core.db.models import Contact, Customer, DedupReview
from crm_core.dedup import DedupRecord, RecordId, find_duplicate_groups, find_duplicate_pairs
from crm_core.notices import Notice
from crm_core.services.dedup_entry import open_review, steward_of, weights_of
from crm_core.services.merge import merge_customers

CHUNK = 5000
MAX_REVIEW_CARDS = 50      # more stay queued (open DedupReview rows) without a card each


@dataclass
class ScanReport:
    customers: int = 0
    records: int = 0                  # contacts compared
    groups: int = 0                   # groups of ≥ 2 customers found above the merge threshold
    merged_customers: int = 0         # customers merged away
    merge_ids: list[int] = field(default_factory=list)
    reviews: int = 0
    notices: list[Notice] = field(default_factory=list)
    seconds: float = 0.0


def load_records(session: Session, chunk: int = CHUNK) -> tuple[list[DedupRecord], dict[RecordId, int]]:
    """(one record per contact of an active customer, contact id → customer id), oldest first."""
    records: list[DedupRecord] = []
    owner: dict[RecordId, int] = {}
    columns = (Contact.id, Contact.name, Contact.phone, Contact.phones, Contact.email, Contact.wechat_id,
               Contact.created_at, Customer.id, Customer.name)
    last = 0
    while True:
        rows = session.execute(select(*columns).join(Customer, Contact.customer_id == Customer.id)
                               .where(Customer.status == "active", Contact.id > last)
                               .order_by(Contact.id).limit(chunk)).all()
        for cid, name, phone, phones, email, wechat, created, customer_id, company in rows:
            numbers = list(phones) if phones else ([phone] if phone else [])
            records.append(DedupRecord(id=cid, name=name, company=company, phones=numbers, email=email,
                                       wechat_id=wechat, created_at=created))
            owner[cid] = customer_id
        if len(rows) < chunk:
            return records, owner
        last = rows[-1][0]


class _Sets:
    """Union-find over customer ids."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        members: dict[int, list[int]] = {}
        for item in self.parent:
            members.setdefault(self.find(item), []).append(item)
        return [sorted(m) for m in members.values() if len(m) >= 2]


def _reviewed_pairs(session: Session, ids: set[int]) -> set[frozenset[int]]:
    """Customer pairs already queued or decided: a steward's 不是重复 is not asked again."""
    seen = set()
    chunk = sorted(ids)
    for start in range(0, len(chunk), 900):
        part = chunk[start:start + 900]
        for a, b in session.execute(select(DedupReview.customer_id, DedupReview.candidate_id).where(
                or_(DedupReview.customer_id.in_(part), DedupReview.candidate_id.in_(part)))):
            seen.add(frozenset((a, b)))
    return seen


def scan(session: Session, cfg: AppConfig, actor: str, now: datetime, *, dry_run: bool = False,
         chunk: int = CHUNK) -> ScanReport:
    """Merge duplicate groups among active customers and queue review-band pairs for the steward."""
    started = time.perf_counter()
    report = ScanReport()
    records, owner = load_records(session, chunk)
    report.records, report.customers = len(records), len(set(owner.values()))
    weights, d = weights_of(cfg), cfg.dedup
    pairs = find_duplicate_pairs(records, threshold=d.review_threshold, weights=weights)
    sets = _Sets()
    for group in find_duplicate_groups(records, threshold=d.merge_threshold, weights=weights):
        for contact_id in group[1:]:
            sets.union(owner[group[0]], owner[contact_id])
    best: dict[frozenset[int], float] = {}
    for i, j, pair_score in pairs:
        key = frozenset((owner[records[i].id], owner[records[j].id]))
        if len(key) == 2:
            best[key] = max(best.get(key, 0.0), pair_score)
    survivor_of: dict[int, int] = {}
    for customers in sets.groups():
        report.groups += 1
        score = max((best.get(frozenset((a, b)), 0.0) for a in customers for b in customers if a < b), default=None)
        if dry_run:
            continue
        record = merge_customers(session, cfg, None, customers, actor, now, score=score, source="scan")
        report.merge_ids.append(record.id)
        report.merged_customers += len(record.merged_ids)
        survivor_of.update({cid: record.survivor_id for cid in customers})
    _queue_reviews(session, cfg, report, best, sets, survivor_of, now, dry_run)
    if not dry_run:
        audit.record(session, actor, "dedup.scan", target_type="customers", now=now,
                     detail={"groups": report.groups, "merged": report.merged_customers, "reviews": report.reviews})
    report.seconds = time.perf_counter() - started
    return report


def _queue_reviews(session: Session, cfg: AppConfig, report: ScanReport, best: dict[frozenset[int], float],
                   sets: _Sets, survivor_of: dict[int, int], now: datetime, dry_run: bool) -> None:
    """Pairs in the review band (or above it but kept apart by a contradiction) between customers
    that did not end up merged, newest customer as the one under review."""
    steward = steward_of(cfg)
    wanted: dict[frozenset[int], float] = {}
    for key, score in best.items():
        a, b = sorted(key)
        if sets.find(a) == sets.find(b):
            continue
        pair = frozenset((survivor_of.get(a, a), survivor_of.get(b, b)))
        if len(pair) == 2 and score > wanted.get(pair, 0.0):
            wanted[pair] = score
    seen = _reviewed_pairs(session, {c for pair in wanted for c in pair}) if wanted else set()
    for pair, score in sorted(wanted.items(), key=lambda item: (-item[1], sorted(item[0]))):
        if pair in seen:
            continue
        report.reviews += 1
        if dry_run:
            continue
        older, newer = sorted(pair)
        _review, notice = open_review(session, cfg, newer, older, score, "review", steward, now,
                                      notify=report.reviews <= MAX_REVIEW_CARDS)
        if notice is not None:
            report.notices.append(notice)
