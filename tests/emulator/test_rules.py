"""Where the emulator's reading of Runware's rules and the server's specs must agree, fact by fact.

Both are transcriptions of the same pages, made apart (``tests/specs/test_spec.py`` checks the specs
against the model page). A difference here means one of them misread; the page decides which. Such a
difference has already been caught once: the specs let through two character references, which the
API reference allows only one of.
"""

from __future__ import annotations

import pytest

from ideogram_mcp.emulator import rules
from ideogram_mcp.specs import ModelSpec, Parameter, load_specs

SPECS = load_specs()
MODELS = list(SPECS)


def _reading(p: Parameter) -> tuple[object, ...]:
    """A spec parameter as the emulator's rules would say it: kind, bounds, choices, required."""
    kind = {"boolean": "boolean", "integer": "integer", "string[]": "images"}.get(p.type, "text")
    if p.format == "image":
        kind = "image" if p.type == "string" else "images"
    elif p.format in ("uri", "uuid"):
        kind = {"uri": "url", "uuid": "uuid"}[p.format]
    elif p.values is not None and p.name != "model":
        kind = "choice"
    elif p.pattern is not None:
        kind = "style code"
    low = p.minimum if p.type == "integer" else p.min_length if p.type == "string" else p.min_items
    high = p.maximum if p.type == "integer" else p.max_length if p.type == "string" else p.max_items
    choices = frozenset(p.values or ()) if kind == "choice" else frozenset[str]()
    return kind, low, high, choices, p.any_case, p.required


def _rule(rule: rules.Rule) -> tuple[object, ...]:
    return rule.kind, rule.low, rule.high, rule.choices, rule.any_case, rule.required


@pytest.mark.parametrize("model", MODELS)
def test_both_readings_take_the_same_places_of_a_task(model: str) -> None:
    assert set(rules.MODELS[model]) == {p.wire for p in SPECS[model].parameters.values()}


@pytest.mark.parametrize("model", MODELS)
def test_both_readings_give_each_place_the_same_type_bounds_choices_and_need(model: str) -> None:
    spec: ModelSpec = SPECS[model]
    emulator = {path: _rule(rule) for path, rule in rules.MODELS[model].items()}
    assert emulator == {p.wire: _reading(p) for p in spec.parameters.values()}


def test_both_readings_list_the_same_69_sizes_and_62_presets() -> None:
    spec = SPECS["ideogram:4@1"]
    assert list(rules.SIZES) == [(s.width, s.height) for s in spec.sizes]
    assert len(rules.SIZES) == 69
    assert set(spec.parameters["stylePreset"].values or ()) == rules.STYLE_PRESETS
    assert len(rules.STYLE_PRESETS) == 62


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("speed", [None, "TURBO", "DEFAULT", "QUALITY"])
def test_the_price_runware_charges_is_the_price_the_server_quotes(model: str, speed: str | None) -> None:
    spec = SPECS[model]
    asked = {} if speed is None else {"renderingSpeed": speed}
    sent = {} if speed is None else {"providerSettings.ideogram.renderingSpeed": speed}
    assert rules.price(model, sent) == spec.price(asked)


@pytest.mark.parametrize(
    ("task", "refusal"),
    [
        (
            {"width": 1024, "height": 1000},
            rules.Refusal("invalidParameter", "width and height must be one of the listed sizes.", ["width", "height"]),
        ),
        (
            {"providerSettings": {"ideogram": {"characterReferenceImages": ["https://e.com/a.png"] * 2}}},
            rules.Refusal(
                "invalidParameter",
                "Invalid value for providerSettings.ideogram.characterReferenceImages: must be at most 1.",
                "providerSettings.ideogram.characterReferenceImages",
            ),
        ),
        (
            {"providerSettings": {"ideogram": {"styleCode": "0A1B2C3D", "styleType": "DESIGN"}}},
            rules.Refusal(
                "unsupportedParameter",
                "Unsupported parameter for this model: providerSettings.ideogram.styleCode.",
                "providerSettings.ideogram.styleCode",
            ),
        ),
        (
            {"positivePrompt": ""},
            rules.Refusal(
                "invalidPositivePrompt", "Invalid value for positivePrompt: must be at least 1.", "positivePrompt"
            ),
        ),
        (
            {"outputType": "base64Data", "ttl": 60},
            rules.Refusal("invalidParameter", "ttl only applies to outputType URL.", ["ttl", "outputType"]),
        ),
    ],
)
def test_the_emulator_refuses_what_the_pages_forbid_in_its_own_words(
    task: dict[str, object], refusal: rules.Refusal
) -> None:
    base: dict[str, object] = {
        "taskType": "imageInference",
        "taskUUID": "8f4b6a3e-2c51-4d0b-9a77-1f0e6c2d9b10",
        "model": "ideogram:4@1",
        "positivePrompt": "x",
        "width": 1024,
        "height": 1024,
    }
    _, said = rules.check("ideogram:4@1", base | task)
    assert said == refusal
