"""What the life of a task can end in: each a fact the tools put in words, none of them worded here.

Three families: nothing was sent (``Invalid`` to ``Declined``, and ``DryRun``), so nothing was charged; the task
was sent (``Made``, ``AllFailed``, ``Blocked``, ``NotAccepted``, ``Forgotten``, ``Troubled``), and what may have
been charged is part of the outcome; or a question is out to the user (``Asking``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ideogram_mcp.arguments import Problem
from ideogram_mcp.errors import Kind
from ideogram_mcp.files import Places
from ideogram_mcp.images.previews import Preview
from ideogram_mcp.journal import Entry, JournalError
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.runware.errors import RunwareError

# --- nothing sent ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invalid:
    """The arguments cannot be sent; every problem found."""

    problems: Sequence[Problem]


@dataclass(frozen=True, slots=True)
class Asking:
    """A question is out to the user (their approval, the client's roots); the call comes again with the answer."""


@dataclass(frozen=True, slots=True)
class NotConfigured:
    """No Runware key is set, so nothing can be made."""


@dataclass(frozen=True, slots=True)
class OverCallLimit:
    quote: float
    limit: float
    cheaper: str | None = None
    """How the call could keep within the limit (``Job.cheaper``)."""


@dataclass(frozen=True, slots=True)
class TooManyRunning:
    limit: int


@dataclass(frozen=True, slots=True)
class TooManyCalls:
    """The owner started as many paid calls in the last minute as it may; one more may start in ``wait`` seconds."""

    limit: int
    wait: int


@dataclass(frozen=True, slots=True)
class BudgetNotKept:
    """A daily budget is set, but the journal lives in memory only: a restart would forget the day's spend."""

    budget: float
    problem: JournalError


@dataclass(frozen=True, slots=True)
class OverBudget:
    quote: float
    budget: float
    spent: float
    cheaper: str | None = None
    """How the call could fit what is left today."""
    cheaper_tomorrow: str | None = None
    """Where nothing of it fits today: how it could fit a day's budget."""


@dataclass(frozen=True, slots=True)
class Unwritable:
    """Images cannot be saved in the folder chosen (``folder`` as the caller is shown it)."""

    folder: str
    why: str
    by_setting: bool
    """Whether the server's setting chose the folder (then only the user can change it)."""
    in_bucket: bool = False
    """Whether the images are kept in a bucket (a folder is a prefix in it, and the bucket may not be answering)."""


@dataclass(frozen=True, slots=True)
class SentBefore:
    """The call's task was recorded (and sent) already: an approval used twice."""

    task_uuid: str


@dataclass(frozen=True, slots=True)
class Declined:
    """The spend was not approved; ``text`` is the approver's own sentence (it knows how it asked)."""

    kind: Kind
    text: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DryRun:
    """What would be sent (``task``, its local files shown by name), and for how much."""

    model: str
    task: dict[str, Any]
    requested: int
    quote: float
    what: str
    threshold: float
    """Above it, the user's approval is needed."""
    approved_cost: float | None = None
    """What the call says the user agreed to spend (``approvedCost``), when it says."""
    unwritable: Unwritable | None = None
    """Why the call's images could not be saved where they would go (it would be refused), if they could not."""


@dataclass(frozen=True, slots=True)
class SendFailed:
    """Sending failed before Runware had the task (``error.may_have_run`` says if it may have); ``task_uuid`` when
    it was recorded."""

    error: RunwareError
    task_uuid: str | None


# --- sent --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Made:
    """A task's images as they stand: all of them (``done``), or those ready so far (``pending``)."""

    entry: Entry
    status: Literal["done", "pending"]
    images: list[ImageRecord]
    cost: float | None
    failures: list[str]
    """Why some of the requested images failed, each in a line (the key blanked)."""
    places: Places
    """Where the images were saved, for showing their paths."""
    previews: list[Preview]
    """The previews of its images (one each, or one contact sheet), when previews are on."""
    trouble: RunwareError | None = None
    """Runware's last answer when it was a failure: whether the task runs is not known."""
    unusable: float = 0.0
    """What images Runware reported finished but that cannot be used may have cost."""
    unusable_count: int = 0
    unrecorded: JournalError | None = None
    """Why the journal could not record this (the saved files are kept all the same)."""
    memory_only: JournalError | None = None
    """Why the journal lives in memory only (a restart forgets this task)."""
    saved_new: bool = False
    """Whether files were saved by this call (the list of saved images changed)."""
    links: tuple[str | None, ...] = ()
    """Per image, a link a person can open to download the saved file (a bucket's signed URL), where there is one."""
    link_seconds: int = 0
    """How long those links stay valid."""
    gone: Mapping[str, str] = field(default_factory=dict[str, str])
    """Images saved earlier whose files are no longer there (moved or deleted since), by imageUUID: the path they
    were saved at. Their records here have no path."""
    unlinked: frozenset[str] = frozenset()
    """Images saved earlier whose files are there but whose recipes are gone: no longer resources of the server
    (its resources/read refuses them), so named by their path, not linked."""
    urls_expired: bool = False
    """Whether the image URLs are known to have expired (past the ``ttl`` the task was sent with)."""


@dataclass(frozen=True, slots=True)
class AllFailed:
    """Every requested image failed; the unusable ones Runware reported finished may have been charged."""

    task_uuid: str
    requested: int
    failures: list[str]
    unusable: float
    unusable_count: int = 0
    """How many of the images were reported finished (0: not known, said of them all)."""


@dataclass(frozen=True, slots=True)
class Blocked:
    """Runware would not say how a sent task stands (a refused key ...): it stays pending."""

    task_uuid: str
    error: RunwareError


@dataclass(frozen=True, slots=True)
class NotAccepted:
    """Runware never had the task: every send failed and no poll found it. Not charged."""

    task_uuid: str


@dataclass(frozen=True, slots=True)
class Forgotten:
    """Runware no longer knows the task: it never arrived, or ran and expired. Counted at its quote, but ``offline``
    (the built-in emulator, which keeps its tasks only while the server runs, and charges nothing)."""

    task_uuid: str
    quote: float
    error: RunwareError
    offline: bool = False


@dataclass(frozen=True, slots=True)
class Troubled:
    """Following a sent task failed in this server (a bug): it is not lost, and is fetched later."""

    task_uuid: str


# --- fetched later -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownTask:
    given: str
    image_of: str | None = None
    """The task that made the image whose imageUUID was given instead of a taskUUID, where one did."""


@dataclass(frozen=True, slots=True)
class FailedBefore:
    """The task failed when it was first followed; nothing more can be fetched."""

    task_uuid: str
    errors: list[str]
    cost: float = 0.0
    """What it is counted at: images reported finished that could not be used, or a task that may have run."""


Outcome = (
    Invalid
    | Asking
    | NotConfigured
    | OverCallLimit
    | TooManyRunning
    | TooManyCalls
    | BudgetNotKept
    | OverBudget
    | Unwritable
    | SentBefore
    | Declined
    | DryRun
    | SendFailed
    | Made
    | AllFailed
    | Blocked
    | NotAccepted
    | Forgotten
    | Troubled
    | UnknownTask
    | FailedBefore
)
