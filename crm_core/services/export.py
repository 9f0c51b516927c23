"""Exports (issue 18): every customer or lead a viewer may see, as table rows with Chinese
headers, for `crm-bot export` and `GET /api/v1/export/*.csv` (crm_core/export_files.py writes the
file).

What leaves is what the viewer sees elsewhere: the rows of their scope (crm_core/services/scoped.py,
as SQL), each row through the API's read models (crm_core/services/queries.py `lead_view`,
`customer_view`) or the viewer itself (`Viewer.show`, `Viewer.text`): phones `139****1111`,
amounts as a size band, text `***`; a column whose field is hidden to the viewer is not in the
file at all. Rows come in id order, a page (`PAGE` rows) per unit of work, the next page after the
last id (keyset): 100,000 customers never sit in memory at once and no transaction stays open
while the file is written. Each export is audited (`export.customers` / `export.leads`: whose
view, how many rows, the format, whether the file was finished)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.audit import record
from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.config.vocabulary import CHANNELS
from crm_core.db import Database
from crm_core.db.models import Activity, Contact, Customer, Lead
from crm_core.export_files import Cell
from crm_core.services.access import customers_facts, lead_facts
from crm_core.services.queries import customer_view, lead_view
from crm_core.services.scoped import customers_in, leads_in
from crm_core.visibility import Viewer

Kind = Literal["customers", "leads"]
KINDS: dict[Kind, str] = {"customers": "客户", "leads": "线索"}
PAGE = 1000
STATUS_LABELS = {"open": "跟进中", "won": "已赢单", "lost": "已输单", "pool": "在公海"}
NOTE_KINDS = ("follow_up", "voice_note", "visit_note", "call", "visit")     # 最近跟进: what a rep wrote


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    field: str | None = None        # the visibility field that covers it (crm_core/config/visibility.py)


CUSTOMER_COLUMNS: tuple[Column, ...] = (
    Column("id", "客户编号"), Column("name", "客户名称"), Column("contact", "联系人"), Column("title", "职位"),
    Column("phone", "电话", "phone"), Column("email", "邮箱"), Column("industry", "行业"), Column("region", "地区"),
    Column("source", "来源"), Column("owner", "负责人", "owner"), Column("stages", "阶段"),
    Column("open_leads", "在谈线索数"), Column("budget", "在谈预算（元）", "budget"), Column("health", "健康分"),
    Column("pain_points", "痛点", "pain_points"), Column("complaint", "投诉摘要", "complaint"),
    Column("id_number", "证件号", "id_number"), Column("bank_account", "银行账号", "bank_account"),
    Column("created_at", "创建时间"),
)
LEAD_COLUMNS: tuple[Column, ...] = (
    Column("id", "线索编号"), Column("title", "线索名称"), Column("customer_id", "客户编号"),
    Column("customer", "客户名称"), Column("contact", "联系人"), Column("phone", "电话", "phone"),
    Column("email", "邮箱"), Column("industry", "行业"), Column("region", "地区"), Column("source", "来源"),
    Column("product", "产品"), Column("budget", "预算（元）", "budget"), Column("timeline", "预计成交"),
    Column("stage", "阶段"), Column("status", "状态"), Column("owner", "负责人", "owner"), Column("team", "团队"),
    Column("pain_points", "痛点", "pain_points"), Column("next_action", "下一步"), Column("note", "最近跟进", "notes"),
    Column("last_activity_at", "最近活动"), Column("created_at", "创建时间"),
)


def columns(kind: Kind, viewer: Viewer) -> list[Column]:
    """The columns `viewer` gets: a hidden field's column is left out (hidden never depends on
    the row; only a phone's "visible" does, and then it is masked, not left out)."""
    every = CUSTOMER_COLUMNS if kind == "customers" else LEAD_COLUMNS
    return [c for c in every if c.field is None or viewer.levels[c.field] != "hidden"]


def header(kind: Kind, viewer: Viewer) -> list[str]:
    return [c.label for c in columns(kind, viewer)]


def show_customer_number(customer_id: int) -> str:
    """客户C3 without its word (the column says it): C3, as typed in chat."""
    return f"C{customer_id}"


def _when(cfg: AppConfig, dt: datetime | None) -> str | None:
    return f"{local(dt, cfg.app.timezone):%Y-%m-%d %H:%M}" if dt else None


def _person(cfg: AppConfig, rep_id: Any) -> Any:
    """A rep id as the rep's name; a mask ("***") or nothing as it is."""
    if not isinstance(rep_id, str):
        return rep_id
    rep = cfg.org.rep(rep_id)
    return rep.name if rep else rep_id


def _stage(cfg: AppConfig, key: str) -> str:
    stage = cfg.funnel.stage(key)
    return stage.name if stage else key


def _channel(code: str | None) -> str | None:
    return CHANNELS.get(code, code) if code else None


# ---- customers ------------------------------------------------------------------------------------

def _customer_page(s: Session, viewer: Viewer, after: int, size: int) -> list[dict[str, Cell]]:
    cfg = viewer.cfg
    page = list(s.scalars(select(Customer).where(Customer.status == "active", customers_in(viewer.scope),
                                                 Customer.id > after).order_by(Customer.id).limit(size)))
    ids = [c.id for c in page]
    if not ids:
        return []
    facts = customers_facts(s, page)
    contacts: dict[int, Contact] = {}
    for ct in s.scalars(select(Contact).where(Contact.customer_id.in_(ids), Contact.is_alias.is_(False))
                        .order_by(Contact.customer_id, Contact.id)):
        contacts.setdefault(ct.customer_id, ct)          # the first (primary) contact
    budgets: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    stages: dict[int, set[str]] = defaultdict(set)
    for cid, stage, budget in s.execute(select(Lead.customer_id, Lead.stage, Lead.budget_cny)
                                        .where(Lead.customer_id.in_(ids), Lead.status == "open")):
        budgets[cid] += budget or 0
        counts[cid] += 1
        stages[cid].add(stage)
    order = {st.key: i for i, st in enumerate(cfg.funnel.stages)}
    rows: list[dict[str, Cell]] = []
    for c in page:
        f = facts[c.id]
        view = customer_view(c, viewer, f)           # owner and the sensitive fields as the viewer sees them
        fields = view["fields"]
        first = contacts.get(c.id)
        rows.append({
            "_id": c.id, "id": show_customer_number(c.id), "name": c.name, "contact": first.name if first else None,
            "title": first.title if first else None, "phone": viewer.show("phone", first.phone if first else None, f),
            "email": first.email if first else None, "industry": c.industry, "region": c.region,
            "source": _channel(c.source), "owner": _person(cfg, view.get("owner")),
            "stages": "、".join(_stage(cfg, k) for k in sorted(stages[c.id], key=lambda k: order.get(k, 99))) or None,
            "open_leads": counts[c.id],
            "budget": viewer.show("budget", budgets[c.id], f) if counts[c.id] else None,
            "health": round(c.health_score) if c.health_score is not None else None,
            "pain_points": fields.get("pain_points"), "complaint": fields.get("complaint"),
            "id_number": fields.get("id_number"), "bank_account": fields.get("bank_account"),
            "created_at": _when(cfg, c.created_at),
        })
    return rows


# ---- leads ----------------------------------------------------------------------------------------

def _lead_page(s: Session, viewer: Viewer, after: int, size: int, now: datetime) -> list[dict[str, Cell]]:
    cfg = viewer.cfg
    page = s.execute(select(Lead, Customer.name, Contact).join(Customer, Customer.id == Lead.customer_id)
                     .outerjoin(Contact, Contact.id == Lead.contact_id)
                     .where(leads_in(viewer.scope), Lead.id > after).order_by(Lead.id).limit(size)).all()
    if not page:
        return []
    notes: dict[int | None, str | None] = {}
    if viewer.levels["notes"] != "hidden":
        latest = (select(func.max(Activity.id)).where(Activity.lead_id.in_([lead.id for lead, _, _ in page]),
                                                      Activity.kind.in_(NOTE_KINDS), Activity.text.is_not(None))
                  .group_by(Activity.lead_id))
        notes = {lead_id: text for lead_id, text in s.execute(
            select(Activity.lead_id, Activity.text).where(Activity.id.in_(latest)))}
    rows: list[dict[str, Cell]] = []
    for lead, customer, contact in page:
        view = lead_view(lead, now, contact, viewer=viewer)     # phone, budget, owner, pain points as seen
        person = view["contact"] or {}
        team = cfg.org.team(lead.team_id) if lead.team_id else None
        rows.append({
            "_id": lead.id, "id": f"#{lead.id}", "title": lead.title,
            "customer_id": show_customer_number(lead.customer_id), "customer": customer,
            "contact": person.get("name"), "phone": person.get("phone"), "email": person.get("email"),
            "industry": lead.industry, "region": lead.region, "source": _channel(lead.source),
            "product": lead.product, "budget": view.get("budget_cny"), "timeline": lead.timeline,
            "stage": _stage(cfg, lead.stage), "status": STATUS_LABELS.get(lead.status, lead.status),
            "owner": _person(cfg, view.get("owner")), "team": team.name if team else lead.team_id,
            "pain_points": view.get("pain_points"), "next_action": lead.next_action,
            "note": viewer.text(notes.get(lead.id), lead_facts(lead)),
            "last_activity_at": _when(cfg, lead.last_activity_at), "created_at": _when(cfg, lead.created_at),
        })
    return rows


# ---- the stream -----------------------------------------------------------------------------------

def export_rows(db: Database, kind: Kind, viewer: Viewer, now: datetime, *,
                page: int | None = None) -> Iterator[list[Cell]]:
    """Every row of `kind` the viewer may see, in id order, each a list in `header`'s order.
    A page (`PAGE` rows) per unit of work, nothing held between pages."""
    page = page or PAGE
    keys = [c.key for c in columns(kind, viewer)]
    after = 0
    while True:
        with db.uow() as s:
            rows = (_customer_page(s, viewer, after, page) if kind == "customers"
                    else _lead_page(s, viewer, after, page, now))
        if not rows:
            return
        for row in rows:
            yield [row[k] for k in keys]
        after = int(rows[-1]["_id"] or 0)
        if len(rows) < page:
            return


@dataclass
class ExportRun:
    """One export being written: its header, its rows and how many have been read. Its audit row
    is written when the rows have been read to the end (`complete`) or given up (`close()`: a
    client that went away, an error writing the file)."""
    kind: Kind
    header: list[str]
    rows: Iterator[list[Cell]] = field(default_factory=lambda: iter(()))
    count: int = 0
    complete: bool = False

    def close(self) -> None:
        close = getattr(self.rows, "close", None)
        if close is not None:
            close()


def export(db: Database, kind: Kind, viewer: Viewer, *, actor: str, platform: str, fmt: str,
           clock: Callable[[], datetime], page: int | None = None) -> ExportRun:
    """The export of `kind` as `viewer` sees it; nothing is read before its rows are."""
    run = ExportRun(kind, header(kind, viewer))

    def audited() -> Iterator[list[Cell]]:
        try:
            for row in export_rows(db, kind, viewer, clock(), page=page):
                run.count += 1
                yield row
            run.complete = True
        finally:
            with db.uow() as s:
                record(s, actor, f"export.{kind}", platform=platform, target_type=kind,
                       detail={"rep": viewer.who.id, "rows": run.count, "format": fmt, "complete": run.complete},
                       now=clock())
    run.rows = audited()
    return run
