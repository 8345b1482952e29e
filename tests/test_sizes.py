"""Ratios, orientation and nearest sizes over the 69 listed sizes."""

from __future__ import annotations

import itertools
import re

import jsonschema
import pytest

from ideogram_mcp import arguments, sizes
from ideogram_mcp.emulator import rules
from ideogram_mcp.schemas import image_tool_input
from ideogram_mcp.specs import load_spec

LISTED = load_spec().sizes
TASK = {
    "taskType": "imageInference",
    "taskUUID": "8f4b6a3e-2c51-4d0b-9a77-1f0e6c2d9b10",
    "model": "ideogram:4@1",
    "positivePrompt": "x",
}


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
        (640, 704, ["896x960", "960x1024", "1024x1024"]),  # near square: no portrait, though 960x1088 is nearer
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


def test_exactly_the_listed_sizes_pass_the_arguments_and_runwares_rules_and_the_schema_takes_them_all() -> None:
    """The one check over all sizes that can fail: the schema's bounds and step, the server's reading and the
    emulator's own reading of the page must take each listed size, and the two readings refuse every other."""
    spec = load_spec()
    schema = jsonschema.Draft202012Validator(image_tool_input(spec))
    listed = {(s.width, s.height) for s in spec.sizes}
    sides = range(256, 2049, 32)
    taken_by_server: set[tuple[int, int]] = set()
    taken_by_emulator: set[tuple[int, int]] = set()
    for width, height in itertools.product(sides, sides):
        try:
            task = arguments.parse(spec, {"positivePrompt": "x", "width": width, "height": height}).to_task(spec, "0")
        except arguments.InvalidArgumentsError:
            pass
        else:
            taken_by_server.add((task["width"], task["height"]))
        _, refusal = rules.check(spec.model.id, {**TASK, "width": width, "height": height})
        if refusal is None:
            taken_by_emulator.add((width, height))
    assert taken_by_server == listed == taken_by_emulator
    assert [
        s for s in spec.sizes if not schema.is_valid({"positivePrompt": "x", "width": s.width, "height": s.height})
    ] == []


@pytest.mark.parametrize("label", ["1K", "1K (wide)", "1K 16:9", "(16:9)"])
def test_a_size_label_not_written_as_the_model_page_writes_them_is_refused(label: str) -> None:
    said = f"size label {label!r} is not of the form '1K (16:9)' or '1K (~16:9)'"
    with pytest.raises(ValueError, match=f"^{re.escape(said)}$"):
        _ = sizes.Size(width=1024, height=1024, label=label).ratio
