"""The record the duplicate detector works on, and its normalized features computed once per record.

`DedupRecord` holds raw customer fields as entered; `features(record)` derives the comparison
keys (crm_core.normalize) on first use and caches them on the record.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_core import normalize as norm

RecordId = int | str
_EMPTY: tuple[str, ...] = ()
# Role mailboxes (info@, sales@…) are shared by a team: they identify the company, not a person.
ROLE_MAILBOXES = frozenset(
    """info sales service services support contact contactus admin office hr marketing market business bd
    kefu cs purchase purchasing caigou xiaoshou finance hello mail webmaster enquiry inquiry noreply""".split()
)


@dataclass(slots=True, frozen=True)
class Features:
    """Normalized, interned view of a record; everything `match_score` and the keys need."""

    mobiles: tuple[str, ...]    # personal numbers: CN mobiles and foreign E.164 numbers
    fixed: tuple[str, ...]      # landlines (often a switchboard) and 400/800 numbers
    email: str | None
    email_domain: str | None
    email_personal: bool        # False for public-mailbox-free role boxes such as info@corp.com
    email_public: bool          # qq.com, 163.com…: says nothing about the company
    company_key: str
    company_region: str | None
    company_latin: bool
    company_group: bool | None  # True: a 集团; False: another legal form (…有限公司); None: a bare name
    name_key: str
    surname: str
    name_full: bool             # False for title forms (张总, Mr. Wang)
    name_latin: bool
    title: str                  # 总, 经理, Mr… ("" when none)
    spellings: frozenset[str]   # Latin spellings of the surname, to compare 吴 with "Grace Wu"
    surname_key: str            # one Mandarin spelling of the surname, for blocking (张, Cheung → zhang)
    gender: str                 # "m"/"f" from 先生/女士/Mr/Ms titles, else ""
    wechat: str | None


@dataclass(slots=True)
class DedupRecord:
    """A customer as entered. Normalized features are computed lazily, once (see `features`), so a
    record is not edited after it has been scored or indexed: build a new one instead."""

    id: RecordId
    name: str | None = None
    company: str | None = None
    phones: list[str] = field(default_factory=list)
    email: str | None = None
    wechat_id: str | None = None
    created_at: datetime | None = None
    source: str | None = None
    _features: Features | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.phones, str):
            self.phones = [self.phones]

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> DedupRecord:
        """Build from a dict (JSONL row, DB row): `phones` may be a list or one string."""
        created = row.get("created_at")
        if isinstance(created, str) and created:
            created = datetime.fromisoformat(created)
        phones = row.get("phones")
        if phones is None:
            phones = [p for p in (row.get("phone"), row.get("mobile")) if p]
        return cls(id=row["id"], name=row.get("name"), company=row.get("company"),
                   phones=list(phones) if not isinstance(phones, str) else [phones],
                   email=row.get("email"), wechat_id=row.get("wechat_id"),
                   created_at=created or None, source=row.get("source"))

    def to_mapping(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "company": self.company, "phones": list(self.phones),
                "email": self.email, "wechat_id": self.wechat_id,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "source": self.source}


def _intern(value: str | None) -> str | None:
    return sys.intern(value) if value else value


def _split_phones(raw_phones: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    mobiles: list[str] = []
    fixed: list[str] = []
    for raw in raw_phones:
        for phone in norm.normalize_phones(raw):
            # a foreign landline is a switchboard too: only personal numbers identify a person
            kind = "fixed" if phone.startswith(("0", "400", "800")) else (
                norm.phone_kind(phone) if phone.startswith("+") else "mobile")
            target = fixed if kind == "fixed" else mobiles
            if phone not in target:
                target.append(phone)
    return tuple(mobiles) or _EMPTY, tuple(fixed) or _EMPTY


def compute_features(record: DedupRecord) -> Features:
    """Normalize every field of `record` (no caching; see `features`)."""
    mobiles, fixed = _split_phones(record.phones)
    email = norm.normalize_email(record.email)
    domain = email.rsplit("@", 1)[1] if email else None
    public = norm.is_public_mail_domain(domain)
    role = bool(email and not public and email.split("@", 1)[0] in ROLE_MAILBOXES)
    company_key, region, group = norm.company_parts(record.company)
    person = norm.parse_person_name(record.name, record.company)
    title = person.title or ""
    return Features(
        mobiles=mobiles, fixed=fixed, email=email, email_domain=_intern(domain),
        email_personal=bool(email) and not role, email_public=public,
        company_key=sys.intern(company_key), company_region=_intern(region),
        company_latin=bool(company_key) and not norm.has_han(company_key),
        name_key=sys.intern(person.key), surname=sys.intern(person.surname), name_full=person.full,
        name_latin=person.latin, title=sys.intern(title), spellings=person.spellings,
        surname_key=sys.intern(person.surname_key),
        gender=norm.title_gender(title), company_group=group,
        wechat=norm.normalize_wechat_id(record.wechat_id),
    )


def features(record: DedupRecord) -> Features:
    """Cached normalized features: computed on first use, reused for every comparison."""
    cached = record._features
    if cached is None:
        cached = record._features = compute_features(record)
    return cached
