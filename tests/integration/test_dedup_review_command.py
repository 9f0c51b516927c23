"""「待审重复」: the data steward (or a rep with prompts) pages through the open duplicate reviews
an import or scan queued beyond the cards it sent, most likely first, and decides them from
the cards; every decision shortens the list."""
from __future__ import annotations

from cards.model import Card
from crm_core.db.models import DedupReview
from crm_core.services.dedup_entry import open_review
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from tests.integration.test_workflow_handlers import run, said

STEWARD = "liu.yang"


def customer(rt, clock, n: int) -> int:  # noqa: ANN001
    with rt.db.uow() as s:
        result = intake_lead(s, rt.cfg, LeadInput(source="import", company=f"审核测试{n:02d}号贸易有限公司",
                                                  contact_name=f"联系人{n}", phone=f"1390000{n:04d}"),
                             actor="admin", platform=None, now=clock())
        return result.customer.id


def queue_reviews(rt, clock, scores: list[float], kind: str = "review", assignee: str = STEWARD) -> list[int]:  # noqa: ANN001
    ids = []
    for i, score in enumerate(scores):
        a, b = customer(rt, clock, 2 * i + (100 if kind == "prompt" else 0)), \
            customer(rt, clock, 2 * i + 1 + (100 if kind == "prompt" else 0))
        with rt.db.uow() as s:
            review, _ = open_review(s, rt.cfg, a, b, score, kind, assignee, clock(), notify=False)
            ids.append(review.id)
    return ids


def cards_of(replies) -> list[Card]:  # noqa: ANN001
    return [r.item for r in replies if isinstance(r.item, Card)]


def test_steward_pages_through_open_reviews_and_decides_from_the_cards(runtime, clock):  # noqa: ANN001
    queue_reviews(runtime, clock, [76.0, 84.5, 79.0, 80.0, 77.5, 83.0, 78.0])
    replies = run(runtime, STEWARD, text="待审重复")
    assert "共 7 条" in said(replies[:1]) and "下一批" in said(replies[:1])
    cards = cards_of(replies)
    with runtime.db.uow() as s:
        scores = [s.get(DedupReview, int(c.card_id.removeprefix("dedup-"))).score for c in cards]
    assert scores == [84.5, 83.0, 80.0, 79.0, 78.0]                  # most likely duplicates first
    assert all({b.action for b in c.buttons} == {"dedup.merge", "dedup.reject"} for c in cards)
    assert "139****" in said(replies) and "13900000" not in said(replies)   # phones masked

    run(runtime, STEWARD, card=cards[0], action="dedup.merge")
    run(runtime, STEWARD, card=cards[1], action="dedup.reject")
    after = run(runtime, STEWARD, text="待审重复 10")
    assert "共 5 条" in said(after[:1]) and "下一批" not in said(after[:1])
    assert len(cards_of(after)) == 5
    assert {c.card_id for c in cards_of(after)}.isdisjoint({cards[0].card_id, cards[1].card_id})


def test_a_rep_sees_only_their_own_prompts(runtime, clock):  # noqa: ANN001
    queue_reviews(runtime, clock, [80.0, 81.0])                        # steward's
    assert said(run(runtime, "zhang.wei", text="待审重复")) == "没有待你审核的疑似重复客户。"
    queue_reviews(runtime, clock, [90.0], kind="prompt", assignee="zhang.wei")
    mine = run(runtime, "zhang.wei", text="dedup")
    assert "共 1 条" in said(mine[:1])
    [card] = cards_of(mine)
    assert {b.action for b in card.buttons} == {"dedup.link", "dedup.keep"}
    assert "共 3 条" in said(run(runtime, STEWARD, text="待审重复")[:1])   # the steward sees every one


def test_bad_count_gets_a_clear_reply(runtime, clock):  # noqa: ANN001
    for arg in ("abc", "0", "11"):
        text = said(run(runtime, STEWARD, text=f"待审重复 {arg}"))
        assert "1–10" in text and "例如:待审重复 5" in text
