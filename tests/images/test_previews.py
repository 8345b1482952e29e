"""Previews stay within their byte and pixel budgets whatever the image, and contact sheets number their tiles."""

from __future__ import annotations

import base64
import io
import os
import struct
import zlib
from typing import cast

import pytest
from PIL import Image

from ideogram_mcp import masks
from ideogram_mcp.errors import PictureError
from ideogram_mcp.images import previews


def noise(width: int, height: int, mode: str = "RGB") -> bytes:
    """The hardest picture to compress: random pixels."""
    picture = Image.frombytes(mode, (width, height), os.urandom(width * height * len(mode)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(preview: previews.Preview) -> Image.Image:
    picture = Image.open(io.BytesIO(base64.b64decode(preview.data)))
    assert picture.format == "JPEG"
    assert picture.size == (preview.width, preview.height)
    return picture


@pytest.mark.parametrize(("width", "height", "mode"), [(1536, 640, "RGB"), (512, 1536, "RGBA"), (64, 48, "L")])
def test_a_single_preview_fits_512_pixels_and_48_kb_even_for_noise(width: int, height: int, mode: str) -> None:
    preview = previews.single(noise(width, height, mode), 3)
    picture = decoded(preview)
    assert max(picture.size) <= previews.PREVIEW_SIDE
    assert len(preview.data) <= previews.PREVIEW_BUDGET
    assert preview.shows == (3,)
    if max(width, height) > previews.PREVIEW_SIDE:
        assert max(picture.size) > previews.PREVIEW_SIDE // 2  # shrunk to fit, not to a thumbnail


def test_a_contact_sheet_of_twenty_noisy_images_fits_its_budget() -> None:
    images = [(n, noise(400, 400)) for n in range(1, 21)]
    sheet = previews.sheet(images)
    assert max(decoded(sheet).size) <= previews.SHEET_SIDE
    assert len(sheet.data) <= previews.SHEET_BUDGET
    assert sheet.shows == tuple(range(1, 21))


def test_a_contact_sheet_leaves_out_what_it_cannot_read() -> None:
    sheet = previews.sheet([(1, noise(64, 64)), (2, b"not an image"), (3, noise(64, 32))])
    assert sheet.shows == (1, 3)
    with pytest.raises(PictureError, match="no readable image"):
        previews.sheet([(1, b"nothing")])


def bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A tiny PNG whose header claims more pixels than Pillow agrees to decode."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_an_image_claiming_too_many_pixels_gets_no_preview_and_no_size_but_breaks_nothing() -> None:
    with pytest.raises(PictureError, match="decompression bomb"):
        previews.single(bomb(), 1)
    assert previews.sheet([(1, bomb()), (2, noise(64, 64))]).shows == (2,)
    assert masks.size_of(bomb()) is None


@pytest.mark.parametrize("without", ["no such call", "refused"])
def test_a_preview_is_the_same_jpeg_where_the_system_has_no_in_memory_files(
    monkeypatch: pytest.MonkeyPatch, without: str
) -> None:
    # On Linux the JPEG is encoded into an in-memory file (Pillow then lets other threads run); elsewhere, or where
    # a sandbox refuses the call, into bytes.
    image = noise(800, 600)
    in_memory_file = previews.single(image, 1)

    def refused(name: str, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    if without == "refused":
        monkeypatch.setattr(os, "memfd_create", refused, raising=False)
    else:
        monkeypatch.delattr(os, "memfd_create", raising=False)
    assert previews.single(image, 1) == in_memory_file
    assert decoded(in_memory_file).size == (512, 384)


def test_previews_have_pillow_keep_freed_buffers_for_the_next_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow keeps none by default: each preview's buffers went back to the system and the next faulted in new pages.
    monkeypatch.delenv("PILLOW_BLOCKS_MAX", raising=False)
    monkeypatch.delenv("PILLOW_BLOCK_SIZE", raising=False)
    first, second = noise(1024, 1024), noise(1024, 1024)
    before = previews.single(first, 1)
    assert Image.core.get_blocks_max() == previews.POOLED_BLOCKS
    assert Image.core.get_block_size() == previews.POOLED_BLOCK_SIZE
    reused = Image.core.get_stats()["reused_blocks"]
    previews.single(second, 2)
    assert Image.core.get_stats()["reused_blocks"] > reused
    assert previews.single(first, 1) == before  # made in buffers others freed: nothing of them shows through


@pytest.mark.parametrize("variable", ["PILLOW_BLOCKS_MAX", "PILLOW_BLOCK_SIZE"])
def test_the_users_own_pillow_pool_is_left_as_they_set_it(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    blocks, size = Image.core.get_blocks_max(), Image.core.get_block_size()
    try:
        Image.core.set_blocks_max(3)
        Image.core.set_block_size(64 * 1024)
        monkeypatch.setenv(variable, "3" if variable == "PILLOW_BLOCKS_MAX" else "64k")
        assert previews._pooled.__wrapped__() is False  # pyright: ignore[reportPrivateUsage]
        assert (Image.core.get_blocks_max(), Image.core.get_block_size()) == (3, 64 * 1024)
    finally:
        Image.core.set_blocks_max(blocks)
        Image.core.set_block_size(size)


def _always_optimized(image: bytes) -> tuple[tuple[int, int], object]:
    """The size and quantization tables a preview had when every encoding took Pillow's Huffman pass."""
    picture = Image.open(io.BytesIO(image)).convert("RGB")
    picture.thumbnail((previews.PREVIEW_SIDE, previews.PREVIEW_SIDE))
    while True:
        for quality in (82, 72, 62, 50, 38):
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=quality, optimize=True)
            if len(base64.b64encode(buffer.getvalue())) <= previews.PREVIEW_BUDGET:
                return picture.size, Image.open(buffer).quantization  # pyright: ignore[reportAttributeAccessIssue]
        picture = picture.resize((picture.width * 3 // 4, picture.height * 3 // 4))


@pytest.mark.parametrize("side", [96, 400, 600, 800])
def test_a_preview_keeps_the_quality_and_size_the_huffman_pass_allowed(side: int) -> None:
    # Most previews fit without Pillow's second pass; one that does not is encoded with it before losing quality.
    image = noise(side, side * 3 // 4)
    made = decoded(previews.single(image, 1))
    assert (made.size, made.quantization) == _always_optimized(image)  # pyright: ignore[reportAttributeAccessIssue]


def test_a_contact_sheet_is_laid_out_for_the_images_it_shows_not_those_it_left_out() -> None:
    # Six asked for, two readable: two tiles side by side, not two of a 3x2 grid with four empty.
    readable = noise(64, 64)
    sheet = previews.sheet([(1, readable), *((n, b"not an image") for n in range(2, 6)), (6, readable)])
    assert sheet.shows == (1, 6)
    assert (sheet.width, sheet.height) == (previews.SHEET_SIDE, previews.SHEET_SIDE // 2)


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_what_is_transparent_is_previewed_over_a_light_checkerboard_not_in_its_hidden_colour(mode: str) -> None:
    picture = Image.new("RGBA", (96, 96), (0, 0, 0, 0))  # black, but unseen
    if mode == "P":
        picture = Image.new("P", (96, 96), 0)
        picture.putpalette([0, 0, 0] * 256)
        picture.info["transparency"] = 0
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    darkest, lightest = cast(tuple[int, int], decoded(previews.single(buffer.getvalue(), 1)).convert("L").getextrema())
    assert darkest > 150, "white and light grey, not black"
    assert lightest - darkest > 30, "squares of two shades"
