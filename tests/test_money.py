"""How money is counted, compared and written."""

from __future__ import annotations

import pytest

from ideogram_mcp.journal import Limits, OverBudgetError, check_limits
from ideogram_mcp.money import TOLERANCE, cost_of, money, within


def test_an_amount_is_written_in_dollars_and_cents() -> None:
    assert [money(0.06), money(0.6), money(10), money(0.1 + 0.2)] == ["$0.06", "$0.60", "$10.00", "$0.30"]


def test_a_part_of_a_cent_is_written_not_rounded_away() -> None:
    # A per-call limit of 0.005 had been said as "$0.01" in "$0.01, above the limit of $0.01 per call".
    assert [money(0.005), money(0.0585), money(0.29999999), money(0.555), money(0.0585 * 7)] == [
        "$0.005",
        "$0.0585",
        "$0.29999999",
        "$0.555",
        "$0.4095",
    ]


def test_an_amount_above_nothing_is_never_written_as_nothing() -> None:
    # A daily budget of 1e-9 had been said as "$0.00" beside "(0 means no limit)"; float noise is still $0.00.
    assert [money(1e-9), money(2.5e-10), money(1.5e-9), money(0.1 + 0.2 - 0.3), money(0.0)] == [
        "$0.000000001",
        "$0.00000000025",
        "$0.0000000015",
        "$0.00",
        "$0.00",
    ]


def test_a_large_amount_with_a_part_of_a_cent_keeps_it() -> None:
    # 12 digits had written 1000000000.005 as $1000000000, and 99999999999.995 as $100000000000 (found by review).
    assert [money(1000000000.005), money(99999999999.995), money(12345678.0000001), money(1.2285)] == [
        "$1000000000.005",
        "$99999999999.995",
        "$12345678.0000001",
        "$1.2285",
    ]


def test_an_amount_a_little_off_whole_cents_is_not_taken_for_float_noise() -> None:
    # A budget of $1.0000000015 had been said as "$1.00", and 0.060000001 as "$0.06": not noise of a sum.
    assert [money(1.0000000015), money(0.060000001), money(0.06 * 1000), money(1.0 - 0.94)] == [
        "$1.000000001",
        "$0.060000001",
        "$60.00",
        "$0.06",
    ]


def test_a_sum_of_floats_equal_to_the_limit_is_within_it() -> None:
    total = 0.1 + 0.2  # 0.30000000000000004
    assert total > 0.3
    assert within(total, 0.3)
    assert not within(0.3 + 10 * TOLERANCE, 0.3)


def test_each_image_counts_at_its_cost_else_at_the_price_of_one() -> None:
    assert cost_of([0.06, None, 0.05], unit=0.06) == pytest.approx(0.17)


def test_images_that_could_not_be_used_are_added() -> None:
    assert cost_of([0.06], unit=0.06, extra=0.06) == pytest.approx(0.12)
    assert cost_of([None], unit=0.06, extra=0.06) == pytest.approx(0.12)


def test_no_cost_said_and_nothing_extra_is_unknown() -> None:
    assert cost_of([None, None], unit=0.06) is None
    assert cost_of([], unit=0.06) is None


def test_an_absurd_amount_is_written_not_raised() -> None:
    # A cost Runware said as 1e307 had raised OverflowError in the paid call's result.
    assert money(1e307).startswith("$9999999")
    assert money(1e307).endswith(".00")


def test_the_spend_a_refusal_names_is_said_in_whole_cents_after_many_tasks() -> None:
    # A day's spend is a sum of thousands of costs, added up as floats by the database: after 18,026 tasks at $0.06
    # it had been said as "$1081.559999999 spent today" (found by review).
    spent = 0.0
    for _ in range(18_026):
        spent += 0.06
    assert money(spent) != "$1081.56"
    with pytest.raises(OverBudgetError) as refused:
        check_limits(Limits(daily_budget=1081.6), 0.06, running=None, spent=spent, started=None, now=0.0)
    assert "$0.06 on top of $1081.56 spent today" in str(refused.value)
