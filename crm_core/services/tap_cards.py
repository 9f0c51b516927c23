"""A card record for a tap: the card as the outbox stored it when it was sent (`CardRecord`:
id, kind, recipient, lead, content, result), turned into the facts the policy judges a tap on
(`authz.CardFacts`) and the facts of what the card is about (`authz.Subjects`). A tap's payload
is never trusted: its lead id, card id and button must agree with what is loaded here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from crm_core.authz import CardButton, CardFacts, Subjects, payload_lead
from crm_core.config.schema import AppConfig
from crm_core.db.models import CardRecord
from crm_core.services.access import (load_customer_facts, load_lead_facts, load_review_facts,
                                      load_task_facts)
from crm_core.services.approval_facts import load_approval_facts

INSTANCE_SEP = "@"        # a platform's per-send id: "<card id>@<suffix>" (cards.model.instance_id)


@dataclass(frozen=True)
class TapCard:
    facts: CardFacts
    kind: str
    content: dict[str, Any]        # the neutral card as last sent (cards.model.card_to_dict)

    @property
    def id(self) -> str:
        return self.facts.id

    @property
    def lead_id(self) -> int | None:
        return self.facts.lead_id


def stored_buttons(content: dict[str, Any]) -> tuple[CardButton, ...]:
    out = []
    for raw in content.get("buttons") or ():
        if isinstance(raw, dict) and isinstance(raw.get("action"), str):
            values = raw.get("value") or {}
            out.append(CardButton(raw["action"], {str(k): str(v) for k, v in dict(values).items()}))
    return tuple(out)


def _record(session: Session, card_ref: str) -> CardRecord | None:
    rec = session.get(CardRecord, card_ref[:128])
    if rec is None and INSTANCE_SEP in card_ref:
        rec = session.get(CardRecord, card_ref.rpartition(INSTANCE_SEP)[0][:128])
    return rec


def load_tap_card(session: Session, cfg: AppConfig, card_ref: str | None) -> TapCard | None:
    """The stored card a tap names (its id, or a platform's per-send id of it), else None.
    Its lead: the record's, else the one its buttons were sent with; its recipient: the rep
    the card went to (None for a group chat)."""
    if not card_ref:
        return None
    rec = _record(session, card_ref)
    if rec is None:
        return None
    content = dict(rec.content or {})
    buttons = stored_buttons(content)
    lead_id = rec.lead_id
    if lead_id is None:
        lead_id = next((lead for lead in (payload_lead(b.values) for b in buttons) if lead is not None), None)
    recipient = None
    if not rec.recipient.startswith("chat:"):
        rep = cfg.org.rep_by_platform_id(rec.platform, rec.recipient)
        recipient = rep.id if rep else rec.recipient     # an unknown address matches nobody
    facts = CardFacts(id=rec.id, recipient=recipient, lead_id=lead_id, buttons=buttons, result=rec.result,
                      resolved=rec.result is not None or rec.resolved_at is not None)
    return TapCard(facts=facts, kind=rec.kind, content=content)


def _first_int(card: CardFacts, key: str) -> int | None:
    for button in card.buttons:
        raw = str(button.values.get(key) or "").lstrip("#")
        if raw.isdigit():
            return int(raw)
    return None


def tap_subjects(session: Session, card: CardFacts) -> Subjects:
    """What the stored card is about: its lead, duplicate review, customer and to-dos (from the
    record and the values its buttons were sent with)."""
    review_id, customer_id = _first_int(card, "review"), _first_int(card, "customer")
    task_ids = sorted({int(raw) for b in card.buttons
                       if (raw := str(b.values.get("task") or "").lstrip("Tt")).isdigit()})
    approval_id = _first_int(card, "approval")
    return Subjects(lead=load_lead_facts(session, card.lead_id) if card.lead_id is not None else None,
                    approval=load_approval_facts(session, approval_id) if approval_id is not None else None,
                    review=load_review_facts(session, review_id) if review_id is not None else None,
                    customer=load_customer_facts(session, customer_id) if customer_id is not None else None,
                    tasks=load_task_facts(session, task_ids))
