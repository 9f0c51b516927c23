"""The capture pipeline every new lead goes through, whatever the channel:
validate → the company's customer (one company, one customer: the lead joins it, the contact is
matched inside it, crm_core/services/company_join.py) or the duplicate check → save (joining an
existing customer when it is surely the same) → possible-duplicate card → assignment → the
customer's owner told when someone else's lead joined it. Returns what to tell the rep and the
notices for others."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.config.schema import AppConfig
from crm_core.db.models import Contact, Customer
from crm_core.normalize import parse_person_name
from crm_core.notices import LeadAssigned
from crm_core.kv.base import KV
from crm_core.services.assign import assign_lead, give_lead
from crm_core.services.capture import CaptureResult, JoinFacts, index_contact, save_lead
from crm_core.services.company_join import (company_customer, complete_contact, joined_notice, matching_contact,
                                            may_join, new_contact)
from crm_core.services.dedup_entry import (Match, band_of, check_entry, customer_line, open_review,
                                           steward_of)
from crm_core.services.lead_input import CHANNEL_LABELS, LeadInput

PROMPT_NOTE = "这位客户可能已经存在,我另发了一张卡片,请选择「关联到已有客户」或「仍然新建」。"


class MissingFields(ValueError):
    def __init__(self, fields: list[str]):
        self.fields = fields
        super().__init__(f"missing required fields: {', '.join(fields)}")


def intake_lead(session: Session, cfg: AppConfig, data: LeadInput, *, actor: str,
                platform: str | None, now: datetime, owner_rep_id: str | None = None,
                kv: KV | None = None) -> CaptureResult:
    """Save a lead after the duplicate check, then assign it: a rep who captured it owns it;
    otherwise (API, import) the assignment rules route it (needs `kv` for rotation state)."""
    result = _capture(session, cfg, data, actor=actor, platform=platform, now=now, owner_rep_id=owner_rep_id)
    if owner_rep_id is not None:
        rep = cfg.org.rep(owner_rep_id)
        team = cfg.org.teams_of(owner_rep_id)
        if rep is not None:
            give_lead(session, result.lead, rep, team[0].id if team else None, f"录入人 → {rep.name}", actor, now)
    elif kv is not None:
        _, notices = assign_lead(session, cfg, kv, result.lead, now, actor)
        if data.tags:
            notices = [replace(n, tags=tuple(data.tags)) if isinstance(n, LeadAssigned) else n for n in notices]
        result.notices.extend(notices)
    if result.join is not None:
        joined = joined_notice(session, result.join, result.lead, actor)
        if joined is not None:
            result.notices.append(joined)
    return result


def _capture(session: Session, cfg: AppConfig, data: LeadInput, *, actor: str, platform: str | None,
             now: datetime, owner_rep_id: str | None) -> CaptureResult:
    """Save a lead after the duplicate check: ≥ merge threshold joins the existing customer, the
    prompt band asks the rep, the review band asks the data steward, anything lower is new."""
    missing = data.missing(cfg.funnel.capture_required)
    if missing:
        raise MissingFields(missing)
    company = company_customer(session, data.company)
    if company is not None:
        rep = owner_rep_id or (actor if cfg.org.rep(actor) else None)
        refused = may_join(session, cfg, rep, company)
        if refused is None:
            return _join_company(session, cfg, data, company, actor=actor, platform=platform, now=now,
                                 owner_rep_id=owner_rep_id)
        return _separate(session, cfg, data, company, actor=actor, platform=platform, now=now,
                         owner_rep_id=owner_rep_id)
    matches = check_entry(session, cfg, data)
    best = matches[0] if matches else None
    band = band_of(cfg, best.score) if best else None
    if best is not None and band == "merge":
        return _join_existing(session, data, best, actor=actor, platform=platform, now=now,
                              owner_rep_id=owner_rep_id, cfg=cfg)
    result = save_lead(session, cfg, data, actor=actor, platform=platform, now=now, owner_rep_id=owner_rep_id)
    if best is not None and band is not None:
        rep = owner_rep_id or (actor if cfg.org.rep(actor) else None)
        # a lead without a rep behind it (API, import) cannot be asked: the steward decides
        kind: Literal["prompt", "review"] = "prompt" if band == "prompt" and rep else "review"
        review, notice = open_review(session, cfg, result.customer.id, best.customer_id, best.score, kind,
                                     rep if kind == "prompt" else steward_of(cfg), now)
        result.review_id = review.id
        if notice is not None:
            result.notices.append(notice)
        if kind == "prompt":
            result.notes.append(PROMPT_NOTE)
    return result


def adds_information(data: LeadInput, contact: Contact) -> bool:
    """True when the new lead carries a phone, e-mail, WeChat id or full name the matched contact
    lacks: then it is kept as an alias contact instead of being dropped."""
    phones = set(contact.phones or []) | ({contact.phone} if contact.phone else set())
    if data.phone and data.phone not in phones:
        return True
    if data.email and data.email != contact.email:
        return True
    if data.wechat_id and data.wechat_id.strip().lower() != (contact.wechat_id or "").strip().lower():
        return True
    name = (data.contact_name or "").strip()
    return bool(name) and name != (contact.name or "") and parse_person_name(name).full


def alias_if_new(session: Session, customer: Customer, matched: Contact, data: LeadInput, now: datetime) -> Contact:
    """The matched contact, or an alias contact (source-tagged, indexed) when the lead carries
    details it lacks, so nothing the rep or the form gave is dropped."""
    if not adds_information(data, matched):
        return matched
    contact = Contact(customer_id=customer.id, name=data.contact_name or matched.name, title=None,
                      phone=data.phone, phones=[data.phone] if data.phone else [], email=data.email,
                      wechat_id=data.wechat_id, source=CHANNEL_LABELS.get(data.source, data.source),
                      is_alias=True, created_at=now)
    session.add(contact)
    session.flush()
    index_contact(session, customer, contact)
    return contact


def _join_existing(session: Session, data: LeadInput, match: Match, *, actor: str, platform: str | None,
                   now: datetime, owner_rep_id: str | None, cfg: AppConfig) -> CaptureResult:
    customer = session.get_one(Customer, match.customer_id)     # check_entry just read both
    matched = session.get_one(Contact, match.contact_id)
    contact = alias_if_new(session, customer, matched, data, now)
    result = save_lead(session, cfg, data, actor=actor, platform=platform, now=now, owner_rep_id=owner_rep_id,
                       customer=customer, contact=contact)
    result.merged_into = customer.id
    result.join = JoinFacts(customer.id, contact.id, contact is not matched)
    result.notes.append(f"已关联到已有客户:{customer_line(customer, matched)}")
    audit.record(session, actor, "dedup.join", platform=platform, target_type="customer", target_id=customer.id,
                 detail={"score": match.score, "source": data.source, "lead_id": result.lead.id,
                         "contact_id": contact.id, "alias": contact is not matched}, now=now)
    return result


def _join_company(session: Session, cfg: AppConfig, data: LeadInput, customer: Customer, *, actor: str,
                  platform: str | None, now: datetime, owner_rep_id: str | None) -> CaptureResult:
    """The lead joins the company's customer: on the contact it is about (completed with what
    the note adds), else on a new contact of the company."""
    contact = matching_contact(session, customer, data)
    added = contact is None
    if contact is None:
        contact = new_contact(session, customer, data, now)
    else:      # what it lacks is filled in; what differs (another e-mail...) is kept as an alias
        complete_contact(session, customer, contact, data)
        contact = alias_if_new(session, customer, contact, data, now)
    result = save_lead(session, cfg, data, actor=actor, platform=platform, now=now, owner_rep_id=owner_rep_id,
                       customer=customer, contact=contact)
    result.merged_into = customer.id
    result.join = JoinFacts(customer.id, contact.id, added)
    if added:
        said = f"新增联系人{contact.name}" if contact.name else "新增了一位联系人"
    else:
        said = f"联系人:{contact.name}" if contact.name else "联系人已在其中"
    result.notes.append(f"已加入已有客户 C{customer.id} {customer.name},{said}。")
    audit.record(session, actor, "customer.join", platform=platform, target_type="customer", target_id=customer.id,
                 detail={"lead_id": result.lead.id, "contact_id": contact.id, "new_contact": added,
                         "source": data.source}, now=now)
    return result


def _separate(session: Session, cfg: AppConfig, data: LeadInput, company: Customer, *, actor: str,
              platform: str | None, now: datetime, owner_rep_id: str | None) -> CaptureResult:
    """The policy keeps this rep out of another team's customer (dedup.cross_team_join:
    separate): a customer of their own, and the pair goes to the data steward."""
    result = save_lead(session, cfg, data, actor=actor, platform=platform, now=now, owner_rep_id=owner_rep_id)
    scores = {m.customer_id: m.score for m in check_entry(session, cfg, data, exclude_customer_id=result.customer.id)}
    review, notice = open_review(session, cfg, result.customer.id, company.id,
                                 scores.get(company.id, cfg.dedup.merge_threshold), "review", steward_of(cfg), now)
    result.review_id = review.id
    if notice is not None:
        result.notices.append(notice)
    owner = cfg.org.rep(company.owner_rep_id) if company.owner_rep_id else None
    result.notes.append(f"「{company.name}」已是其他团队的客户(负责人:{owner.name if owner else '未分配'}),"
                        "按公司设置为你另建了客户,并请数据管理员核对。")
    return result
