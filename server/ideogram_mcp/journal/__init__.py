"""The journal: every task, recorded before it is sent, with its state, cost and images; and the spend so far.

A task cut short by a crash, a restart or a client that gave up stays ``pending`` and can be fetched later with
``get_generation``. Spend limits and the calls a minute are counted from it, and a task is recorded only if it
keeps within them, in the transaction that records it, so calls made at once cannot all slip past. Each paid
image's saving is given to one finish at a time (a claim), so that it is saved once whatever runs at once.

This module is the interface (``Journal``) and what travels through it; ``sqlite`` is the embedded default, and
``postgres`` the journal several machines share (``database`` is the PostgreSQL under it).
"""

from __future__ import annotations

import errno
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ideogram_mcp import files
from ideogram_mcp.errors import IdeogramError
from ideogram_mcp.money import money, within
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.settings import ENV

State = Literal["pending", "done", "failed"]
Place = tuple[float, str]
"""Where a task stands among an owner's, newest first: when it was sent (Unix time), and its taskUUID."""
STATES: tuple[State, ...] = ("pending", "done", "failed")

Approval = Literal["under threshold", "asked", "approvedCost"]
"""How a paid call was approved: it cost no more than the confirmation threshold, the user said yes when asked,
or the agent passed ``approvedCost`` after the user agreed in the chat (where the client cannot ask)."""


class Options(BaseModel):
    """A call's own choices that outlive it, for finishing its task later: the file name, previews, the folder."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, extra="ignore")

    file_name: str | None = Field(
        default=None, validation_alias=AliasChoices("fileName", "file_name"), serialization_alias="fileName"
    )
    preview: bool | None = None
    folder: str | None = None
    """Where the call saved its images (its output folder, or the one it chose)."""
    save: bool = True
    """Whether the call saved its images at all (saving was on); tasks of earlier versions read as saved."""
    wait: float | None = None
    """How long (seconds) the call that sent it waited at most: till then the task is that call's, whatever another
    process on the journal waits (None: recorded by an earlier version, which waited as this process does)."""

    def call_over(self, created: float, wait: float) -> float:
        """When (Unix time) the call that sent a task created at ``created`` was over, at the latest; ``wait`` is this
        process's, for tasks that did not record their call's."""
        return created + (self.wait if self.wait is not None else wait)


@dataclass(frozen=True, slots=True)
class Pending:
    """A task about to be sent, as ``Journal.record`` takes it."""

    task_uuid: str
    owner: str
    tool: str
    model: str
    task: dict[str, Any]
    """The task as it will be sent (JSON, as Runware takes it; inline image data shortened)."""
    requested: int
    quote: float
    options: Options
    approval: Approval


@dataclass(frozen=True, slots=True)
class Entry:
    """One task as the journal holds it."""

    task_uuid: str
    owner: str
    tool: str
    model: str
    task: dict[str, Any]
    """The task as it was sent (JSON, as Runware takes it; inline image data shortened)."""
    requested: int
    quote: float
    cost: float | None
    state: State
    images: list[ImageRecord]
    errors: list[str]
    options: Options
    created: float
    updated: float
    approval: str = ""
    """How the call was approved (``Approval``); empty for tasks of earlier versions."""
    accepted: bool = False
    """Whether Runware ever had the task: it acknowledged it, or a poll found it."""
    unusable_cost: float = 0.0
    """What images Runware reported finished that cannot be used were counted at (charged all the same; one seen once
    is in doubt, a possible charge), with the images that never came of a task it has since forgotten."""
    ran: bool = False
    """Whether a poll ever reported an image of the task finished, usable or not: it ran, and was charged."""


@dataclass(frozen=True, slots=True)
class Claim:
    """Where the saving of one image stands: ``stored`` (at ``path``), ``mine`` (save it under ``stem``) or
    ``busy`` (another saves it now)."""

    state: Literal["stored", "mine", "busy"]
    stem: str
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Spend:
    """Dollars spent (or reserved by pending tasks) today and in all."""

    today: float
    total: float


MINUTE = 60.0
"""Seconds over which the calls an owner starts are counted (``Limits.per_minute``): a task recorded this long ago
no longer counts. One recorded more than ``CLOCKS_APART`` later than now is not counted either: the wall clock was
stepped back since (an NTP correction, a VM resumed), and it had held the owner's calls back for as long as the
step."""
CLOCKS_APART = 120.0
"""Seconds the clocks of the machines sharing a journal (a team's) are taken to differ by at most: a task another
recorded up to this much later than now was recorded by a clock ahead of this one's, and counts."""


def calls_wait(per_minute: int, started: Sequence[float], now: float) -> int | None:
    """Seconds until one more call may start, when ``per_minute`` calls started in the ``MINUTE`` before ``now``
    (``started``: when the owner's latest tasks were recorded, newest first; those up to ``CLOCKS_APART`` after
    ``now``, of a machine whose clock is ahead, count too); None when one may start now."""
    counted = [when for when in started if now - MINUTE < when <= now + CLOCKS_APART][:per_minute]
    if len(counted) < per_minute:
        return None
    freed = counted[per_minute - 1]  # when this one leaves the minute, one more may start
    return max(1, min(math.ceil(MINUTE), math.ceil(freed + MINUTE - now)))


@dataclass(frozen=True, slots=True)
class Limits:
    """What recording a task must keep within, checked in the transaction that records it."""

    daily_budget: float | None = None
    max_running: int | None = None
    running_since: float = 0.0
    """Tasks sent before this (Unix time) no longer count as running (they were cut short)."""
    per_minute: int | None = None
    """Tasks the owner may record in any 60 seconds (at least one)."""


class RefusedError(IdeogramError):
    """The journal refuses to record a task; nothing was recorded, and nothing is to be sent."""


class OverBudgetError(RefusedError):
    """Recording the task would pass the daily budget."""

    def __init__(self, quote: float, budget: float, spent: float) -> None:
        self.quote, self.budget, self.spent = quote, budget, spent
        super().__init__(
            f"{money(quote)} on top of {money(spent)} spent today would pass the daily budget of {money(budget)}"
        )


class DuplicateTaskError(RefusedError):
    """A task with this taskUUID is recorded already: it was sent before, and is never sent twice."""

    def __init__(self, task_uuid: str) -> None:
        self.task_uuid = task_uuid
        super().__init__(f"task {task_uuid} is recorded already")


class TooManyRunningError(RefusedError):
    """Recording the task would pass the owner's limit of tasks running at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"{limit} tasks are already running, the most allowed at once")


class TooManyCallsError(RefusedError):
    """Recording the task would pass the owner's limit of paid calls a minute."""

    def __init__(self, limit: int, wait: int) -> None:
        self.limit, self.wait = limit, wait
        super().__init__(f"{limit} calls were started in the last minute, the most allowed; the next may in {wait} s")


def check_limits(
    limits: Limits,
    quote: float,
    *,
    running: int | None,
    spent: float | None,
    started: Sequence[float] | None,
    now: float,
) -> None:
    """Refuse a task past the owner's limits: ``running`` tasks already (None when not counted), ``spent`` today,
    and when its tasks of the ``MINUTE`` before ``now`` were recorded (``started``: newest first, at most
    ``limits.per_minute`` of them). A call over budget is refused as such, whatever the calls a minute: waiting
    would not let it through."""
    if limits.max_running is not None and running is not None and running >= limits.max_running:
        raise TooManyRunningError(limits.max_running)
    if limits.daily_budget is not None and spent is not None and not within(spent + quote, limits.daily_budget):
        raise OverBudgetError(quote, limits.daily_budget, round(spent, 6))  # a sum of costs of 6 digits, as is
    wait = calls_wait(limits.per_minute, started, now) if limits.per_minute is not None and started else None
    if limits.per_minute is not None and wait is not None:
        raise TooManyCallsError(limits.per_minute, wait)


class JournalError(IdeogramError):
    """The journal cannot be used right now: what is wrong (``said``, a phrase such as "the task journal <path> is
    locked by another process") and the ``fix``, both written for the user. ``lasting`` is what fixes it if it lasts,
    without any "try again" (which, after a paid call, an agent could take for the call): the fix itself unless given;
    a fix that begins by trying again gives it ("" when trying again is all there is)."""

    def __init__(self, said: str, fix: str, *, lasting: str | None = None, locked: bool = False) -> None:
        self.said, self.fix, self.locked = said, fix, locked
        self.lasting = fix if lasting is None else lasting
        super().__init__(said)

    def text(self, consequence: str = "") -> str:
        """The error as an agent reads it: what is wrong, so ``consequence`` (when given), and the fix."""
        opening = self.said[:1].upper() + self.said[1:]
        return f"{opening}, so {consequence}. {self.fix}" if consequence else f"{opening}. {self.fix}"


def failure(path: Path | str, exc: BaseException) -> JournalError:
    """What an error of the database (or of the file system under it) means for the user, and what fixes it."""
    said = str(exc).lower()
    elsewhere = f"set {ENV.data_dir} to another folder"
    if "locked" in said or "busy" in said:
        lasting = (
            f"stop the other ideogram-mcp processes that use {ENV.data_dir}, or give this one a folder of its own."
        )
        return JournalError(
            f"the task journal {path} is locked by another process",
            f"Try again in a moment; if it stays locked, {lasting}",
            lasting=lasting,
            locked=True,
        )
    if "full" in said or getattr(exc, "errno", None) == errno.ENOSPC:
        return JournalError(f"the task journal {path} cannot grow: the disk is full", f"Free space, or {elsewhere}.")
    if "not a database" in said or "malformed" in said:
        return JournalError(
            f"the task journal {path} is not a journal ({exc})",
            f"Move the file aside (a new one is made), or {elsewhere}.",
        )
    if "unable to open" in said:
        return JournalError(
            f"the task journal cannot be kept in {Path(path).parent} (it cannot be opened there)",
            f"Make that folder writable, or {elsewhere}.",
        )
    if "readonly" in said or "read-only" in said:
        return JournalError(
            f"the task journal {path} cannot be written (read-only)", f"Make it writable, or {elsewhere}."
        )
    if isinstance(exc, OSError):
        return JournalError(
            f"the task journal cannot be kept in {Path(path).parent} ({files.plainly(exc)})",
            f"Make that folder writable, or {elsewhere}.",
        )
    return JournalError(
        f"the task journal {path} failed ({exc})", f"If it stays, {elsewhere}.", lasting=f"{elsewhere}."
    )


class Journal(Protocol):
    """Tasks, their images and the spend, shared by every process serving one address. Every failure of the
    storage under it is a ``JournalError``; a refusal to record is a ``RefusedError``."""

    problem: JournalError | None
    """Why this journal lives in memory only (a restart forgets it), else None."""

    async def record(self, pending: Pending, limits: Limits) -> Entry:
        """Record a task as pending before it is sent, within ``limits``, or refuse it (``RefusedError``)."""
        ...

    async def accepted(self, task_uuid: str) -> None:
        """Record that Runware has the task (it acknowledged it)."""
        ...

    async def update(
        self,
        task_uuid: str,
        *,
        state: State,
        images: Sequence[ImageRecord],
        errors: Sequence[str],
        cost: float | None,
        accepted: bool = False,
        unusable_cost: float | None = None,
        ran: bool = False,
    ) -> None:
        """Record what became of a task, merged with what others recorded meanwhile; a finished task stays so, and
        one acknowledged (``accepted``) or seen to run (``ran``) stays so."""
        ...

    async def get(self, task_uuid: str, owner: str) -> Entry | None:
        """The task of this owner with this taskUUID, or None."""
        ...

    async def recent(
        self, owner: str, limit: int, state: State | None = None, before: Place | None = None
    ) -> list[Entry]:
        """This owner's latest tasks, newest first (the same time: by taskUUID, last first); ``before`` a place in
        that order, only those after it (a page's last task: the next page)."""
        ...

    async def image(self, image_uuid: str, owner: str) -> tuple[str, ImageRecord] | None:
        """The task (its taskUUID) of this owner that made an image, and the image's record, by its image UUID or
        the URL Runware gave it; or None."""
        ...

    async def saved_at(self, owner: str) -> float:
        """When images of the owner's finished tasks were last saved (or claimed to be), as Unix time; 0 before
        any: the processes serving one address each see the others' saves here."""
        ...

    async def folders(self, owner: str) -> list[Path]:
        """Every folder this owner's tasks saved images in."""
        ...

    async def running(self, owner: str, since: float) -> int:
        """How many of this owner's tasks sent after ``since`` (Unix time) are still pending."""
        ...

    async def spend(self, owner: str) -> Spend:
        """What this owner spent today (local time) and in all, pending tasks counted at their quote."""
        ...

    async def claim(
        self, task_uuid: str, arrivals: Sequence[ImageRecord], wanted: Sequence[str], *, by: str, until: float
    ) -> dict[str, Claim]:
        """Record arrived images, and claim the saving of the ``wanted`` ones for ``by`` until ``until``."""
        ...

    async def stored(self, task_uuid: str, record: ImageRecord, *, by: str) -> str | None:
        """Record what became of a claimed saving and release the claim; returns the path the image is saved at."""
        ...

    async def release(self, task_uuid: str, *, by: str) -> None:
        """Give up the claims ``by`` still holds on a task's images."""
        ...

    async def aclose(self) -> None:
        """Let go of the storage (files, connections); the journal is not used after."""
        ...
