"""Masks for edit_image: drawn from rectangles, at the size Runware holds the image at.

An agent cannot paint a mask, but it can say "the sign in the top third": a ``region`` is a
rectangle (or several) in fractions of the image, and the mask is white there (repaint) and
black elsewhere (keep), the convention of Runware's inpainting. Pillow is imported here only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_REGIONS = 20


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in fractions of the image, from its top left corner."""

    x: float
    y: float
    width: float
    height: float


def read_regions(raw: Any) -> tuple[list[Region], str | None]:
    """The rectangles an agent gave (one object or a list of them), or what is wrong with them."""
    items: list[Any] = [raw] if isinstance(raw, dict) else list(raw) if isinstance(raw, list) else []  # pyright: ignore[reportUnknownArgumentType]
    shape = (
        "a rectangle {x, y, width, height} in fractions of the image (0 to 1), "
        f"or a list of up to {MAX_REGIONS} of them"
    )
    if not items or len(items) > MAX_REGIONS:
        return [], f"must be {shape}"
    regions: list[Region] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or set(item) != {"x", "y", "width", "height"}:  # pyright: ignore[reportUnknownArgumentType]
            return [], f"must be {shape}; rectangle {n} needs exactly x, y, width and height"
        numbers = [item[k] for k in ("x", "y", "width", "height")]  # pyright: ignore[reportUnknownVariableType]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in numbers):  # pyright: ignore[reportUnknownVariableType]
            return [], f"must be {shape}; in rectangle {n} every value is a fraction from 0 to 1"
        x, y, width, height = (float(v) for v in numbers)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
        if width <= 0 or height <= 0:
            return [], f"must be {shape}; rectangle {n} is empty (width and height above 0)"
        if x + width > 1 + 1e-9 or y + height > 1 + 1e-9:
            return [], f"must be {shape}; rectangle {n} reaches past the image (x + width and y + height at most 1)"
        regions.append(Region(x, y, width, height))
    return regions, None


def stored_size(width: int, height: int, *, side: int) -> tuple[int, int]:
    """The size Runware keeps an input image at: unchanged up to ``side`` pixels a side, scaled down past it."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


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


def size_of(data: bytes) -> tuple[int, int] | None:
    """The pixel size of image bytes, read from their header; None when they are not an image Pillow reads."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
