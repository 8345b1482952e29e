"""The user's money, as the server counts and says it: one rule for adding up a task's cost, one for comparing
amounts, one way of writing them."""

from __future__ import annotations

from collections.abc import Iterable

TOLERANCE = 1e-9
"""Dollars two amounts may differ by and still be equal (sums of floats)."""


def money(amount: float) -> str:
    """An amount of dollars as the server writes it: ``$0.06``."""
    return f"${amount:.2f}"


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
