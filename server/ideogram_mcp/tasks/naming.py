"""The names images are saved under: a ``fileName`` numbered after the names its folder has and those given to images
not saved yet, else the date, the prompt's first words and the image's short id (``files.stems``).

A set's numbers are chosen when its first images come, and recorded with them in the journal when their saving
begins; until then this process remembers them, so that two calls named alike at once take two sets. The store's
rule (a taken name gets "-2") stays for two servers meeting in the same instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import anyio
import anyio.to_thread

from ideogram_mcp import files, logs
from ideogram_mcp.journal import Entry, JournalError
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.specs import prompt_of
from ideogram_mcp.tasks.services import Services

logger = logs.logger(__name__)

NUMBERED_FOR = 120.0
"""Seconds past its call's time that the names this process gave a ``fileName`` count as taken without their files,
before the journal records them (when the images' saving begins): two calls named alike at once take names apart."""
NAMES_LEAST = 1.0
"""Seconds a folder's names are waited for at least, to number a ``fileName``, when the call's time is up."""
NUMBERED_LOOKED_AT = 100
"""The owner's latest tasks looked at for the names they were given and have not saved yet."""


async def stems_for(
    services: Services, entry: Entry, arrived: Sequence[ImageRecord], folder: Path, now: float, until: float
) -> list[ImageRecord]:
    """Newly finished images, each with the name it is to be saved under, numbered after the images the task has.

    A ``fileName`` is numbered, when the task's first images come, after the numbers it has in ``folder`` and those
    given to the owner's other tasks whose files are not there yet: a second set of "sign" is ``sign-3`` and
    ``sign-4``, and a single "sign" where ``sign.jpg`` is taken is the next number. Later images of the set follow
    its first. Past ``files.MOST_NUMBERED`` a set is numbered from 1, a taken name getting "-2". ``until`` is when
    (monotonic) the call's time is up: the numbers are recorded by then, or kept here ``NUMBERED_FOR`` more.
    """
    first, plain, name = len(entry.images) + 1, True, entry.options.file_name
    if name and arrived and entry.images:  # the set was numbered when its first images came
        _, number = files.numbers_taken([entry.images[0].stem or ""], name, stems=True)
        first += max(number - 1, 0)
    elif name and arrived:
        taken, highest = await _numbers_given(services, entry, folder, name, until)
        key = (folder, name.casefold())  # read and written with no wait between: two calls at once take two sets
        steady = services.clock.monotonic()
        services.numbered = {k: v for k, v in services.numbered.items() if steady < v[2]}
        if (given := services.numbered.get(key)) is not None:
            taken, highest = taken or given[0], max(highest, given[1])
        if entry.requested > 1 and highest + entry.requested <= files.MOST_NUMBERED:
            first += highest
        elif entry.requested == 1 and taken and highest < files.MOST_NUMBERED:
            first, plain = max(highest, 1) + 1, False
        alone = entry.requested == 1 and plain  # the name itself, taken now
        last = highest if alone else first + entry.requested - 1
        services.numbered[key] = (taken or alone, max(last, highest), max(steady, until) + NUMBERED_FOR)
    names = files.stems(
        name,
        prompt_of(entry.task),
        [image.image_uuid.replace("-", "")[:8] for image in arrived],
        datetime.fromtimestamp(now).astimezone(),
        first=first,
        of=entry.requested,
        plain=plain,
    )
    return [image.with_(stem=stem) for image, stem in zip(arrived, names, strict=True)]


async def _numbers_given(services: Services, entry: Entry, folder: Path, name: str, until: float) -> tuple[bool, int]:
    """Whether ``name`` itself is taken in ``folder``, and the highest number it has there: in the folder's names
    (read by ``until``), or recorded for the owner's latest other tasks of that name there whose files are not there
    yet (pending, or not saved: a server restarted, a save refused)."""

    def in_folder() -> tuple[bool, int]:
        return files.numbers_taken(services.store.names(folder), name)

    taken, highest = False, 0  # the folder not read: named as if empty, a taken name gets "-2" when saved
    # A bucket slow to list does not hold the saving past the call's time (or a second, at its end).
    with services.clock.deadline(max(until, services.clock.monotonic() + NAMES_LEAST)):
        try:
            taken, highest = await anyio.to_thread.run_sync(in_folder, abandon_on_cancel=True)
        except (OSError, LookupError) as exc:
            logger.info("the names in %s could not be read for %s: %s", folder, name, exc)
    try:
        others = await services.journal.recent(entry.owner, NUMBERED_LOOKED_AT)
    except JournalError:
        others = []
    for other in others:
        if (
            other.task_uuid == entry.task_uuid
            or (other.options.file_name or "").casefold() != name.casefold()
            or other.options.folder != str(folder)
        ):
            continue
        stems = [
            record.stem for record in other.images if record.stem and (not record.path or other.state == "pending")
        ]
        plain, most = files.numbers_taken(stems, name, stems=True)
        if other.state == "pending" and most:  # its images still to come follow its first
            most = max(most, min(files.MOST_NUMBERED, most + other.requested - len(other.images)))
        taken, highest = taken or plain, max(highest, most)
    return taken, highest


def stem_of(entry: Entry, record: ImageRecord, now: float) -> str:
    """The name an image recorded before names were recorded is saved under: by its place in the task."""
    number = next((i for i, r in enumerate(entry.images, 1) if r.image_uuid == record.image_uuid), 1)
    (stem,) = files.stems(
        entry.options.file_name,
        prompt_of(entry.task),
        [record.image_uuid.replace("-", "")[:8]],
        datetime.fromtimestamp(now).astimezone(),
        first=number,
        of=entry.requested,
    )
    return stem
