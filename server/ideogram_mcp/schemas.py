"""The tools' input schemas, derived from the model spec."""

from __future__ import annotations

from typing import Any

from ideogram_mcp import sizes
from ideogram_mcp.arguments import ASPECT_RATIO, OPTIONS
from ideogram_mcp.sizes import ORIENTATIONS
from ideogram_mcp.specs import ModelSpec, Parameter

_JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean"}
_EXPLAINED_VALUES = 8  # enums this short carry each value's meaning in the description


def generate_image_input(spec: ModelSpec) -> dict[str, Any]:
    """JSON Schema of generate_image: every exposed spec parameter, flat, plus aspectRatio."""
    properties: dict[str, Any] = {}
    for p in spec.exposed:
        properties[p.name] = _property(spec, p)
        if p.name == "positivePrompt":
            properties[ASPECT_RATIO] = _aspect_ratio(spec)
    for option in OPTIONS:
        properties[option.name] = dict(option.schema)
    return {
        "type": "object",
        "properties": properties,
        "required": ["positivePrompt"],
        "additionalProperties": False,
    }


def _property(spec: ModelSpec, p: Parameter) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    description = p.description
    if p.type == "string[]":
        schema = {"type": "array", "items": {"type": "string", "minLength": 1}}
        if p.min_items:
            schema["minItems"] = p.min_items
    else:
        schema["type"] = _JSON_TYPES[p.type]
    if p.values is not None:
        schema["enum"] = list(p.values)
        if len(p.values) <= _EXPLAINED_VALUES:
            description += " Values: " + " ".join(f"{v}: {m}" for v, m in p.values.items())
    for key, value in (
        ("minimum", p.minimum),
        ("maximum", p.maximum),
        ("minLength", p.min_length),
        ("maxLength", p.max_length),
        ("default", p.default),
    ):
        if value is not None:
            schema[key] = value
    if p.format == "uri":
        schema["format"] = "uri"
    if p.name in ("width", "height"):
        sides = [getattr(s, p.name) for s in spec.sizes]
        schema |= {"minimum": min(sides), "maximum": max(sides), "multipleOf": 32}
    return {"description": description, **schema}


def _aspect_ratio(spec: ModelSpec) -> dict[str, Any]:
    default = spec.default_size
    return {
        "type": "string",
        "description": (
            "Shape of the image instead of width and height, e.g. '16:9', '2:3' or '1.5'. A listed ratio "
            f"gives its exact size; any other gives the closest supported size. Without it (and without "
            f"width/height) the image is {default} ({default.ratio})."
        ),
        "examples": sizes.ratios(spec.sizes),
    }


def list_sizes_input(spec: ModelSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "ratio": {
                "type": "string",
                "description": "Only sizes of this nominal ratio, e.g. '16:9' (includes the approximate ones).",
                "enum": sizes.ratios(spec.sizes),
            },
            "orientation": {
                "type": "string",
                "description": "Only landscape, portrait or square (near-square included) sizes.",
                "enum": list(ORIENTATIONS),
            },
        },
        "additionalProperties": False,
    }


def no_input() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "additionalProperties": False}
