"""What can go wrong when talking to Runware, as one exception tree.

    RunwareError
    ├── RunwareConnectionError      the request did not get an answer
    │   └── RunwareTimeoutError     ... because it took too long
    ├── RunwareResponseError        the answer was not Runware's JSON, or not about this task
    └── RunwareAPIError             Runware answered with an error
        ├── InvalidRequestError         400: a parameter is missing or wrong
        │   ├── TaskConflictError       the taskUUID was already used
        │   └── ContentRejectedError    the safety filter refused the content
        ├── AuthenticationError         401: no valid API key
        ├── InsufficientCreditsError    402: the account cannot pay for the task
        ├── PermissionDeniedError       403: the key may not do this
        ├── NotFoundError               404: unknown model or task
        ├── RateLimitError              429: too many requests
        └── ServerError                 5xx: a fault on Runware's side
            └── UpstreamTimeoutError    Runware or the model's provider timed out

Every error answers the two questions retries and users need: ``retryable`` (may the same
request, with the same taskUUID, be sent again) and ``may_have_run`` (may Runware have received
the task, and so charge for it). ``task_uuid`` names the task when one was involved.

Runware's catalogue of error codes is large and changes, so ``api_error`` maps by HTTP status
first and by code second, and every error keeps Runware's own code, message and parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ideogram_mcp.errors import IdeogramError


class RunwareError(IdeogramError):
    """Base of every error raised by the Runware client."""

    retryable: bool = False
    """Whether sending the same request again (same taskUUID) may succeed."""
    may_have_run: bool = True
    """Whether Runware may have received the task, and may charge for it."""
    task_uuid: str | None = None


class RunwareConnectionError(RunwareError):
    """The request did not reach Runware, or no answer came back."""

    retryable = True

    def __init__(self, message: str, *, sent: bool, proxy: str | None = None, call_waited: bool = False) -> None:
        super().__init__(message)
        self.may_have_run = sent
        self.proxy = proxy
        """The environment's variable naming the proxy the request went through, where one did (``HTTPS_PROXY``)."""
        self.call_waited = call_waited
        """Time ran out because the call's own wait did, before the client's timeout: the wait may be too short."""


class RunwareTimeoutError(RunwareConnectionError):
    """No answer came back in time; the task may still run (and be charged) on Runware's side."""

    def __init__(self, message: str) -> None:
        super().__init__(message, sent=True)


class RunwareUnwritableError(RunwareError):
    """A task holds a value no JSON text can carry (half a surrogate pair, a NaN): the request could not be written,
    so nothing was sent. The argument checks refuse such values; this keeps one from stopping the sending."""

    may_have_run = False


class RunwareResponseError(RunwareError):
    """Runware answered with something that is not its documented JSON, or not about the task asked.

    The task may have been accepted all the same, so asking again (same taskUUID) is safe.
    """

    retryable = True


NO_CODE = "unknown"
"""The code of an error entry that gave none (a bare string, a message alone)."""


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of Runware's ``errors`` array."""

    code: str
    message: str
    parameter: tuple[str, ...] = ()
    task_uuid: str | None = None
    documentation: str | None = None


class RunwareAPIError(RunwareError):
    """Runware answered with an error; ``details`` holds every entry it sent."""

    def __init__(self, status: int, details: Sequence[ErrorDetail], *, retry_after: float | None = None) -> None:
        self.status = status
        self.details = tuple(details)
        """Every error Runware sent, in its order; none when the answer carried no JSON errors (a proxy's page)."""
        self.retry_after = retry_after
        """Seconds Runware asked to wait before trying again (``Retry-After``), when it said."""
        self.task_uuid = self.details[0].task_uuid if self.details else None
        self.items: tuple[Mapping[str, Any], ...] = ()
        """Result items that came in the same answer as the errors: finished images must never be dropped."""
        super().__init__(f"{self.code}: {self.message}")

    @property
    def code(self) -> str:
        return self.details[0].code if self.details else NO_CODE

    @property
    def message(self) -> str:
        return self.details[0].message if self.details else f"HTTP {self.status} with no error details"

    @property
    def parameter(self) -> tuple[str, ...]:
        return self.details[0].parameter if self.details else ()


class InvalidRequestError(RunwareAPIError):
    """A parameter is missing or has a value Runware does not accept; nothing runs, nothing is charged."""

    may_have_run = False


class TaskConflictError(InvalidRequestError):
    """The taskUUID was used before: Runware already has that task, so ask for its result instead of resending."""

    may_have_run = True


class AuthenticationError(RunwareAPIError):
    """The API key is missing, wrong or revoked."""

    may_have_run = False


class InsufficientCreditsError(RunwareAPIError):
    """The account has not enough credit for the task."""

    may_have_run = False


class PermissionDeniedError(RunwareAPIError):
    """The key is valid but may not run this task or model."""

    may_have_run = False


class NotFoundError(RunwareAPIError):
    """The model or task is unknown to Runware."""

    may_have_run = False


class RateLimitError(RunwareAPIError):
    """Too many requests; try again later (after ``retry_after`` when given). Nothing ran."""

    retryable = True
    may_have_run = False


class ContentRejectedError(InvalidRequestError):
    """The safety filter refused the prompt or the result."""


class ServerError(RunwareAPIError):
    """A fault on Runware's side; the task may or may not have started."""

    retryable = True


class UpstreamTimeoutError(ServerError):
    """Runware or the model's provider did not finish in time; the task may still be charged."""


_BY_STATUS: dict[int, type[RunwareAPIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: UpstreamTimeoutError,
    429: RateLimitError,
}

_BY_CODE: dict[str, type[RunwareAPIError]] = {
    # A task refused for what it asks: said so among other tasks' answers in a batch, it is its own 400.
    "invalidParameter": InvalidRequestError,
    "missingParameter": InvalidRequestError,
    "unsupportedParameter": InvalidRequestError,
    "invalidPositivePrompt": InvalidRequestError,
    "invalidImage": InvalidRequestError,
    "invalidTaskType": InvalidRequestError,
    "invalidTaskUUID": InvalidRequestError,
    "invalidApiKey": AuthenticationError,
    "insufficientCredits": InsufficientCreditsError,
    "paymentRequired": InsufficientCreditsError,
    "rateLimitExceeded": RateLimitError,
    "requestTimeout": UpstreamTimeoutError,
    "timeoutProvider": UpstreamTimeoutError,
    "conflictTaskUUID": TaskConflictError,
    "modelNotFound": NotFoundError,
    "taskFailedOrNotFound": NotFoundError,
    "nsfwContentDetected": ContentRejectedError,
    "internalServerError": ServerError,
    "inferenceError": ServerError,
}


def api_error(status: int, details: Sequence[ErrorDetail], *, retry_after: float | None = None) -> RunwareAPIError:
    """The exception for an error answer: by HTTP status first, then by Runware's code."""
    code = details[0].code if details else ""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else RunwareAPIError
    # No code in an answer of 200 (a bare string): nothing says the task was refused, a passing fault; under a refusing
    # status (a 422 with no code) the status says it all.
    refined = ServerError if code == NO_CODE and status < 400 else _BY_CODE.get(code)
    # A known code narrows the status's class (400 + conflictTaskUUID); it never contradicts it.
    if refined is not None and (cls is RunwareAPIError or issubclass(refined, cls)):
        cls = refined
    return cls(status, details, retry_after=retry_after)
