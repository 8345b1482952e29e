"""What became of a sent task: the images that arrived kept (saved, or fetched for previews), what it cost
accounted for, and all of it recorded in the journal; returned as the task's outcome."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.to_thread
from pydantic import SecretStr

from ideogram_mcp import logs
from ideogram_mcp.files import Places
from ideogram_mcp.images import ImageStore, previews
from ideogram_mcp.images.previews import Preview
from ideogram_mcp.journal import Entry, JournalError, State
from ideogram_mcp.money import cost_of
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.runware.answers import UNUSABLE_CODE, Snapshot, never_came, never_came_notes
from ideogram_mcp.runware.errors import ErrorDetail, RunwareError
from ideogram_mcp.settings import redact
from ideogram_mcp.tasks import naming, saving
from ideogram_mcp.tasks.outcomes import AllFailed, Blocked, Forgotten, Made, NotAccepted
from ideogram_mcp.tasks.services import Services
from ideogram_mcp.text import excerpt

logger = logs.logger(__name__)

SAVING_GRACE = 5.0
"""Seconds images that arrive at a call's deadline still get for downloading and saving (within clients' 60 s)."""
NOT_ACCEPTED_WITHIN = 60 * 60.0
"""Seconds after its sending within which Runware's "no such task", for a task it never acknowledged and no poll
found, means it never had it (not charged). Later, the task may have run and its results expired ([guess]: Runware
keeps results at least this long), so it is counted as maybe charged."""
WAITED_TOO_LONG = "was waiting its turn to be saved (the server is saving many images) when the call's time ran out"
NEVER_ACCEPTED = (
    "Runware never accepted this task: it ended before it went, or every attempt to send it failed, and no poll ever "
    "found it"
)

Finished = Made | AllFailed | Blocked | NotAccepted | Forgotten


async def finish(
    services: Services,
    entry: Entry,
    snapshot: Snapshot | None,
    where: Places,
    preview: bool | None,
    until: float,
    *,
    accepted: bool = False,
    save: bool | None = None,
) -> Finished:
    """Keep what the snapshot adds to the entry (files, previews), record it, and say where things stand.

    Without a snapshot the entry is taken as the journal holds it (a settled task fetched again); images that could
    not be saved before are tried again either way. ``accepted`` says Runware acknowledged the task. ``save``: whether
    its images are saved, where not as the settings say.
    """
    async with services.finishing(entry.task_uuid):  # one finish of a task at a time in this process
        latest = await _reread(services, entry)  # another finish may have saved images meanwhile
        return await _finish(services, latest or entry, snapshot, where, preview, until, accepted=accepted, save=save)


def _with_recorded(recorded: Sequence[str], said: Sequence[str], room: int, *, listed: bool) -> list[str]:
    """The failures another finish recorded (a call, a get_generation, the background's, each polling for itself)
    and those this one heard, each as often as the more of the two said it (an unusable image however worded), at
    most ``room``: an image that failed stays failed, though the polls of this finish came after Runware said so.
    Where its polls ``listed`` each of the task's images, what they heard comes first, and an unusable image they did
    not repeat has come right since: the failures recorded before give way to the task as it now is."""
    first, then = (said, recorded) if listed else (recorded, said)
    unmatched = Counter(_alike(failure) for failure in first)
    merged = list(first)
    for failure in then:
        if unmatched[_alike(failure)]:
            unmatched[_alike(failure)] -= 1
        elif not (listed and _alike(failure) == UNUSABLE_CODE):
            merged.append(failure)
    return merged[:room]


def _came_right(failure: str, records: Sequence[ImageRecord]) -> bool:
    """Whether a recorded failure is that of an image reported unusable that has come since: it names the image."""
    return _alike(failure) == UNUSABLE_CODE and any(record.image_uuid in failure for record in records)


def _worded(failures: Sequence[ErrorDetail], key: SecretStr | None) -> list[str]:
    """Failures as the journal keeps them (``code: message``), the key blanked before any cut, so that no cut leaves
    a piece of it."""
    return [f"{excerpt(redact(f.code, key), 80)}: {excerpt(redact(f.message, key))}" for f in failures]


def _alike(failure: str) -> str:
    """What two failures of one image share: an unusable one is worded by what was wrong with it in that poll."""
    code = _parts(failure)[0]
    return code if code == UNUSABLE_CODE else failure


def _parts(error: str) -> tuple[str, str]:
    """A failure as the journal keeps it (``code: message``), as Runware said it."""
    code, _, message = error.partition(": ")
    return (code, message) if message else ("error", code)


def ran_before(entry: Entry) -> bool:
    """Whether an image of the task came before: saved, or reported finished but unusable (charged all the same; seen
    once, in doubt, too, though a later answer listed it running again). Journals of earlier versions kept no
    ``ran``: their images, and the unusable ones they counted, show it."""
    unusable = any(_parts(error)[0] == UNUSABLE_CODE for error in entry.errors)
    return entry.ran or bool(entry.images) or unusable or entry.unusable_cost > 0


async def _reread(services: Services, entry: Entry) -> Entry | None:
    try:
        return await services.journal.get(entry.task_uuid, entry.owner)
    except JournalError as exc:
        logger.warning("task %s: the journal could not be read again: %s", entry.task_uuid, exc)
        return None


async def _finish(
    services: Services,
    entry: Entry,
    snapshot: Snapshot | None,
    where: Places,
    preview: bool | None,
    until: float,
    *,
    accepted: bool,
    save: bool | None,
) -> Finished:
    settings, clock = services.settings, services.clock
    settled = snapshot is None
    snapshot = snapshot or Snapshot(entry.task_uuid, entry.requested)
    accepted = accepted or entry.accepted or snapshot.found
    if snapshot.lost is not None and not snapshot.images and not entry.images:
        if services.may_be_sending(entry):  # Runware may have it yet: still pending, nothing settled
            snapshot = dataclasses.replace(snapshot, lost=None)
        elif not accepted and services.age(entry.task_uuid, entry.created) < NOT_ACCEPTED_WITHIN:
            await failed_in_journal(services, entry, NEVER_ACCEPTED, cost=0.0)
            return NotAccepted(entry.task_uuid)
        else:
            return await _forgotten(services, entry, snapshot.lost)
    known = {record.image_uuid for record in entry.images}
    arrived = [image for image in snapshot.images if image.image_uuid not in known]
    arrivals = await naming.stems_for(services, entry, arrived, where.output, clock.now(), until)
    records = [*entry.images, *arrivals]
    show = settings.preview if preview is None else preview
    trouble: JournalError | None = None
    saved_new = False
    shown: list[Preview] = []
    gone: set[str] = set()
    unlinked: set[str] = set()
    # Images that come at the deadline still get a few seconds: a call's time bounds the saving too.
    saving_until = max(until, clock.monotonic() + SAVING_GRACE)
    unsaved = (settings.save if save is None else save) and any(r.image_url and not r.path for r in records)
    if unsaved or (show and records):
        async with _lane(services, saving_until) as turn:
            if not turn:  # every lane busy until the deadline: the URLs now, the files with a later get_generation
                records = [r if r.path else r.with_(problem=WAITED_TOO_LONG) for r in records]
            else:
                data: dict[str, bytes] = {}
                if unsaved:
                    saved = await saving.save_unsaved(services, entry, records, where, saving_until)
                    records = [saved.records.get(record.image_uuid, record) for record in records]
                    data, trouble = saved.data, saved.journal
                    saved_new = any(record.image_uuid in saved.records and record.path for record in records)
                elif show and arrivals:  # not saved: fetched for the previews only
                    fetched, data = await saving.previewed(services, entry, arrivals, saving_until)
                    records = [*entry.images, *fetched]
                if show:
                    shown, gone, unlinked = await anyio.to_thread.run_sync(_looked_at, services.store, records, data)
                    del data  # the previews are all that is kept of the bytes
    before = {record.image_uuid for record in entry.images if record.path}
    if not show and before and services.store.on_disk:  # no previews to read them for: a look at the files only
        earlier = [record for record in records if record.image_uuid in before and record.path]
        gone, unlinked = await anyio.to_thread.run_sync(_missing, services.store, earlier)
    # Images Runware reported finished that cannot be used were charged all the same.
    unit = entry.quote / entry.requested
    room = max(0, entry.requested - len(records))  # the places no image took
    charges = snapshot.unusable_charges
    own = unusable = sum(charge if charge is not None else unit for charge in charges)  # failed in this call's polls
    unusable_count = len(charges)
    recorded_errors = [error for error in entry.errors if not _came_right(error, records)]
    if not settled and not snapshot.listed and unit:
        # No answer of this call listed each image of the task (it failed as a whole, was forgotten, or no poll
        # answered): the unusable ones an earlier call counted were charged all the same, at most one a place still
        # empty, but for those that have come right since.
        came_right = len(entry.errors) - len(recorded_errors)
        recorded = entry.unusable_cost - unit * came_right
        if snapshot.itemized and not snapshot.garbled:
            # This call's last answer that listed images had none unusable: one recorded in doubt (no failure said)
            # has come right since, or never recurred.
            recorded = min(recorded, unit * sum(_alike(error) == UNUSABLE_CODE for error in recorded_errors))
        recorded = min(recorded, unit * room)
        if recorded > unusable:
            unusable, unusable_count = recorded, max(unusable_count, round(recorded / unit))
    # An unusable item seen once is in doubt: recorded as a charge a later fetch keeps should the task fail before a
    # poll says (an answer listing each image settles it), but not yet said to the agent. Not one failed above.
    doubt = sum(charge if charge is not None else unit for charge in snapshot.doubtful[: max(0, room - len(charges))])
    never = 0
    key = settings.runware_api_key
    status: State
    if settled:
        failures = [excerpt(error) for error in entry.errors]  # journals of earlier versions kept them whole
        status = entry.state
    else:
        heard = [f for f in snapshot.failures if not never_came(f)]
        failures = _with_recorded(recorded_errors, _worded(heard, key), room, listed=snapshot.listed)
        if snapshot.lost is not None and records:
            # Runware has since forgotten the task: the images here stand, and so do those it said had failed (in
            # this call's polls, or recorded before: the garbled ones charged as in their call, and those recorded in
            # doubt, with no failure said); the rest never came, and may have run and been charged, counted as a
            # forgotten task is.
            unlisted = max(0, unusable_count - sum(_alike(failure) == UNUSABLE_CODE for failure in failures))
            never = max(0, room - len(failures) - unlisted)
            failures += _worded(never_came_notes(entry.task_uuid, never), key)
        done = snapshot.done or len(records) >= entry.requested
        status = "done" if done else "pending"
        if done and not records:
            status = "failed"
    cost = cost_of([record.cost for record in records], unit, unusable + unit * never)
    if settled and entry.cost is not None:  # what its journal holds: images that came unusable, or never, included
        cost = entry.cost
    try:
        await services.journal.update(
            entry.task_uuid,
            state=status,
            images=records,
            errors=failures,
            cost=cost,
            accepted=accepted,
            unusable_cost=None if settled else round(max(unusable, own + doubt) + unit * never, 6),  # read later
            ran=snapshot.ran,
        )
    except JournalError as exc:  # what was saved is said all the same: the files are there
        logger.warning("task %s: the journal could not record it: %s", entry.task_uuid, exc)
        trouble = trouble or exc
    if status == "failed":
        return AllFailed(entry.task_uuid, entry.requested, failures, unusable, unusable_count)
    if snapshot.blocked is not None and not records:
        return Blocked(entry.task_uuid, snapshot.blocked)
    logger.info("task %s: %d of %d image(s) ready, cost %s", entry.task_uuid, len(records), entry.requested, cost)
    store = services.store
    # The journal keeps where each image was saved; the answer gives no path where nothing is found now.
    found = [record.with_(path=None) if record.image_uuid in gone else record for record in records]
    links: tuple[str | None, ...] = ()
    if not store.on_disk and any(record.path for record in found):  # signing may ask for credentials: off the loop
        links = await anyio.to_thread.run_sync(
            lambda: tuple(store.link(Path(r.path)) if r.path else None for r in found)
        )
    return Made(
        entry=entry if entry.accepted == accepted else dataclasses.replace(entry, accepted=accepted),  # as it now is
        status="done" if status == "done" else "pending",
        images=found,
        cost=cost,
        failures=failures,
        places=where,
        previews=shown,
        trouble=snapshot.blocked or snapshot.trouble,  # blocked with images made: why the rest cannot come yet
        unusable=unusable,
        unusable_count=unusable_count,
        unrecorded=trouble,
        memory_only=services.journal.problem,
        saved_new=saved_new,
        links=links,
        link_seconds=services.settings.storage_link_seconds,
        gone={record.image_uuid: record.path for record in records if record.image_uuid in gone and record.path},
        unlinked=frozenset(unlinked),
        urls_expired=_expired(entry, services.age(entry.task_uuid, entry.created)),
    )


def _expired(entry: Entry, age: float) -> bool:
    """Whether the task's image URLs have expired, as far as is known: ``age`` seconds after it was recorded, past
    the ``ttl`` it was sent with."""
    ttl = entry.task.get("ttl")
    return isinstance(ttl, int | float) and not isinstance(ttl, bool) and age > ttl


def _looked_at(
    store: ImageStore, records: Sequence[ImageRecord], data: Mapping[str, bytes]
) -> tuple[list[Preview], set[str], set[str]]:
    """The previews of a task's images (the bytes just fetched, else those saved before: read here, in the same
    thread, rather than one hop each), the images saved before whose files are no longer there (a store that
    cannot be read right now shows them not, and says none gone), and those whose recipe is gone (``unlinked``)."""
    pictures: list[bytes | None] = []
    gone: set[str] = set()
    unlinked: set[str] = set()
    for record in records:
        picture = data.get(record.image_uuid)
        if picture is None and record.path:
            try:
                picture = store.load(Path(record.path), strict=True)
            except LookupError:  # the store does not answer: the file may well be there
                picture = None
            else:
                if picture is None and store.missing(Path(record.path)):  # not a read that failed for a moment
                    gone.add(record.image_uuid)
                elif picture is not None and not store.serves(Path(record.path)):
                    unlinked.add(record.image_uuid)
        pictures.append(picture)
    return previews.shown(pictures), gone, unlinked


def _missing(store: ImageStore, records: Sequence[ImageRecord]) -> tuple[set[str], set[str]]:
    """The images saved before whose files are no longer there, and those there whose recipe is gone."""
    gone = {record.image_uuid for record in records if record.path and store.missing(Path(record.path))}
    there = [record for record in records if record.path and record.image_uuid not in gone]
    return gone, {record.image_uuid for record in there if record.path and not store.serves(Path(record.path))}


@contextlib.asynccontextmanager
async def _lane(services: Services, until: float) -> AsyncGenerator[bool]:
    """One of the image lanes (downloads, saving, previews), taken in arrival order: True once held, False when
    none came free by ``until``."""
    lane, held = services.lanes, False
    with services.clock.deadline(until):
        await lane.acquire()
        held = True
    if not held:
        yield False
        return
    try:
        yield True
    finally:
        lane.release()


async def _forgotten(services: Services, entry: Entry, lost: RunwareError) -> Forgotten:
    """A task Runware no longer knows: it may never have arrived, or run (and been charged) and expired. Nothing
    can be fetched; it stays counted at its quote, as it may have cost that. Offline it cost nothing: the built-in
    emulator forgets its tasks when the server stops, and charges none."""
    said = excerpt(redact(str(lost), services.settings.runware_api_key))
    offline = services.settings.offline
    cost = 0.0 if offline else entry.quote
    await failed_in_journal(services, entry, said, cost=cost)
    return Forgotten(entry.task_uuid, cost, lost, offline=offline)


async def failed_in_journal(services: Services, entry: Entry, said: str, *, cost: float | None) -> None:
    """Record that a task failed; a journal that cannot take it changes nothing of what the agent is told (its
    state stays pending there, which a later get_generation settles)."""
    try:
        await services.journal.update(entry.task_uuid, state="failed", images=[], errors=[said], cost=cost)
    except JournalError as exc:
        logger.warning("task %s: its failure could not be recorded: %s", entry.task_uuid, exc)
