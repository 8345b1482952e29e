"""A task sent earlier, fetched again (get_generation), and the owner's recent tasks with the spend
(list_generations); neither sends a task or charges anything."""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio

from ideogram_mcp import files, logs
from ideogram_mcp.files import Places
from ideogram_mcp.journal import Entry, JournalError, Place, Spend, State
from ideogram_mcp.references import is_uuid
from ideogram_mcp.tasks.finish import SAVING_GRACE, finish, ran_before
from ideogram_mcp.tasks.job import Report, Saved
from ideogram_mcp.tasks.outcomes import FailedBefore, Made, NotConfigured, Outcome, Troubled, UnknownTask
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
    save: bool | None = None,
) -> Outcome:
    """A task of this owner as it stands after waiting up to ``wait`` seconds (at most the server's wait) for the
    rest of its images; what arrived is saved as the call that sent it would have saved it (``save``: whether it is
    saved, where not as the settings say)."""
    settings, clock = services.settings, services.clock
    entry = await services.journal.get(task_uuid, owner)
    if entry is None:  # an imageUUID given for a taskUUID (results give both) is told its task's
        made = await services.journal.image(task_uuid, owner) if is_uuid(task_uuid) else None
        return UnknownTask(task_uuid, made[0] if made is not None else None)
    if entry.options.folder is not None:  # where the call that sent it saved its images
        recorded = Path(entry.options.folder)
        if not services.store.on_disk or await _still_there(recorded):
            where = dataclasses.replace(where, output=recorded)
        else:  # its project deleted since (or its drive unmounted): not made again, saved where this call saves, or
            # (the call's own folder that one: its own background work) in the server's own folder
            if where.output == recorded or not await _still_there(where.output):
                where = dataclasses.replace(where, output=files.output_folder(settings.output_dir))
            logger.warning("task %s: its folder %s is gone; its images go to %s", task_uuid, recorded, where.output)
    if entry.state == "failed":
        return FailedBefore(entry.task_uuid, [excerpt(error) for error in entry.errors], entry.cost or 0.0)
    limit = settings.wait_seconds
    until = clock.monotonic() + min(limit if wait is None else wait, limit)
    if entry.state == "done":
        return await finish(services, entry, None, where, preview, until, save=save)
    delivery = services.delivery
    if delivery is None:
        return NotConfigured()
    progress = Progress(report, entry.requested, clock, services.keepalive)
    try:
        # The first call may have sent it as late as its own deadline: "no such task" is counted from there.
        sent_at = entry.options.call_over(entry.created, settings.wait_seconds)
        snapshot = await delivery.wait(
            entry.task_uuid,
            entry.requested,
            until,
            progress.images,
            sent_at=sent_at,
            ask_first=True,
            ran=ran_before(entry),
        )
        return await finish(services, entry, snapshot, where, preview, until, save=save)
    except Exception:
        logger.exception("task %s: unexpected failure while fetching it", entry.task_uuid)
        return Troubled(entry.task_uuid)


async def _still_there(folder: Path) -> bool:
    """Whether a task's recorded folder may still be saved in: it, or the folder it was made in, is there (a save
    makes the folder itself; a project deleted since, or a drive not mounted, is not made again)."""
    return await anyio.Path(folder).is_dir() or await anyio.Path(folder.parent).is_dir()


CUT_SHORT_WITHIN = 86_400.0
"""How far back (seconds) a process looks for tasks an earlier one left unfinished: Runware's image URLs do not
outlive a day, and a task older than that has nothing left to fetch."""
CUT_SHORT_LOOKED_AT: dict[State, int] = {"pending": 1000, "done": 200}
"""How many of an owner's latest pending tasks, and of its latest done ones (for images unsaved), are looked at: more
than any limit lets run at once, and than a day of ordinary use leaves done with images unsaved."""
SEEN_THROUGH_AT_MOST = 3600.0
"""The longest pause (seconds) between tries to see through a task whose call ended before it was: each try may
download its images again."""
CUT_SHORT_AGAIN = 60.0
"""Seconds after a taking up before a call of the owner starts another: one left unfinished (the journal or the store
down, a download failed) is tried again then, and a process that died since, beside this one (another HTTP worker,
a team's machine, a second stdio server on the same data folder), has its tasks found then; not at every call."""


def resume_cut_short(services: Services, owner: str, where: Places, saved: Saved | None = None) -> None:
    """In the background, at an owner's first call in a process and at most every ``CUT_SHORT_AGAIN`` s after: finish
    the owner's tasks that another process sent and did not see through (killed, or its client gone, before the
    images were saved), as get_generation would, and await ``saved`` when that saved images. Their agent may never
    have heard their taskUUID, and would pay again for the same images: these are fetched, never sent again, and
    saved where their call would have saved them. Where something is left unfinished (an outage, a failed
    download), the next taking up tries again."""
    clock = services.clock
    if clock.monotonic() < services.resumed.get(owner, -math.inf):
        return  # under way, done, or tried a moment ago
    services.resumed[owner] = math.inf
    services.background.start_soon(_resume, services, owner, where, saved)


async def _resume(services: Services, owner: str, where: Places, saved: Saved | None) -> None:
    try:
        await _take_up(services, owner, where, saved)
    except Exception:  # a journal that fails says so at every call; this work is a bonus, never the server's end
        _failed(services, "the tasks earlier processes left unfinished could not be taken up")
    finally:  # whether or not all was finished: a process beside this one may die meanwhile, its tasks unfinished
        services.resumed[owner] = services.clock.monotonic() + CUT_SHORT_AGAIN


async def _take_up(services: Services, owner: str, where: Places, saved: Saved | None) -> None:
    """Take up the owner's tasks other processes left unfinished (what stays unfinished, the next taking up tries)."""
    clock, journal = services.clock, services.journal
    # By state: the latest tasks of any state hid a pending one behind 50 later ones.
    entries = [
        entry for state, most in CUT_SHORT_LOOKED_AT.items() for entry in await journal.recent(owner, most, state)
    ]
    oldest = clock.now() - CUT_SHORT_WITHIN  # from now: a task that can never be finished ages out of the tries
    # This process's own tasks are its calls' and its background work's to see through: those it sent by now (a call
    # may have recorded one while the journal was read).
    sent = services.sent
    left = [e for e in entries if oldest <= e.created and e.task_uuid not in sent and _unfinished(e, services)]
    for entry in sorted(left, key=lambda entry: entry.created):  # oldest first
        earlier = entry.created < services.started
        why = "an earlier process did not finish it" if earlier else "the process that sent it did not finish it"
        await _taken_up(services, entry, where, saved, why)


async def _taken_up(services: Services, entry: Entry, where: Places, saved: Saved | None, why: str) -> bool:
    """Fetch and save one task left unfinished, once the call that sent it is over (it may live on in another
    process: an HTTP worker, a team's machine), if it is unfinished then; whether it is finished now."""
    clock, journal, owner = services.clock, services.journal, entry.owner
    over = entry.options.call_over(entry.created, services.settings.wait_seconds)  # the sending call's wait, not ours
    await clock.sleep(max(0.0, over - entry.created + SAVING_GRACE - services.age(entry.task_uuid, entry.created)))
    try:
        now = await journal.get(entry.task_uuid, owner)
        if now is None or not _unfinished(now, services):
            return True
        logger.info("task %s: %s; fetching it", entry.task_uuid, why)
        # Saved only where its call saved: one sent with saving off is followed to its outcome and cost alone.
        outcome = await again(services, entry.task_uuid, owner, where, preview=False, save=_saves(entry, services))
        if isinstance(outcome, Made) and outcome.saved_new and saved is not None:
            await saved()
        after = await journal.get(entry.task_uuid, owner)
    except Exception:  # the next try may fare better; get_generation can still fetch it
        _failed(services, "task %s: taking it up again failed", entry.task_uuid)
        return False
    return after is None or not _unfinished(after, services)


def take_up_when_over(services: Services, entry: Entry, where: Places, saved: Saved | None = None) -> None:
    """A task sent by a call of this process that ended before the task was seen through (its client went away, or
    cancelled it): fetched and saved in the background once that call's time is over, as the next process would for
    one a killed process left, and again while it is unfinished, for a day (after ``CUT_SHORT_AGAIN`` s, then twice
    as long each time, up to an hour). Over stateless HTTP the process lives on, and the agent may never have heard
    the taskUUID. ``saved`` announces the images it saves, as the call would have. With saving off, its outcome and
    cost are still learnt and recorded, its URLs with them (its spend had stayed at its quote, counted in flight)."""
    services.background.start_soon(_see_through, services, entry, where, saved)


async def _see_through(services: Services, entry: Entry, where: Places, saved: Saved | None) -> None:
    try:
        why, pause = "its call ended before it was seen through", CUT_SHORT_AGAIN
        while not await _taken_up(services, entry, where, saved, why):
            if services.age(entry.task_uuid, entry.created) > CUT_SHORT_WITHIN:
                return
            await services.clock.sleep(pause)
            pause = min(2 * pause, SEEN_THROUGH_AT_MOST)  # an outage, or a folder that stays unwritable: less often
    except Exception:  # nothing of this work may end the server
        _failed(services, "task %s: seeing it through failed", entry.task_uuid)


def _failed(services: Services, said: str, *args: object) -> None:
    """A failure of background work, with its traceback; one quiet line when it met the parts a stopping server
    closes (the journal, the clients): the next process takes the tasks up; one line with the reason when the
    journal failed (the calls say so too, with the fix)."""
    failure = sys.exc_info()[1]
    if services.closing:
        logger.info(f"{said} as the server stopped", *args)
    elif isinstance(failure, JournalError):
        logger.warning(f"{said}: %s", *args, failure.said)
    else:
        logger.exception(said, *args)


def _unfinished(entry: Entry, services: Services) -> bool:
    """Whether a task's outcome is still to be learnt, or it has images this process is to save (none when its call
    had saving off, or this process has: a done task had been taken up again every minute, for nothing). A task of a
    version that recorded no folder is saved where ``again`` saves it: in the taking-up call's folder."""
    unsaved = any(image.path is None for image in entry.images)
    return entry.state == "pending" or (entry.state == "done" and unsaved and _saves(entry, services))


def _saves(entry: Entry, services: Services) -> bool:
    """Whether this process saves a task's images when it takes it up: where it saves, and the task's call did."""
    return services.settings.save and entry.options.save


@dataclass(frozen=True, slots=True)
class Listing:
    """An owner's latest tasks and what they spent."""

    entries: list[Entry]
    spend: Spend
    daily_budget: float | None
    memory_only: JournalError | None
    """Why the journal lives in memory only (a restart forgets it)."""
    more: bool = False
    """Whether older tasks follow the last of ``entries``."""


async def recent(
    services: Services, owner: str, limit: int, state: State | None, before: Place | None = None
) -> Listing:
    """The owner's ``limit`` latest tasks (of ``state`` only, when given; after ``before`` in that order, when
    given), newest first, whether more follow, and the spend."""
    journal = services.journal
    entries = await journal.recent(owner, limit + 1, state, before)
    spend = await journal.spend(owner)
    return Listing(entries[:limit], spend, services.settings.daily_limit, journal.problem, len(entries) > limit)
