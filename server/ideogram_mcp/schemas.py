"""The tools' input schemas, derived from the specs: each model's parameters and the tools' own arguments, every
one published by the same builder (``parameter_schema``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ideogram_mcp import files, sizes
from ideogram_mcp.arguments import ASPECT_RATIO, options
from ideogram_mcp.specs import ModelSpec, Parameter, ToolSpec, load_spec

_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
_EXPLAINED_VALUES = 3  # enums this short carry each value's meaning (list_style_presets explains styleType's)
_LISTED_VALUES = 12  # enums this short are listed in the schema


def image_tool_input(
    spec: ModelSpec,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    full: bool = True,
    optional: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """JSON Schema of an image tool: every exposed spec parameter, flat, aspectRatio where sizes are listed.

    ``extra`` adds arguments the tool reads itself (edit's ``region``), right after the spec's own
    inputs. ``full`` false leaves out what another tool's schema already spells out (the 62 preset
    names, long explanations), to keep ``tools/list`` small. ``optional`` names parameters the model
    requires but the tool can fill in from another argument (edit's ``mask``, drawn from ``region``).
    """
    properties: dict[str, Any] = {}
    inputs = [p.name for p in spec.exposed if p.wire.startswith("inputs.")]
    for p in spec.exposed:
        if p.name == "width":
            properties[ASPECT_RATIO] = _aspect_ratio(spec, full=full)
        properties[p.name] = _property(spec, p, full=full)
        if inputs and p.name == inputs[-1]:
            properties |= {name: dict(schema) for name, schema in (extra or {}).items()}
    for option in options().parameters.values():
        properties[option.name] = parameter_schema(option) if full else {"type": _JSON_TYPES[option.type]}
    required = [
        p.name for p in spec.exposed if p.required and p.name not in ("width", "height", *(extra or {}), *optional)
    ]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _property(spec: ModelSpec, p: Parameter, *, full: bool) -> dict[str, Any]:
    """One parameter's schema; a setting another tool's schema already explains is named and bounded only."""
    base = load_spec().parameters.get(p.name)
    if not full and base is not None and base.description == p.description:
        # Named as in generate_image, whose schema explains it; the server checks the value all the same.
        return {"type": "array", "items": {"type": "string"}} if p.type == "string[]" else {"type": _JSON_TYPES[p.type]}
    schema = parameter_schema(p, spec)
    if p.name in ("width", "height"):
        sides = [getattr(s, p.name) for s in spec.sizes]
        schema |= {"minimum": min(sides), "maximum": max(sides), "multipleOf": math.gcd(*sides)}
    return schema


def parameter_schema(p: Parameter, spec: ModelSpec | None = None, *, explain: bool = True) -> dict[str, Any]:
    """The JSON Schema of one parameter as its spec says: type, bounds, allowed values, default, what it means.
    ``spec`` is the model whose sizes a ratio is one of; ``explain`` adds what each of a few values means."""
    schema: dict[str, Any] = {}
    description = p.description
    if p.type == "string[]":
        schema = {"type": "array", "items": {"type": "string", "minLength": 1}}
    elif p.type == "rectangles":
        rectangle = {"type": "object", "required": ["x", "y", "width", "height"]}
        schema = {"type": "array", "items": rectangle, "minItems": 1}
    else:
        schema["type"] = _JSON_TYPES[p.type]
    if p.values is not None and len(p.values) <= _LISTED_VALUES:
        schema["enum"] = list(p.values)  # longer lists (the 62 presets) are a list tool's to give
        if len(p.values) <= _EXPLAINED_VALUES and explain:
            description += " Values: " + " ".join(f"{v}: {m}" for v, m in p.values.items())
    if p.format == "ratio" and spec is not None:
        schema["enum"] = sizes.ratios(spec.sizes)
    if p.format == "file_name":
        schema["maxLength"] = files.MAX_NAME
    for key, value in (
        ("minItems", p.min_items),
        ("maxItems", p.max_items),
        ("minimum", p.minimum),
        ("maximum", p.maximum),
        ("minLength", p.min_length),
        ("maxLength", p.max_length),
        ("pattern", p.pattern),
        ("default", p.default),
    ):
        if value is not None:
            schema[key] = value
    if p.format == "uri":
        schema["format"] = "uri"
    return {"description": description, **schema} if description else schema


def tool_input(tool: ToolSpec, spec: ModelSpec | None = None) -> dict[str, Any]:
    """The JSON Schema of a tool's own arguments (a catalogue or journal tool)."""
    properties = {p.name: parameter_schema(p, spec, explain=False) for p in tool.parameters.values()}
    required = [p.name for p in tool.parameters.values() if p.required]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    return schema | ({"required": required} if required else {}) | {"additionalProperties": False}


def _aspect_ratio(spec: ModelSpec, *, full: bool) -> dict[str, Any]:
    default = spec.default_size
    if not full:
        needed = "" if default is not None else " Required, unless width and height are given."
        return {"type": "string", "description": f"Shape, e.g. '9:16', instead of width and height.{needed}"}
    fallback = (
        f"Without it (and without width/height) the image is {default} ({default.ratio})."
        if default is not None
        else "Required, unless width and height are given."
    )
    return {
        "type": "string",
        "description": (
            "Shape instead of width and height, e.g. '16:9', '2:3' or '1.5'; a listed ratio (list_sizes) gives its "
            f"exact size, any other the closest. {fallback}"
        ),
    }
