"""A structured prompt read as its spec says: forgiving where the meaning is plain, every problem at its path, the
value rebuilt in the order it is sent in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ideogram_mcp.arguments.structured import read
from ideogram_mcp.specs import load_spec

SCENE = load_spec("ideogram:4@0").parameters["structuredPrompt"]


def test_plain_spellings_are_read_as_what_they_mean_and_sent_in_the_specs_order() -> None:
    sent: dict[str, Any] = {
        "compositionalDeconstruction": {
            "elements": [
                {"bbox": [10.0, 20, 300, 980], "text": "SALE", "type": "TEXT"},
                {"desc": "a lemon", "type": "object", "color_palette": "#ffcc00"},
            ],
            "background": "white",
        },
        "High_Level_Description": "a sale poster",
        "style_description": {"medium": "print", "color_palette": ["#0e0c0a"], "aesthetics": None},
    }
    value, problems = read(SCENE, json.dumps(sent))  # sent as JSON text, as some clients do
    assert problems == []
    assert json.dumps(value) == json.dumps(
        {
            "high_level_description": "a sale poster",
            "style_description": {"medium": "print", "color_palette": ["#0E0C0A"]},
            "compositional_deconstruction": {
                "background": "white",
                "elements": [
                    {"type": "text", "text": "SALE", "bbox": [10, 20, 300, 980]},
                    {"type": "obj", "desc": "a lemon", "color_palette": ["#FFCC00"]},
                ],
            },
        }
    )


@pytest.mark.parametrize(
    ("raw", "problems"),
    [
        ("{not json", [("structuredPrompt", "must be a JSON object; this text is not one")]),
        (["a"], [("structuredPrompt", "must be an object with the keys high_level_description")]),
        (
            {"high_level_description": "x", "style": {}},
            [("structuredPrompt.style", "unknown key; the keys here are high_level_description, style_description")],
        ),
        (
            {"high_level_description": "x", "colour_palette": []},
            [("structuredPrompt.colour_palette", "unknown key")],
        ),
        (
            {"high_level_description": "x", "compositional_deconstruction": {"elements": {"type": "text"}}},
            [("structuredPrompt.compositional_deconstruction.elements[0]", "give text or desc")],
        ),
        (
            {"high_level_description": "", "compositional_deconstruction": {"elements": "a cat"}},
            [
                ("structuredPrompt.high_level_description", "must be text"),
                ("structuredPrompt.compositional_deconstruction.elements", "must be a list of objects"),
            ],
        ),
        (
            {"high_level_description": "x", "compositional_deconstruction": {"elements": [{"type": "obj", "desc": "a",
             "bbox": [1, 2, 3]}, {"type": "obj", "desc": "b", "bbox": "0,0,1,1"}]}},
            [
                ("structuredPrompt.compositional_deconstruction.elements[0].bbox", "4 whole numbers from 0 to 1000"),
                ("structuredPrompt.compositional_deconstruction.elements[1].bbox", 'got "0,0,1,1"'),
            ],
        ),
    ],
)  # fmt: skip
def test_each_problem_is_named_at_its_path_with_what_is_allowed(raw: Any, problems: list[tuple[str, str]]) -> None:
    value, found = read(SCENE, raw)
    assert value is None
    assert [p.argument for p in found] == [path for path, _ in problems]
    for problem, (_, said) in zip(found, problems, strict=True):
        assert said in problem.message, problem.message


def test_an_element_list_may_come_as_one_element() -> None:
    value, problems = read(SCENE, {"high_level_description": "x", "compositional_deconstruction": {
        "elements": {"type": "text", "text": "HI"}}})  # fmt: skip
    assert problems == []
    assert value == {"high_level_description": "x", "compositional_deconstruction": {"elements": [
        {"type": "text", "text": "HI"}]}}  # fmt: skip


def test_a_required_part_is_said_in_a_sentence_with_one_full_stop() -> None:
    # Its description's full stop and the problem's had made "..": "a sentence or two..".
    _, found = read(SCENE, {"compositional_deconstruction": {"elements": [{"type": "obj"}]}})
    assert found
    assert all(not problem.message.endswith("..") and problem.message.endswith(".") for problem in found)
