"""The emulator's own reading of Ideogram 4.0's structured prompt: what Runware would refuse in one, and the one
Magic Prompt would write from a text prompt."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ideogram_mcp.emulator import scenes

SCENE: dict[str, Any] = {
    "high_level_description": "A gig poster.",
    "style_description": {"art_style": "screen print", "color_palette": ["#0E0C0A", "#e8a13b"]},
    "compositional_deconstruction": {
        "background": "near black",
        "elements": [
            {"type": "text", "text": "NIGHT SIGNALS", "bbox": [60, 80, 420, 920], "color_palette": ["#E8A13B"]},
            {"type": "obj", "desc": "a microphone"},
        ],
    },
}


def _changed(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    scene = copy.deepcopy(SCENE)
    node: Any = scene
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return scene


ELEMENT = ("compositional_deconstruction", "elements", 0)


@pytest.mark.parametrize(
    ("path", "value", "broken"),
    [
        (("high_level_description",), None, (".high_level_description", "is required, a non-empty string")),
        (("title",), "x", (".title", "is not one of the keys high_level_description, style_description, "
                                     "compositional_deconstruction")),
        (("style_description", "photo"), "85 mm", (".style_description", "takes photo or art_style, not both")),
        (("style_description", "color_palette"), ["#000000"] * 17,
         (".style_description.color_palette", "must hold at most 16 colours")),
        ((*ELEMENT, "bbox"), [420, 80, 60, 920],
         (".compositional_deconstruction.elements[0].bbox", "must have each min below its max")),
        ((*ELEMENT, "bbox"), [0, 0, 1000, 1001],
         (".compositional_deconstruction.elements[0].bbox", "must be four integers [y_min, x_min, y_max, x_max] "
                                                             "from 0 to 1000")),
        ((*ELEMENT, "type"), "obj",
         (".compositional_deconstruction.elements[0].desc", "is required for an obj element")),
        ((*ELEMENT, "text"), None, (".compositional_deconstruction.elements[0]",
                                   "a text element needs its text or its desc")),
        ((*ELEMENT, "color_palette"), ["amber"],
         (".compositional_deconstruction.elements[0].color_palette", "must hold hex colours #RRGGBB")),
        (("compositional_deconstruction", "elements", 1, "text"), "MIC",
         (".compositional_deconstruction.elements[1].text", "is for text elements only")),
    ],
)  # fmt: skip
def test_a_structured_prompt_breaking_the_notes_is_refused_at_its_place(
    path: tuple[str | int, ...], value: object, broken: tuple[str, str]
) -> None:
    assert scenes.broken(SCENE) is None
    assert scenes.broken(_changed(path, value)) == broken


def test_magic_prompt_writes_a_structured_prompt_the_emulator_itself_takes() -> None:
    made = scenes.from_text('A poster reading "OPEN LATE" and "NO. 9", a lantern below')
    assert scenes.broken(made) is None
    elements = made["compositional_deconstruction"]["elements"]
    assert [(e["type"], e.get("text")) for e in elements] == [("text", "OPEN LATE"), ("text", "NO. 9"), ("obj", None)]
    assert made["high_level_description"] == 'A poster reading "OPEN LATE" and "NO. 9", a lantern below'
