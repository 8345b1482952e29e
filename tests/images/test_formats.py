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
        (b"GIF89a...", None),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_image_bytes_are_recognised_by_content(data: bytes, name: str | None) -> None:
    found = sniff(data)
    assert (found.name if found else None) == name
