"""Image sizes: ratios, orientation, and finding the listed size closest to what was asked."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

Orientation = Literal["landscape", "portrait", "square"]
ORIENTATIONS: tuple[Orientation, ...] = ("landscape", "portrait", "square")

_LABEL = re.compile(r"^(?P<tier>\w+) \((?P<approx>~?)(?P<w>\d+):(?P<h>\d+)\)$")
_RATIO = re.compile(r"^\s*~?\s*(?P<w>\d+(?:\.\d+)?)\s*[:x\u00d7/]\s*(?P<h>\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_WIDEST = 100.0
_DECIMAL = re.compile(r"^\s*(?P<r>\d+(?:\.\d+)?)\s*$")


class Size(BaseModel):
    """One supported output size, as listed on the model page."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    label: str

    @computed_field
    @property
    def ratio(self) -> str:
        """The nominal ratio of the label, e.g. ``16:9`` for both ``1K (16:9)`` and ``1K (~16:9)``."""
        match = _parse_label(self.label)
        return f"{match['w']}:{match['h']}"

    @computed_field
    @property
    def exact(self) -> bool:
        """Whether the pixels have exactly the nominal ratio (the label has no ``~``)."""
        return not _parse_label(self.label)["approx"]

    @computed_field
    @property
    def orientation(self) -> Orientation:
        """Orientation of the nominal ratio, so that ``~1:1`` sizes count as square."""
        nominal = _nominal(self.label)
        if nominal == 1:
            return "square"
        return "landscape" if nominal > 1 else "portrait"

    @property
    def aspect(self) -> float:
        """The true width / height of the pixels."""
        return self.width / self.height

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def _parse_label(label: str) -> dict[str, str]:
    match = _LABEL.match(label)
    if match is None:
        raise ValueError(f"size label {label!r} is not of the form '1K (16:9)' or '1K (~16:9)'")
    return match.groupdict()


def _nominal(label: str) -> Fraction:
    parts = _parse_label(label)
    return Fraction(int(parts["w"]), int(parts["h"]))


def parse_ratio(text: str) -> float | None:
    """Read ``16:9``, ``16x9``, ``16/9``, ``~16:9`` or ``1.78`` as width / height; None if unreadable, or a shape no
    listed size comes near (``read_ratio`` tells which)."""
    ratio = read_ratio(text)
    if ratio is None or not 1 / _WIDEST <= ratio <= _WIDEST:
        return None
    return ratio


def read_ratio(text: str) -> float | None:
    """``parse_ratio`` of any shape (``200:1`` too); None if unreadable, zero or infinite."""
    if match := _RATIO.match(text):
        width, height = float(match["w"]), float(match["h"])
    elif match := _DECIMAL.match(text):
        width, height = float(match["r"]), 1.0
    else:
        return None
    ratio = width / height if height > 0 else 0.0
    return ratio if math.isfinite(ratio) and ratio > 0 else None


def _ratio_distance(aspect: float, target: float) -> float:
    # On a log scale 2:1 and 1:2 are equally far from 1:1, which plain differences are not.
    return abs(math.log(aspect) - math.log(target))


def spelled(text: str) -> str:
    """A ratio as labels write it: ``16x9``, ``~16:9`` and ``16 / 9`` all become ``16:9``."""
    return re.sub(r"[x\u00d7/]", ":", text.replace(" ", "").replace("~", "").lower())


def for_ratio(sizes: Sequence[Size], text: str) -> Size | None:
    """The size for an aspect ratio: the exact label when one is listed, else the closest true ratio."""
    wanted = spelled(text)
    for size in sizes:
        if size.exact and size.ratio == wanted:
            return size
    target = parse_ratio(text)
    if target is None:
        return None
    # Ties go to the larger image: more pixels for the same price.
    return min(sizes, key=lambda s: (round(_ratio_distance(s.aspect, target), 9), -s.width * s.height))


def nearest(sizes: Iterable[Size], width: int, height: int, count: int = 3) -> list[Size]:
    """The listed sizes most like ``width`` x ``height``: same orientation, closest ratio, then area.

    The orientation is that of the closest listed ratio, so a square request also gets near-square sizes.
    """
    width, height = (min(max(side, 1), 100_000) for side in (width, height))  # any int, however large
    target = width / height
    pool = list(sizes)
    closest = min(pool, key=lambda s: _ratio_distance(s.aspect, target))
    candidates = [s for s in pool if s.orientation == closest.orientation]
    area = max(width, 1) * max(height, 1)
    ranked = sorted(
        candidates,
        key=lambda s: (round(_ratio_distance(s.aspect, target), 2), abs(s.width * s.height - area)),
    )
    return ranked[:count]


SAME_RATIO = 0.005
"""Ratios this close (relative) are one: 1.78 is 16:9 written as a decimal."""


def listed_ratio(sizes: Iterable[Size], text: str) -> str | None:
    """The listed nominal ratio ``text`` means by value (``1.5`` is 3:2, ``8:5`` is 16:10, ``32:18`` is 16:9)."""
    nominal = {s.ratio: float(_nominal(s.label)) for s in sizes}
    if (wanted := spelled(text)) in nominal:
        return wanted
    target = parse_ratio(text)
    if target is None:
        return None
    same = [r for r, value in nominal.items() if _ratio_distance(value, target) <= SAME_RATIO]
    return min(same, key=lambda r: _ratio_distance(nominal[r], target)) if same else None


def ratios(sizes: Iterable[Size]) -> list[str]:
    """The distinct nominal ratios, widest first."""
    seen = {s.ratio: _nominal(s.label) for s in sizes}
    return sorted(seen, key=lambda r: -seen[r])
