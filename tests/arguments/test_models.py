"""Which model a tool's model argument names, and which model to name when a call gives an argument its model does
not take."""

from __future__ import annotations

import pytest

from ideogram_mcp.arguments.models import named, taker
from ideogram_mcp.specs import load_spec, models_of

MODELS = models_of("generate_image")
THREE, FOUR = load_spec("ideogram:4@1"), load_spec("ideogram:4@0")


@pytest.mark.parametrize(
    ("given", "model"),
    [
        (None, "ideogram:4@1"),
        ("ideogram-3.0", "ideogram:4@1"),
        ("ideogram:4@1", "ideogram:4@1"),
        ("3", "ideogram:4@1"),
        ("IDEOGRAM-4.0", "ideogram:4@0"),
        ("ideogram:4@0", "ideogram:4@0"),
        (" Ideogram 4.0 ", "ideogram:4@0"),
        ("ideogram4", "ideogram:4@0"),
        ("v4", "ideogram:4@0"),
        ("4.0", "ideogram:4@0"),
    ],
)
def test_a_model_is_named_by_its_name_its_id_or_its_version(given: str | None, model: str) -> None:
    found, problem = named(MODELS, given)
    assert problem is None
    assert found is not None
    assert found.model.id == model


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "ideogram-4.5",
            '"ideogram-4.5" is not a model this tool runs: give ideogram-3.0 or ideogram-4.0 (the default',
        ),
        ("ideogram", "is not a model this tool runs"),
        ("ideogram:4@3", "ideogram:4@3 is Ideogram 3.0 Edit, which edit_image runs; this tool runs ideogram-3.0 or"),
        ("  ", 'must be a model name, ideogram-3.0 or ideogram-4.0; got "  ".'),
        (["4.0"], "must be a model name"),
    ],
)
def test_anything_else_is_refused_naming_the_models_the_tool_runs(given: object, said: str) -> None:
    found, problem = named(MODELS, given)
    assert found is None
    assert problem is not None
    assert said in problem


def test_an_argument_only_the_other_model_takes_names_that_model_by_any_spelling() -> None:
    assert taker(FOUR, "stylePreset") is THREE
    assert taker(FOUR, "preset") is THREE
    assert taker(FOUR, "negative_prompt") is THREE
    assert taker(THREE, "structuredPrompt") is FOUR
    assert taker(THREE, "structured_prompt") is FOUR
    assert taker(FOUR, "renderingSpeed") is None, "both take it"
    assert taker(FOUR, "colour") is None, "neither takes it"
    assert taker(load_spec("ideogram:4@2"), "structuredPrompt") is None, "remix_image runs one model"
