"""Taps on the dedup cards: 关联到已有客户 / 仍然新建 (the rep it was sent to) and 合并 / 不是重复
(the data steward); an admin may act on either (the policy, crm_core/authz.py, checked by
handlers/taps.py on the stored card before a tap gets here; the review id is the one the card
was sent with). A second tap changes nothing and says so."""
from __future__ import annotations

from typing import Any

from crm_core.authz import Action
from crm_core.services.dedup_entry import (Decision, ReviewDenied, ReviewOutcome, decide_review, open_reviews_for,
                                           review_view)
from crm_core.services.merge import MergeError
from handlers.context import Context, Reply, UserError
from handlers.dedup_cards import resolution, review_card
from handlers.registry import Registry

DECISIONS: tuple[Decision, ...] = ("link", "keep", "merge", "reject")
STALE = "这张卡片已经失效了,无需再操作。"


def _done_text(decision: Decision, outcome: ReviewOutcome, view: dict[str, Any]) -> str:
    merge = outcome.merge
    if decision in ("link", "merge"):
        if merge is None:
            return "这两条记录已经是同一个客户了,无需合并。"
        if decision == "link":
            return f"已关联到已有客户:{view['existing']['line']}(合并记录 #{merge.id})"
        kept = view["new"] if merge.survivor_id == view["new"]["id"] else view["existing"]
        return f"已合并,保留记录:{kept['line']}(合并记录 #{merge.id},管理员可用命令「crm-bot merge undo {merge.id}」撤销)"
    return "好的,已保留为新客户。" if decision == "keep" else "已标记为不是重复,以后不会再提示这两条记录。"


def dedup_tap(ctx: Context) -> list[Reply]:
    tap = ctx.verified_tap
    word = tap.key.split(".", 1)[-1]
    decision = next((d for d in DECISIONS if d == word), None)
    raw_id = tap.values.get("review", "")
    if decision is None or not raw_id.isdigit():
        return [Reply(STALE)]
    try:
        with ctx.db.uow() as s:
            outcome = decide_review(s, ctx.cfg, int(raw_id), decision, ctx.me.id, ctx.now)
            view = review_view(s, ctx.cfg, outcome.review)
    except ReviewDenied as err:           # the policy, asked again inside the decision's transaction
        raise UserError(str(err)) from None
    except LookupError:
        return [Reply(STALE)]
    except MergeError as err:
        raise UserError(f"合并没有完成:{err}") from None
    card = review_card(view).resolved(resolution(view))
    if not outcome.changed:
        return [Reply(card, update=True), Reply(f"这条疑似重复已经处理过了({resolution(view)}),无需重复操作。")]
    return [Reply(card, update=True), Reply(_done_text(decision, outcome, view))]


CARDS_PER_ASK = 5
MAX_CARDS_PER_ASK = 10


def pending_reviews(ctx: Context) -> list[Reply]:
    """The reviews an import or scan queued beyond the cards it sent, a few cards at a time:
    the most likely duplicates first; each decision removes one from the list."""
    arg = ctx.data.get("args", "").strip()
    if arg and not (arg.isdigit() and 1 <= int(arg) <= MAX_CARDS_PER_ASK):
        raise UserError(f"「待审重复」后面可以写要几张卡片(1–{MAX_CARDS_PER_ASK}),例如:待审重复 5")
    want = int(arg) if arg else CARDS_PER_ASK
    ctx.require(Action.VIEW_OWN_WORK)       # the reviews sent to me; a steward's are all (open_reviews_for)
    with ctx.db.uow() as s:
        total, reviews = open_reviews_for(s, ctx.cfg, ctx.me.id, want)
        cards = [review_card(review_view(s, ctx.cfg, r)) for r in reviews]
    if not total:
        return [Reply("没有待你审核的疑似重复客户。")]
    more = ",处理完可再发「待审重复」看下一批" if total > len(cards) else ""
    head = f"待你审核的疑似重复客户共 {total} 条,先看相似度最高的 {len(cards)} 条{more}:"
    return [Reply(head), *(Reply(card) for card in cards)]


def register(registry: Registry) -> None:
    registry.add_action("dedup", dedup_tap)
    registry.add_command(pending_reviews, "待审重复", "重复审核", "dedup",
                         usage="列出待你审核的疑似重复客户(每次发几张卡片)", example="待审重复")
