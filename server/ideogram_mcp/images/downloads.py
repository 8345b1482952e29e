"""Fetching generated images from their URLs: streamed, capped, checked to be images; and kept in a store.

Failures are said per image, never raised: a paid image whose download or save failed keeps its URL, and a later
call saves it. The downloads share the call's deadline; one still running then is said to be so.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2

from ideogram_mcp import files, logs
from ideogram_mcp.clock import Clock
from ideogram_mcp.errors import DownloadError
from ideogram_mcp.images import ImageStore
from ideogram_mcp.images.formats import ImageFormat, cut_short, sniff
from ideogram_mcp.images.recipes import Recipe

logger = logs.logger(__name__)

MAX_DOWNLOAD = 50 * 1024 * 1024
"""Largest image accepted from an image URL (Runware's are a few MB)."""


async def download(http: httpx2.AsyncClient, url: str, *, limit: int = MAX_DOWNLOAD) -> tuple[bytes, ImageFormat]:
    """The bytes of an image URL, streamed with a size cap and sniffed; raises ``DownloadError``."""
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise DownloadError(f"the image URL answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise DownloadError(f"the image is larger than {limit // (1024 * 1024)} MB")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise DownloadError(f"the image is larger than {limit // (1024 * 1024)} MB")
                chunks.append(chunk)
    except (httpx2.HTTPError, httpx2.InvalidURL, ValueError) as exc:  # ValueError: httpx's word for a bad URL
        raise DownloadError(f"the download failed ({type(exc).__name__})") from exc
    data = b"".join(chunks)
    found = sniff(data)
    if found is None:
        raise DownloadError("the URL did not serve a PNG, JPEG or WEBP image")
    if cut_short(data, found):  # saved, it would be a file no one can open, and never fetched again
        raise DownloadError(f"the URL served a {found.name} image cut short ({len(data):,} bytes)")
    return data, found


@dataclass(frozen=True, slots=True)
class Wanted:
    """One generated image to fetch and maybe save: where it is, the name to save it under, and its recipe.

    The recipe is made from the fetched bytes, as some of its facts are read from them (the size of an
    image whose task named none, such as an edit's).
    """

    url: str
    stem: str
    recipe: Callable[[bytes], Recipe]


@dataclass(frozen=True, slots=True)
class Kept:
    """What became of one image: its bytes (for previews), its saved path, or why either is missing."""

    data: bytes | None = None
    format: ImageFormat | None = None
    path: Path | None = None
    problem: str | None = None


async def fetch(
    http: httpx2.AsyncClient,
    wanted: Sequence[Wanted],
    *,
    clock: Clock,
    until: float,
    store: ImageStore | None = None,
    folder: Path | None = None,
    named: str | None = None,
) -> list[Kept]:
    """Download every image at once and, with a ``store`` and a ``folder``, save each with its recipe; ``named`` is
    the folder as the connection is told it (the server's own path is not, over HTTP).

    ``until`` (the clock's monotonic seconds) ends the downloads still running then, each said to be unsaved; a
    file is never left half written.
    """
    kept: list[Kept] = [Kept(problem="was still downloading when the call's time ran out") for _ in wanted]

    async def one(index: int, item: Wanted) -> None:
        try:
            data, found = await download(http, item.url)
        except DownloadError as exc:
            kept[index] = Kept(problem=f"could not be downloaded: {exc}")
            return
        if store is None or folder is None:
            kept[index] = Kept(data, found)
            return
        target, keeper = folder, store
        try:
            path = await anyio.to_thread.run_sync(lambda: keeper.put(target, item.stem, data, found, item.recipe(data)))
        except OSError as exc:
            if not keeper.on_disk:
                fix = "get_generation with this taskUUID saves it once the bucket answers"
            elif exc.errno == errno.ENOSPC:
                fix = "free space on its disk, then get_generation with this taskUUID saves it"
            else:
                # get_generation saves it in this same folder (the journal's): no setting or other outputDir would.
                fix = "make that folder writable or move what is in the way, then get_generation with this taskUUID "
                fix += "saves it"
            problem = f"could not be saved in {named or folder}: {files.plainly(exc)} ({fix})"
            kept[index] = Kept(data, found, problem=problem)
            return
        logger.info("saved %s", path.name)
        kept[index] = Kept(data, found, path)

    with clock.deadline(until):
        async with anyio.create_task_group() as group:
            for index, item in enumerate(wanted):
                group.start_soon(one, index, item)
    return kept
