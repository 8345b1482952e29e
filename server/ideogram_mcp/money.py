"""The user's money, as the server counts and says it: one rule for adding up a task's cost, one for comparing
amounts, one way of writing them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

TOLERANCE = 1e-9
"""Dollars two amounts may differ by and still be equal (sums of floats)."""


def money(amount: float) -> str:
    """An amount of dollars as the server writes it: ``$0.06``; one with a part of a cent to the digits it has
    (``$0.005``, ``$0.0585``), so that a limit set so, or a cost Runware said so, is never said rounded to what it
    is not (a refusal that said "above the limit of $0.01" of a $0.01 call), nor a limit above nothing as $0.00."""
    if not math.isfinite(amount * 100) or abs(amount) < 1e-12:
        return f"${amount:.2f}"  # float noise too: 0.1 + 0.2 - 0.3
    # Under a dollar to 12 digits (0.0594, not 0.059399999999999994; 1.5e-9); above, to a billionth of a dollar
    # (1000000000.005, whose 12 digits would have dropped its cents; 1.0000000015, a budget above $1.00).
    digits = Decimal(f"{amount:.12g}" if abs(amount) < 1 else repr(round(amount, 9))).normalize()
    if int(digits.as_tuple().exponent) >= -2:
        return f"${amount:.2f}"  # whole cents, float noise too: 0.18000000000000002, 0.1 + 0.2
    return "$" + format(digits, "f")


def within(amount: float, limit: float) -> bool:
    """Whether ``amount`` is no more than ``limit``, sums of floats allowed for."""
    return amount <= limit + TOLERANCE


def cost_of(costs: Iterable[float | None], unit: float, extra: float = 0.0) -> float | None:
    """What a task's images cost: each at the cost Runware said, else at the price of one (``unit``), and ``extra``
    (images that could not be used but were charged); None while Runware said no cost at all and nothing extra
    (then the task counts at its quote)."""
    given = list(costs)
    known = [cost for cost in given if cost is not None]
    if not known and not extra:
        return None
    return round(sum(known) + unit * (len(given) - len(known)) + extra, 6)
