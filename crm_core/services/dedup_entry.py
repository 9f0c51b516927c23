"""Duplicate check at entry and the review queue it feeds.

`check_entry` asks the indexed match_keys table (and customers.company_key) for a few candidates
per blocking key, newest first, and scores only those; `open_review` / `decide_review` run the
possible-duplicate cards (rep prompt, data-steward review) with an atomic, idempotent decision.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, Protocol, cast

from sqlalchemy import JSON, CursorResult, TextualSelect, func, select, text, update
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.authz import API_TOKEN, Action, Principal, ReviewFacts, decide
from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.db.models import Contact, Customer, DedupReview, MergeRecord
from crm_core.dedup import DedupRecord, DedupWeights, features, match_score, record_keys
from crm_core.normalize import mask_phone
from crm_core.notices import DuplicatePrompt, DuplicateReview, Notice
from crm_core.services.lead_input import CHANNEL_LABELS

Band = Literal["merge", "prompt", "review"]
Decision = Literal["link", "keep", "merge", "reject"]
RECORD_CACHE = 20_000      # normalized stored contacts kept per process (a few MB)
DECISION_STATUS = {"link": "merged", "merge": "merged", "keep": "rejected", "reject": "rejected"}


class EntryData(Protocol):
    """What the check reads from a new lead (LeadInput or an import row)."""
    company: str | None
    contact_name: str | None
    phone: str | None
    email: str | None
    wechat_id: str | None


@dataclass(frozen=True, slots=True)
class Match:
    customer_id: int
    contact_id: int
    score: float


class ReviewDenied(PermissionError):
    """The policy refused the decision (not its rep, not the steward, not an admin); the
    message is the policy's reason, for the person who tapped."""


@dataclass(frozen=True)
class ReviewOutcome:
    review: DedupReview
    changed: bool                  # False: it had been decided before (a second tap)
    merge: MergeRecord | None = None


def weights_of(cfg: AppConfig) -> DedupWeights:
    """Configured field weights (landline / mail-domain weights keep their defaults)."""
    return DedupWeights(**{name: float(value) for name, value in cfg.dedup.weights.items()})


def band_of(cfg: AppConfig, score: float) -> Band | None:
    d = cfg.dedup
    if score >= d.merge_threshold:
        return "merge"
    if score >= d.prompt_threshold:
        return "prompt"
    return "review" if score >= d.review_threshold else None


def entry_record(data: EntryData, rid: int | str = "new") -> DedupRecord:
    phones = [p for p in [getattr(data, "phone", None), *(getattr(data, "phones", None) or [])] if p]
    return DedupRecord(id=rid, name=data.contact_name, company=data.company, phones=list(dict.fromkeys(phones)),
                       email=data.email, wechat_id=data.wechat_id)


def lookup_keys(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The record's (kind, key) pairs, plus a mobile number under the other kind: a WeChat id is
    often the mobile itself, and the scorer counts that as a match, so the lookup must find it."""
    out = list(pairs)
    for kind, value in pairs:
        twin = {"phone": "wechat", "wechat": "phone"}.get(kind)
        if twin and value.isdigit() and len(value) == 11 and value.startswith("1") and (twin, value) not in out:
            out.append((twin, value))
    return out


@lru_cache(maxsize=64)
def _candidate_sql(key_count: int, with_company: bool, dialect: str) -> TextualSelect:
    """One round trip: the newest `:lim` contacts per blocking key (+ the newest customers with the
    company key) and their rows. Plain SQL on purpose: this is the hot path of every capture, and
    building the equivalent ORM union per call costs more than the database work itself.

    `ORDER BY id + 0` on PostgreSQL: with a plain `ORDER BY id DESC LIMIT n` it walks the primary
    key backwards hoping to meet the block soon, and an old big block (a 5,000-contact company)
    costs a scan of most of the table; the expression makes it use the key index and sort the
    block. SQLite keeps `id`: its index entries end with the rowid, so it reads the newest first."""
    newest = "id + 0" if dialect == "postgresql" else "id"
    parts = [f"SELECT m{i}.contact_id, CAST(NULL AS BIGINT) FROM (SELECT contact_id FROM match_keys "
             f"WHERE kind = :k{i} AND value = :v{i} ORDER BY {newest} DESC LIMIT :lim) AS m{i}" for i in range(key_count)]
    if with_company:
        # no status filter here: SQLite without statistics would pick the status index; the join filters
        parts.append("SELECT CAST(NULL AS BIGINT), cc.id FROM (SELECT id FROM customers WHERE company_key = :ck "
                     f"ORDER BY {newest} DESC LIMIT :lim) AS cc")
    columns = ("SELECT ct.id AS contact_id, ct.name AS name, ct.phone AS phone, ct.phones AS phones, "
               "ct.email AS email, ct.wechat_id AS wechat_id, cu.id AS customer_id, cu.name AS company ")
    # CROSS JOIN fixes SQLite's join order (candidates first, then primary-key lookups) whatever
    # its statistics say; PostgreSQL plans it like an inner join.
    sql = (f"WITH cand(contact_id, customer_id) AS ({' UNION ALL '.join(parts)}) "
           f"{columns}FROM (SELECT DISTINCT contact_id FROM cand WHERE contact_id IS NOT NULL) AS pick "
           "CROSS JOIN contacts ct CROSS JOIN customers cu "
           "WHERE ct.id = pick.contact_id AND cu.id = ct.customer_id AND cu.status = 'active' UNION ALL "
           f"{columns}FROM (SELECT DISTINCT customer_id FROM cand WHERE customer_id IS NOT NULL) AS pick "
           "CROSS JOIN customers cu CROSS JOIN contacts ct "
           "WHERE cu.id = pick.customer_id AND cu.status = 'active' AND ct.customer_id = cu.id")
    return text(sql).columns(phones=JSON)


def candidate_rows(session: Session, record: DedupRecord, limit_per_key: int = 50) -> list[tuple[DedupRecord, int]]:
    """(stored contact as a DedupRecord, its active customer id) for every contact sharing a blocking
    key with `record`: at most `limit_per_key` newest per key, one indexed query."""
    keys = record_keys(record)
    pairs = lookup_keys(keys.items())
    if not pairs:
        return []
    params: dict[str, Any] = {"lim": limit_per_key}
    for i, (kind, value) in enumerate(pairs):
        params[f"k{i}"], params[f"v{i}"] = kind, value[:200]
    if keys.company_key:
        params["ck"] = keys.company_key
    found: dict[int, tuple[DedupRecord, int]] = {}
    sql = _candidate_sql(len(pairs), bool(keys.company_key), session.get_bind().dialect.name)
    for row in session.execute(sql, params):
        if row.contact_id not in found:
            phones = tuple(row.phones) if row.phones else ((row.phone,) if row.phone else ())
            record = stored_record(row.contact_id, row.name, row.company, phones, row.email, row.wechat_id)
            found[row.contact_id] = (record, row.customer_id)
    return list(found.values())


@lru_cache(maxsize=RECORD_CACHE)
def stored_record(contact_id: int, name: str | None, company: str | None, phones: tuple[str, ...],
                  email: str | None, wechat_id: str | None) -> DedupRecord:
    """A stored contact as the detector sees it, normalized once. Keyed by id AND content, so an
    edited contact is simply a new entry; the bound keeps this a cache of hot candidates (the
    contacts of big companies come up again and again), never a copy of all customers."""
    record = DedupRecord(id=contact_id, name=name, company=company, phones=list(phones), email=email,
                         wechat_id=wechat_id)
    features(record)
    return record


def check_entry(session: Session, cfg: AppConfig, data: EntryData, exclude_customer_id: int | None = None,
                limit_per_key: int = 50, min_score: float | None = None) -> list[Match]:
    """Existing customers the new lead may duplicate, best first (one Match per customer, its best
    contact); only scores ≥ `min_score` (default: the review threshold) are returned."""
    floor = cfg.dedup.review_threshold if min_score is None else min_score
    record, weights = entry_record(data), weights_of(cfg)
    best: dict[int, Match] = {}
    for contact, customer_id in candidate_rows(session, record, limit_per_key):
        if customer_id == exclude_customer_id:
            continue
        score = match_score(record, contact, weights)
        held = best.get(customer_id)
        if score >= floor and (held is None or score > held.score):
            best[customer_id] = Match(customer_id, int(contact.id), score)
    return sorted(best.values(), key=lambda m: (-m.score, -m.customer_id))


def steward_of(cfg: AppConfig) -> str | None:
    """The configured data steward, else the first rep with the steward role, else an admin."""
    if cfg.org.data_steward:
        return cfg.org.data_steward
    for role in ("steward", "admin"):
        rep = next((r for r in cfg.org.reps if role in r.roles and r.availability == "active"), None)
        if rep:
            return rep.id
    return None


def primary_contact(session: Session, customer_id: int) -> Contact | None:
    """The customer's own first contact (aliases only when it has no other)."""
    return session.scalars(select(Contact).where(Contact.customer_id == customer_id)
                           .order_by(Contact.is_alias, Contact.id).limit(1)).first()


def customer_line(customer: Customer, contact: Contact | None) -> str:
    """杭州优品电子商务有限公司 · 李经理 139****5678 (never a full phone number)."""
    parts = [customer.name]
    who = " ".join(x for x in ((contact.name if contact else None),
                               mask_phone(contact.phone) if contact and contact.phone else None) if x)
    return " · ".join(parts + ([who] if who else []))


def side_view(session: Session, customer_id: int, tz: str) -> dict[str, Any]:
    customer = session.get_one(Customer, customer_id)
    contact = primary_contact(session, customer_id)
    return {"id": customer.id, "name": customer.name, "contact": contact.name if contact else None,
            "phone": mask_phone(contact.phone) if contact and contact.phone else None,
            "source": CHANNEL_LABELS.get(customer.source or "", customer.source),
            "created": local(customer.created_at, tz).strftime("%Y-%m-%d") if customer.created_at else None,
            "line": customer_line(customer, contact), "status": customer.status}


def review_view(session: Session, cfg: AppConfig, review: DedupReview) -> dict[str, Any]:
    """Everything a dedup card shows, from the database (the card is rebuilt from this after a tap)."""
    tz = cfg.app.timezone
    decider = cfg.org.rep(review.reviewer) if review.reviewer else None
    return {"review_id": review.id, "kind": review.kind or "review", "score": round(review.score, 1),
            "status": review.status, "merge_id": review.merge_id, "assignee": review.assignee,
            "reviewer": decider.name if decider else review.reviewer,
            "decided_at": local(review.decided_at, tz).strftime("%m-%d %H:%M") if review.decided_at else None,
            "new": side_view(session, review.customer_id, tz),
            "existing": side_view(session, review.candidate_id, tz)}


def open_review(session: Session, cfg: AppConfig, customer_id: int, candidate_id: int, score: float,
                kind: Literal["prompt", "review"], assignee: str | None, now: datetime,
                notify: bool = True) -> tuple[DedupReview, Notice | None]:
    """Queue a possible duplicate and the card for its decider (None when nobody is configured
    or `notify` is off: the review then waits in the queue)."""
    review = DedupReview(customer_id=customer_id, candidate_id=candidate_id, score=score, status="open",
                         kind=kind, assignee=assignee, created_at=now)
    session.add(review)
    session.flush()
    if assignee is None or not notify:
        return review, None
    notice_type = DuplicatePrompt if kind == "prompt" else DuplicateReview
    notice = notice_type(to_rep=assignee, customer_id=customer_id, view=review_view(session, cfg, review),
                         dedupe_key=f"dedup:{review.id}")
    return review, notice


def _principal(cfg: AppConfig, actor: str) -> Principal | None:
    rep = cfg.org.rep(actor)
    return Principal.of(rep) if rep is not None else (API_TOKEN if actor == API_TOKEN.id else None)


def decides_all(cfg: AppConfig, actor: str) -> bool:
    """Whether the policy lets `actor` decide any review (the data steward, admins)."""
    who = _principal(cfg, actor)
    return who is not None and decide(cfg, who, Action.REVIEW_ALL_DUPLICATES).allowed


def open_reviews_for(session: Session, cfg: AppConfig, actor: str, limit: int) -> tuple[int, list[DedupReview]]:
    """The open reviews `actor` may decide (all of them for a steward, else those sent to the
    actor), most likely duplicates first: (how many in all, the first `limit`)."""
    where = [DedupReview.status == "open"]
    if not decides_all(cfg, actor):
        where.append(DedupReview.assignee == actor)
    total = session.scalar(select(func.count()).select_from(DedupReview).where(*where)) or 0
    rows = list(session.scalars(select(DedupReview).where(*where)
                                .order_by(DedupReview.score.desc(), DedupReview.id).limit(limit)))
    return total, rows


def may_decide(cfg: AppConfig, review: DedupReview, actor: str) -> str | None:
    """None when the policy lets `actor` decide `review` (Action.DECIDE_DUPLICATE), else why not."""
    who = _principal(cfg, actor)
    if who is None:
        return "抱歉,你没有处理疑似重复的权限。"
    verdict = decide(cfg, who, Action.DECIDE_DUPLICATE, ReviewFacts(id=review.id, assignee=review.assignee))
    return None if verdict else verdict.reason


def active_root(session: Session, customer_id: int) -> Customer:
    """Follow merged_into links to the customer that is active now."""
    customer, seen = session.get_one(Customer, customer_id), set()
    while customer.status == "merged" and customer.merged_into_id and customer.id not in seen:
        seen.add(customer.id)
        customer = session.get_one(Customer, customer.merged_into_id)
    return customer


def decide_review(session: Session, cfg: AppConfig, review_id: int, decision: Decision, actor: str,
                  now: datetime) -> ReviewOutcome:
    """Apply one decision once: 关联/合并 merge the pair, 仍然新建/不是重复 close it. The claim is a
    conditional UPDATE, so two taps at the same moment cannot both act."""
    from crm_core.services.merge import merge_customers
    review = session.get(DedupReview, review_id)
    if review is None:
        raise LookupError(f"没有编号为 {review_id} 的疑似重复记录")
    refused = may_decide(cfg, review, actor)
    if refused is not None:
        raise ReviewDenied(refused)
    # an UPDATE runs to a CursorResult; Session.execute is typed as returning a plain Result
    claimed = cast("CursorResult[Any]", session.execute(
        update(DedupReview).where(DedupReview.id == review_id, DedupReview.status == "open")
        .values(status=DECISION_STATUS[decision], reviewer=actor, decided_at=now)
        .execution_options(synchronize_session=False))).rowcount
    session.refresh(review)
    if not claimed:
        return ReviewOutcome(review, changed=False)
    merge = None
    if DECISION_STATUS[decision] == "merged":
        new, existing = active_root(session, review.customer_id), active_root(session, review.candidate_id)
        if new.id != existing.id:
            # 关联到已有客户: the rep chose the existing record; the steward's 合并 follows the config
            survivor = existing.id if decision == "link" else None
            merge = merge_customers(session, cfg, survivor, [new.id, existing.id], actor, now,
                                    score=review.score, source=review.kind or "review")
            review.merge_id = merge.id
    audit.record(session, actor, f"dedup.{decision}", target_type="dedup_review", target_id=review.id,
                 detail={"merge_id": review.merge_id, "score": review.score}, now=now)
    return ReviewOutcome(review, changed=True, merge=merge)
