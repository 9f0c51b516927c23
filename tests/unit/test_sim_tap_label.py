"""`crm-bot simulate`'s /tap names a button by its text or a part of it where a word starts: 「选 1」
on a check-in card whose 选 1 became 取消 1 must not tap 「提交(已选 1/3)」."""
from __future__ import annotations

import pytest

from bot.cli import sim_session
from bot.cli.sim_session import SimSession
from sandbox.cardjson import FoundButton
from sandbox.client import CardNotTappable

LABELS = ["取消 1", "选 2", "提交（已选 1/3）", "转派给李娜", "驳回-价格过低"]


@pytest.fixture(autouse=True)
def buttons(monkeypatch: pytest.MonkeyPatch) -> None:
    found = [FoundButton(text=t, action="x", values={}, card_id="c", payload=None) for t in LABELS]
    monkeypatch.setattr(sim_session, "card_of_call", lambda call: {})
    monkeypatch.setattr(sim_session, "card_buttons", lambda platform, card: found)


class Call:
    platform = "feishu"


@pytest.mark.parametrize(("label", "button"), [("选 2", "选 2"), ("转派", "转派给李娜"), ("价格过低", "驳回-价格过低"),
                                               ("提交", "提交（已选 1/3）"), ("取消", "取消 1")])
def test_a_part_where_a_word_starts(label: str, button: str) -> None:
    assert SimSession._button(None, Call(), label) == button  # type: ignore[arg-type]


def test_not_inside_a_word() -> None:
    with pytest.raises(CardNotTappable, match="没有「选 1」"):
        SimSession._button(None, Call(), "选 1")  # type: ignore[arg-type]
