"""Image formats, told by their bytes rather than their names."""

from __future__ import annotations

import pytest

from ideogram_mcp.images.formats import sniff

from ..conftest import png


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (png(), "PNG"),
        (b"\xff\xd8\xff\xe0rest", "JPG"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),  # a RIFF file of sound, not of a picture
        (b"GIF89a...", None),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_image_bytes_are_recognised_by_content(data: bytes, name: str | None) -> None:
    found = sniff(data)
    assert (found.name if found else None) == name


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("progressive", [False, True])
def test_an_image_is_cut_short_when_it_stops_before_its_end_and_whole_with_bytes_after_it(
    fmt: str, progressive: bool
) -> None:
    # A phone's JPEG carries a trailer after its end marker: called cut short, such a paid image would never be saved.
    import io
    import random

    from PIL import Image

    from ideogram_mcp.images.formats import cut_short

    buffer = io.BytesIO()
    options = {"progressive": True} if progressive and fmt == "JPEG" else {}
    Image.effect_noise((120, 80), 40).convert("RGB").save(buffer, format=fmt, **options)
    data = buffer.getvalue()
    found = sniff(data)
    assert found is not None
    assert not cut_short(data, found)
    for trailer in (b"SEFT \xff\xd8\xff\xda\x00\x01", random.Random(7).randbytes(200_000)):  # as a motion photo's
        assert not cut_short(data + trailer, found)
    for cut in (len(data) // 2, len(data) - 1, 300, 20):  # 300, 20: before the first scan
        assert cut_short(data[:cut], found), cut


def test_a_jpeg_cut_short_is_told_so_though_its_exif_thumbnail_is_a_whole_jpeg() -> None:
    # The thumbnail's own scan and end, inside the EXIF segment before the image, had made it look whole.
    import io

    from PIL import Image

    from ideogram_mcp.images.formats import cut_short

    thumbnail = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(thumbnail, format="JPEG")
    exif = b"Exif\x00\x00" + thumbnail.getvalue()
    buffer = io.BytesIO()
    Image.effect_noise((200, 150), 40).convert("RGB").save(buffer, format="JPEG")
    whole = buffer.getvalue()
    data = whole[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif + whole[2:]
    found = sniff(data)
    assert found is not None
    assert not cut_short(data, found)
    assert cut_short(data[: len(data) - len(whole) // 2], found)


def test_a_jpeg_with_padding_or_an_empty_segment_before_its_scan_is_whole() -> None:
    # Decoders take both; the walk over its segments had stopped at them and called the image cut short.
    import io

    from PIL import Image

    from ideogram_mcp.images.formats import cut_short

    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buffer, format="JPEG")
    good = buffer.getvalue()
    for data in (
        good[:2] + b"\xff\xe0\x00\x04ab\x00\x00" + good[2:],
        good[:2] + b"\xff\xe1\x00\x00" + good[2:],
        good[:2] + b"\xff\xff" + good[2:],  # fill bytes before a marker
    ):
        found = sniff(data)
        assert found is not None
        assert not cut_short(data, found)
