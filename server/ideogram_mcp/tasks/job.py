"""One paid call's work, as the tools hand it to the task's life."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ideogram_mcp.arguments import Generation, LocalInput, Problem
from ideogram_mcp.files import LocalImage, Places
from ideogram_mcp.journal import Approval
from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tasks.outcomes import Declined

Prepare = Callable[[Generation, Mapping[LocalInput, LocalImage], bool], Awaitable[Generation | list[Problem]]]
"""A tool's last step before its task is built, given the local images read; ``True`` when it may send requests
(after approval), ``False`` before (dry runs, and to find problems before anything is sent)."""

Report = Callable[[float, float, str], Awaitable[None]]
"""How progress is told to whoever waits: done so far, of how many, and a word."""
Saved = Callable[[], Awaitable[None]]
"""Tells an owner's clients that images were saved (their resources list changed)."""


Cheaper = Callable[[float | None], str | None]
"""How a call could cost less (at most so many dollars, or None: any less), as the words after "ask for"; None when
no argument of it can (``ModelSpec.cheaper``)."""


class Approver(Protocol):
    """How the user approves a spend: under the threshold at once, asked, or said by the agent (``approvedCost``).

    Returns how it was approved, why not (``Declined``), or None while the question is being put to the user (the
    call then ends, and comes again with the answer). ``task_uuid`` is the task the approval is for: a question
    asked in a later round of the call carries it, so that an approval used twice meets a task recorded already.
    """

    async def __call__(
        self, quote: float, what: str, approved_cost: float | None, task_uuid: str, cheaper: Cheaper
    ) -> Approval | Declined | None: ...


@dataclass(frozen=True, slots=True)
class Job:
    """One call's work: which tool and model, the checked arguments, whose it is and where its files go."""

    tool: str
    spec: ModelSpec
    generation: Generation
    owner: str
    places: Places
    prepare: Prepare | None = None
    task_uuid: str | None = None
    """The taskUUID an earlier round of this call chose (its approval was asked for under it); else one is minted."""
    saved: Saved | None = None
    """Announces images saved after the call (its task still pending at its end, seen through in the background)."""

    @property
    def quote(self) -> float:
        return self.spec.quote(self.generation.values)

    def cheaper(self, within: float | None = None) -> str | None:
        """How this call could cost less (``Cheaper``)."""
        return self.spec.cheaper(self.generation.values, within)

    @property
    def what(self) -> str:
        n = self.generation.count
        return f"make {n} image{'s' if n != 1 else ''} with {self.spec.model.name}"
