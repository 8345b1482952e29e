"""The Ideogram 4.0 spec against the notes (``../shared/notes/ideogram-4.md``): its sizes, prices and places on the
wire, the 3.0 parameters it does not take, the structured prompt's shape; and how two models share one tool."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ideogram_mcp.specs import Parameter, load_spec, load_specs, models_of
from ideogram_mcp.specs.shapes import object_problems

NOTES = Path(__file__).resolve().parents[3] / "shared" / "notes" / "ideogram-4.md"
FOUR = load_spec("ideogram:4@0")
SCENE: Parameter = FOUR.parameters["structuredPrompt"]


def _notes() -> str:
    if not NOTES.exists():
        pytest.skip("shared/notes is not beside this checkout")
    return NOTES.read_text(encoding="utf-8")


def test_the_spec_has_the_21_sizes_of_the_notes_each_2k_and_exactly_its_ratio() -> None:
    table = _notes().split("**Sizes**")[1].split("```")[0]
    listed = {
        (int(w), int(h)): ratio
        for ratio, w, h in re.findall(r"\| (\d+:\d+) \| (\d+)\N{MULTIPLICATION SIGN}(\d+) ", table)
    }
    assert len(listed) == 21
    assert {(s.width, s.height): s.ratio for s in FOUR.sizes} == listed
    assert all(s.label.startswith("2K (") and s.exact for s in FOUR.sizes)
    assert [s.aspect for s in FOUR.sizes] == sorted((s.aspect for s in FOUR.sizes), reverse=True), "widest first"


def test_the_spec_prices_each_speed_as_the_page_does_and_every_fact_is_labelled() -> None:
    assert FOUR.model.prices == {"TURBO": 0.03, "DEFAULT": 0.06, "QUALITY": 0.10}
    assert FOUR.model.price_source.startswith("[doc]")
    assert [FOUR.quote({"renderingSpeed": s, "numberResults": 2}) for s in ("TURBO", "DEFAULT", "QUALITY")] == [
        0.06,
        0.12,
        0.2,
    ]
    assert FOUR.quote({}) == 0.06, "DEFAULT when no speed is asked for"
    assert all(
        (p.source or FOUR.model.source).startswith(("[doc]", "[sdk]", "[guess]")) for p in FOUR.parameters.values()
    )


def test_its_settings_go_under_settings_and_it_takes_no_3_0_style_controls() -> None:
    wires = {p.name: p.wire for p in FOUR.parameters.values()}
    assert (wires["renderingSpeed"], wires["magicPrompt"], wires["structuredPrompt"]) == (
        "settings.renderingSpeed",
        "settings.magicPrompt",
        "settings.structuredPrompt",
    )
    assert not any(wire.startswith("providerSettings.") for wire in wires.values())
    three_only = {"seed", "negativePrompt", "styleType", "stylePreset", "styleReferenceImages"}
    assert not three_only & set(FOUR.parameters)
    assert three_only | {"characterReferenceImages", "characterReferenceImagesMask"} <= set(load_spec().parameters)
    prompt = FOUR.parameters["positivePrompt"]
    assert (prompt.required, prompt.max_length) == (False, None), "exactly one prompt form; no cap was read"
    assert FOUR.exactly_one == (("positivePrompt", "structuredPrompt"),)


def test_generate_image_runs_3_0_by_default_and_4_0_by_name_and_every_other_tool_one_model() -> None:
    assert [(m.model.id, m.model.choice, m.model.version) for m in models_of("generate_image")] == [
        ("ideogram:4@1", "ideogram-3.0", "3.0"),
        ("ideogram:4@0", "ideogram-4.0", "4.0"),
    ]
    for tool in ("remix_image", "edit_image", "reframe_image", "replace_background", "remove_background"):
        assert len(models_of(tool)) == 1
    assert len(load_specs()) == 7


def test_the_notes_example_structured_prompt_passes_the_specs_rules() -> None:
    sent = _notes().split('"settings":{"renderingSpeed":"QUALITY","structuredPrompt":')[1]
    example, _ = json.JSONDecoder().raw_decode(sent.strip())
    assert object_problems(SCENE, example, "structuredPrompt") == []


def test_a_structured_prompt_without_its_summary_or_with_a_key_outside_the_fixed_set_is_refused_at_its_path() -> None:
    assert object_problems(SCENE, {"title": "x"}, "s") == [
        ("s.title", "unknown key; the keys here are high_level_description, style_description, "
         "compositional_deconstruction"),
        ("s.high_level_description", "required: the whole image in a sentence or two."),
    ]  # fmt: skip
    assert SCENE.violation("a poster") == (
        "structuredPrompt: must be an object with the keys high_level_description, style_description, "
        "compositional_deconstruction"
    )


@pytest.mark.parametrize(
    ("element", "path", "said"),
    [
        ({"type": "obj", "desc": "a cat", "bbox": [0, 0, 1000, 1000]}, None, None),
        ({"type": "text", "text": "SALE"}, None, None),
        ({"type": "text", "desc": "a small caption"}, None, None),
        ({"type": "obj"}, ".desc", 'required when type is "obj": what and where; for text, its look.'),
        ({"type": "text"}, "", "give text or desc"),
        ({"type": "obj", "desc": "a", "text": "b"}, ".text", 'only for type "text"; here type is "obj"'),
        ({"type": "icon", "desc": "a"}, ".type", "must be one of obj, text"),
        ({"type": "obj", "desc": "a", "bbox": [0, 500, 1000, 500]}, ".bbox", "x_min 500 is not below x_max 500"),
        ({"type": "obj", "desc": "a", "bbox": [0, 0, 1000, 1001]}, ".bbox", "whole numbers from 0 to 1000"),
        ({"type": "obj", "desc": "a", "bbox": [0, 0, 1000]}, ".bbox", "4 whole numbers"),
        ({"type": "obj", "desc": "a", "color_palette": ["#000000"] * 6}, ".color_palette", "at most 5 strings"),
        ({"type": "obj", "desc": "a", "color_palette": ["#00000g"]}, ".color_palette", "item 1 does not"),
    ],
)
def test_each_element_rule_of_the_notes_is_the_specs(
    element: dict[str, object], path: str | None, said: str | None
) -> None:
    scene = {"high_level_description": "x", "compositional_deconstruction": {"elements": [element]}}
    found = object_problems(SCENE, scene, "s")
    at = "s.compositional_deconstruction.elements[0]"
    if path is None:
        assert found == []
    else:
        assert len(found) == 1, found
        assert found[0][0] == at + path
        assert said is not None
        assert said in found[0][1]


def test_a_style_takes_photo_or_art_style_and_at_most_16_colours() -> None:
    style = {"photo": "85 mm", "art_style": "poster", "color_palette": ["#FFFFFF"] * 17}
    found = object_problems(SCENE, {"high_level_description": "x", "style_description": style}, "s")
    assert [path for path, _ in found] == ["s.style_description.color_palette", "s.style_description.photo"]
