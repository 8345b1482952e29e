"""The project's own errors, as one tree, and the kinds of error a tool result names.

    IdeogramError                    base of every error this project raises on purpose
    ├── ConfigurationError           the settings or the command line cannot work; said in one line at start
    ├── InvalidArgumentsError        what an agent sent cannot be used; every problem named (arguments)
    ├── LocalInputError              local images an agent named cannot be read (files)
    ├── DownloadError                an image URL gave no image (images)
    ├── PictureError                 bytes that should be an image cannot be drawn from (images)
    ├── IssuerError                  the OAuth issuer's keys cannot be had (http)
    ├── JournalError                 the journal cannot be used now: where, what and the fix (journal)
    ├── RefusedError                 the journal refuses to record a task; nothing is sent (journal)
    │   ├── OverBudgetError          it would pass the daily budget
    │   ├── TooManyRunningError      it would pass the owner's generations running at once
    │   ├── TooManyCallsError        it would pass the owner's paid calls a minute
    │   └── DuplicateTaskError       its taskUUID is recorded already: it was sent before
    └── RunwareError                 talking to Runware failed (runware.errors draws that subtree)

Errors that an agent can act on end as tool results whose ``_meta`` names their ``Kind``; the rest are bugs and
end as "internal". No ``ValueError`` is raised for control flow: each case has its class here.
"""

from __future__ import annotations

from enum import StrEnum


class IdeogramError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigurationError(IdeogramError):
    """The settings or the command line cannot work; the message says what to set."""


class DownloadError(IdeogramError):
    """An image URL did not give an image; the message says why, in a few words."""


class PictureError(IdeogramError):
    """Bytes that should be an image cannot be read or drawn from."""


class IssuerError(IdeogramError):
    """The OAuth issuer's keys cannot be had: it cannot be reached, or its answers are not what RFC 8414 says."""


class Kind(StrEnum):
    """What went wrong, as a tool error's ``_meta`` names it for a program reading the result."""

    INVALID_ARGUMENTS = "invalid_arguments"
    NOT_CONFIGURED = "not_configured"
    OVER_LIMIT = "over_limit"
    OVER_BUDGET = "over_budget"
    TOO_MANY_IN_FLIGHT = "too_many_in_flight"
    RATE_LIMITED = "rate_limited"
    BUDGET_NOT_KEPT = "budget_not_kept"
    UNWRITABLE_FOLDER = "unwritable_folder"
    APPROVAL_NEEDED = "approval_needed"
    NOT_APPROVED = "not_approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    UNANSWERED = "unanswered"
    QUESTION_EXPIRED = "question_expired"
    SENT_BEFORE = "sent_before"
    RUNWARE_ERROR = "runware_error"
    FAILED = "failed"
    NOT_ACCEPTED = "not_accepted"
    UNKNOWN_TASK = "unknown_task"
    JOURNAL = "journal"
    INTERNAL = "internal"
