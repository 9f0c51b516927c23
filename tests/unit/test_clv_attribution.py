"""Attribution models on small hand-computed cases (crm_core/clv/attribution.py): each model,
the 180-day window's edges (exactly 180 days in, 180 days + 1 s out, the order's own second in,
a second later out), earlier orders as touchpoints, fraud excluded."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crm_core.clv.attribution import (MODELS, OrderFact, Params, Touch, by_channel, credit_customer,
                                      credit_order, window_indices)

T = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
DAY, SEC = timedelta(days=1), timedelta(seconds=1)
TOUCHES = [Touch(T - 200 * DAY, "ads"), Touch(T - 180 * DAY, "search"), Touch(T - 10 * DAY, "email"),
           Touch(T, "service"), Touch(T + SEC, "social")]


def credits(model: str, touches: list[Touch] = TOUCHES, margin: float = 1000.0) -> dict[str, float]:
    return {ch: round(m, 6) for ch, m in by_channel(credit_order(T, margin, "direct", touches, model)).items()}


def test_first_touch_is_the_touch_exactly_180_days_before():
    assert credits("first_touch") == {"search": 1000.0}


def test_last_touch_is_the_touch_at_the_order_second_not_the_one_after():
    assert credits("last_touch") == {"service": 1000.0}


def test_linear_splits_equally_over_the_three_in_the_window():
    assert credits("linear") == {"search": 333.333333, "email": 333.333333, "service": 333.333333}
    assert sum(c.share for c in credit_order(T, 1000, "direct", TOUCHES, "linear")) == pytest.approx(1)


def test_mix_is_70_last_30_first():
    assert credits("mix") == {"service": 700.0, "search": 300.0}


def test_window_edge_180_days_plus_one_second_is_out():
    touches = [Touch(T - 180 * DAY - SEC, "search"), Touch(T - 10 * DAY, "email"), Touch(T - DAY, "sms")]
    assert window_indices(T, touches, 180) == [1, 2]
    assert credits("first_touch", touches) == {"email": 1000.0}
    assert credits("mix", touches) == {"sms": 700.0, "email": 300.0}


def test_window_is_configurable():
    got = credit_order(T, 100, "direct", TOUCHES, "first_touch", Params(window_days=10))
    assert by_channel(got) == {"email": 100.0}
    assert by_channel(credit_order(T, 100, "direct", TOUCHES, "first_touch", Params(window_days=201))) == {"ads": 100.0}


def test_no_touchpoint_in_the_window_goes_to_the_order_channel_in_every_model():
    for model in MODELS:
        got = credit_order(T, 500, "store", [Touch(T - 181 * DAY, "ads"), Touch(T + SEC, "sms")], model)
        assert [(c.channel, c.margin, c.touch) for c in got] == [("store", 500, None)]


def test_a_single_touch_takes_everything_under_mix():
    assert credits("mix", [Touch(T - DAY, "email")]) == {"email": 1000.0}


def test_mix_with_the_same_channel_first_and_last_sums_on_it():
    assert credits("mix", [Touch(T - 5 * DAY, "email"), Touch(T - 2 * DAY, "sms"), Touch(T - DAY, "email")]) \
        == {"email": 1000.0}


def test_fraud_orders_get_no_credit():
    for model in MODELS:
        assert credit_order(T, 1000, "direct", TOUCHES, model, fraud=True) == []


def test_unknown_model_is_refused():
    with pytest.raises(ValueError):
        credit_order(T, 1, "direct", TOUCHES, "u_shaped")


def test_earlier_orders_are_touchpoints_but_fraud_ones_and_same_second_ones_not():
    orders = [OrderFact(1, T - 30 * DAY, 200, "store"), OrderFact(2, T - 20 * DAY, 900, "web_form", fraud=True),
              OrderFact(3, T, 1000, "direct"), OrderFact(4, T, 50, "sms")]
    got = credit_customer(orders, [Touch(T - 40 * DAY, "email")], "linear")
    assert by_channel(got[1]) == {"email": 200.0}                        # the first order: the email only
    assert got[2] == []                                                   # fraud
    assert by_channel(got[3]) == {"email": 500.0, "store": 500.0}         # not order 4 (same second), not fraud
    assert by_channel(got[4]) == {"email": 25.0, "store": 25.0}
    last = credit_customer(orders, [Touch(T - 40 * DAY, "email")], "last_touch")
    assert by_channel(last[3]) == {"store": 1000.0}
