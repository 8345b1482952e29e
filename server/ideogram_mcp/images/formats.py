"""Image file formats as Runware names them, their extensions and MIME types, and telling them by content."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImageFormat:
    """An image file format as Runware names it, with its file extension and MIME type."""

    name: str
    extension: str
    mime_type: str


FORMATS: dict[str, ImageFormat] = {
    "JPG": ImageFormat("JPG", "jpg", "image/jpeg"),
    "PNG": ImageFormat("PNG", "png", "image/png"),
    "WEBP": ImageFormat("WEBP", "webp", "image/webp"),
}
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
"""The file extensions of the formats (a name ending so is taken for an image file)."""


def image_format(name: str) -> ImageFormat:
    """The format Runware calls ``name`` (any case); JPG, Runware's default, for anything else."""
    return FORMATS.get(name.upper(), FORMATS["JPG"])


def sniff(data: bytes) -> ImageFormat | None:
    """The format of image bytes by their first bytes, or None when they are no PNG, JPEG or WEBP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return FORMATS["PNG"]
    if data.startswith(b"\xff\xd8\xff"):
        return FORMATS["JPG"]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return FORMATS["WEBP"]
    return None


def cut_short(data: bytes, found: ImageFormat) -> bool:
    """Whether image bytes sniffed as ``found`` stop before their format's end: a PNG with no IEND chunk, a JPEG with
    no scan or no end marker after its first scan began (inside scans a 0xFF is always escaped, so the first one
    there is the end), a WEBP shorter than its RIFF header says. Bytes after the end (a phone's trailer) are no sign
    of it. Read with searches, not a decode, which would cost milliseconds an image."""
    if found.name == "PNG":
        return data.rfind(b"IEND\xaeB`\x82") < 0
    if found.name == "JPG":
        scan = _first_scan(data)
        if scan < 0:
            return True
        # The end marker last, as it usually is: whole, with no search through the scans (0.5 ms for 1 MB).
        return not data.endswith(b"\xff\xd9") and data.find(b"\xff\xd9", scan) < 0
    return len(data) < int.from_bytes(data[4:8], "little") + 8


def _first_scan(data: bytes) -> int:
    """Where a JPEG's first scan begins, found by stepping over its segments from the start (an EXIF thumbnail is a
    whole JPEG inside one: its scan is not the image's); -1 when the bytes end first."""
    at = 2  # after the start-of-image marker
    while at >= 0 and at + 4 <= len(data):
        if data[at] != 0xFF:  # padding between segments, as decoders allow: on to the next marker
            at = data.find(b"\xff", at)
            continue
        marker = data[at + 1]
        if marker == 0xDA:
            return at
        if marker == 0xFF:  # fill bytes before a marker
            at += 1
        elif marker in (0x01, *range(0xD0, 0xD8)):  # markers with no length
            at += 2
        else:
            at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return -1
