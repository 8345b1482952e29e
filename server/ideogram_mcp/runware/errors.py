"""What can go wrong when talking to Runware, as one exception tree.

    RunwareError
    ├── RunwareConnectionError      the request did not get an answer
    │   └── RunwareTimeoutError     ... because it took too long
    ├── RunwareResponseError        the answer was not Runware's JSON
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

Runware's catalogue of error codes is large and changes, so ``api_error`` maps by HTTP status
first and by code second, and every error keeps Runware's own code, message and parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RunwareError(Exception):
    """Base of every error raised by the Runware client."""


class RunwareConnectionError(RunwareError):
    """The request did not reach Runware, or no answer came back."""


class RunwareTimeoutError(RunwareConnectionError):
    """No answer came back in time; the task may still run (and be charged) on Runware's side."""


class RunwareResponseError(RunwareError):
    """Runware answered with something that is not its documented JSON."""


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

    def __init__(self, status: int, details: Sequence[ErrorDetail]) -> None:
        self.status = status
        self.details = tuple(details) or (ErrorDetail(code="unknown", message=f"HTTP {status}"),)
        first = self.details[0]
        super().__init__(f"{first.code}: {first.message}")

    @property
    def code(self) -> str:
        return self.details[0].code

    @property
    def message(self) -> str:
        return self.details[0].message

    @property
    def parameter(self) -> tuple[str, ...]:
        return self.details[0].parameter


class InvalidRequestError(RunwareAPIError):
    """A parameter is missing or has a value Runware does not accept."""


class TaskConflictError(InvalidRequestError):
    """The taskUUID was used before; ask for the earlier task's result instead of resending."""


class AuthenticationError(RunwareAPIError):
    """The API key is missing, wrong or revoked."""


class InsufficientCreditsError(RunwareAPIError):
    """The account has not enough credit for the task."""


class PermissionDeniedError(RunwareAPIError):
    """The key is valid but may not run this task or model."""


class NotFoundError(RunwareAPIError):
    """The model or task is unknown to Runware."""


class RateLimitError(RunwareAPIError):
    """Too many requests; try again later."""


class ContentRejectedError(InvalidRequestError):
    """The safety filter refused the prompt or the result."""


class ServerError(RunwareAPIError):
    """A fault on Runware's side."""


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


def api_error(status: int, details: Sequence[ErrorDetail]) -> RunwareAPIError:
    """The exception for an error answer: by HTTP status first, then by Runware's code."""
    code = details[0].code if details else ""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else RunwareAPIError
    refined = _BY_CODE.get(code)
    # A known code narrows the status's class (400 + conflictTaskUUID); it never contradicts it.
    if refined is not None and (cls is RunwareAPIError or issubclass(refined, cls)):
        cls = refined
    return cls(status, details)
