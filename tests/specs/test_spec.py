"""The spec file against Runware's model page: every size, preset, bound, default and wire path."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from typing import Any

import pytest
from pydantic import ValidationError

from ideogram_mcp.specs import ModelSpec, Parameter, ParameterType, load_spec, load_specs

from ..conftest import SEED_PAGE


def _seed() -> str:
    if not SEED_PAGE.exists():
        # In CI ../shared is always beside the checkout: there a missing page is a failure, never a quiet skip.
        if os.environ.get("CI"):
            pytest.fail(f"the model page is missing: {SEED_PAGE}")
        pytest.skip("shared/seed is not beside this checkout")
    return SEED_PAGE.read_text(encoding="utf-8")


def _seed_parameters() -> dict[str, dict[str, Any]]:
    """The request parameters of the seed page, read from its '### [name]' sections."""
    request = _seed().split("## Request Parameters")[1].split("## Response Parameters")[0]
    found: dict[str, dict[str, Any]] = {}
    for section in re.split(r"^#{3,4} ", request, flags=re.M)[1:]:
        name = re.match(r"\[(\w+)\]", section)
        assert name
        facts: dict[str, Any] = {}
        for key, value in re.findall(r"^- \*\*(\w[\w ]*)\*\*: `?([^`\n]*)`?$", section, flags=re.M):
            facts[key] = value
        inline = re.search(r"\*\*Allowed values\*\*: (.+)", section)
        if inline and "`" in inline.group(1):
            facts["values"] = re.findall(r"`([^`]+)`", inline.group(1))
        elif "**Allowed values**:" in section:
            listed = section.split("**Allowed values**:")[1].split("**Learn more")[0]
            facts["values"] = re.findall(r"^- `([^`]+)`", listed, flags=re.M)
        found[name.group(1)] = facts
    return found


def test_the_spec_has_the_69_sizes_of_the_model_page_in_order() -> None:
    rows = re.findall(r"\| `(1K \([^)]*\))` \| `(\d+)x(\d+)` \|", _seed())
    listed = [(s.label, s.width, s.height) for s in load_spec().sizes]
    assert len(listed) == 69
    assert listed == [(label, int(w), int(h)) for label, w, h in rows]


def test_the_spec_has_the_62_style_presets_of_the_model_page() -> None:
    presets = load_spec().parameters["stylePreset"].values or {}
    assert len(presets) == 62
    assert list(presets) == _seed_parameters()["stylePreset"]["values"]


def test_every_parameter_of_the_model_page_is_in_the_spec_with_its_facts() -> None:
    spec = load_spec()
    seed = _seed_parameters()
    # The seed lists the safety object itself and its two fields; the object is not a parameter.
    seed.pop("safety")
    beyond_the_page = {p.name for p in spec.parameters.values() if p.source and not p.source.startswith("[doc]")}
    assert beyond_the_page == {"seed"}, "a fact not on the page is labelled with where it comes from"
    assert set(seed) == set(spec.parameters) - beyond_the_page
    for name, facts in seed.items():
        p = spec.parameters[name]
        assert p.wire == facts.get("Path", name), name
        assert p.required == (facts.get("Required") == "true"), name
        if "Min" in facts:
            low = p.minimum if p.type == "integer" else p.min_length
            assert low == int(facts["Min"]), name
        if "Max" in facts:
            high = p.maximum if p.type == "integer" else p.max_length
            assert high == int(facts["Max"]), name
        if "Default" in facts:
            assert str(p.default).lower() == facts["Default"].lower(), name
        if "values" in facts:
            assert list(p.values or {}) == facts["values"], name
        if "Value" in facts:
            assert list(p.values or {}) == [facts["Value"]], name
        assert (p.format == "uuid") == (facts.get("Format") == "UUID v4"), name


def test_the_spec_pins_the_model_the_price_and_the_bounds_agents_meet() -> None:
    spec = load_spec()
    p = spec.parameters
    assert spec.model.id == "ideogram:4@1"
    assert spec.model.price_per_image == 0.06
    assert re.search(r"\*\*1k\*\*: `\$0\.06`", _seed())
    assert (p["positivePrompt"].min_length, p["positivePrompt"].max_length) == (1, 2000)
    assert (p["numberResults"].minimum, p["numberResults"].maximum, p["numberResults"].default) == (1, 20, 1)
    assert (p["outputQuality"].minimum, p["outputQuality"].maximum, p["outputQuality"].default) == (20, 99, 95)
    assert p["ttl"].minimum == 60
    assert p["ttl"].requires == {"outputType": "URL"}
    assert p["characterReferenceImages"].min_items == 1
    assert p["characterReferenceImagesMask"].same_length_as == "characterReferenceImages"
    assert (p["width"].paired_with, p["height"].paired_with) == ("height", "width")
    assert spec.default_size is not None
    assert spec.default_size.width == spec.default_size.height == 1024


def _raw_spec() -> dict[str, Any]:
    return tomllib.loads(resources.files("ideogram_mcp").joinpath("specs", "ideogram-3.0.toml").read_text())


def test_a_spec_with_a_default_outside_its_bounds_does_not_load() -> None:
    raw = _raw_spec()
    raw["parameters"]["outputQuality"]["default"] = 100
    with pytest.raises(ValueError, match="outputQuality: default must be a whole number from 20 to 99"):
        ModelSpec.model_validate(raw)


def test_a_spec_whose_default_size_is_not_listed_does_not_load() -> None:
    raw = _raw_spec()
    raw["model"]["default_size"] = {"width": 1000, "height": 1000}
    with pytest.raises(ValueError, match="default size is not a listed size"):
        ModelSpec.model_validate(raw)


def test_wire_paths_place_and_find_values_in_nested_objects() -> None:
    preset = load_spec().parameters["stylePreset"]
    task: dict[str, Any] = {}
    preset.place(task, "WATERCOLOR")
    assert task == {"providerSettings": {"ideogram": {"stylePreset": "WATERCOLOR"}}}
    assert preset.lookup(task) == "WATERCOLOR"
    assert preset.lookup({"providerSettings": "not an object"}) is None


def _parameter(type_: ParameterType, **facts: Any) -> Parameter:
    return Parameter(name="p", wire="p", type=type_, description="A parameter made for a test.", **facts)


@pytest.mark.parametrize(
    ("type_", "facts", "rule"),
    [
        ("boolean", {}, "true or false"),
        ("integer", {"minimum": 1, "maximum": 20}, "a whole number from 1 to 20"),
        ("integer", {"minimum": 0}, f"a whole number from 0 to {2**53 - 1}"),
        ("integer", {}, "a whole number"),
        ("string[]", {"min_items": 2, "max_items": 2}, "a list of exactly 2 strings"),
        ("string[]", {"min_items": 1, "max_items": 4}, "a list of 1 to 4 strings"),
        ("string[]", {"min_items": 1}, "a list of at least 1 string"),
        ("string[]", {"min_items": 3}, "a list of at least 3 strings"),
        ("string[]", {"max_items": 5}, "a list of at most 5 strings"),
        ("string[]", {}, "a list of strings"),
        (
            "string[]",
            {"format": "image", "max_items": 3},
            "a list of at most 3 images, each a local file in an allowed folder, a public http(s) URL, "
            "a data URI, base64 data or an image UUID",
        ),
        (
            "string",
            {"format": "image"},
            "an image: a local file in an allowed folder, a public http(s) URL, "
            "a data URI, base64 data or an image UUID",
        ),
        ("string", {"values": {"A": "a", "B": "b"}}, "one of A, B"),
        ("string", {"pattern": "[0-9]{4}"}, "text matching [0-9]{4}"),
        ("string", {"format": "uri"}, "an http(s) URL"),
        ("string", {"format": "uuid"}, "a UUID"),
        ("string", {"min_length": 2, "max_length": 9}, "text of 2 to 9 characters"),
        ("string", {"min_length": 1}, "text of at least 1 character"),  # it had said "must be text; it has 0"
        ("string", {"max_length": 9}, "text of at most 9 characters"),
        ("string", {}, "text"),
    ],
)
def test_each_kind_of_parameter_states_its_rule_in_a_few_words(
    type_: ParameterType, facts: dict[str, Any], rule: str
) -> None:
    assert _parameter(type_, **facts).rule() == rule


UUID = "6f1c1b9e-2b7a-4c3e-9a57-0d1e2f3a4b5c"


@pytest.mark.parametrize(
    ("type_", "facts", "value", "violation"),
    [
        ("string[]", {"max_items": 2}, ["a", "b"], None),
        ("string[]", {"max_items": 2}, ["a", "b", "c"], "must be a list of at most 2 strings; it has 3"),
        ("string[]", {}, ["a", ""], "must be a list of strings, each a non-empty string"),
        ("string[]", {}, "a", "must be a list of strings"),
        ("string", {"format": "uri"}, "https://example.com/hook", None),
        ("string", {"format": "uri"}, "ftp://example.com/hook", "must be an http(s) URL"),
        ("string", {"format": "uri"}, "http://[", "must be an http(s) URL"),
        ("string", {"format": "uuid"}, UUID, None),
        ("string", {"format": "uuid"}, "not-a-uuid", "must be a UUID"),
        ("string", {"visible": True}, "\u200b \t", "must be text, with a visible character; it has none"),
        ("string", {}, 7, "must be text"),
    ],
)
def test_a_value_breaking_a_parameters_rule_is_told_what_it_must_be(
    type_: ParameterType, facts: dict[str, Any], value: object, violation: str | None
) -> None:
    assert _parameter(type_, **facts).violation(value) == violation


def test_a_choice_runware_takes_in_any_case_is_matched_to_its_listed_spelling() -> None:
    output_format = load_spec().parameters["outputFormat"]
    assert [output_format.match_value(v) for v in ("PNG", "png", "Webp", "GIF")] == ["PNG", "PNG", "WEBP", None]
    assert output_format.violation("png") is None
    assert output_format.violation("gif") == "must be one of JPG, PNG, WEBP"
    style = load_spec().parameters["styleType"]
    assert (style.match_value("DESIGN"), style.match_value("design")) == ("DESIGN", None)
    assert load_spec().parameters["positivePrompt"].match_value("any text") == "any text"


def test_an_inconsistent_spec_does_not_load_and_every_problem_is_named() -> None:
    raw = _raw_spec()
    raw["sizes"].append(raw["sizes"][0])
    raw["parameters"]["outputQuality"]["wire"] = "outputFormat"
    raw["parameters"]["ttl"]["requires"] = {"deliveryFormat": "URL"}
    raw["parameters"]["seed"]["source"] = "the author's memory"
    raw["model"]["price_source"] = "a blog post"
    raw["model"]["id"] = "ideogram:4@9"
    with pytest.raises(ValidationError) as refused:
        ModelSpec.model_validate(raw)
    (error,) = refused.value.errors()
    assert error["msg"] == "Value error, " + (
        "the spec of ideogram:4@9 is inconsistent: a size is listed twice; two parameters share a wire path; "
        "seed: its source is not labelled [doc], [sdk], [guess]; ttl: refers to unknown parameter deliveryFormat; "
        "the price source is not labelled [doc], [sdk], [guess]; the model id is not the model parameter's value"
    )


def test_a_spec_that_takes_width_and_height_must_list_sizes() -> None:
    raw = _raw_spec()
    raw["sizes"] = []
    raw["model"].pop("default_size")
    with pytest.raises(ValueError, match="a model takes width and height exactly when it lists sizes"):
        ModelSpec.model_validate(raw)


def test_ttl_only_applies_to_url_output_under_the_specs_rules() -> None:
    spec = load_spec()
    assert [v.message for v in spec.cross_violations({"ttl": 60, "outputType": "base64Data"})] == [
        "ttl only applies when outputType is URL"
    ]
    assert spec.cross_violations({"ttl": 60}) == []


@pytest.mark.parametrize(
    ("model", "values", "within", "said"),
    [
        ("ideogram:4@1", {"numberResults": 5}, 0.25, "at most 4 images"),
        ("ideogram:4@1", {"numberResults": 2}, None, "fewer images"),
        # One image at QUALITY: no fewer, but the default speed (3.0's TURBO costs the same: not named).
        ("ideogram:4@1", {"renderingSpeed": "QUALITY"}, 0.06, "renderingSpeed DEFAULT ($0.06 an image)"),
        ("ideogram:4@1", {}, 0.05, None),  # nothing of the call makes it cheaper
        # 3.0's editing models quote TURBO as DEFAULT, high rather than low: 4.0's documented TURBO is cheaper.
        ("ideogram:4@2", {"numberResults": 3, "renderingSpeed": "TURBO"}, 0.10, "at most 1 image"),
        ("ideogram:4@0", {"numberResults": 3}, 0.10, "at most 1 image or renderingSpeed TURBO ($0.03 an image)"),
        (
            "ideogram:4@0",
            {"numberResults": 3, "renderingSpeed": "QUALITY"},
            0.05,
            "at most 1 image at renderingSpeed TURBO ($0.03 each)",
        ),
        ("ideogram:4@2", {}, 0.02, None),
    ],
)
def test_how_a_call_could_cost_less_names_only_what_would(
    model: str, values: dict[str, Any], within: float | None, said: str | None
) -> None:
    # Refusals had said "ask for fewer images" of a one-image call, and never named a cheaper speed.
    assert load_spec(model).cheaper(values, within) == said


def test_a_tool_that_takes_neither_a_count_nor_a_speed_is_told_no_way_to_cost_less() -> None:
    (cutout,) = [spec for spec in load_specs().values() if "numberResults" not in spec.parameters]
    assert cutout.cheaper({}, 0.0) is None
    assert cutout.cheaper({}) is None
