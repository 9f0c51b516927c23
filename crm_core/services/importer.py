"""`import_file`: customers from a CSV/XLSX file, validated row by row, checked for duplicates
against the database (the entry check's blocking keys and scores, fetched per chunk) and within
the file (DuplicateIndex), stored with bulk inserts in ONE transaction: a crash leaves no half batch.
A file with lead columns (budget, product, channel: import_rows.LEAD_COLUMNS) is a lead list:
every good row also becomes a lead on its customer (the row's channel, else the batch's), routed
by the assignment rules, which starts its first-contact clock (the new owners get their cards).
One company, one customer: a row naming a company already in the database (or earlier in the
file) joins that customer, on the contact it names when that person is known there
(company_join.same_person), else as a new contact of the company."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig
from crm_core.db import Database
from crm_core.db.models import Activity, Contact, Customer, MatchKey
from crm_core.dedup import DedupRecord, DuplicateIndex, RecordId, features, match_score, record_keys
from crm_core.kv.base import KV
from crm_core.dedup.keys import MIN_COMPANY_KEY
from crm_core.normalize import company_region, normalize_company
from crm_core.notices import Notice
from crm_core.services.assign import assign_lead
from crm_core.services.capture import save_lead
from crm_core.services.company_join import same_person
from crm_core.services.dedup_entry import (band_of, lookup_keys, open_review, primary_contact, steward_of,
                                           weights_of)
from crm_core.services.import_rows import (LEAD_COLUMNS, BadRow, ImportFileError, RowData, known_channels,
                                           parse_row, read_table)
from crm_core.services.lead_input import CHANNEL_LABELS, LeadInput

CHUNK_ROWS = 2000
IN_LIST = 900                  # values per IN (...): well under every backend's parameter limit
MAX_REVIEW_CARDS = 50          # more stay queued as open DedupReviews: one file must not flood the steward


@dataclass
class ImportReport:
    batch_id: str
    path: str
    source: str
    encoding: str = ""
    rows: int = 0               # data rows read (blank rows not counted)
    created: int = 0            # new customers
    joined_existing: int = 0    # rows already in the database: merged into that customer
    joined_in_file: int = 0     # rows repeating an earlier row of the same file
    aliases: int = 0            # extra contacts kept because a duplicate row carried new details
    company_contacts: int = 0   # rows that joined a known company's customer as a new contact
    reviews: int = 0            # possible duplicates queued for the data steward
    leads: int = 0              # leads created (a file with lead columns)
    assigned: int = 0           # of them given to a rep by the rules
    pooled: int = 0             # of them left in a 公海 (nobody to take them)
    blank: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def good_rows(self) -> int:
        return self.rows - len(self.bad_rows)


class Ref:
    """A customer id that is only known once its chunk has been inserted."""
    __slots__ = ("id",)

    def __init__(self, customer_id: int | None = None) -> None:
        self.id = customer_id

    def inserted_id(self) -> int:
        """The id, once the customer row exists (a chunk's new customers are inserted first)."""
        if self.id is None:
            raise RuntimeError("customer id read before its chunk was inserted")
        return self.id


@dataclass(slots=True)
class _Decision:
    row: RowData
    record: DedupRecord
    target: Ref
    new_customer: bool
    contact: bool               # store a contact row: the new customer's own, or an alias
    score: float | None = None
    review_with: Ref | None = None
    contact_id: int | None = None   # the contact row stored for it (its own or an alias)
    alias: bool | None = None       # None: an alias exactly when it joined an existing customer


def resolve_source(source: str) -> str:
    """Channel code from a code (expo) or its label (展会扫码); an unknown one is refused."""
    by_label = {label: code for code, label in CHANNEL_LABELS.items()}
    code = by_label.get(source.strip(), source.strip().lower())
    if code not in CHANNEL_LABELS:
        raise ImportFileError(f"未知的来源「{source}」,可用:{known_channels()}")
    return code


def adds_details(new: DedupRecord, old: DedupRecord) -> bool:
    """The duplicate row carries a phone, e-mail, WeChat id or full name the kept record lacks."""
    a, b = features(new), features(old)
    if set(a.mobiles + a.fixed) - set(b.mobiles + b.fixed):
        return True
    if (a.email and a.email != b.email) or (a.wechat and a.wechat != b.wechat):
        return True
    return a.name_full and a.name_key != b.name_key


class _Batch:
    """One import: the in-file index, the owner of every earlier row, cached database candidates."""

    def __init__(self, session: Session, cfg: AppConfig, report: ImportReport, actor: str, now: datetime,
                 limit_per_key: int, lead_list: bool = False, kv: KV | None = None) -> None:
        self.session, self.cfg, self.report, self.actor, self.now = session, cfg, report, actor, now
        self.lead_list, self.kv = lead_list, kv
        self.weights, self.limit = weights_of(cfg), limit_per_key
        self.index = DuplicateIndex(weights=self.weights)
        self.owner: dict[RecordId, Ref] = {}                       # row record id → its customer
        self.records: dict[RecordId, DedupRecord] = {}
        self.known: dict[int, tuple[DedupRecord, int]] = {}      # contact id → (record, customer id)
        # keys this batch writes are found through the in-file index, not the database
        self.key_ceiling = session.scalar(select(func.coalesce(func.max(MatchKey.id), 0)))
        self.customer_ceiling = session.scalar(select(func.coalesce(func.max(Customer.id), 0)))
        self.steward = steward_of(cfg)
        # one company, one customer: company key → its customers (database ones oldest first, then
        # this file's), each with its region; the file's rows that landed on each customer
        self.companies: dict[str, list[tuple[Ref, str | None]]] = {}
        self.looked_up: set[str] = set()
        self.in_file: set[int] = set()                           # id() of the Refs this file created
        self.members: dict[int, list[DedupRecord]] = {}          # id(Ref) → the file's rows on it

    def run(self, chunk: list[RowData], on_row: Callable[[int], None] | None) -> None:
        records = [DedupRecord(id=f"r{row.line}", name=row.contact_name, company=row.company, phones=row.phones,
                               email=row.email, wechat_id=row.wechat_id) for row in chunk]
        candidates = self._db_candidates(records)
        self._db_companies(chunk)
        decisions = []
        for row, record in zip(chunk, records):
            decisions.append(self._decide(row, record, candidates[record.id]))
            if on_row is not None:
                on_row(row.line)
        self._store(decisions)
        if self.lead_list:
            for decision in decisions:
                self._lead(decision)

    def _db_candidates(self, records: list[DedupRecord]) -> dict[RecordId, list[int]]:
        """{record id: stored contact ids}: per blocking key the newest `limit` contacts."""
        wanted: dict[str, set[str]] = {}
        for record in records:
            for kind, value in lookup_keys(record_keys(record).items()):
                wanted.setdefault(kind, set()).add(value[:200])
        blocks: dict[tuple[str, str], list[int]] = {}
        for kind, values in wanted.items():
            ordered = sorted(values)
            for start in range(0, len(ordered), IN_LIST):
                rows = self.session.execute(
                    select(MatchKey.value, MatchKey.contact_id).where(
                        MatchKey.kind == kind, MatchKey.value.in_(ordered[start:start + IN_LIST]),
                        MatchKey.id <= self.key_ceiling).order_by(MatchKey.id.desc()))
                for value, contact_id in rows:
                    block = blocks.setdefault((kind, value), [])
                    if len(block) < self.limit:
                        block.append(contact_id)
        self._load({cid for ids in blocks.values() for cid in ids} - self.known.keys())
        return {r.id: list(dict.fromkeys(cid for kind, value in lookup_keys(record_keys(r).items())
                                         for cid in blocks.get((kind, value[:200]), ())))
                for r in records}

    def _db_companies(self, chunk: list[RowData]) -> None:
        """The database's active customers for the chunk's company keys not looked up yet."""
        keys = sorted({key for row in chunk if (key := _company_key(row.company))} - self.looked_up)
        self.looked_up.update(keys)
        for start in range(0, len(keys), IN_LIST):
            for cid, key, name in self.session.execute(
                    select(Customer.id, Customer.company_key, Customer.name)
                    .where(Customer.company_key.in_(keys[start:start + IN_LIST]), Customer.status == "active",
                           Customer.id <= self.customer_ceiling).order_by(Customer.id)):
                if key is not None:         # the city in the name (a form's province field is not one)
                    self.companies.setdefault(key, []).append((Ref(cid), company_region(name)))

    def _company_ref(self, row: RowData) -> Ref | None:
        """The customer of the row's company (its city, when both names say one, the same)."""
        key = _company_key(row.company)
        if key is None:
            return None
        region = company_region(row.company) if row.company else None
        for ref, other in self.companies.get(key, []):
            if not (region and other and region != other):
                return ref
        return None

    def _join_company(self, row: RowData, record: DedupRecord, company: Ref, candidates: list[int]) -> _Decision:
        """The row joins its company's customer: on the person it names when known there (an alias
        contact only if the row adds details), else as a new contact of the company."""
        known = None
        for cid in candidates:
            if cid in self.known and self.known[cid][1] == company.id and same_person(record, self.known[cid][0]):
                known = self.known[cid][0]
                break
        if known is None:
            known = next((old for old in self.members.get(id(company), []) if same_person(record, old)), None)
        if known is not None:
            decision = _Decision(row, record, company, False, adds_details(record, known), alias=True)
            self.report.aliases += decision.contact
        else:
            decision = _Decision(row, record, company, False, True, alias=False)
            self.report.company_contacts += 1
        in_file = id(company) in self.in_file
        self.report.joined_in_file += in_file
        self.report.joined_existing += not in_file
        return decision

    def _load(self, contact_ids: set[int]) -> None:
        ids = sorted(contact_ids)
        columns = (Contact.id, Contact.name, Contact.phone, Contact.phones, Contact.email, Contact.wechat_id,
                   Customer.id, Customer.name)
        for start in range(0, len(ids), IN_LIST):
            for cid, name, phone, phones, email, wechat, customer_id, company in self.session.execute(
                    select(*columns).join(Customer, Contact.customer_id == Customer.id)
                    .where(Contact.id.in_(ids[start:start + IN_LIST]), Customer.status == "active")):
                numbers = list(phones) if phones else ([phone] if phone else [])
                record = DedupRecord(id=cid, name=name, company=company, phones=numbers, email=email, wechat_id=wechat)
                self.known[cid] = (record, customer_id)

    def _decide(self, row: RowData, record: DedupRecord, candidates: list[int]) -> _Decision:
        company = self._company_ref(row)
        if company is not None:
            decision = self._join_company(row, record, company, candidates)
            self._remember(record, decision)
            return decision
        best: tuple[float, Ref, DedupRecord, bool] | None = None      # (score, owner, record, in database)
        for cid in candidates:
            if cid in self.known:
                old, customer_id = self.known[cid]
                score = match_score(record, old, self.weights)
                if best is None or score > best[0]:
                    best = (score, Ref(customer_id), old, True)
        for rid, score in self.index.candidates(record, min_score=self.cfg.dedup.review_threshold, limit=1):
            if best is None or score > best[0]:
                best = (score, self.owner[rid], self.records[rid], False)
        band = band_of(self.cfg, best[0]) if best else None
        if best and band == "merge":
            decision = _Decision(row, record, best[1], False, adds_details(record, best[2]), best[0])
            self.report.joined_existing += best[3]
            self.report.joined_in_file += not best[3]
            self.report.aliases += decision.contact
        else:
            decision = _Decision(row, record, Ref(), True, True, best[0] if best else None,
                                 best[1] if best and band else None)
            self.report.created += 1
            key = _company_key(row.company)
            if key is not None:
                self.companies.setdefault(key, []).append(
                    (decision.target, company_region(row.company) if row.company else None))
                self.in_file.add(id(decision.target))
        self._remember(record, decision)
        return decision

    def _remember(self, record: DedupRecord, decision: _Decision) -> None:
        self.owner[record.id], self.records[record.id] = decision.target, record
        self.members.setdefault(id(decision.target), []).append(record)
        self.index.add(record)

    def _store(self, decisions: list[_Decision]) -> None:
        new = [d for d in decisions if d.new_customer]
        if new:
            ids = self.session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                                       [self._customer_row(d) for d in new]).all()
            for decision, customer_id in zip(new, ids):
                decision.target.id = customer_id
        with_contact = [d for d in decisions if d.contact]
        if with_contact:
            ids = self.session.scalars(insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                                       [self._contact_row(d) for d in with_contact]).all()
            for d, contact_id in zip(with_contact, ids):
                d.contact_id = contact_id
            keys = [{"kind": kind, "value": value[:200], "contact_id": contact_id, "customer_id": d.target.id}
                    for d, contact_id in zip(with_contact, ids) for kind, value in record_keys(d.record).items()]
            if keys:
                self.session.execute(insert(MatchKey), keys)
        # a lead list's note goes to the lead's own first activity
        activities = [self._activity_row(d) for d in decisions
                      if (d.row.note and not self.lead_list) or not d.new_customer]
        if activities:
            self.session.execute(insert(Activity), activities)
        for d in decisions:
            if d.review_with is not None:
                self._queue_review(d, d.review_with)

    def _lead(self, d: _Decision) -> None:
        """The row's lead on its customer (on the row's contact, else the customer's first),
        assigned by the rules when a KV (rotation state) is at hand."""
        row = d.row
        customer = self.session.get_one(Customer, d.target.inserted_id())
        contact = self.session.get(Contact, d.contact_id) if d.contact_id else None
        contact = contact or primary_contact(self.session, customer.id)
        if contact is None:
            raise RuntimeError(f"customer {customer.id} has no contact")
        # the row was validated field by field (import_rows.parse_row): no second validation
        data = LeadInput.model_construct(
            source=row.channel or self.report.source, company=row.company, contact_name=row.contact_name,
            phone=row.phone, email=row.email, wechat_id=row.wechat_id, product=row.product, budget_cny=row.budget_cny,
            timeline=None, next_action=None, industry=row.industry, region=row.region, note=row.note, tags=[])
        lead = save_lead(self.session, self.cfg, data, actor=self.actor, platform=None, now=self.now,
                         customer=customer, contact=contact).lead
        lead.details = {**(lead.details or {}), "import_batch": self.report.batch_id, "import_line": row.line}
        self.report.leads += 1
        if self.kv is None:
            return
        assignment, notices = assign_lead(self.session, self.cfg, self.kv, lead, self.now, self.actor)
        self.report.assigned += assignment.rep_id is not None
        self.report.pooled += assignment.rep_id is None
        self.report.notices.extend(notices)

    def _customer_row(self, d: _Decision) -> dict[str, Any]:
        row = d.row
        return {"name": row.company or row.contact_name, "status": "active", "source": self.report.source,
                "company_key": (normalize_company(row.company) or None) if row.company else None,
                "region": row.region or (company_region(row.company) if row.company else None),
                "industry": row.industry, "owner_rep_id": None, "merged_into_id": None,
                "extra": {"import_batch": self.report.batch_id, "import_line": row.line},
                "created_at": self.now, "updated_at": self.now}

    def _contact_row(self, d: _Decision) -> dict[str, Any]:
        row, code = d.row, self.report.source
        return {"customer_id": d.target.id, "name": row.contact_name, "title": row.title, "phone": row.phone,
                "phones": list(row.phones), "email": row.email, "wechat_id": row.wechat_id,
                "source": code if d.new_customer else CHANNEL_LABELS.get(code, code),
                "is_alias": (not d.new_customer) if d.alias is None else d.alias, "created_at": self.now}

    def _activity_row(self, d: _Decision) -> dict[str, Any]:
        line = d.row.line
        if d.new_customer:
            text = d.row.note
        elif d.score is None:          # the same company: a contact of it, new or known
            text = (f"批量导入第 {line} 行是同一家公司," + ("已加入为新联系人" if d.alias is False else "已并入已有联系人")
                    + (f";备注:{d.row.note}" if d.row.note else ""))
        else:
            text = (f"批量导入第 {line} 行与此客户重复(相似度 {d.score:.1f}),已并入"
                    + (f";备注:{d.row.note}" if d.row.note else ""))
        return {"customer_id": d.target.id, "lead_id": None, "kind": "note" if d.new_customer else "import_duplicate",
                "text": text, "actor": self.actor, "platform": None, "created_at": self.now,
                "data": {"import_batch": self.report.batch_id, "line": line, "source": self.report.source}}

    def _queue_review(self, d: _Decision, candidate: Ref) -> None:
        # nobody to prompt during an import: both the prompt and the review band go to the steward
        _review, notice = open_review(self.session, self.cfg, d.target.inserted_id(), candidate.inserted_id(),
                                      d.score or 0.0, "review", self.steward, self.now,
                                      notify=self.report.reviews < MAX_REVIEW_CARDS)
        if notice is not None:
            self.report.notices.append(notice)
        self.report.reviews += 1


def _company_key(company: str | None) -> str | None:
    key = normalize_company(company) if company else None
    return key if key and len(key) >= MIN_COMPANY_KEY else None


def import_file(db: Database, cfg: AppConfig, path: str | Path, source: str, actor: str, now: datetime, *,
                progress: Callable[[int], None] | None = None, on_row: Callable[[int], None] | None = None,
                chunk_size: int = CHUNK_ROWS, limit_per_key: int = 20, kv: KV | None = None) -> ImportReport:
    """Import one file as one batch. Bad rows are reported (line, reason) and skipped; a file-level
    problem raises ImportFileError; any exception rolls the whole batch back. A lead list's leads
    are assigned by the rules when `kv` (the rotation state) is given, else left unassigned."""
    started = time.perf_counter()
    code = resolve_source(source)
    encoding, mapping, ignored, rows = read_table(path)
    report = ImportReport(batch_id=uuid.uuid4().hex[:12], path=str(path), source=code, encoding=encoding,
                          ignored_columns=ignored)
    with db.uow() as session:
        batch = _Batch(session, cfg, report, actor, now, limit_per_key,
                       lead_list=bool(LEAD_COLUMNS & set(mapping.values())), kv=kv)
        chunk: list[RowData] = []
        for line, values in rows:
            parsed = parse_row(line, values, mapping)
            if parsed is None:
                report.blank += 1
                continue
            report.rows += 1
            if isinstance(parsed, BadRow):
                report.bad_rows.append(parsed)
                continue
            chunk.append(parsed)
            if len(chunk) >= chunk_size:
                batch.run(chunk, on_row)
                chunk = []
                if progress is not None:
                    progress(report.rows)
        if chunk:
            batch.run(chunk, on_row)
        audit.record(session, actor, "import.file", target_type="import", target_id=report.batch_id, now=now,
                     detail={"file": Path(path).name, "source": code, "rows": report.rows, "created": report.created,
                             "joined_existing": report.joined_existing, "joined_in_file": report.joined_in_file,
                             "bad_rows": len(report.bad_rows), "reviews": report.reviews, "leads": report.leads,
                             "assigned": report.assigned, "pooled": report.pooled})
    report.seconds = time.perf_counter() - started
    return report
