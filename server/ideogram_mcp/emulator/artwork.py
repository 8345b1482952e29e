"""Stand-in pictures for the emulator: real encoded images of the exact size, drawn from a seed.

The same seed, size, prompt and format always give the same bytes. The prompt's quoted text is
typeset on the picture, as Ideogram would render it, so that a layout can be judged by eye.
"""

from __future__ import annotations

import io
import random
import re
import textwrap
from typing import Literal

from PIL import Image, ImageDraw, ImageFont, ImageOps

ImageFormat = Literal["JPG", "PNG", "WEBP"]

MIME_TYPES: dict[ImageFormat, str] = {"JPG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS: dict[ImageFormat, str] = {"JPG": "jpg", "PNG": "png", "WEBP": "webp"}
_PIL_FORMATS: dict[ImageFormat, str] = {"JPG": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}

# Straight and curly double quotes, and single quotes that are not apostrophes inside words.
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|(?<!\w)'([^']+)'(?!\w)")


def quoted_text(prompt: str) -> list[str]:
    """The phrases a prompt puts in quotes, in order: the text Ideogram is asked to render."""
    return [next(group for group in match.groups() if group) for match in _QUOTED.finditer(prompt)]


def render(
    width: int,
    height: int,
    *,
    seed: int,
    prompt: str,
    image_format: ImageFormat = "JPG",
    quality: int = 95,
    footer: str = "",
) -> bytes:
    """Draw and encode one picture."""
    rng = random.Random(seed)
    top, bottom = _colour(rng), _colour(rng)
    gradient: Image.Image = Image.linear_gradient("L").resize((width, height))  # pyright: ignore[reportUnknownMemberType]
    picture = ImageOps.colorize(gradient, top, bottom).convert("RGB")
    draw = ImageDraw.Draw(picture, "RGBA")
    short = min(width, height)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(short // 12, short // 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(*_colour(rng), 70))

    lines = quoted_text(prompt) or [" ".join(prompt.split()[:8])]
    ink = (255, 255, 255) if sum(top) + sum(bottom) < 3 * 255 else (20, 20, 20)
    y = height // 8
    for index, phrase in enumerate(lines[:6]):
        size = max(14, short // (9 if index == 0 else 18))
        font = ImageFont.load_default(size=size)
        chars = max(8, int(width * 0.85 / (size * 0.55)))
        for line in textwrap.wrap(phrase, chars)[:3]:
            draw.text((width / 2, y), line, font=font, fill=ink, anchor="ma")
            y += int(size * 1.25)
        y += size // 2
    if footer:
        small = ImageFont.load_default(size=max(10, short // 48))
        draw.text((width / 2, height - short // 24), footer, font=small, fill=(*ink, 200), anchor="md")

    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if image_format != "PNG":
        options["quality"] = quality
    picture.save(buffer, format=_PIL_FORMATS[image_format], **options)
    return buffer.getvalue()


def placeholder(side: int = 256) -> bytes:
    """A grey PNG standing in for an image the emulator was asked to fetch but never fetches."""
    picture = Image.new("RGB", (side, side), (128, 128, 128))
    ImageDraw.Draw(picture).text((side / 2, side / 2), "remote image", fill=(255, 255, 255), anchor="mm")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def sniff_mime_type(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG or WEBP bytes, from their first bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))
