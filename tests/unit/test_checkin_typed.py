"""The morning check-in's typed picks as reps type them: Chinese numerals, full-width digits and
commas, 「135」 for 「1 3 5」; lead numbers stay lead numbers and a number past the card is refused."""
from __future__ import annotations

import pytest

from crm_core.db.models import FocusCheckin
from crm_core.services.checkin import TYPED_ONLY, CheckinError, arabic_picks, typed_picks

ROW = FocusCheckin(candidates=[41, 42, 43, 44, 45, 46, 47, 48, 49, 50], picks=[])


@pytest.mark.parametrize(("text", "picks"), [
    ("1 3 5", [41, 43, 45]), ("1，3，5", [41, 43, 45]), ("１、３、５", [41, 43, 45]), ("一，三，五", [41, 43, 45]),
    ("一三五", [41, 43, 45]), ("135", [41, 43, 45]), ("十", [50]), ("二 十", [42, 50]), ("10", [50]),
    ("#12 #15", [12, 15]), ("1 1 3", [41, 43]),
])
def test_typed_picks(text: str, picks: list[int]) -> None:
    assert TYPED_ONLY.match(arabic_picks(text))
    assert typed_picks(ROW, text) == picks


def test_past_the_card_is_refused() -> None:
    with pytest.raises(CheckinError, match="没有第 11 条"):
        typed_picks(ROW, "11")
    with pytest.raises(CheckinError, match="没有第 90 条"):     # 9 and 0: not all on the card
        typed_picks(ROW, "90")


def test_other_text_is_left_alone() -> None:
    assert arabic_picks("今天主攻一下杭州优品") == "今天主攻1下杭州优品"
    assert not TYPED_ONLY.match(arabic_picks("今天主攻一下杭州优品"))
