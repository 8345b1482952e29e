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


def _stroked(mode: str) -> Image.Image:
    """A 40x30 picture in ``mode``, see-through but for a white 10x10 stroke, its sheet stored as see-through white
    where the mode can say so."""
    if mode == "P":  # a palette with one see-through entry (tRNS)
        picture = Image.new("P", (40, 30), 0)
        picture.putpalette([255, 255, 255, 250, 250, 250])
        picture.paste(1, (10, 10, 20, 20))
        picture.info["transparency"] = 0
        return picture
    sheet = {"RGBA": (255, 255, 255, 0), "LA": (255, 0)}[mode]
    stroke = {"RGBA": (255, 255, 255, 255), "LA": (255, 255)}[mode]
    picture = Image.new(mode, (40, 30), sheet)
    picture.paste(stroke, (10, 10, 20, 20))
    return picture


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_a_see_through_mask_of_every_kind_reads_as_its_painted_part_on_black(mode: str) -> None:
    picture = _stroked(mode)
    found = reading(_png(picture, transparency=0) if mode == "P" else _png(picture))
    assert found.flat is not None
    assert not found.black
    assert not found.picture
    with Image.open(io.BytesIO(found.flat)) as flat:
        assert flat.mode == "L"
        assert (flat.getpixel((15, 15)), flat.getpixel((5, 5)), flat.getpixel((25, 25))) == (
            250 if mode == "P" else 255,
            0,
            0,
        )


def test_an_opaque_mask_is_read_as_it_came_whatever_its_mode_and_bytes_pillow_cannot_read_as_nothing() -> None:
    assert reading(_png(Image.new("RGBA", (8, 8), (255, 255, 255, 255)))) == Reading(None, black=False, picture=False)
    assert reading(_png(Image.new("RGBA", (8, 8), (0, 0, 0, 255)))).black
    assert reading(_png(Image.new("L", (8, 8), 0))).black
    assert reading(b"\x89PNG\r\n\x1a\n not a picture") == Reading(None, black=False, picture=False)
