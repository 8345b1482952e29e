"""The steps some tools add before their task is built: a mask drawn from a region at the size Runware holds the
image at, a mask checked against its image, a size taken from the source's shape; and, for every tool, inline image
data checked whole."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

import anyio.to_thread

from ideogram_mcp import files, logs, masks, sizes
from ideogram_mcp.arguments import Generation, LocalInput, Problem
from ideogram_mcp.errors import DownloadError
from ideogram_mcp.files import LocalImage
from ideogram_mcp.images.downloads import download
from ideogram_mcp.images.recipes import KEPT_AT_RUNWARE
from ideogram_mcp.journal import JournalError
from ideogram_mcp.references import data_uri, decoded, encoded, inline_picture, is_uuid, is_web_url
from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tasks.job import Prepare
from ideogram_mcp.tasks.services import Services

logger = logs.logger(__name__)

REGION = "region"
UNKNOWN_SIZE = (
    "needs the image's size, which this server cannot know for an image UUID it did not make; pass the image as a "
    "file or a URL, or give mask instead."
)
DRAWN_LATER = "<drawn from region once the image's size is known>"


def size_here(generation: Generation, read: Mapping[LocalInput, LocalImage], parameter: str) -> tuple[int, int] | None:
    """The pixel size of an image argument when its bytes are here: a local file or inline data, not a URL or UUID.

    For a list of images, the first one's.
    """
    local = next((item for item in read if item.parameter == parameter), None)
    if local is not None:
        return masks.size_of(read[local].data)
    first = str(_first(generation.values.get(parameter)) or "")
    if not first or is_web_url(first) or is_uuid(first):
        return None
    data = decoded(first)
    return masks.size_of(data) if data is not None else None


def _first(value: object) -> object:
    """An image argument's value, or the first of a list of them (remix's source is Runware's referenceImages)."""
    if isinstance(value, list):
        return cast(list[object], value)[0] if value else None
    return value


def shaped_like_the_source(services: Services, owner: str, spec: ModelSpec) -> Prepare:
    """With no size given, the listed size closest to the source's shape: measured when its bytes are here (a local
    file or inline data), or as the journal recorded it for an image this owner's tasks made (so an image named by
    its UUID or its URL is remixed in the shape it is when named by its saved path)."""

    async def prepare(generation: Generation, read: Mapping[LocalInput, LocalImage], may_send: bool) -> Generation:
        if generation.shaped:
            return generation
        source = size_here(generation, read, "image")
        if source is None and isinstance(first := _first(generation.values.get("image")), str):
            with contextlib.suppress(JournalError):  # not known now: square, as for an image not measured
                made = await _made_image(services, owner, first)
                source = made[1] if made is not None else None
        if source is None:
            return generation
        # A shape beyond any listed ratio's reach (10000x30) takes the listed one closest to it, not a square.
        size = sizes.for_ratio(spec.sizes, f"{source[0]}:{source[1]}") or sizes.nearest(spec.sizes, *source, count=1)[0]
        return generation.with_values(width=size.width, height=size.height)

    return prepare


async def _made_image(services: Services, owner: str, image: str) -> tuple[str, tuple[int, int]] | None:
    """The imageUUID and recorded size of an image this owner's tasks made, named by its UUID or by the URL Runware
    gave it; None for any other."""
    if not is_uuid(image) and not is_web_url(image):
        return None
    found = await services.journal.image(image, owner)
    if found is None or found[1].width is None or found[1].height is None:
        return None
    return found[1].image_uuid, (found[1].width, found[1].height)


async def _kept_uuid(services: Services, owner: str, url: str) -> str | None:
    """The UUID Runware holds an image this owner's tasks made under, named by the URL Runware gave it, while it keeps
    it: made under ``KEPT_AT_RUNWARE`` ago (later it may have let the UUID go, and the URL goes as given); None for
    any other URL."""
    found = await services.journal.image(url, owner)
    entry = await services.journal.get(found[0], owner) if found is not None else None
    if found is None or entry is None or found[1].image_url != url or not found[1].image_uuid:
        return None
    if services.age(entry.task_uuid, entry.created) > KEPT_AT_RUNWARE.total_seconds():
        return None
    return found[1].image_uuid


def mask_from(services: Services, owner: str, regions: Sequence[masks.Region], stored_side: int) -> Prepare:
    """The mask drawn from ``regions`` at the size Runware holds the image at. An image here (a file, inline data) of
    at most ``stored_side`` pixels a side is measured here, as Runware keeps it whole; a larger one, or a URL, is
    stored at Runware first (which fetches a URL; this server never does), measured in Runware's copy, as how Runware
    scales it down is not documented, and sent by UUID; an image a task made (by its UUID or URL, as this owner's
    journal recorded it, or a file this server saved from it) is taken at the size it was made and sent by its
    UUID."""

    async def prepare(
        generation: Generation, read: Mapping[LocalInput, LocalImage], may_send: bool
    ) -> Generation | list[Problem]:
        image = str(generation.values["image"])
        changes: dict[str, Any] = {}
        size = size_here(generation, read, "image")
        made = await _made(services, owner, generation, read)
        by_uuid = made is not None and (not is_web_url(image) or await _kept_uuid(services, owner, image) is not None)
        if made is not None and (by_uuid or max(made[1]) <= stored_side):
            # An image a task made is Runware's own, kept at the size it was made (4.0's 2560x1440 too), and sent by
            # its UUID however it is named (its URL would be fetched and stored again, capped, and expires; a file
            # saved from it goes by that UUID): the cap is on what is uploaded, so the mask is drawn at that size.
            # Named by a URL past the UUID's keeping, the URL goes, stored whole when within the cap.
            size = made[1]
            if by_uuid and is_web_url(image):
                changes["image"] = made[0]
        elif size is not None and max(size) > stored_side:
            if not may_send or services.delivery is None:
                return generation.with_values(mask=DRAWN_LATER)
            deadline = services.clock.monotonic() + services.settings.wait_seconds
            changes["image"], size = await _held(services, generation, read, size, stored_side, deadline)
        elif size is None and is_web_url(image):
            delivery = services.delivery
            if not may_send or delivery is None:
                return generation.with_values(mask=DRAWN_LATER)
            deadline = services.clock.monotonic() + services.settings.wait_seconds
            stored, url = await delivery.copy(image, deadline)
            try:
                data, _ = await download(services.downloads, url)
            except DownloadError as exc:
                return [Problem(REGION, f"needs the image's size, and Runware's copy could not be read: {exc}.")]
            size, changes["image"] = masks.size_of(data), stored
        if size is None:
            return [Problem(REGION, UNKNOWN_SIZE)]
        changes["mask"] = data_uri(masks.draw(*size, regions), "image/png")
        return generation.with_values(**changes)

    return prepare


def mask_fits(services: Services, owner: str, stored_side: int) -> Prepare:
    """The image and its mask sent so that Runware holds them at one size, and a mask plainly not the image's size
    refused (both are here to measure, or the image is one a task made, at its recorded size).

    Runware keeps what is uploaded at most ``stored_side`` pixels a side, and an image a task made at the size it was
    made. A pair larger than that, both here (files or inline data), is stored first, both, so that Runware scales
    them alike (a file it made would otherwise go by its UUID, unscaled, and the mask uploaded and scaled); a mask
    here for a larger image a task made is sent inline, at that image's size, as a region's mask is."""

    async def prepare(
        generation: Generation, read: Mapping[LocalInput, LocalImage], may_send: bool
    ) -> Generation | list[Problem]:
        image, mask = size_here(generation, read, "image"), size_here(generation, read, "mask")
        made = await _made(services, owner, generation, read) if mask is not None else None
        target = made[1] if made is not None else image
        if target is None or mask is None:
            return generation  # one Runware measures: it refuses a mismatch itself
        if mask != target:
            return [
                Problem(
                    "mask",
                    f"is {mask[0]}x{mask[1]} but the image is {target[0]}x{target[1]}; a mask must be the image's size "
                    "(white = change), or give region instead and the server draws one.",
                )
            ]
        if max(target) <= stored_side or not may_send or services.delivery is None:
            return generation
        if (
            made is not None
        ):  # Runware's own copy, as made, by its UUID: the mask goes as it is, not scaled by an upload
            by_url = is_web_url(given := str(generation.values["image"]))
            if by_url and await _kept_uuid(services, owner, given) is None:
                return generation  # Runware may have let its UUID go: the URL goes, and Runware measures the pair
            _, mask_here = await anyio.to_thread.run_sync(_here, generation, read, "mask")
            return generation.with_values(mask=mask_here, **({"image": made[0]} if by_url else {}))
        deadline = services.clock.monotonic() + services.settings.wait_seconds
        return generation.with_values(
            **{name: await _stored(services, generation, read, name, deadline) for name in ("image", "mask")}
        )

    return prepare


async def _made(
    services: Services, owner: str, generation: Generation, read: Mapping[LocalInput, LocalImage]
) -> tuple[str, tuple[int, int]] | None:
    """The imageUUID and size of an image a task made, when the image argument is one: by its UUID or its URL, as
    this owner's journal recorded it, or a file this server saved from it, which is sent by that UUID and measured
    (the file is the image as made, whichever journal knows it: another data folder, another machine's)."""
    given = str(generation.values.get("image", ""))
    local = next((item for item in read if item.parameter == "image"), None)
    if local is not None:
        here = read[local]
        known = await anyio.to_thread.run_sync(services.store.known_uuid, here.path, here.data, services.runware)
        size = masks.size_of(here.data) if known is not None else None
        return (known, size) if known is not None and size is not None else None
    return await _made_image(services, owner, given)


async def _stored(
    services: Services, generation: Generation, read: Mapping[LocalInput, LocalImage], parameter: str, deadline: float
) -> str:
    """The UUID Runware stores an image argument here under: uploaded once a process, as local files are."""
    digest, text = await anyio.to_thread.run_sync(_keyed, generation, read, parameter)
    return services.held(digest) or (await services.upload(digest, text, deadline))[0]


async def _held(
    services: Services,
    generation: Generation,
    read: Mapping[LocalInput, LocalImage],
    size: tuple[int, int],
    side: int,
    deadline: float,
) -> tuple[str, tuple[int, int]]:
    """The UUID Runware stores the image here under (larger than it keeps), and the size of its copy: measured in
    the copy, as how Runware scales an upload down is not documented (once a process for the same bytes); where the
    copy cannot be read, the size Pillow's ``thumbnail`` would give, as the emulator's."""
    digest, text = await anyio.to_thread.run_sync(_keyed, generation, read, "image")
    if (stored := services.held(digest)) is not None and (measured := services.measured.get(digest)) is not None:
        return stored, measured
    stored, url = await services.upload(digest, text, deadline)
    try:
        copy = (await download(services.downloads, url))[0] if url is not None else None
    except DownloadError as exc:
        logger.warning("Runware's copy of an image could not be read to measure it (%s): its size is worked out", exc)
        copy = None
    if copy is None or (measured := masks.size_of(copy)) is None:
        return stored, masks.stored_size(*size, side=side)
    services.measured[digest] = measured
    return stored, measured


def _keyed(generation: Generation, read: Mapping[LocalInput, LocalImage], parameter: str) -> tuple[str, str]:
    """An image argument here: the key the process's uploads are kept under (its bytes' digest), and it as inline
    data."""
    data, text = _here(generation, read, parameter)
    return hashlib.sha256(data or text.encode()).hexdigest(), text


BLACK_MASK = (
    "is black all over, so the edit would repaint nothing and still be charged (white = change): paint the part to "
    "change white, or give region instead and the server draws the mask."
)
SEE_THROUGH_MASK = (
    "has see-through pixels, which tools read in opposite ways (OpenAI's edits: see-through = change; strokes on a "
    "see-through sheet: the sheet is kept), and Runware's masks are documented by their grey levels only: send it "
    "opaque, of the image's size, the part to change white and the rest black, or give region instead and the server "
    "draws the mask."
)


def _mask_fault(mask: masks.Reading) -> str | None:
    """Why a mask is refused before anything is paid: it repaints nothing, or what it asks for cannot be told."""
    if mask.see_through:
        return SEE_THROUGH_MASK
    return BLACK_MASK if mask.black else None


def _here(generation: Generation, read: Mapping[LocalInput, LocalImage], parameter: str) -> tuple[bytes | None, str]:
    """An image argument here (a local file, or inline data): its bytes, and it as inline data."""
    local = next((item for item in read if item.parameter == parameter), None)
    if local is not None:
        return read[local].data, read[local].data_uri
    text = str(generation.values[parameter])
    return decoded(text), text


async def tasks_for_images(services: Services, owner: str, spec: ModelSpec, generation: Generation) -> list[Problem]:
    """An image argument holding the taskUUID of one of this owner's tasks (results show it first): Runware would
    answer "unknown image UUID"; said here, naming the imageUUIDs the task made."""
    problems: list[Problem] = []
    for name, at, text in _images(spec, generation):
        if not is_uuid(text):
            continue
        try:
            entry = await services.journal.get(text, owner)
        except JournalError:  # not asked, then: Runware says it knows no such image
            continue
        if entry is None:
            continue
        made = [image.image_uuid for image in entry.images]
        said = (
            f"pass one of its images' imageUUID ({', '.join(made[:4])}{', ...' if len(made) > 4 else ''})"
            if made
            else "it has no images yet: fetch it with get_generation, then pass an imageUUID it gives"
        )
        problems.append(Problem(_argument(name, at), f"is the taskUUID of a {entry.tool} task, not an image: {said}."))
    return problems


async def own_by_uuid(services: Services, owner: str, spec: ModelSpec, generation: Generation) -> Generation:
    """Images this owner's tasks made, named by the URL Runware gave them, sent by their UUID, as when named by the
    file saved from them: Runware holds them as made, and would fetch a URL and store it again (capped), a URL that
    expires with its task's ``ttl``. One made over ``KEPT_AT_RUNWARE`` ago goes as given: Runware may have let its
    UUID go. A journal that cannot be read leaves each as given."""
    values = dict(generation.values)
    for name, at, text in _images(spec, generation):
        if not is_web_url(text):
            continue
        try:
            kept = await _kept_uuid(services, owner, text)
        except JournalError:
            continue
        if kept is None:
            continue
        if at is None:
            values[name] = kept
        else:
            values[name] = [*values[name]]
            values[name][at] = kept
    return dataclasses.replace(generation, values=values)  # its local files as they were


async def inputs_checked(
    spec: ModelSpec, generation: Generation, read: Sequence[LocalImage], lanes: anyio.CapacityLimiter | None = None
) -> tuple[Generation, list[LocalImage]] | list[Problem]:
    """The images given here, checked and turned as seen, each decoded once, in one trip to a thread (none when
    there is none: most calls):

    - inline data (a data URI, bare base64) Runware would take, and charge for, then fail to read is refused: base64
      that does not decode, more bytes than an input may have (as for a file), or no whole picture; a local file
      (``read``, one for each of the generation's local inputs, its size and kind checked as it was read) is refused
      when it is no whole picture;
    - every image that EXIF says is seen turned (a phone's photo), inline or a file, is turned as seen
      (``masks.upright``), so that what is measured, masked and sent is what its owner sees;
    - an edit's mask black all over (white = change) is refused: it would repaint nothing, and be charged; so is one
      with see-through pixels, which tools read in opposite ways (``masks.reading``).

    Decoding may take hundreds of MB an image: ``lanes`` bounds the calls doing it at once, waiting on the loop."""
    inline = [(name, at, text) for name, at, text in _images(spec, generation) if inline_picture(text) is not None]
    if not read and not inline:
        return generation, list(read)

    def check() -> tuple[Generation, list[LocalImage]] | list[Problem]:
        problems: list[Problem] = []
        values = dict(generation.values)
        for name, at, text in inline:
            data = decoded(text)
            if (why := _unreadable(data)) is not None:
                problems.append(Problem(_argument(name, at), f"{why}."))
            elif name == "mask" and data is not None and (why := _mask_fault(masks.reading(data))) is not None:
                problems.append(Problem(name, why))
            elif data is not None and (turned := masks.upright(data)) is not None:
                if (why := _turned_too_large(turned)) is not None:
                    problems.append(Problem(_argument(name, at), why))
                    continue
                again = data_uri(turned, text[5 : text.index(";")]) if text.startswith("data:") else encoded(turned)
                if at is None:
                    values[name] = again
                else:
                    values[name] = [*values[name]]
                    values[name][at] = again
        images: list[LocalImage] = []
        for item, image in zip(generation.local_inputs, read, strict=True):
            if (why := masks.unreadable(image.data)) is not None:  # refused here, not by Runware once it is paid for
                problems.append(Problem(item.argument, f"{why}."))
            elif item.parameter == "mask" and (why := _mask_fault(masks.reading(image.data))) is not None:
                problems.append(Problem(item.argument, why))
            elif (turned := masks.upright(image.data)) is not None:
                if (why := _turned_too_large(turned)) is not None:
                    problems.append(Problem(item.argument, why))
                images.append(dataclasses.replace(image, data=turned))
            else:
                images.append(image)
        if problems:
            return problems
        return dataclasses.replace(generation, values=values), images

    return await anyio.to_thread.run_sync(check, limiter=lanes)


def _turned_too_large(turned: bytes) -> str | None:
    """Why an image turned as seen cannot be sent: more bytes than an input may have. Sent as it came, sideways, its
    mask and size would be the stored pixels', not those its owner sees; so it is refused, saying how to fix it."""
    if len(turned) <= files.MAX_INPUT:
        return None
    return (
        f"is stored sideways with a tag that says how it is seen, and turned upright it {files.too_large(len(turned))}"
        ": save it upright (or smaller) and send that file."
    )


def _argument(name: str, at: int | None) -> str:
    """An image argument as an agent names it: ``image``, or ``image[1]`` in a list."""
    return name if at is None else f"{name}[{at}]"


def _images(spec: ModelSpec, generation: Generation) -> list[tuple[str, int | None, str]]:
    """Every image an argument gives that is not a local file: its parameter, its place in a list (None for a
    parameter of one image) and its text."""
    local = {(item.parameter, item.index) for item in generation.local_inputs}
    found: list[tuple[str, int | None, str]] = []
    for name, value in generation.values.items():
        p = spec.parameters.get(name)
        if p is None or p.format != "image":
            continue
        items = cast(list[object], value) if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            at = index if isinstance(value, list) else None
            if isinstance(item, str) and (name, at) not in local:
                found.append((name, at, item))
    return found


def _unreadable(data: bytes | None) -> str | None:
    if data is None:
        return "is inline data that is not valid base64: send the image's bytes base64-encoded, whole"
    if len(data) > files.MAX_INPUT:
        return files.too_large(len(data))
    return masks.unreadable(data)
