"""The retry policy: what is sent again, how soon, and for how long before the caller hears of it.

Only what may be sent again under the same taskUUID is retried (so a resend can never start a second, paid task):
timeouts, broken connections, unreadable answers, 429 (after ``Retry-After``) and 5xx, with exponential backoff
and jitter. A refusal caused by the request (400, 401, 402, 403) never is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ideogram_mcp.clock import Clock
from ideogram_mcp.runware.errors import RateLimitError, RunwareAPIError, RunwareError, RunwareResponseError, ServerError

if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState


@dataclass(frozen=True, slots=True)
class Patience:
    """How long failures are retried before the caller hears of them, whatever time its call has left.

    Retrying protects the money (the same taskUUID is resent until Runware has it) but it must not hide an
    outage: when nothing could be sent (no network, a refused connection, a TLS failure) the agent hears it
    within a few seconds, and when Runware answers only with failures (5xx, unreadable answers) within
    ``failing`` seconds, rather than at the end of its wait. A 429 is waited out as Runware asks.
    """

    nothing_sent: float = 3.0
    """Seconds of attempts that all failed before sending anything."""
    failing: float = 20.0
    """Seconds of answers that were all failures (5xx, unreadable answers, polls included)."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RunwareError) and exc.retryable


def _backoff(state: RetryCallState) -> float:
    """Exponential backoff with jitter, or longer when Runware said how long (``Retry-After``)."""
    from tenacity import wait_exponential_jitter

    exponential = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)(state)
    failure = state.outcome.exception() if state.outcome is not None else None
    asked = failure.retry_after if isinstance(failure, RunwareAPIError) else None
    return max(exponential, asked or 0.0)


def retrying(
    clock: Clock,
    until: float,
    patience: Patience | None = None,
    *,
    started: float | None = None,
    margin: float = 0.0,
) -> AsyncRetrying:
    """The retry policy: retryable failures again until ``margin`` seconds before the deadline (``clock``'s
    monotonic seconds: an attempt later could not be answered in time, and the last failure stands), or until
    they have gone on longer than ``patience`` allows for their kind, counted from ``started`` (now, unless the
    first attempt was made before)."""
    # Imported here, on the first call: starting the server (which a client waits for) needs no retries.
    from tenacity import AsyncRetrying, retry_if_exception

    patience = patience or Patience()
    started = clock.monotonic() if started is None else started

    def stop(state: RetryCallState) -> bool:
        if clock.monotonic() + state.upcoming_sleep >= until - margin:
            return True
        failure = state.outcome.exception() if state.outcome is not None else None
        elapsed = clock.monotonic() - started
        if isinstance(failure, RateLimitError):
            return False  # waited out as Runware asks, within the deadline
        if isinstance(failure, RunwareError) and not failure.may_have_run:
            return elapsed + state.upcoming_sleep >= patience.nothing_sent
        if isinstance(failure, ServerError | RunwareResponseError):
            return elapsed + state.upcoming_sleep >= patience.failing
        return False

    return AsyncRetrying(
        retry=retry_if_exception(_retryable),
        wait=_backoff,
        stop=stop,
        sleep=clock.sleep,
        reraise=True,
    )
