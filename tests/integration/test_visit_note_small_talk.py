"""An open 拜访纪要 question answered with a greeting (「你好」「在吗」「早上好」, small talk per
handlers/small_talk.py) asks again instead of storing the greeting as the part or the note, on
SQLite and PostgreSQL; 「无」 still answers 我方承诺事项 and a real answer is still stored."""
from __future__ import annotations

from sqlalchemy import select

from crm_core.db.models import Activity
from tests.integration.test_lead_edit import card_of, make_lead, run, said


def notes(rt, lead_id: int) -> list[dict]:  # noqa: ANN001
    with rt.db.uow() as s:
        return [dict(a.data) for a in s.scalars(select(Activity).where(Activity.lead_id == lead_id,
                                                                      Activity.kind == "visit_note"))]


def test_a_greeting_is_not_a_part(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    out = said(run(runtime, "zhang.wei", f"拜访纪要 #{lead_id} 沟通了报价,客户希望价格再降5%,下周一再约"))
    assert "我方承诺事项" in out
    for hello in ("你好", "在吗", "早上好", "今天天气不错"):
        again = said(run(runtime, "zhang.wei", hello))
        assert f"「{hello}」没有记进纪要" in again and "我方承诺事项" in again, again
    assert not notes(runtime, lead_id)
    assert card_of(run(runtime, "zhang.wei", "无")).title.startswith("拜访纪要已保存")
    assert notes(runtime, lead_id)[0]["commitments"] == "无"


def test_a_greeting_is_not_the_note(runtime) -> None:  # noqa: ANN001
    lead_id = make_lead(runtime)
    assert "请发送" in said(run(runtime, "zhang.wei", f"拜访纪要 #{lead_id}"))
    again = said(run(runtime, "zhang.wei", "在吗"))
    assert "「在吗」没有记进纪要" in again and "请发送" in again
    out = said(run(runtime, "zhang.wei", "今天讨论了上线计划,客户担心时间来不及"))
    assert "我方承诺事项" in out and "在吗" not in out
