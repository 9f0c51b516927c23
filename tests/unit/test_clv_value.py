"""The CLV formula on hand-computed cases (crm_core/clv/value.py): the annuity, the monthly
margin of a new customer, the recency decay past the usual gap, a win-back ticket replacing it."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from crm_core.clv.value import ClvParams, CustomerHistory, alive_probability, annuity, customer_clv

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_annuity_without_discount_is_the_retention_series():
    assert annuity(ClvParams(horizon_months=3, monthly_retention=0.5, annual_discount_rate=0)) == pytest.approx(1.75)


def test_annuity_discounts_monthly_from_the_annual_rate():
    d = 1.1 ** (1 / 12) - 1
    assert annuity(ClvParams(horizon_months=2, monthly_retention=1.0, annual_discount_rate=0.1)) == \
        pytest.approx(1 / (1 + d) + 1 / (1 + d) ** 2)


def test_an_old_active_customer_is_margin_times_annuity():
    h = CustomerHistory(1200.0, NOW - 400 * DAY, NOW - 10 * DAY, 12, NOW - 2 * DAY)
    v = customer_clv(h, NOW, ClvParams(horizon_months=3, monthly_retention=0.5, annual_discount_rate=0))
    assert (v.monthly_margin, v.alive, v.clv) == (pytest.approx(100), 1.0, pytest.approx(175))


def test_a_new_customer_is_not_diluted_by_months_before_the_first_order():
    h = CustomerHistory(300.0, NOW - 15 * DAY, NOW - 15 * DAY, 1, NOW - 15 * DAY)
    assert customer_clv(h, NOW, ClvParams()).monthly_margin == pytest.approx(300)


def test_alive_decays_after_the_usual_gap():
    h = CustomerHistory(0, NOW - 90 * DAY, NOW - 60 * DAY, 2, NOW - 60 * DAY)     # gap 30 days, idle 60
    assert alive_probability(h, NOW) == pytest.approx(math.exp(-1))
    single = CustomerHistory(0, NOW - 120 * DAY, NOW - 120 * DAY, 1, NOW - 120 * DAY)   # default gap 90
    assert alive_probability(single, NOW) == pytest.approx(math.exp(-30 / 90))
    touched = CustomerHistory(0, NOW - 90 * DAY, NOW - 60 * DAY, 2, NOW - 5 * DAY)   # a recent touchpoint
    assert alive_probability(touched, NOW) == 1.0


def test_a_clv_impact_ticket_after_the_last_order_sets_alive_to_its_winback_probability():
    h = CustomerHistory(0, NOW - 90 * DAY, NOW - 60 * DAY, 2, NOW - 3 * DAY, NOW - 3 * DAY, 0.4)
    assert alive_probability(h, NOW) == 0.4
    before = CustomerHistory(0, NOW - 90 * DAY, NOW - 60 * DAY, 2, NOW - 60 * DAY, NOW - 70 * DAY, 0.4)
    assert alive_probability(before, NOW) == pytest.approx(math.exp(-1))     # older than the last order: ignored
