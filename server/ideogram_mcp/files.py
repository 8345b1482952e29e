"""Files: image formats, and (growing) every path decision: where outputs go, which inputs may be read."""

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


def image_format(name: str) -> ImageFormat:
    """The format Runware calls ``name`` (any case); JPG, Runware's default, for anything else."""
    return FORMATS.get(name.upper(), FORMATS["JPG"])
