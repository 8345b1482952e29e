"""Input images read through before anything is sent: a PNG's pixels counted as they inflate, in every kind of PNG."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from ideogram_mcp.masks import Reading, reading, unreadable

from .conftest import pixels_cut

CUT = "is a damaged or cut-short image (its pixels stop short: "


def _png(picture: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _interlaced(width: int, height: int, *, short_by: int = 0, garbled: bool = False) -> bytes:
    """An 8-bit grey PNG in Adam7's seven passes (Pillow writes none), its rows cut by ``short_by`` bytes, or its
    compressed pixels garbled (their checksum right)."""
    rows = b""
    for x, y, across, down in (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ):
        wide, high = max(0, (width - x + across - 1) // across), max(0, (height - y + down - 1) // down)
        if wide and high:
            rows += (b"\x00" + bytes(n % 256 for n in range(wide))) * high
    head = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    body = zlib.compress(rows[: len(rows) - short_by])
    if garbled:
        body = body[:2] + b"\xff" * 4 + body[6:]
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", head) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _noise(mode: str, size: tuple[int, int] = (67, 29)) -> Image.Image:
    grey = Image.effect_noise(size, 60)
    return grey.convert("RGB").convert("P", colors=16) if mode == "P4" else grey.convert(mode)


KINDS = {
    "RGB": lambda: _png(_noise("RGB")),
    "RGBA": lambda: _png(_noise("RGBA")),
    "grey": lambda: _png(_noise("L")),
    "grey and alpha": lambda: _png(_noise("LA")),
    "1 bit": lambda: _png(_noise("1")),
    "palette": lambda: _png(_noise("RGB").convert("P")),
    "palette of 4 bits": lambda: _png(_noise("P4"), bits=4),
    "16 bits": lambda: _png(_noise("I;16")),
    "interlaced": lambda: _interlaced(37, 23),
    "interlaced, narrower than a pass": lambda: _interlaced(3, 2),
    "a megabyte's rows and more": lambda: _png(Image.new("RGBA", (1200, 700), (9, 9, 9, 9))),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_whole_png_of_every_kind_is_read_as_whole(kind: str) -> None:
    data = KINDS[kind]()
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()  # as Pillow reads it
    assert unreadable(data) is None


@pytest.mark.parametrize("kind", [kind for kind in KINDS if not kind.startswith("interlaced")])
def test_a_png_whose_pixels_stop_short_is_refused_saying_how_short(kind: str) -> None:
    # Each chunk whole, its checksum right: it had been sent, charged, and failed.
    said = unreadable(pixels_cut(KINDS[kind]()))
    assert said is not None
    assert said.startswith(CUT)


def test_an_interlaced_png_a_row_short_or_its_pixels_garbled_is_refused() -> None:
    assert (unreadable(_interlaced(37, 23, short_by=5)) or "").startswith(CUT)
    said = unreadable(_interlaced(37, 23, garbled=True))
    assert said is not None
    assert said.startswith("is a damaged or cut-short image")


def _keyed(mode: str) -> bytes:
    """A 40x30 PNG in ``mode`` whose sheet is its transparent colour (tRNS), a 10x10 stroke in another."""
    picture = Image.new(mode, (40, 30), 0)
    picture.paste({"P": 1, "L": 255, "RGB": (255, 255, 255), "I;16": 16448}[mode], (10, 10, 20, 20))
    if mode == "P":
        picture.putpalette([0, 0, 0, 255, 255, 255])
    return _png(picture, transparency=(0, 0, 0) if mode == "RGB" else 0)


@pytest.mark.parametrize("mode", ["P", "L", "RGB", "I;16"])
def test_a_mask_whose_png_names_a_transparent_colour_is_see_through(mode: str) -> None:
    assert reading(_keyed(mode)) == Reading(black=False, see_through=True)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_a_grey_png_of_fewer_bits_whose_transparent_grey_is_white_is_see_through(bits: int) -> None:
    # Pillow reads such a PNG at 0-255 and its transparent grey as written (3 for white in 2 bits): none had matched.
    white = (1 << bits) - 1
    rows = b"".join(b"\x00" + bytes([0b1111_0000 if y >= 2 else 0]) for y in range(4))  # white at the right, lower half
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8 // bits, 4, bits, 0, 0, 0, 0))
        + _chunk(b"tRNS", struct.pack(">H", white))
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
    assert unreadable(png) is None
    assert reading(png) == Reading(black=False, see_through=True)


@pytest.mark.parametrize(("mode", "kind"), [("RGBA", "PNG"), ("LA", "PNG"), ("RGBA", "WEBP")])
def test_a_mask_with_an_alpha_is_see_through_only_where_its_alpha_is_less_than_opaque(mode: str, kind: str) -> None:
    def saved(picture: Image.Image) -> bytes:
        buffer = io.BytesIO()
        picture.save(buffer, format=kind, **({"lossless": True} if kind == "WEBP" else {}))
        return buffer.getvalue()

    white = (255, 255, 255, 255) if mode == "RGBA" else (255, 255)
    solid = Image.new(mode, (8, 8), white)
    assert reading(saved(solid)) == Reading(black=False, see_through=False)
    solid.putpixel((3, 3), (*white[:-1], 254))
    assert reading(saved(solid)) == Reading(black=False, see_through=True)


def test_an_opaque_black_mask_is_black_whatever_its_mode_and_bytes_pillow_cannot_read_are_neither() -> None:
    assert reading(_png(Image.new("RGBA", (8, 8), (0, 0, 0, 255)))) == Reading(black=True, see_through=False)
    assert reading(_png(Image.new("L", (8, 8), 0))) == Reading(black=True, see_through=False)
    assert reading(_png(Image.new("L", (8, 8), 1))) == Reading(black=False, see_through=False)
    assert reading(b"\x89PNG\r\n\x1a\n not a picture") == Reading(black=False, see_through=False)
