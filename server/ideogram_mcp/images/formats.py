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
    no end marker after its last scan began, a WEBP shorter than its RIFF header says. Bytes after the end (a phone's
    trailer) are no sign of it, unless they hold a scan's marker (Runware's own images have none). Read with a search
    from the end, not a decode, which would cost milliseconds an image."""
    if found.name == "PNG":
        return data.rfind(b"IEND\xaeB`\x82") < 0
    if found.name == "JPG":
        return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")  # scan data escapes 0xFF: a marker in it is one
    return len(data) < int.from_bytes(data[4:8], "little") + 8
