"""Structured lead fields from a rep's free-text or speech-to-text note.

`extract_lead_fields` never raises: a field whose extractor fails is None. Phone numbers are
found first and blanked so budget and date parsing never read them as money or days. The
contact, company and product finders also read jieba's word segmentation of the note
(crm_core.extract.segment: loaded once, on first use; `warm_up()` loads it ahead).
"""
from __future__ import annotations

import logging
from datetime import datetime
from collections.abc import Iterable
from typing import Any, Callable, TypeVar

from crm_core.extract.action import find_action, find_action_hits
from crm_core.extract.budget import find_budget
from crm_core.extract.company import find_company
from crm_core.extract.contact import find_contact
from crm_core.extract.industry import DEFAULT_INDUSTRIES, find_industry
from crm_core.extract.phone import find_phone, mask_spans
from crm_core.extract.product import find_product
from crm_core.extract.segment import warm_up
from crm_core.extract.text import clean
from crm_core.extract.timeline import find_timeline_hits
from crm_core.extract.typos import repair

__all__ = ["FIELDS", "DEFAULT_INDUSTRIES", "extract_lead_fields", "warm_up"]

FIELDS = ("contact_name", "company", "phone", "product", "budget_cny", "timeline", "next_action", "industry")
log = logging.getLogger(__name__)
T = TypeVar("T")


def _safe(name: str, func: Callable[..., T], *args: Any) -> T | None:
    """Run one extractor; a bug in one field must not cost the rep the others."""
    try:
        return func(*args)
    except Exception:  # noqa: BLE001 - deliberately broad: extraction never raises
        log.exception("extract: %s failed", name)  # no note text: it holds customer data
        return None


_PAIR_DISTANCE = 10  # chars between a date and its action ("下周二约了去现场调研")


def _pick_date(text: str, now: datetime | None) -> tuple[int, int, str] | None:
    """The date of the next step: the first one with an open action next to it, else the first."""
    hits = find_timeline_hits(text, now)
    if not hits:
        return None
    actions = [a for a in find_action_hits(text) if not a[3]]
    for start, end, value in hits:
        if any(max(0, start - a_end, a_start - end) <= _PAIR_DISTANCE for a_start, a_end, _n, _d in actions):
            return start, end, value
    return hits[0]


def extract_lead_fields(text: str, now: datetime | None = None,
                        industries: dict[str, list[str]] | None = None, *,
                        known_companies: Iterable[str] | None = None,
                        products: Iterable[str] | None = None) -> dict[str, Any]:
    """contact_name, company, phone, product, budget_cny, timeline, next_action, industry (None when absent).

    `known_companies`: the CRM's customer names; a note naming one ("优品" for 杭州优品电子商务有限公司)
    gets that name as the company. `products`: the team's product catalog; a catalog product the
    note names is the product, spelt as in the catalog. Both optional.
    """
    result: dict[str, Any] = dict.fromkeys(FIELDS)
    cleaned = _safe("clean", clean, text)
    if not cleaned:
        return result
    cleaned = _safe("typos", repair, cleaned) or cleaned
    phone, spans = _safe("phone", find_phone, cleaned) or (None, [])
    masked = mask_spans(cleaned, spans)
    date = _safe("timeline", _pick_date, masked, now)
    contact = _safe("contact", find_contact, masked)
    company = _safe("company", find_company, masked, contact[1] if contact else None, contact[0] if contact else None,
                    known_companies)
    result.update(
        phone=phone,
        budget_cny=_safe("budget", find_budget, masked),
        timeline=date[2] if date else None,
        next_action=_safe("next_action", find_action, masked, (date[0], date[1]) if date else None),
        contact_name=contact[0] if contact else None,
        company=company,
        product=_safe("product", find_product, masked, products, (company, contact[0] if contact else None)),
    )
    result["industry"] = _safe("industry", find_industry, result["company"], result["product"], masked, industries)
    return result
