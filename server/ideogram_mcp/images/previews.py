"""Small pictures for a tool result: one preview per image, or one numbered contact sheet for many.

Clients show a result's images to the user and to the model, within limits (about 1 MB a result in
Claude Desktop, 25k tokens in Claude Code), so previews are small JPEGs kept under a byte budget.
Pillow is imported here only, when a preview is first made.
"""

from __future__ import annotations

import functools
import io
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ideogram_mcp import logs
from ideogram_mcp.errors import PictureError
from ideogram_mcp.references import encoded

if TYPE_CHECKING:
    from PIL import Image

logger = logs.logger(__name__)

PREVIEW_SIDE = 512
"""Longest side of a single preview, in pixels."""
PREVIEW_BUDGET = 48 * 1024
"""Most base64 characters one preview may take."""
SHEET_FROM = 5
"""From this many images on, one contact sheet replaces the single previews."""
SHEET_SIDE = 1280
"""Longest side of a contact sheet, in pixels (Anthropic's API takes up to 2000 px when a request has many images)."""
SHEET_BUDGET = 200 * 1024
"""Most base64 characters a contact sheet may take."""
MIME_TYPE = "image/jpeg"
POOLED_BLOCKS = 16
"""Freed picture buffers Pillow keeps to reuse, rather than handing them back to the C library (see ``_pooled``)."""
POOLED_BLOCK_SIZE = 1024 * 1024
"""Largest buffer Pillow keeps (a larger picture is laid out in several): the pool holds at most 16 MiB."""

_GAP = 6

_QUALITIES = (82, 72, 62, 50, 38)


@dataclass(frozen=True, slots=True)
class Preview:
    """A preview ready for an MCP image block: base64 JPEG data and what it shows."""

    data: str
    width: int
    height: int
    shows: tuple[int, ...]
    """The 1-based numbers of the images it shows."""


def single(image: bytes, number: int) -> Preview:
    """A preview of one image: longest side at most ``PREVIEW_SIDE``, at most ``PREVIEW_BUDGET`` of base64."""
    from PIL import Image

    _pooled()
    try:
        with Image.open(io.BytesIO(image)) as opened:
            opened.draft("RGB", (PREVIEW_SIDE, PREVIEW_SIDE))  # a JPEG decoded at the scale it is shown at
            picture = _rgb(opened)
        picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        return _fit(picture, PREVIEW_BUDGET, (number,))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # Pillow's words for an image it cannot read
        raise PictureError(str(exc)) from exc


def sheet(images: Sequence[tuple[int, bytes]]) -> Preview:
    """One contact sheet of numbered tiles for several images; unreadable images are left out."""
    from PIL import Image, ImageDraw, ImageFont

    _pooled()
    pictures: list[tuple[int, Image.Image]] = []
    cell: tuple[int, int] | None = None
    columns = rows = 0
    for number, data in images:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                if cell is None:  # laid out by the first readable image's shape, read before any decoding
                    columns, rows, cell = _grid(len(images), opened.width / opened.height)
                opened.draft("RGB", cell)  # a JPEG decoded at about the size of its tile
                pictures.append((number, _rgb(opened)))
        except (OSError, ValueError, Image.DecompressionBombError):  # Pillow's words for an image it cannot read
            continue
    if not pictures or cell is None:
        raise PictureError("no readable image to put on a contact sheet")
    if len(pictures) < len(images):  # unreadable ones left out: laid out for those that are left
        columns, rows, cell = _grid(len(pictures), pictures[0][1].width / pictures[0][1].height)
    canvas = Image.new("RGB", (columns * cell[0], rows * cell[1]), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(14, min(cell) // 8))
    for index, (number, picture) in enumerate(pictures):
        picture.thumbnail((cell[0] - _GAP, cell[1] - _GAP))
        left, top = (index % columns) * cell[0], (index // columns) * cell[1]
        canvas.paste(picture, (left + (cell[0] - picture.width) // 2, top + (cell[1] - picture.height) // 2))
        corner = (left + _GAP, top + _GAP)
        draw.text(corner, str(number), font=font, fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0))
    return _fit(canvas, SHEET_BUDGET, tuple(number for number, _ in pictures))


@functools.cache
def _pooled() -> bool:
    """Have Pillow keep up to ``POOLED_BLOCKS`` freed buffers of at most ``POOLED_BLOCK_SIZE`` for the next pictures,
    once a process; True when set, False when the user's own ``PILLOW_BLOCKS_MAX`` or ``PILLOW_BLOCK_SIZE`` rules.

    Pillow keeps none by default: each decoded picture's buffer (1 MiB for a 512 px preview) went back to the C
    library when freed, which returned the pages to the system, and the next picture faulted fresh zeroed pages in.
    1,000 images saved with previews at once (``benchmarks/tasks.py``) spent about 7% of the process's CPU in those
    page faults.
    """
    from PIL import Image

    if "PILLOW_BLOCKS_MAX" in os.environ or "PILLOW_BLOCK_SIZE" in os.environ:
        return False
    Image.core.set_block_size(POOLED_BLOCK_SIZE)
    Image.core.set_blocks_max(POOLED_BLOCKS)
    return True


def _grid(count: int, aspect: float) -> tuple[int, int, tuple[int, int]]:
    """Columns, rows and cell size that lay ``count`` pictures of one aspect out closest to a 4:3 sheet."""
    columns = min(range(1, count + 1), key=lambda c: abs(math.log(c * aspect / math.ceil(count / c)) - math.log(4 / 3)))
    rows = math.ceil(count / columns)
    scale = SHEET_SIDE / max(columns * aspect, rows)
    return columns, rows, (max(16, int(scale * aspect)), max(16, int(scale)))


def _rgb(picture: Image.Image) -> Image.Image:
    """The picture in RGB, as a JPEG holds it: what is transparent shown over a checkerboard, as image editors show
    it (flattened onto white, a cutout of a white mug had been previewed as a white square)."""
    picture.load()
    if picture.mode in ("RGBA", "LA", "P"):
        rgba = picture.convert("RGBA")
        flat = _checkerboard(rgba.size)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return picture.convert("RGB")


def _checkerboard(size: tuple[int, int]) -> Image.Image:
    """White and light grey squares, about 24 across the longer side, covering ``size``."""
    from PIL import Image

    cell = max(4, max(size) // 24)
    across, down = -(-size[0] // cell), -(-size[1] // cell)
    small = Image.new("L", (across, down))
    small.putdata([255 if (x + y) % 2 == 0 else 204 for y in range(down) for x in range(across)])  # pyright: ignore[reportUnknownMemberType]
    grown = small.resize((across * cell, down * cell), Image.Resampling.NEAREST)  # pyright: ignore[reportUnknownMemberType]
    board = grown.crop((0, 0, *size))
    return board.convert("RGB")


def _fit(picture: Image.Image, budget: int, shows: tuple[int, ...]) -> Preview:
    """Encode as JPEG at the best quality that fits the budget, shrinking the picture if none does.

    Each quality is tried first without Pillow's second pass for optimal Huffman tables (``optimize``), then with it
    only when that misses the budget: the quality and size chosen are those the pass alone gave (it never made a
    larger file in the images tried), and most previews are made in one encoding at 55% of its cost (a 512 px
    preview: 0.46 ms against 0.85 ms, 9% more bytes; what a model reads of an image is its pixels, not its bytes).
    An image that misses the budget at the first quality costs about 1.5 times the encoding it did.
    """
    while True:
        for quality in _QUALITIES:
            for optimize in (False, True):
                data = encoded(_jpeg(picture, quality, optimize=optimize))
                if len(data) <= budget:
                    return Preview(data, picture.width, picture.height, shows)
        smaller = (max(1, picture.width * 3 // 4), max(1, picture.height * 3 // 4))
        picture = picture.resize(smaller)  # pyright: ignore[reportUnknownMemberType]


def _jpeg(picture: Image.Image, quality: int, *, optimize: bool) -> bytes:
    """The picture as a JPEG. Pillow encodes without holding the GIL only into a file with a descriptor (into a
    BytesIO it holds it throughout): an in-memory file where the system has one, so that previews made in threads
    run on every core beside the event loop."""
    if sys.platform != "win32":
        try:
            with open(os.memfd_create("preview", os.MFD_CLOEXEC), "w+b") as file:
                picture.save(file, format="JPEG", quality=quality, optimize=optimize)
                file.seek(0)
                return file.read()
        except (AttributeError, OSError):  # not Linux, a sandbox that refuses it, no memory left for it: into bytes
            pass
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality, optimize=optimize)
    return buffer.getvalue()


def shown(data: Sequence[bytes | None]) -> list[Preview]:
    """The previews of a task's images, numbered in order: one each for a few, one contact sheet for many; an
    image whose bytes are missing or unreadable gets none."""
    ready = [(n, d) for n, d in enumerate(data, 1) if d is not None]
    if len(ready) >= SHEET_FROM:
        try:
            return [sheet(ready)]
        except PictureError:
            return []
    found: list[Preview] = []
    for n, image in ready:
        try:
            found.append(single(image, n))
        except PictureError:
            logger.warning("no preview for image %d: it could not be decoded", n)
    return found
