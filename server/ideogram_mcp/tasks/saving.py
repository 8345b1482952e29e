"""Every paid image downloaded and stored once, whatever runs at the same time.

Another call, another worker or a finish that was killed may be saving the same task's images: the journal gives
each image's saving to one finish at a time (a claim that runs out at that finish's deadline), which downloads it,
stores it under the name recorded for it (or takes the file a cut-short finish left there) and records it. A claim
held by another is waited for until the deadline; an image not saved by then keeps its URL, and a later
get_generation saves it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import anyio.to_thread

from ideogram_mcp import files, logs, masks
from ideogram_mcp.files import Places
from ideogram_mcp.images.downloads import Kept, Wanted, fetch
from ideogram_mcp.images.formats import image_format
from ideogram_mcp.images.recipes import Recipe
from ideogram_mcp.journal import Entry, JournalError
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.settings import redacted
from ideogram_mcp.specs import load_specs
from ideogram_mcp.specs.spec import BASE_MODEL
from ideogram_mcp.tasks import naming
from ideogram_mcp.tasks.services import Services

logger = logs.logger(__name__)

BUSY_POLL = 0.25
"""Seconds between looks at the journal while another call saves an image this one waits for."""
BUSY_PROBLEM = (
    "was being saved by another call when this one's time ran out (a call of a server that stopped holds it until"
    " that call's time is up); call get_generation again to save it"
)


@dataclass(slots=True)
class Saving:
    """What one finish learnt while saving: each image's record as it now stands (by imageUUID), the bytes fetched,
    and a failure of the journal."""

    records: dict[str, ImageRecord] = field(default_factory=lambda: {})
    data: dict[str, bytes] = field(default_factory=lambda: {})
    journal: JournalError | None = None
    held: set[str] = field(default_factory=lambda: set[str]())
    """The images whose saving this finish claimed and has not recorded yet."""


async def save_unsaved(
    services: Services, entry: Entry, records: Sequence[ImageRecord], where: Places, until: float
) -> Saving:
    """Save every image of the task that is not saved yet, each exactly once (see the module's docstring)."""
    clock, journal = services.clock, services.journal
    saving = Saving()
    me = uuid.uuid4().hex
    lease = clock.now() + max(0.0, until - clock.monotonic())  # a wall-clock time: every process reads it
    by_uuid = {record.image_uuid: record for record in records}
    wanted = [u for u, record in by_uuid.items() if record.image_url and not record.path]
    named = [
        record if record.stem else record.with_(stem=naming.stem_of(entry, record, clock.now())) for record in records
    ]
    try:
        claims = await journal.claim(entry.task_uuid, named, wanted, by=me, until=lease)
        saving.held = {u for u, claim in claims.items() if claim.state == "mine"}
        while True:
            mine = {u: claim.stem for u, claim in claims.items() if claim.state == "mine"}
            for u, claim in claims.items():
                if claim.state == "stored":
                    saving.records[u] = by_uuid[u].with_(path=claim.path, problem=None)
            if mine:
                claimed = {u: by_uuid[u].with_(stem=stem) for u, stem in mine.items()}
                await _save_claimed(services, entry, claimed, where, until, me, saving)
            busy = [u for u, claim in claims.items() if claim.state == "busy"]
            if not busy or clock.monotonic() >= until:
                break
            await clock.sleep(min(BUSY_POLL, max(0.0, until - clock.monotonic())))
            claims = await journal.claim(entry.task_uuid, [], busy, by=me, until=lease)
            saving.held |= {u for u, claim in claims.items() if claim.state == "mine"}
        for u in busy:
            saving.records[u] = by_uuid[u].with_(problem=BUSY_PROBLEM)
    except JournalError as exc:  # unrecorded, a file would be saved again later: keep the URL, save it then
        logger.warning("task %s: images not saved: %s", entry.task_uuid, exc)
        saving.journal = exc
        for u in wanted:
            saving.records.setdefault(u, by_uuid[u].with_(problem=exc.said))
    finally:
        if saving.held and saving.journal is None:  # ended (cancelled, say) before saving them: others may now
            with anyio.CancelScope(shield=True), contextlib.suppress(JournalError):
                await journal.release(entry.task_uuid, by=me)
    return saving


async def _save_claimed(
    services: Services,
    entry: Entry,
    claimed: Mapping[str, ImageRecord],
    where: Places,
    until: float,
    me: str,
    saving: Saving,
) -> None:
    """Download and store the images this finish claimed (each with the name it is to be saved under), and record
    each."""
    wanted = [Wanted(url=r.image_url, stem=r.stem or "", recipe=recipe(services, entry, r)) for r in claimed.values()]
    kept = await fetch(
        services.downloads,
        wanted,
        clock=services.clock,
        until=until,
        store=services.store,
        folder=where.output,
        named=files.folder_named(where.shown(where.output)),
    )
    if any(o.data is not None and o.path is None and o.problem for o in kept):  # the store refused an image
        # Not taken as writable any longer: the next paid call probes the folder before it is sent (a full disk, a
        # folder made read-only had let calls be sent and charged for 30 s, their images unsaved).
        services.unproven(where.output)
    for (image_uuid, record), outcome in zip(claimed.items(), kept, strict=True):
        saved = kept_as(entry, record, outcome).with_(
            path=str(outcome.path) if outcome.path else None, problem=outcome.problem
        )
        if outcome.data is not None:
            saving.data[image_uuid] = outcome.data
        winner = None
        if saving.journal is None:  # once the journal failed, it is not asked again (each ask waits for its lock)
            try:
                winner = await services.journal.stored(entry.task_uuid, saved, by=me)
                saving.held.discard(image_uuid)
            except JournalError as exc:  # the file is saved all the same: said now, and taken as is later
                saving.journal = exc
        if outcome.path is not None and winner is not None and winner != str(outcome.path):
            # Another finish saved it first, after this one's claim ran out: this copy goes.
            await anyio.to_thread.run_sync(services.store.discard, outcome.path)
            saved = saved.with_(path=winner)
        saving.records[image_uuid] = saved


async def previewed(
    services: Services, entry: Entry, arrivals: Sequence[ImageRecord], until: float
) -> tuple[list[ImageRecord], dict[str, bytes]]:
    """Images not to be saved, fetched for their previews only: their records with what the bytes say, and the
    bytes."""
    wanted = [Wanted(url=r.image_url, stem="", recipe=lambda _: Recipe()) for r in arrivals]
    kept = await fetch(services.downloads, wanted, clock=services.clock, until=until)
    records = [kept_as(entry, record, outcome) for record, outcome in zip(arrivals, kept, strict=True)]
    data = {r.image_uuid: o.data for r, o in zip(arrivals, kept, strict=True) if o.data is not None}
    return records, data


def kept_as(entry: Entry, record: ImageRecord, outcome: Kept) -> ImageRecord:
    """The record with what its fetched bytes say: its size and format (else the task's)."""
    width, height = measured(entry, outcome.data)
    fmt = outcome.format.name if outcome.format else asked_format(entry)
    return record.with_(width=width, height=height, format=fmt)


def recipe(services: Services, entry: Entry, record: ImageRecord) -> Callable[[bytes], Recipe]:
    """What the recipe beside an image records: how it was made (never the key), where it came from, its size."""

    def of(data: bytes) -> Recipe:
        width, height = measured(entry, data)
        made = datetime.fromtimestamp(services.clock.now(), UTC).isoformat(timespec="microseconds")
        fields = record.model_dump(mode="json", exclude={"path", "problem", "stem"})
        fields |= {
            "model": entry.model,
            "taskUUID": entry.task_uuid,
            "width": width,
            "height": height,
            "runware": services.runware,
            "created": made,
            "task": entry.task,
        }
        return Recipe.model_validate(redacted(fields, services.settings.runware_api_key))

    return of


def measured(entry: Entry, data: bytes | None) -> tuple[int | None, int | None]:
    """The image's size: read from its bytes when they were fetched, else the size the task asked for."""
    size = masks.size_of(data) if data is not None else None
    if size is not None:
        return size
    width, height = entry.task.get("width"), entry.task.get("height")
    return (width, height) if isinstance(width, int) and isinstance(height, int) else (None, None)


def asked_format(entry: Entry) -> str:
    """The format a task asked for: its outputFormat, else its model's default."""
    spec = load_specs().get(entry.model) or load_specs()[BASE_MODEL]
    return image_format(str(entry.task.get("outputFormat", spec.parameters["outputFormat"].default))).name
