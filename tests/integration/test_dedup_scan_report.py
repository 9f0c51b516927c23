"""Bulk scan of existing customers and the monthly merge report (service, CLI and card)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cards.model import CARD_ID_RE
from crm_core.db.models import Customer, DedupReview, MergeRecord
from crm_core.notices import DuplicateReview, MergeReport
from crm_core.services.capture import save_lead
from crm_core.services.dedup_entry import decide_review
from crm_core.services.dedup_scan import scan
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from crm_core.services.merge import undo_merge
from crm_core.services.merge_report import (MINUTES_PER_DUPLICATE, merge_report, merge_report_notices, month_bounds,
                                            previous_month)

SEED = [
    # (key, source, company, contact, phone, email)
    ("a1", "expo", "杭州优品电子商务有限公司", "李明", "13912345678", None),
    ("a2", "web_form", "优品(杭州)电子商务有限公司", "李经理", "+86 139 1234 5678", None),
    ("a3", "expo", "杭州优品电商有限公司", "李明", "139-1234-5678", "liming@youpin.com"),
    ("b1", "call", "宁波恒通机械设备有限公司", "王芳", None, "wangfang@hengtong.cn"),
    ("b2", "web_form", "恒通机械(宁波)有限公司", "王芳", "13800001111", "WangFang@HengTong.cn"),
    ("c1", "expo", "深圳鼎盛科技有限公司", "陈杰", "13711112222", None),
    ("c2", "call", "深圳鼎盛科技有限公司", "陈杰", "13600003333", None),        # review band: another mobile
    ("d1", "expo", "深圳鼎盛科技有限公司", "赵敏", "13500004444", None),        # a colleague: never a duplicate
    ("e1", "chat", "广州华信贸易有限公司", "周总", "13311115555", None),
]


def seed(db, cfg, clock) -> dict[str, int]:  # noqa: ANN001
    """Customers stored without the entry check, as legacy data would be."""
    ids = {}
    for key, source, company, name, phone, email in SEED:
        clock.advance(hours=1)
        with db.uow() as s:
            data = LeadInput(source=source, company=company, contact_name=name, phone=phone, email=email)
            ids[key] = save_lead(s, cfg, data, actor="zhang.wei", platform="wecom", now=clock()).customer.id
    return ids


def statuses(db) -> dict[int, tuple[str, int | None]]:  # noqa: ANN001
    with db.uow() as s:
        return {c.id: (c.status, c.merged_into_id) for c in s.scalars(select(Customer))}


def test_scan_merges_groups_and_queues_the_review_band(db, cfg, clock) -> None:  # noqa: ANN001
    ids = seed(db, cfg, clock)
    with db.uow() as s:
        dry = scan(s, cfg, "cli", clock(), dry_run=True)
    assert (dry.groups, dry.merged_customers, dry.reviews, dry.merge_ids) == (2, 0, 1, [])
    assert all(status == "active" for status, _ in statuses(db).values())
    with db.uow() as s:
        report = scan(s, cfg, "cli", clock())
    assert (report.customers, report.groups, report.merged_customers, report.reviews) == (9, 2, 3, 1)
    state = statuses(db)
    # newest of each group survives (config: survivor newest)
    assert {k: state[ids[k]] for k in ("a1", "a2", "a3")} == {
        "a1": ("merged", ids["a3"]), "a2": ("merged", ids["a3"]), "a3": ("active", None)}
    assert state[ids["b1"]] == ("merged", ids["b2"])
    assert {state[ids[k]][0] for k in ("c1", "c2", "d1", "e1")} == {"active"}
    (notice,) = report.notices
    assert isinstance(notice, DuplicateReview) and notice.to_rep == cfg.org.data_steward
    assert {notice.view["new"]["id"], notice.view["existing"]["id"]} == {ids["c1"], ids["c2"]}
    with db.uow() as s:
        assert {m.source for m in s.scalars(select(MergeRecord))} == {"scan"}
        again = scan(s, cfg, "cli", clock())
    assert (again.groups, again.reviews, again.notices) == (0, 0, [])   # the open pair is not asked twice


def test_a_rejected_pair_is_not_queued_again(db, cfg, clock) -> None:  # noqa: ANN001
    seed(db, cfg, clock)
    with db.uow() as s:
        (notice,) = scan(s, cfg, "cli", clock()).notices
        assert isinstance(notice, DuplicateReview)
        review_id = notice.view["review_id"]
    with db.uow() as s:
        decide_review(s, cfg, review_id, "reject", "liu.yang", clock())
    with db.uow() as s:
        assert scan(s, cfg, "cli", clock()).reviews == 0
        assert s.scalar(select(func.count()).select_from(DedupReview)) == 1


def test_month_bounds_use_the_business_time_zone() -> None:
    start, end = month_bounds("2026-11")
    assert (start, end) == (datetime(2026, 10, 31, 16, tzinfo=timezone.utc), datetime(2026, 11, 30, 16, tzinfo=timezone.utc))
    assert month_bounds("2026-12")[1] == datetime(2026, 12, 31, 16, tzinfo=timezone.utc)
    assert previous_month(datetime(2026, 12, 1, 1, tzinfo=timezone.utc)) == "2026-11"
    assert previous_month(datetime(2027, 1, 1, 1, tzinfo=timezone.utc)) == "2026-12"
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds("11/2026")


def test_monthly_report_counts_merges_joins_and_undos(db, cfg, clock) -> None:  # noqa: ANN001
    ids = seed(db, cfg, clock)                      # 9 records created 2026-11-22
    with db.uow() as s:
        scan(s, cfg, "cli", clock())                # 3 duplicates merged in 2 groups
    with db.uow() as s:                             # a duplicate stopped at entry (joins e1)
        res = intake_lead(s, cfg, LeadInput(source="web_form", company="广州华信贸易有限公司", contact_name="周总",
                                            phone="13311115555"), actor="zhang.wei", platform="wecom", now=clock())
        assert res.merged_into == ids["e1"]
    with db.uow() as s:
        from crm_core.services.merge import merge_customers
        undone = merge_customers(s, cfg, ids["d1"], [ids["e1"]], actor="liu.yang", now=clock()).id
    with db.uow() as s:
        undo_merge(s, undone, "liu.yang", clock())
    with db.uow() as s:
        report = merge_report(s, "2026-11")
        october = merge_report(s, "2026-10")
    assert report["records_after"] == 9 - 3
    assert report["records_before"] == 9 + 1
    assert (report["groups_merged"], report["duplicates_merged"], report["duplicates_avoided"], report["undone"]) == (2, 3, 1, 1)
    assert report["by_source"] == {"展会扫码": 1, "官网表单": 2, "电话": 1}
    assert report["minutes_saved"] == 4 * MINUTES_PER_DUPLICATE
    assert report["reviews"] == {"opened": 1, "merged": 0, "rejected": 0, "open": 1}
    assert (october["groups_merged"], october["records_after"], october["minutes_saved"]) == (0, 0, 0)


def test_report_notices_and_card_for_every_supervisor(db, cfg, clock, runtime) -> None:  # noqa: ANN001
    from handlers.dedup_cards import render_merge_report
    seed(db, cfg, clock)
    with db.uow() as s:
        scan(s, cfg, "cli", clock())
        notices = merge_report_notices(s, cfg, "2026-11")
    assert sorted(n.to_rep for n in notices) == ["liu.yang", "wang.fang"]
    assert len({n.dedupe_key for n in notices}) == 2 and all(n.as_supervisor for n in notices)
    assert all(isinstance(n, MergeReport) for n in notices)
    card = render_merge_report(cfg, notices[0])
    assert CARD_ID_RE.match(card.card_id) and card.title == "2026-11 客户去重月报"
    values = {f.label: f.value for f in card.fields}
    assert (values["去重前记录"], values["去重后记录"], values["合并组数"]) == ("9", "6", "2")
    assert "展会扫码 1" in card.text


def test_cli_scan_undo_and_report(db, cfg, clock, runtime) -> None:  # noqa: ANN001
    from bot.cli.data import dedup_group, merge_group, report_group
    seed(db, cfg, clock)
    runner = CliRunner()
    out = runner.invoke(dedup_group, ["scan"], obj=runtime)
    assert out.exit_code == 0, out.output
    assert "发现 2 组重复" in out.output and "待审核 1 对" in out.output
    with db.uow() as s:
        first = s.scalars(select(MergeRecord.id).order_by(MergeRecord.id)).first()
    out = runner.invoke(merge_group, ["undo", str(first)], obj=runtime)
    assert out.exit_code == 0 and f"已撤销合并 #{first}" in out.output
    out = runner.invoke(merge_group, ["undo", str(first)], obj=runtime)
    assert out.exit_code != 0 and "不能重复撤销" in out.output
    out = runner.invoke(report_group, ["merges", "--month", "2026-11"], obj=runtime)
    assert out.exit_code == 0 and "2026-11 客户去重月报" in out.output and "撤销 1 次" in out.output
    out = runner.invoke(report_group, ["merges", "--month", "2026/11"], obj=runtime)
    assert out.exit_code != 0 and "YYYY-MM" in out.output


def test_cli_scan_says_where_the_reviews_beyond_the_cards_wait(db, cfg, clock, runtime, monkeypatch) -> None:  # noqa: ANN001
    import bot.cli.data
    import crm_core.services.dedup_scan
    from bot.cli.data import dedup_group
    monkeypatch.setattr(crm_core.services.dedup_scan, "MAX_REVIEW_CARDS", 0)   # no card for the one pair
    monkeypatch.setattr(bot.cli.data, "SCAN_REVIEW_CARDS", 0)
    seed(db, cfg, clock)
    out = CliRunner().invoke(dedup_group, ["scan"], obj=runtime)
    assert out.exit_code == 0, out.output
    assert "其余 1 对在队列中" in out.output and "「待审重复」" in out.output
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(DedupReview).where(DedupReview.status == "open")) == 1
