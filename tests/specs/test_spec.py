"""The spec file against Runware's model page: every size, preset, bound, default and wire path."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from typing import Any

import pytest

from ideogram_mcp.specs import ModelSpec, load_spec

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
