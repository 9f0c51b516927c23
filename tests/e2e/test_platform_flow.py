"""Issue 3 end to end, per platform, over real HTTP: text → neutral event → handler → reply
at the sandbox; a card is sent, tapped and updated in place; retries are processed once;
strangers get a polite reply and nothing is created."""
from __future__ import annotations

from sqlalchemy import func, select

from crm_core.db.models import Customer, InboundMessage, Lead
from tests.e2e.conftest import REPS


def texts_sent(stack, platform: str) -> list[str]:  # noqa: ANN001
    return [stack.sim.sent_as_text([c]) for c in stack.sandbox.sent(platform)]


def count(db, model) -> int:  # noqa: ANN001
    with db.uow() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_text_reaches_handler_and_reply_arrives(stack, platform, db):
    res = stack.sim.send_text(platform, REPS[platform], "帮助")
    assert res.status_code == 200
    assert stack.settle()
    out = "\n".join(texts_sent(stack, platform))
    assert "查客户" in out and "我的待办" in out
    with db.uow() as s:
        row = s.scalar(select(InboundMessage))
        assert row.platform == platform and row.status == "done" and row.rep_id is not None


def test_card_sent_tapped_and_updated_in_place(stack, platform, db):
    stack.sim.send_text(platform, REPS[platform], "记录杭州优品科技有限公司张总要采购CT设备,预算300万,3月招标")
    assert stack.settle()
    card_call = next(c for c in stack.sandbox.sent(platform) if "新线索" in stack.sim.sent_as_text([c]))
    res = stack.sim.tap(platform, REPS[platform], card_call, "lead.confirm")
    assert res.status_code == 200
    assert stack.settle()
    with db.uow() as s:
        lead = s.scalar(select(Lead))
        assert lead is not None and lead.budget_cny == 3_000_000 and lead.product == "CT设备"
    after = "\n".join(texts_sent(stack, platform))
    assert "已保存为线索" in after                      # the card now shows the result
    assert "已保存线索" in after                        # and the rep got a confirmation


def test_retried_callback_processed_once(stack, platform, db):
    first = stack.sim.send_text(platform, REPS[platform], "帮助")
    for _ in range(2):
        assert stack.sim.resend(first).status_code == 200
    assert stack.settle()
    assert count(db, InboundMessage) == 1
    assert len(stack.sandbox.sent(platform)) == 1         # one reply (DingTalk: via the session webhook)


def test_stranger_is_acknowledged_and_told_how_to_get_access(stack, platform, db):
    res = stack.sim.send_text(platform, "stranger-001", "记录杭州优品的李经理 13912345678 预算50万")
    assert res.status_code == 200
    assert stack.settle()
    out = "\n".join(texts_sent(stack, platform))
    assert "还没有开通" in out and "stranger-001" in out
    assert count(db, Customer) == 0 and count(db, Lead) == 0


def test_forged_signature_rejected_and_nothing_written(stack, platform, db):
    res = stack.sim.send_text(platform, REPS[platform], "帮助", forge_signature=True)
    assert res.status_code in (401, 403)
    assert "signature" in res.json()["message"] or "token" in res.json()["message"]
    assert stack.settle(timeout=2)
    assert count(db, InboundMessage) == 0 and stack.sandbox.sent(platform) == []
