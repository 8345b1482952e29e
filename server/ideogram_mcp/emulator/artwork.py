"""Stand-in pictures for the emulator: real encoded images of the exact size, drawn from a seed.

The same seed, size, prompt and format always give the same bytes. The prompt's quoted text is
typeset on the picture, as Ideogram would render it, so that a layout can be judged by eye.
"""

from __future__ import annotations

import functools
import io
import random
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

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
        r = rng.randrange(max(1, short // 12), max(2, short // 3))  # a picture a few pixels wide has room for 1
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


def drawn_once(draw: Callable[..., bytes]) -> Callable[..., bytes]:
    """``render`` drawing each size, format and quality once, its bytes given for every image (the seed and prompt
    change only pixels): for benchmarks and tests that make thousands of images and never look at them."""

    @functools.cache
    def drawing(width: int, height: int, image_format: ImageFormat, quality: int) -> bytes:
        return draw(width, height, seed=1, prompt='"BENCH"', image_format=image_format, quality=quality)

    def drawn(width: int, height: int, *, image_format: ImageFormat = "JPG", quality: int = 95, **_: Any) -> bytes:
        return drawing(width, height, image_format, quality)

    return drawn


def placeholder(side: int = 256) -> bytes:
    """A grey PNG standing in for an image the emulator was asked to fetch but never fetches."""
    picture = Image.new("RGB", (side, side), (128, 128, 128))
    ImageDraw.Draw(picture).text((side / 2, side / 2), "remote image", fill=(255, 255, 255), anchor="mm")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


# --- the family's stand-ins: each shows what the model was asked to do -----------------------------


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def _encode(picture: Image.Image, image_format: ImageFormat, quality: int) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, object] = {} if image_format == "PNG" else {"quality": quality}
    picture.save(buffer, format=_PIL_FORMATS[image_format], **options)
    return buffer.getvalue()


def _caption(picture: Image.Image, text: str) -> None:
    short = min(picture.size)
    small = ImageFont.load_default(size=max(10, short // 48))
    draw = ImageDraw.Draw(picture, "RGBA")
    draw.text(
        (picture.width / 2, picture.height - short // 24), text, font=small, fill=(255, 255, 255, 220), anchor="md"
    )


DRAWN_AT_MOST = 2000
"""Characters of one text drawn on a picture; the rest is left off."""


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.size


def stored(data: bytes, side: int = 2048) -> bytes:
    """An uploaded image as Runware keeps it: at most ``side`` pixels a side (PNG when it had to shrink)."""
    picture = _open(data)
    if max(picture.size) <= side:
        return data
    picture.thumbnail((side, side))
    return _encode(picture, "PNG", 95)


def remix(
    source: bytes,
    width: int,
    height: int,
    *,
    seed: int,
    prompt: str,
    strength: int,
    image_format: ImageFormat,
    quality: int,
    footer: str,
) -> bytes:
    """The source cropped to the new shape and tinted: the stronger the remix, the stronger the tint."""
    picture = ImageOps.fit(_open(source), (width, height))
    tint = Image.new("RGB", picture.size, _colour(random.Random(seed)))
    picture = Image.blend(picture, tint, 0.15 + 0.6 * strength / 100)
    lines = quoted_text(prompt)[:2]
    draw = ImageDraw.Draw(picture)
    for n, line in enumerate(lines):
        font = ImageFont.load_default(size=max(14, min(width, height) // 12))
        draw.text(
            (width / 2, height // 8 + n * min(width, height) // 10), line, font=font, fill=(255, 255, 255), anchor="ma"
        )
    _caption(picture, footer)
    return _encode(picture, image_format, quality)


def edit(
    source: bytes, mask: bytes, *, seed: int, prompt: str, image_format: ImageFormat, quality: int, footer: str
) -> bytes:
    """The source with its masked (white) part filled with new artwork showing the prompt's quoted text."""
    picture = _open(source)
    with Image.open(io.BytesIO(mask)) as opened:
        where = opened.convert("L")
    fill = _open(render(picture.width, picture.height, seed=seed, prompt=prompt, image_format="PNG"))
    picture.paste(fill, (0, 0), where)
    _caption(picture, footer)
    return _encode(picture, image_format, quality)


def reframe(source: bytes, width: int, height: int, *, image_format: ImageFormat, quality: int, footer: str) -> bytes:
    """The source fitted into the new canvas, the new space filled with a blur of the source."""
    picture = _open(source)
    canvas = ImageOps.fit(picture, (width, height)).filter(ImageFilter.GaussianBlur(radius=max(width, height) // 40))
    fitted = ImageOps.contain(picture, (width, height))
    canvas.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    _caption(canvas, footer)
    return _encode(canvas, image_format, quality)


def replace_background(
    source: bytes, *, seed: int, prompt: str, image_format: ImageFormat, quality: int, footer: str
) -> bytes:
    """A new background drawn from the prompt, with the source's middle (its 'subject') kept in an oval."""
    picture = _open(source)
    background = _open(render(picture.width, picture.height, seed=seed, prompt=prompt, image_format="PNG"))
    subject = Image.new("L", picture.size, 0)
    w, h = picture.size
    ImageDraw.Draw(subject).ellipse((w * 0.2, h * 0.15, w * 0.8, h * 0.95), fill=255)
    background.paste(picture, (0, 0), subject)
    _caption(background, footer)
    return _encode(background, image_format, quality)


def cutout(source: bytes, *, footer: str) -> bytes:
    """Background removal's stand-in: the source's middle (its 'subject') kept in an oval, the rest transparent; a
    PNG with an alpha channel, the source's size."""
    picture = _open(source).convert("RGBA")
    _caption(picture, footer)
    subject = Image.new("L", picture.size, 0)
    w, h = picture.size
    ImageDraw.Draw(subject).ellipse((w * 0.2, h * 0.15, w * 0.8, h * 0.95), fill=255)
    picture.putalpha(subject)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def scene(
    width: int,
    height: int,
    described: Mapping[str, Any],
    *,
    seed: int,
    image_format: ImageFormat,
    quality: int,
    footer: str,
) -> bytes:
    """Ideogram 4.0's stand-in: a structured prompt's elements drawn in their boxes, over a background in its palette.

    A text element's text is typeset to fill its box; an obj element's box is tinted and holds its description.
    An element without a box gets a band of its own below the others.
    """
    rng = random.Random(seed)
    style = _fields(described.get("style_description"))
    palette = [_hex(c) for c in _texts(style.get("color_palette"))] or [_colour(rng), _colour(rng)]
    gradient: Image.Image = Image.linear_gradient("L").resize((width, height))  # pyright: ignore[reportUnknownMemberType]
    picture = ImageOps.colorize(gradient, palette[0], palette[-1]).convert("RGB")
    draw = ImageDraw.Draw(picture, "RGBA")
    elements = [_fields(e) for e in _items(_fields(described.get("compositional_deconstruction")).get("elements"))]
    unplaced = [e for e in elements if not isinstance(e.get("bbox"), list)]
    for element in elements:
        box = element.get("bbox")
        if isinstance(box, list) and len(cast(list[object], box)) == 4:
            y0, x0, y1, x1 = (int(cast(int, v)) for v in cast(list[object], box))
        else:  # stacked in equal bands
            n = unplaced.index(element)
            y0, x0, y1, x1 = 1000 * n // len(unplaced), 50, 1000 * (n + 1) // len(unplaced), 950
        left, top, right, bottom = x0 * width // 1000, y0 * height // 1000, x1 * width // 1000, y1 * height // 1000
        colours = [_hex(c) for c in _texts(element.get("color_palette"))] or [_colour(rng)]
        ink = colours[0] if element.get("type") == "text" else (255, 255, 255)
        if element.get("type") != "text":
            draw.rectangle((left, top, right, bottom), fill=(*colours[0], 110))
        draw.rectangle((left, top, right, bottom), outline=(*ink, 200), width=max(1, min(width, height) // 400))
        words = str(element.get("text") or element.get("desc") or "")
        _fitted(draw, words, (left, top, right, bottom), ink, literal=element.get("type") == "text")
    _caption(picture, footer)
    return _encode(picture, image_format, quality)


def _fitted(
    draw: ImageDraw.ImageDraw, words: str, box: tuple[int, int, int, int], ink: tuple[int, int, int], *, literal: bool
) -> None:
    """Words typeset inside a box: a text element's on one line as large as fits, a description wrapped, smaller."""
    left, top, right, bottom = box
    wide, high = max(1, right - left), max(1, bottom - top)
    words = words[:DRAWN_AT_MOST]  # a megabyte of text is a caller's to send, not Pillow's to lay out (it refuses)
    if literal:
        size = max(8, min(int(high * 0.7), int(wide / (0.6 * max(1, len(words))))))
        lines = [words]
    else:
        size = max(8, min(high // 5, wide // 16))
        lines = textwrap.wrap(words, max(8, int(wide / (size * 0.55))))[: max(1, high // int(size * 1.3))]
    font = ImageFont.load_default(size=size)
    y = top + (high - len(lines) * size * 1.25) / 2
    for line in lines:
        draw.text(((left + right) / 2, y), line, font=font, fill=ink, anchor="ma")
        y += size * 1.25


def _fields(value: object) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def _items(value: object) -> list[object]:
    return cast(list[object], value) if isinstance(value, list) else []


def _texts(value: object) -> list[str]:
    return [item for item in _items(value) if isinstance(item, str)]


def _hex(colour: str) -> tuple[int, int, int]:
    """A colour ``#RRGGBB`` as RGB; grey for anything else."""
    try:
        number = int(colour.removeprefix("#"), 16)
    except ValueError:
        return (128, 128, 128)
    return ((number >> 16) & 255, (number >> 8) & 255, number & 255)
