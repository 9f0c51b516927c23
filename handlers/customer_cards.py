"""What a customer's owner sees when someone else's lead joined their customer (one company,
one customer): the customer, who, the contact (phone in full: the recipient owns the customer)
and whether the contact is new. Built from the notice and the org config only."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cards.model import Card, Field, Level
from crm_core.config.schema import AppConfig
from crm_core.notices import CustomerJoined
from handlers.workflow_cards import card_id_for, rep_name

if TYPE_CHECKING:
    from handlers.notify import Renderers


def customer_joined(cfg: AppConfig, notice: CustomerJoined) -> Card:
    who = rep_name(cfg, notice.by)
    contact = " ".join(p for p in (notice.contact_name, notice.phone) if p) or "未留姓名"
    fields = (Field("客户", f"C{notice.customer_id} {notice.customer}", short=False),
              Field("新线索", f"#{notice.lead_id} {notice.title}" if notice.lead_id else notice.title, short=False),
              Field("录入人", who),
              Field("新增联系人" if notice.new_contact else "联系人", contact))
    return Card(card_id=card_id_for("joined", notice), title=f"{who} 在你的客户「{notice.customer}」下新建了线索",
                level=Level.INFO, fields=fields,
                footer="同一家公司只保留一个客户;如需协同,可直接联系录入人")


def register(renderers: Renderers) -> None:
    renderers.register(CustomerJoined, customer_joined)
