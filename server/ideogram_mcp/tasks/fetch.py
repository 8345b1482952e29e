"""A task sent earlier, fetched again (get_generation), and the owner's recent tasks with the spend
(list_generations); neither sends a task or charges anything."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ideogram_mcp import logs
from ideogram_mcp.files import Places
from ideogram_mcp.journal import Entry, JournalError, Spend, State
from ideogram_mcp.tasks.finish import finish
from ideogram_mcp.tasks.job import Report
from ideogram_mcp.tasks.outcomes import FailedBefore, NotConfigured, Outcome, Troubled, UnknownTask
from ideogram_mcp.tasks.progress import Progress
from ideogram_mcp.tasks.services import Services
from ideogram_mcp.text import excerpt

logger = logs.logger(__name__)


async def again(
    services: Services,
    task_uuid: str,
    owner: str,
    where: Places,
    *,
    wait: float | None = None,
    preview: bool | None = None,
    report: Report | None = None,
) -> Outcome:
    """A task of this owner as it stands after waiting up to ``wait`` seconds (at most the server's wait) for the
    rest of its images; what arrived is saved as the call that sent it would have saved it."""
    settings, clock = services.settings, services.clock
    entry = await services.journal.get(task_uuid, owner)
    if entry is None:
        return UnknownTask(task_uuid)
    if entry.options.folder is not None:  # where the call that sent it saved its images
        where = dataclasses.replace(where, output=Path(entry.options.folder))
    if entry.state == "failed":
        return FailedBefore(entry.task_uuid, [excerpt(error) for error in entry.errors])
    limit = settings.wait_seconds
    until = clock.monotonic() + min(limit if wait is None else wait, limit)
    if entry.state == "done":
        return await finish(services, entry, None, where, preview, until)
    delivery = services.delivery
    if delivery is None:
        return NotConfigured()
    progress = Progress(report, entry.requested, clock, services.keepalive)
    try:
        # The first call may have sent it as late as its own deadline: "no such task" is counted from there.
        sent_at = entry.created + settings.wait_seconds
        snapshot = await delivery.wait(
            entry.task_uuid, entry.requested, until, progress.images, sent_at=sent_at, ask_first=True
        )
        return await finish(services, entry, snapshot, where, preview, until)
    except Exception:
        logger.exception("task %s: unexpected failure while fetching it", entry.task_uuid)
        return Troubled(entry.task_uuid)


@dataclass(frozen=True, slots=True)
class Listing:
    """An owner's latest tasks and what they spent."""

    entries: list[Entry]
    spend: Spend
    daily_budget: float | None
    memory_only: JournalError | None
    """Why the journal lives in memory only (a restart forgets it)."""


async def recent(services: Services, owner: str, limit: int, state: State | None) -> Listing:
    """The owner's ``limit`` latest tasks (of ``state`` only, when given), newest first, and the spend."""
    journal = services.journal
    entries = await journal.recent(owner, limit, state)
    spend = await journal.spend(owner)
    return Listing(entries, spend, services.settings.daily_limit, journal.problem)
