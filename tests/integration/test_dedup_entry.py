"""Duplicate check at entry: the same company joins its customer (one company, one customer:
the contact matched inside it, or a new contact), otherwise join above the merge threshold, a
card to the rep in the prompt band, the data steward's queue in the review band; decisions are
permissioned and idempotent."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_core.db.models import AuditLog, Contact, Customer, DedupReview, Lead
from crm_core.notices import DuplicatePrompt, DuplicateReview
from crm_core.services.dedup_entry import ReviewDenied, check_entry, decide_review
from crm_core.services.intake import PROMPT_NOTE, intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.services.merge import merge_customers

EXISTING = dict(company="杭州优品电子商务有限公司", contact_name="李明", phone="13912345678", email="liming@youpin.com")


def intake(db, cfg, now, actor: str = "zhang.wei", **fields):  # noqa: ANN001, ANN201
    data = LeadInput(source=fields.pop("source", "chat"), **fields)
    with db.uow() as s:
        res = intake_lead(s, cfg, data, actor=actor, platform="wecom", now=now,
                          owner_rep_id=actor if cfg.org.rep(actor) else None)
        return res, res.customer.id


@pytest.fixture
def existing(db, cfg, clock) -> int:  # noqa: ANN001
    res, customer_id = intake(db, cfg, clock(), source="expo", **EXISTING)
    assert res.merged_into is None and res.notices == []
    clock.advance(days=2)
    return customer_id


CASES = [
    # (new lead, expected band; "company": the company's customer, on its contact; "colleague": a new contact)
    (dict(company="优品(杭州)电子商务有限公司", contact_name="李明", phone="+86 139-1234-5678"), "company"),
    (dict(company="杭州优品电子商务有限公司", contact_name="李明"), "company"),
    (dict(company="杭州优品电子商务有限公司", contact_name="李总"), "company"),        # 李明's title form
    (dict(company="杭州优品电子商务有限公司", contact_name="李明", phone="13600000000"), "company"),
    (dict(company="杭州优品", contact_name="李经理", wechat_id="13912345678"), "merge"),
    (dict(company="杭州优品", contact_name="李明"), "prompt"),
    (dict(company="优品电商", contact_name="李明"), "prompt"),
    (dict(company="杭州优品", contact_name="李总", email="ming@youpin.com"), "review"),
    (dict(company="优品电商", contact_name="李先生", email="x@youpin.com"), "review"),
    (dict(company="杭州优品电子商务有限公司", contact_name="王芳", phone="13800001111"), "colleague"),
    (dict(company="杭州优品电子商务有限公司", email="ming@youpin.com"), "colleague"),
    (dict(company="优品", contact_name="李经理", phone="0571-88886666"), None),   # a switchboard alone
    (dict(company="宁波优品电子商务有限公司", contact_name="李明"), None),          # namesake elsewhere
]


@pytest.mark.parametrize("fields, band", CASES)
def test_entry_bands(db, cfg, clock, existing, fields: dict, band: str | None) -> None:  # noqa: ANN001
    res, customer_id = intake(db, cfg, clock(), **fields)
    with db.uow() as s:
        customers = s.scalar(select(func.count()).select_from(Customer))
        reviews = s.scalars(select(DedupReview)).all()
        lead = s.get(Lead, res.lead.id)
        contacts = s.scalars(select(Contact.id).where(Contact.customer_id == existing).order_by(Contact.id)).all()
        if band in ("company", "colleague"):
            assert (customers, customer_id, res.merged_into, lead.customer_id) == (1, existing, existing, existing)
            assert reviews == [] and res.notices == [] and res.join is not None
            assert res.join.new_contact == (band == "colleague") and len(contacts) == (2 if band == "colleague" else 1)
            assert lead.contact_id == contacts[-1]
            said = "新增" if band == "colleague" else "联系人:李明"
            (shown,) = res.notes
            assert shown.startswith(f"已加入已有客户 C{existing} 杭州优品电子商务有限公司,") and said in shown
            assert s.scalar(select(AuditLog.detail).where(
                AuditLog.action == "customer.join"))["lead_id"] == lead.id
            return
        if band == "merge":
            assert (customers, customer_id, res.merged_into, lead.customer_id) == (1, existing, existing, existing)
            assert res.notes == ["已关联到已有客户:杭州优品电子商务有限公司 · 李明 139****5678"]
            assert reviews == [] and res.notices == []
            assert s.scalar(select(AuditLog.detail).where(AuditLog.action == "dedup.join"))["lead_id"] == lead.id
            return
        assert customers == 2 and customer_id != existing and res.merged_into is None
        if band is None:
            assert reviews == [] and res.notices == [] and res.notes == []
            return
        (review,) = reviews
        to = "zhang.wei" if band == "prompt" else cfg.org.data_steward
        assert (review.kind, review.assignee, review.customer_id, review.candidate_id) == (band, to, customer_id, existing)
        (notice,) = res.notices
        expected = DuplicatePrompt if band == "prompt" else DuplicateReview
        assert (type(notice), notice.to_rep, notice.view["review_id"]) == (expected, to, review.id)
        assert notice.view["existing"]["line"] == "杭州优品电子商务有限公司 · 李明 139****5678"
        assert "13912345678" not in repr(notice)          # never a full phone number in a card
        assert (PROMPT_NOTE in res.notes) == (band == "prompt")


@pytest.mark.parametrize("fields, alias", [
    (dict(company="杭州优品电子商务有限公司", contact_name="李明", phone="13912345678"), False),
    (dict(company="杭州优品电子商务有限公司", contact_name="李明", phone="13912345678", email="lm@qq.com"), True),
    (dict(company="杭州优品", contact_name="李明", phone="13912345678", wechat_id="liming_hz"), True),
])
def test_join_keeps_new_details_as_a_source_tagged_alias(db, cfg, clock, existing, fields: dict, alias: bool) -> None:  # noqa: ANN001
    res, _ = intake(db, cfg, clock(), source="web_form", **fields)
    assert res.merged_into == existing
    with db.uow() as s:
        contacts = s.scalars(select(Contact).where(Contact.customer_id == existing).order_by(Contact.id)).all()
        assert len(contacts) == (2 if alias else 1)
        if alias:
            assert (contacts[1].is_alias, contacts[1].source, res.contact.id) == (True, "官网表单", contacts[1].id)
            # the alias is indexed: its new e-mail / WeChat id finds this customer next time
            found = check_entry(s, cfg, LeadInput(source="chat", email=fields.get("email"),
                                                  wechat_id=fields.get("wechat_id"), contact_name="李明"))
            assert found and found[0].customer_id == existing


def test_api_lead_in_prompt_band_goes_to_the_steward(db, cfg, clock, existing) -> None:  # noqa: ANN001
    res, _ = intake(db, cfg, clock(), actor="api", company="杭州优品", contact_name="李明")
    (notice,) = res.notices
    assert (type(notice), notice.to_rep) == (DuplicateReview, cfg.org.data_steward)


def test_check_entry_sees_only_active_customers_and_honours_exclude(db, cfg, clock, existing) -> None:  # noqa: ANN001
    query = LeadInput(source="chat", phone="139 1234 5678")
    with db.uow() as s:
        assert [m.customer_id for m in check_entry(s, cfg, query)] == [existing]
        assert check_entry(s, cfg, query, exclude_customer_id=existing) == []
    _, other = intake(db, cfg, clock(), company="杭州优品", contact_name="李明", phone="13600000000")
    with db.uow() as s:
        merge_customers(s, cfg, other, [existing], actor="liu.yang", now=clock())
    with db.uow() as s:   # the merged record's contact now answers for the survivor
        assert [m.customer_id for m in check_entry(s, cfg, query)] == [other]


def test_a_giant_company_block_does_not_hide_the_person(db, cfg, clock, existing) -> None:  # noqa: ANN001
    for i in range(30):
        intake(db, cfg, clock(), company="杭州优品电子商务有限公司", contact_name=f"员工{i:02d}",
               phone=f"137{i:08d}")
    with db.uow() as s:
        found = check_entry(s, cfg, LeadInput(source="chat", company="杭州优品电子商务有限公司", contact_name="李明"),
                            limit_per_key=5)
        assert found[0].customer_id == existing and found[0].score >= cfg.dedup.merge_threshold


DECISIONS = [
    # (decision, actor, expected status, merged into the existing one?)
    ("link", "zhang.wei", "merged", True),
    ("keep", "zhang.wei", "rejected", False),
    ("link", "wang.fang", "merged", True),       # an admin may act for the rep
    ("merge", "liu.yang", "merged", False),      # steward: survivor per config (newest = the new record)
    ("reject", "liu.yang", "rejected", False),
]


@pytest.mark.parametrize("decision, actor, status, into_existing", DECISIONS)
def test_decisions_apply_once(db, cfg, clock, existing, decision, actor, status, into_existing) -> None:  # noqa: ANN001
    res, new = intake(db, cfg, clock(), company="杭州优品", contact_name="李明")
    clock.advance(minutes=3)
    with db.uow() as s:
        outcome = decide_review(s, cfg, res.review_id, decision, actor, clock())
        assert outcome.changed and outcome.review.status == status and outcome.review.reviewer == actor
        merge_id = outcome.review.merge_id
    with db.uow() as s:
        again = decide_review(s, cfg, res.review_id, "reject" if status == "merged" else "link", actor, clock())
        assert not again.changed and again.review.status == status    # the second tap changes nothing
        statuses = {c.id: (c.status, c.merged_into_id) for c in s.scalars(select(Customer))}
    if status == "rejected":
        assert merge_id is None and statuses == {existing: ("active", None), new: ("active", None)}
    elif into_existing:
        assert merge_id and statuses == {existing: ("active", None), new: ("merged", existing)}
    else:
        assert merge_id and statuses == {existing: ("merged", new), new: ("active", None)}


def test_only_the_rep_steward_or_admin_may_decide(db, cfg, clock, existing) -> None:  # noqa: ANN001
    res, _ = intake(db, cfg, clock(), company="杭州优品", contact_name="李明")
    with db.uow() as s, pytest.raises(ReviewDenied):
        decide_review(s, cfg, res.review_id, "link", "li.na", clock())
    with db.uow() as s:
        assert s.get(DedupReview, res.review_id).status == "open"


# ---- cards and taps -----------------------------------------------------------------------

def tap(runtime, rep_id: str, key: str, review_id: int) -> list:  # noqa: ANN001
    """A tap as the platform reports it; the replies are queued in the outbox as the worker would."""
    from bot.events import CardAction, EventKind, InboundEvent
    from bot.pipeline import Pipeline
    from handlers.context import Context
    from handlers.dispatch import dispatch
    from handlers.load import build_registry
    rep = runtime.cfg.org.rep(rep_id)
    event = InboundEvent(platform=rep.platform, kind=EventKind.CARD_ACTION, event_id=f"e-{key}-{rep_id}",
                         sender_id=rep.platform_ids[rep.platform], conversation_id="p2p",
                         action=CardAction(key=key, values={"review": str(review_id)}, card_ref=f"dedup-{review_id}"))
    replies = dispatch(Context(services=runtime.services, event=event, rep=rep, now=runtime.clock()), build_registry())
    for i, reply in enumerate(replies):
        Pipeline(runtime).deliver(event, rep, reply, i)
    return replies


@pytest.mark.parametrize("fields, kind, buttons", [
    (dict(company="杭州优品", contact_name="李明"), "prompt", ["关联到已有客户", "仍然新建"]),
    (dict(company="杭州优品", contact_name="李总", email="ming@youpin.com"), "review", ["合并", "不是重复"]),
])
def test_dedup_cards_render(runtime, cfg, clock, existing, fields, kind, buttons) -> None:  # noqa: ANN001
    from cards.model import CARD_ID_RE, Card
    from handlers.notify import default_renderers
    res, _ = intake(runtime.db, cfg, clock(), **fields)
    (notice,) = res.notices
    card = default_renderers().render(cfg, notice)
    assert isinstance(card, Card)
    assert CARD_ID_RE.match(card.card_id) and card.card_id == f"dedup-{res.review_id}"
    assert [b.text for b in card.buttons] == buttons
    assert all(b.value == {"review": str(res.review_id)} for b in card.buttons)
    shown = card.text + " ".join(f.value for f in card.fields)
    assert "139****5678" in shown and "13912345678" not in shown
    if kind == "prompt":
        assert card.text == "检测到潜在重复:杭州优品电子商务有限公司 · 李明 139****5678"


def test_taps_are_permissioned_and_idempotent(runtime, cfg, clock, existing) -> None:  # noqa: ANN001
    from cards.model import Card
    res, new = intake(runtime.db, cfg, clock(), company="杭州优品", contact_name="李明")
    runtime.deliver(res.notices)                  # the prompt card goes to 张伟 (and is recorded)
    clock.advance(minutes=3)
    denied = tap(runtime, "li.na", "dedup.link", res.review_id)
    assert [r.item for r in denied] == ["抱歉,只有收到这张卡片的销售、数据管理员或管理员可以处理。"]
    first = tap(runtime, "zhang.wei", "dedup.link", res.review_id)
    card, text = first[0].item, first[1].item
    assert isinstance(card, Card) and first[0].update and card.card_id == f"dedup-{res.review_id}"
    assert card.result == "已由 张伟 关联到已有客户 · 11-24 14:03" and card.active_buttons == ()
    assert text.startswith("已关联到已有客户:杭州优品电子商务有限公司 · 李明 139****5678(合并记录 #")
    second = tap(runtime, "zhang.wei", "dedup.keep", res.review_id)      # the card is resolved
    assert [r.item for r in second] == [f"这张卡片已经处理过了,无需重复操作。({card.result})"]
    with runtime.db.uow() as s:
        assert (s.get(Customer, new).status, s.get(Customer, new).merged_into_id) == ("merged", existing)
    assert tap(runtime, "zhang.wei", "dedup.link", 999_999)[0].item == \
        "没有找到这张卡片的记录(可能已失效或被改动),操作未生效。"


def test_candidate_query_never_scans_a_table(db) -> None:  # noqa: ANN001
    """Without statistics (a fresh SQLite file) every table is reached through an index."""
    if db.dialect != "sqlite":
        pytest.skip("query plan checked on SQLite; bench/dedup_speed.py measures PostgreSQL at 1M rows")
    import re
    from sqlalchemy import text
    from crm_core.services.dedup_entry import _candidate_sql
    sql = str(_candidate_sql(3, True, "sqlite"))
    params = {name: "x" for name in re.findall(r":(\w+)", sql)} | {"lim": 50}
    with db.engine.connect() as conn:
        plan = [str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql), params)]
    scans = [step for step in plan if step.startswith("SCAN ") and step.split()[1] in
             ("match_keys", "contacts", "customers", "ct", "cu")]
    assert scans == [] and any("ix_match_keys_kind_value" in step for step in plan)
    # "every active customer" is a scan in disguise
    assert not any("ix_customers_status" in step for step in plan)
