"""Masks for edit_image: drawn from rectangles, at the size Runware holds the image at.

An agent cannot paint a mask, but it can say "the sign in the top third": a ``region`` is a
rectangle (or several) in fractions of the image, and the mask is white there (repaint) and
black elsewhere (keep), the convention of Runware's inpainting. Pillow is imported here only.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in fractions of the image, from its top left corner."""

    x: float
    y: float
    width: float
    height: float


def regions(value: Any) -> list[Region]:
    """The rectangles of a checked ``region`` argument (one object, or a list of them)."""
    items: list[Any] = [value] if isinstance(value, dict) else list(value)  # pyright: ignore[reportUnknownArgumentType]
    return [Region(*(float(item[k]) for k in ("x", "y", "width", "height"))) for item in items]


def stored_size(width: int, height: int, *, side: int) -> tuple[int, int]:
    """The size an image is kept at, at most ``side`` pixels a side, as Pillow's ``thumbnail`` scales it (of the
    two whole sizes nearest the scaled one, that closer to the image's shape): the emulator's rule, and a guess of
    Runware's, used only where Runware's copy cannot be measured."""
    if max(width, height) <= side:
        return width, height
    aspect = width / height
    if height >= width:
        near = (math.floor(side * aspect), math.ceil(side * aspect))
        return max(1, min(near, key=lambda n: abs(aspect - n / side))), side
    near = (math.floor(side / aspect), math.ceil(side / aspect))
    return side, max(1, min(near, key=lambda n: abs(aspect - side / n) if n else math.inf))


def draw(width: int, height: int, regions: Sequence[Region]) -> bytes:
    """A PNG mask of this size: white inside the regions, black elsewhere."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (width, height), 0)
    pen = ImageDraw.Draw(mask)
    for r in regions:
        left, top = min(round(r.x * width), width - 1), min(round(r.y * height), height - 1)
        # A region thinner than a pixel is still one pixel wide: it was asked for, so something is repainted.
        right = max(left, round((r.x + r.width) * width) - 1)
        bottom = max(top, round((r.y + r.height) * height) - 1)
        pen.rectangle((left, top, right, bottom), fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def unreadable(data: bytes) -> str | None:
    """Why image bytes are no whole picture Runware could read (cut short, damaged, or more pixels than Pillow
    opens safely), else None. The whole picture is read: a JPEG at an eighth of its size, a PNG by its checksums and
    the length of its pixels once inflated (its chunks may each be whole, their checksums right, and the compressed
    pixels cut short)."""
    from PIL import Image, UnidentifiedImageError

    most = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's own, unless a program unset it
    too_many = f"has more pixels than an input image may ({most:,}); scale it down (Runware keeps at most 2048 a side)"
    try:  # no warning filter is set: threads share them; the size is compared instead
        with Image.open(io.BytesIO(data)) as picture:
            if picture.width * picture.height > most:
                return too_many
            if picture.format == "PNG":
                picture.verify()
                if (short := _pixels_short(data)) is not None:
                    return f"is a damaged or cut-short image ({short}); send the whole image"
            else:
                if picture.format == "JPEG":  # decoded at an eighth: every byte read, a sixty-fourth of the pixels
                    picture.draft(picture.mode, (max(1, picture.width // 8), max(1, picture.height // 8)))
                picture.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning: where warnings are errors
        return too_many
    except UnidentifiedImageError:
        return "begins as an image but cannot be read as one (damaged, or not whole): send the whole image"
    except Exception as exc:  # OSError, SyntaxError, EOFError ...: Pillow's ways of failing on bytes it cannot read
        return f"is a damaged or cut-short image ({str(exc)[:80] or type(exc).__name__}); send the whole image"
    return None


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""A PNG's samples a pixel, by its colour type (grey, RGB, palette, grey and alpha, RGBA)."""
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""The seven passes of an interlaced PNG: the first column and row of each, and its steps across and down."""
_INFLATED = 1 << 20
"""Bytes of a PNG's pixels inflated at a time: counted, then let go."""


def _pixels_short(data: bytes) -> str | None:
    """Why a PNG's compressed pixels (its ``IDAT`` chunks, checked by their checksums) do not inflate to its whole
    picture, else None. They are inflated a megabyte at a time and counted, never held: loaded, a 300 KB PNG of
    9000x9000 pixels had taken 309 MB. Its chunks are those ``verify`` read, each whole."""
    view = memoryview(data)
    width, height = int.from_bytes(view[16:20], "big"), int.from_bytes(view[20:24], "big")
    depth, colour, interlaced = data[24], data[25], data[28]
    if colour not in _CHANNELS:
        return None  # Pillow read it: none of ours to judge
    bits = depth * _CHANNELS[colour]

    def rows(across: int, down: int) -> int:  # each row a filter byte, then its pixels' bits to a whole byte
        return 0 if across <= 0 or down <= 0 else down * (1 + (across * bits + 7) // 8)

    if interlaced:
        whole = sum(rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in _ADAM7)
    else:
        whole = rows(width, height)
    inflater, inflated, at = zlib.decompressobj(), 0, 8
    try:
        while at + 8 <= len(view) and bytes(view[at + 4 : at + 8]) != b"IEND":
            length = int.from_bytes(view[at : at + 4], "big")
            if bytes(view[at + 4 : at + 8]) == b"IDAT":
                pending: bytes | memoryview = view[at + 8 : at + 8 + length]
                while pending and inflated < whole:
                    inflated += len(inflater.decompress(pending, _INFLATED))
                    pending = inflater.unconsumed_tail
            at += 12 + length
        while inflated < whole and (more := len(inflater.decompress(b"", _INFLATED))):
            inflated += more
    except zlib.error as exc:
        return f"its pixels do not inflate: {exc}"
    # Past its last row, what more it holds (or lacks: the stream's end) is read by nobody, Pillow included.
    return f"its pixels stop short: {inflated:,} of {whole:,} bytes" if inflated < whole else None


def upright(data: bytes) -> bytes | None:
    """The image turned as its EXIF orientation says it is seen (a phone's photo is stored sideways, and tagged),
    without the tag, in its own format; None when it needs no turning. Runware is not documented to read the tag:
    sent turned, the image is the one its owner sees, measured and masked as seen."""
    from PIL import Image, ImageOps, JpegImagePlugin

    buffer = io.BytesIO()
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.format == "PNG" and "exif" not in picture.info:
                return None  # no eXIf before its pixels: Pillow would look for one after them by decoding them all
            if picture.getexif().get(_ORIENTATION, 1) not in range(2, 9):
                return None
            kind = "JPEG" if picture.format == "MPO" else picture.format or "PNG"  # MPO: a phone's JPEG
            options: dict[str, object] = (
                {"icc_profile": picture.info["icc_profile"]} if picture.info.get("icc_profile") else {}
            )
            if kind == "JPEG" and (tables := getattr(picture, "quantization", None)):
                # Its own tables: as large a file as it came, where quality 95 made a phone's photo twice as large
                options |= {"qtables": tables, "subsampling": JpegImagePlugin.get_sampling(picture)}
            elif kind == "JPEG" or (kind == "WEBP" and b"VP8L" not in data[:4096]):
                options["quality"] = 95
            elif kind == "WEBP":
                options["lossless"] = True  # as it came
            turned = ImageOps.exif_transpose(picture)
        turned.save(buffer, format=kind, **options)
    except Exception:  # an EXIF block or a picture Pillow cannot read or write again
        return None  # sent as it is
    return buffer.getvalue()


_ORIENTATION = 0x0112
"""EXIF's Orientation tag: 1 as stored, 2 to 8 mirrored and turned."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What a mask's pixels say before it is sent."""

    black: bool
    """Opaque and black all over: an edit that repaints nothing."""
    see_through: bool
    """Some pixels less than opaque (an alpha channel, or a PNG's transparent colour)."""


def reading(data: bytes) -> Reading:
    """A mask's pixels, read for what would make it no mask Runware can be sent: black all over, or see-through
    anywhere. Bytes Pillow cannot read are neither (refused by the checks of inputs)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as picture:
            keyed = "transparency" in picture.info
            if keyed and picture.format == "PNG" and data[25] == 0 and data[24] in (2, 4):
                # Pillow scales a 2- or 4-bit grey to 0-255 but not its transparent grey: matched at its scale
                picture.info["transparency"] *= 255 // ((1 << data[24]) - 1)
            if picture.mode in _WITH_ALPHA or (keyed and picture.mode in _EIGHT_BITS):
                if picture.convert("RGBA").getchannel("A").getextrema() != (255, 255):
                    return Reading(black=False, see_through=True)
                keyed = False  # an alpha opaque all over, whatever the mode says
            return Reading(black=picture.convert("L").getextrema() == (0, 0), see_through=keyed)
    except Exception:  # Pillow's ways of failing on bytes it cannot read: said by the checks of inputs
        return Reading(black=False, see_through=False)


_WITH_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
_EIGHT_BITS = ("1", "L", "P", "RGB")
"""Modes whose transparent colour Pillow turns into an alpha; a 16-bit grey's is taken as see-through unread."""


def size_of(data: bytes) -> tuple[int, int] | None:
    """The pixel size of image bytes, read from their header; None when they are not an image Pillow reads."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
