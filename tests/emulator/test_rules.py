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
    kind = {"boolean": "boolean", "integer": "integer", "string[]": "images", "object": "scene"}.get(p.type, "text")
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


def test_both_readings_give_ideogram_4_the_same_21_sizes_all_2k() -> None:
    spec = SPECS["ideogram:4@0"]
    assert set(rules.SIZES_4) == {(s.width, s.height) for s in spec.sizes}
    assert len(rules.SIZES_4) == len(spec.sizes) == 21
    assert {s.label.split()[0] for s in spec.sizes} == {"2K"}
    assert all(s.exact for s in spec.sizes)


@pytest.mark.parametrize(
    ("model", "speed"),
    [
        (model, speed)
        for model in MODELS
        for speed in (None, "TURBO", "DEFAULT", "QUALITY")
        if speed is None or "renderingSpeed" in SPECS[model].parameters  # background removal has no speeds
    ],
)
def test_the_price_runware_charges_is_the_price_the_server_quotes(model: str, speed: str | None) -> None:
    spec = SPECS[model]
    asked = {} if speed is None else {"renderingSpeed": speed}
    sent = {} if speed is None else {spec.parameters["renderingSpeed"].wire: speed}
    assert rules.price(model, sent) == spec.price(asked)


@pytest.mark.parametrize(("speed", "price"), [("TURBO", 0.03), ("DEFAULT", 0.06), ("QUALITY", 0.10), (None, 0.06)])
def test_ideogram_4_is_charged_by_its_speed_as_its_page_prices_it(speed: str | None, price: float) -> None:
    sent = {} if speed is None else {"settings.renderingSpeed": speed}
    assert rules.price("ideogram:4@0", sent) == price
    assert SPECS["ideogram:4@0"].quote({"numberResults": 3} | ({} if speed is None else {"renderingSpeed": speed})) == (
        pytest.approx(3 * price)
    )


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


_UUID = "8f4b6a3e-2c51-4d0b-9a77-1f0e6c2d9b10"
_IMAGE = "https://example.com/source.png"
_VALID: dict[str, dict[str, object]] = {
    "ideogram:4@1": {"positivePrompt": "x", "width": 1024, "height": 1024},
    "ideogram:4@2": {"positivePrompt": "x", "width": 1024, "height": 1024, "inputs": {"referenceImages": [_IMAGE]}},
}


def _refusal(path: str, why: str) -> rules.Refusal:
    code = "invalidPositivePrompt" if path == "positivePrompt" else "invalidParameter"
    return rules.Refusal(code, f"Invalid value for {path}: {why}.", path)


_STYLES = "ANIME, AUTO, DESIGN, FICTION, GENERAL, REALISTIC, RENDER_3D"
_LIST = "must be a list of image URLs, data URIs, base64 data or image UUIDs"


@pytest.mark.parametrize(
    ("model", "change", "refusal"),
    [
        ("ideogram:4@1", {"numberResults": "2"}, _refusal("numberResults", "must be an integer")),
        ("ideogram:4@1", {"numberResults": True}, _refusal("numberResults", "must be an integer")),
        ("ideogram:4@1", {"positivePrompt": 5}, _refusal("positivePrompt", "must be a string")),
        ("ideogram:4@1", {"outputFormat": 1}, _refusal("outputFormat", "must be a string")),
        ("ideogram:4@1", {"outputFormat": "webp"}, None),
        (
            "ideogram:4@1",
            {"providerSettings": {"ideogram": {"styleType": "design"}}},
            _refusal("providerSettings.ideogram.styleType", f"must be one of {_STYLES}"),
        ),
        (
            "ideogram:4@2",
            {"providerSettings": {"ideogram": {"styleCode": "0A1B2C3"}}},
            _refusal("providerSettings.ideogram.styleCode", "must be 8 hex digits"),
        ),
        ("ideogram:4@2", {"providerSettings": {"ideogram": {"styleCode": "0a1B2c3D"}}}, None),
        (
            "ideogram:4@2",
            {"providerSettings": {"ideogram": {"styleCode": "0A1B2C3D", "styleReferenceImages": [_IMAGE]}}},
            rules.Refusal(
                "invalidParameter",
                "styleCode cannot be combined with providerSettings.ideogram.styleReferenceImages.",
                ["providerSettings.ideogram.styleCode", "providerSettings.ideogram.styleReferenceImages"],
            ),
        ),
        (
            "ideogram:4@1",
            {"providerSettings": {"ideogram": {"styleReferenceImages": _IMAGE}}},
            _refusal("providerSettings.ideogram.styleReferenceImages", _LIST),
        ),
        (
            "ideogram:4@1",
            {"providerSettings": {"ideogram": {"styleReferenceImages": [_IMAGE, ""]}}},
            _refusal("providerSettings.ideogram.styleReferenceImages", _LIST),
        ),
        (
            "ideogram:4@1",
            {"providerSettings": {"ideogram": {"styleReferenceImages": ["http://["]}}},
            _refusal("providerSettings.ideogram.styleReferenceImages", _LIST),
        ),
        (
            "ideogram:4@1",
            {"providerSettings": {"ideogram": {"styleReferenceImages": [_UUID, "data:image/png;base64,AAAA"]}}},
            None,
        ),
        (
            "ideogram:4@1",
            {"providerSettings": {"ideogram": {"characterReferenceImagesMask": [_IMAGE]}}},
            rules.Refusal(
                "invalidParameter",
                "characterReferenceImagesMask needs one mask per character reference image.",
                [
                    "providerSettings.ideogram.characterReferenceImagesMask",
                    "providerSettings.ideogram.characterReferenceImages",
                ],
            ),
        ),
        (
            "ideogram:4@1",
            {
                "providerSettings": {
                    "ideogram": {"characterReferenceImages": [_IMAGE], "characterReferenceImagesMask": [_IMAGE]}
                }
            },
            None,
        ),
    ],
)
def test_each_kind_of_rule_refuses_a_value_of_the_wrong_shape_and_takes_the_right_one(
    model: str, change: dict[str, object], refusal: rules.Refusal | None
) -> None:
    task = {"taskType": "imageInference", "taskUUID": _UUID, "model": model} | _VALID[model] | change
    _, said = rules.check(model, task)
    assert said == refusal


_FOUR = {"taskType": "imageInference", "taskUUID": _UUID, "model": "ideogram:4@0"}
_SCENE = {"high_level_description": "a poster"}


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"positivePrompt": "x", "width": 2560, "height": 1440, "settings": {"renderingSpeed": "TURBO"}}, None),
        ({"settings": {"structuredPrompt": _SCENE}}, None),
        (
            {"positivePrompt": "x", "width": 1024, "height": 1024},
            rules.Refusal("invalidParameter", "width and height must be one of the listed sizes.", ["width", "height"]),
        ),
        (
            {"positivePrompt": "x", "width": 2048},
            rules.Refusal("invalidParameter", "width and height go together.", ["width", "height"]),
        ),
        (
            {"positivePrompt": "x", "providerSettings": {"ideogram": {"renderingSpeed": "TURBO"}}},
            rules.Refusal(
                "unsupportedParameter",
                "Unsupported parameter for this model: providerSettings.ideogram.renderingSpeed.",
                "providerSettings.ideogram.renderingSpeed",
            ),
        ),
        (
            {"positivePrompt": "x", "seed": 5},
            rules.Refusal("unsupportedParameter", "Unsupported parameter for this model: seed.", "seed"),
        ),
        (
            {"positivePrompt": "x", "settings": {"structuredPrompt": _SCENE}},
            rules.Refusal(
                "invalidParameter",
                "Send positivePrompt or settings.structuredPrompt, not both.",
                ["positivePrompt", "settings.structuredPrompt"],
            ),
        ),
        (
            {},
            rules.Refusal(
                "missingParameter",
                "Missing required parameter: positivePrompt or structuredPrompt.",
                ["positivePrompt", "settings.structuredPrompt"],
            ),
        ),
        (
            {"settings": {"structuredPrompt": {"high_level_description": "x", "compositional_deconstruction": {
                "elements": [{"type": "obj"}]}}}},
            rules.Refusal(
                "invalidParameter",
                "Invalid value for settings.structuredPrompt.compositional_deconstruction.elements[0].desc: "
                "is required for an obj element.",
                "settings.structuredPrompt.compositional_deconstruction.elements[0].desc",
            ),
        ),
    ],
)  # fmt: skip
def test_the_emulator_reads_ideogram_4_as_its_notes_say(
    change: dict[str, object], refusal: rules.Refusal | None
) -> None:
    _, said = rules.check("ideogram:4@0", _FOUR | change)
    assert said == refusal
