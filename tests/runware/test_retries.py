"""The retry policy on the tests' clock: what is sent again, how soon, and when the caller hears of a failure."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.runware.errors import (
    ErrorDetail,
    RunwareConnectionError,
    RunwareError,
    RunwareResponseError,
    api_error,
)
from ideogram_mcp.runware.retries import Patience, retrying

pytestmark = pytest.mark.anyio


async def attempts(clock: ManualClock, failure: Callable[[], RunwareError], until: float) -> tuple[int, float]:
    """How many times a call that always fails so is tried before the failure is raised, and the seconds that took."""
    started, tries = clock.monotonic(), 0

    async def call() -> None:
        nonlocal tries
        async for attempt in retrying(clock, clock.monotonic() + until):
            with attempt:
                tries += 1
                raise failure()

    with pytest.raises(RunwareError):
        await call()
    return tries, clock.monotonic() - started


def error(status: int, code: str, *, retry_after: float | None = None) -> RunwareError:
    return api_error(status, [ErrorDetail(code, "said by Runware")], retry_after=retry_after)


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalidParameter"), (401, "invalidApiKey"), (402, "insufficientCredits"), (403, "forbidden")],
)
async def test_a_refusal_caused_by_the_request_is_never_sent_again(clock: ManualClock, status: int, code: str) -> None:
    tries, took = await attempts(clock, lambda: error(status, code), until=60)
    assert (tries, took) == (1, 0)


async def test_a_5xx_is_retried_with_backoff_until_the_failing_patience_is_spent(clock: ManualClock) -> None:
    tries, took = await attempts(clock, lambda: error(502, "badGateway"), until=600)
    assert tries > 3
    assert took <= Patience().failing


async def test_unreadable_answers_are_retried_like_a_5xx(clock: ManualClock) -> None:
    tries, took = await attempts(clock, lambda: RunwareResponseError("not JSON"), until=600)
    assert tries > 3
    assert took <= Patience().failing


async def test_when_nothing_could_be_sent_the_caller_hears_within_seconds(clock: ManualClock) -> None:
    tries, took = await attempts(clock, lambda: RunwareConnectionError("refused", sent=False), until=600)
    assert tries >= 2
    assert took <= Patience().nothing_sent


async def test_a_broken_connection_after_sending_is_retried_to_the_deadline(clock: ManualClock) -> None:
    tries, took = await attempts(clock, lambda: RunwareConnectionError("reset", sent=True), until=30)
    assert tries > 3
    assert 20 < took <= 30


async def test_a_429_is_waited_out_as_runware_asks(clock: ManualClock) -> None:
    tries, took = await attempts(clock, lambda: error(429, "rateLimitExceeded", retry_after=25), until=60)
    assert tries == 3  # at 0, 25 and 50 s: a fourth, at 75 s, would pass the deadline
    assert took == pytest.approx(50, abs=1)


async def test_no_retry_starts_past_the_deadline(clock: ManualClock) -> None:
    tries, took = await attempts(clock, lambda: error(503, "unavailable"), until=1)
    assert took <= 1
    assert tries >= 1
