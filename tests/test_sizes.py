"""Ratios, orientation and nearest sizes over the 69 listed sizes."""

from __future__ import annotations

import pytest

from ideogram_mcp import sizes
from ideogram_mcp.specs import load_spec

LISTED = load_spec().sizes


@pytest.mark.parametrize(
    ("asked", "given"),
    [
        ("16:9", "1312x736"),  # the exact label wins over the other ~16:9 sizes
        ("16x9", "1312x736"),
        ("9:16", "736x1312"),
        ("1:1", "1024x1024"),
        ("21:9", "1472x640"),  # only approximate sizes: the closest true ratio
        ("1.5", "1248x832"),
        ("7:3", "1472x640"),
        ("10:1", "1536x512"),  # beyond the widest: the widest
    ],
)
def test_an_aspect_ratio_maps_to_the_listed_size_of_that_shape(asked: str, given: str) -> None:
    assert str(sizes.for_ratio(LISTED, asked)) == given


@pytest.mark.parametrize("asked", ["wide", "16:0", "0:9", ""])
def test_an_unreadable_ratio_maps_to_nothing(asked: str) -> None:
    assert sizes.for_ratio(LISTED, asked) is None


@pytest.mark.parametrize(
    ("width", "height", "suggested"),
    [
        (1920, 1080, ["1312x736", "1344x768", "1280x704"]),
        (1080, 1920, ["736x1312", "768x1344", "704x1280"]),
        (1000, 1000, ["1024x1024", "1024x960", "960x1024"]),
        (800, 600, ["1152x864", "1088x832", "1152x832"]),
    ],
)
def test_nearest_sizes_keep_the_orientation_and_ratio(width: int, height: int, suggested: list[str]) -> None:
    assert [str(s) for s in sizes.nearest(LISTED, width, height)] == suggested


def test_orientation_follows_the_nominal_ratio_so_near_squares_are_square() -> None:
    by_size = {str(s): s for s in LISTED}
    assert by_size["960x896"].orientation == "square"
    assert by_size["1344x768"].orientation == "landscape"
    assert by_size["512x1536"].orientation == "portrait"
    assert (by_size["1344x768"].ratio, by_size["1344x768"].exact) == ("16:9", False)
    assert sum(s.orientation == "square" for s in LISTED) == 5


def test_ratios_are_listed_once_widest_first() -> None:
    listed = sizes.ratios(LISTED)
    assert listed[0] == "3:1"
    assert listed[-1] == "1:3"
    assert len(listed) == len(set(listed)) == 19
