"""The tools' input schemas, derived from the specs: each model's parameters and the tools' own arguments, every
one published by the same builder (``parameter_schema``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
    others: Sequence[ModelSpec] = (),
    choice: Parameter | None = None,
) -> dict[str, Any]:
    """JSON Schema of an image tool: every exposed spec parameter, flat, aspectRatio where sizes are listed.

    ``extra`` adds arguments the tool reads itself (edit's ``region``), right after the spec's own
    inputs. ``full`` false leaves out what another tool's schema already spells out (the 62 preset
    names, long explanations), to keep ``tools/list`` small. ``optional`` names parameters the model
    requires but the tool can fill in from another argument (edit's ``mask``, drawn from ``region``).

    A tool running ``others`` models besides ``spec`` (its default) has one schema still, which any agent can fill:
    ``choice`` (its ``model`` argument) first, then every model's arguments, each taken by some only marked so
    ("4.0 only."), each taken by all as loose as the loosest model's rule (the server checks the chosen model's).
    """
    models = (spec, *others)
    properties: dict[str, Any] = {"model": parameter_schema(choice, models=models)} if choice is not None else {}
    names = _in_order(models)
    inputs = [name for name in names if spec.parameters.get(name) and spec.parameters[name].wire.startswith("inputs.")]
    for name in names:
        takers = [m for m in models if name in m.parameters and m.parameters[name].exposed]
        if name == "width":
            properties[ASPECT_RATIO] = _aspect_ratio(takers, full=full)
        properties[name] = _loosest([_property(m, m.parameters[name], full=full) for m in takers])
        if (cap := _length_caps(takers, name)) and "maxLength" not in properties[name]:  # kept in words, then
            properties[name]["description"] = f"{properties[name].get('description', '')} {cap}".strip()
        if len(takers) < len(models):
            only = f"{'/'.join(m.model.version for m in takers)} only."
            properties[name]["description"] = f"{only} {properties[name].get('description', '')}".strip()
        if inputs and name == inputs[-1]:
            properties |= {name: dict(schema) for name, schema in (extra or {}).items()}
    for option in options().parameters.values():
        properties[option.name] = parameter_schema(option) if full else {"type": _JSON_TYPES[option.type]}
    not_required = ("width", "height", *(extra or {}), *optional)
    required = [
        name
        for name in names
        if name not in not_required and all(m.parameters.get(name) and m.parameters[name].required for m in models)
    ]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _in_order(models: Sequence[ModelSpec]) -> list[str]:
    """Every model's exposed parameters: the first model's in its order, each other's after the one it follows."""
    names = [p.name for p in models[0].exposed]
    for model in models[1:]:
        before: str | None = None
        for p in model.exposed:
            if p.name not in names:
                names.insert(names.index(before) + 1 if before is not None else 0, p.name)
            before = p.name
    return names


_LOWEST = ("minimum", "minLength", "minItems")
_HIGHEST = ("maximum", "maxLength", "maxItems")


def _length_caps(models: Sequence[ModelSpec], name: str) -> str:
    """The text length caps some of the models put on a parameter that others do not, in words ("3.0: at most 2000
    characters."): the one schema for all of them can carry none, and an agent should still know."""
    capped = [(m.model.version, m.parameters[name].max_length) for m in models]
    if all(cap is None for _, cap in capped) or all(cap is not None for _, cap in capped):
        return ""
    return " ".join(f"{version}: at most {cap} characters." for version, cap in capped if cap is not None)


def _loosest(schemas: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One schema that every value any of these schemas allows passes (the first's description)."""
    first = schemas[0]
    if all(schema == first for schema in schemas):
        return dict(first)
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(k for schema in schemas for k in schema):
        found = [schema[key] for schema in schemas if key in schema]
        if key == "description":
            merged[key] = found[0]
        elif len(found) < len(schemas):
            continue  # a bound one model does not have is no bound
        elif key in _LOWEST or key in _HIGHEST:
            merged[key] = min(found) if key in _LOWEST else max(found)
        elif key == "multipleOf":
            merged[key] = math.gcd(*found)
        elif key == "enum":
            merged[key] = list(dict.fromkeys(v for values in found for v in values))
        elif all(value == found[0] for value in found):
            merged[key] = found[0]
    return merged


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


def parameter_schema(
    p: Parameter, spec: ModelSpec | None = None, *, explain: bool = True, models: Sequence[ModelSpec] = ()
) -> dict[str, Any]:
    """The JSON Schema of one parameter as its spec says: type, bounds, allowed values, default, what it means.
    ``spec`` is the model whose sizes a ratio is one of; ``explain`` adds what each of a few values means; ``models``
    are the ones a model argument chooses among, the default first."""
    schema: dict[str, Any] = {}
    description = p.description
    if p.format == "model" and models:
        choices = [m.model.choice for m in models]
        schema = {"type": "string", "enum": choices, "default": choices[0]}
        return {"description": description, **schema} if description else schema
    if p.type in ("object", "object[]"):
        return _object_schema(p)
    if p.type == "string[]":
        item = {"type": "string", "pattern": _whole(p.pattern)} if p.pattern else {"type": "string", "minLength": 1}
        schema = {"type": "array", "items": item}
    elif p.type == "box":
        side = {"type": "integer", "minimum": p.minimum, "maximum": p.maximum}
        schema = {"type": "array", "items": side, "minItems": 4, "maxItems": 4}
    elif p.type == "rectangles":  # each side's bounds are in the description (tools/list is kept under 23 KB)
        sides = ["x", "y", "width", "height"]
        only: dict[str, dict[str, Any]] = {side: {} for side in sides}
        rectangle = {"type": "object", "properties": only, "required": sides, "additionalProperties": False}
        schema = {"type": "array", "items": rectangle, "minItems": 1}
    else:
        schema["type"] = _JSON_TYPES[p.type]
    if p.values is not None and len(p.values) <= _LISTED_VALUES:
        schema["enum"] = list(p.values)  # longer lists (the 62 presets) are a list tool's to give
        if len(p.values) <= _EXPLAINED_VALUES and explain:
            description += " Values: " + " ".join(f"{v}: {m}" for v, m in p.values.items())
    if p.format == "ratio" and (spec is not None or models):
        ratios = (r for m in (models or [spec]) if m is not None for r in sizes.ratios(m.sizes))
        schema["enum"] = list(dict.fromkeys(ratios))  # every model's, the default's first
    if p.format == "file_name":
        schema["maxLength"] = files.MAX_NAME
    for key, value in (
        ("minItems", p.min_items),
        ("maxItems", p.max_items),
        ("minimum", p.minimum if p.type != "box" else None),  # a box's bounds are each side's, in its items
        ("maximum", p.maximum if p.type != "box" else None),
        ("minLength", p.min_length),
        ("maxLength", p.max_length),
        ("pattern", _whole(p.pattern) if p.type == "string" and p.pattern else None),
        ("default", p.default),
    ):
        if value is not None:
            schema[key] = value
    if p.format == "uri":
        schema["format"] = "uri"
    return {"description": description, **schema} if description else schema


def _object_schema(p: Parameter) -> dict[str, Any]:
    """An object's schema (a structured prompt), kept short for ``tools/list``: its shape written out in its
    description, and its required keys; the server checks every member and names the path of each problem."""
    schema: dict[str, Any] = {"type": "object"}
    if required := [name for name, member in (p.properties or {}).items() if member.required]:
        schema["required"] = required
    if p.type == "object[]":
        schema = {"type": "array", "items": schema}
    return {"description": f"{p.description} Shape: {_shape(p)}".strip(), **schema}


def _shape(p: Parameter) -> str:
    """A parameter's shape in a few characters: ``{a, b: x|y, c: [{d, e: [y_min, x_min, y_max, x_max] 0-1000}]}``."""
    match p.type:
        case "object":
            return "{" + ", ".join(_member(m) for m in (p.properties or {}).values()) + "}"
        case "object[]":
            return f"[{_shape(p.model_copy(update={'type': 'object'}))}]"
        case "box":
            return f"[y_min, x_min, y_max, x_max] {p.minimum}-{p.maximum}"
        case "string[]":
            most = f"<={p.max_items} " if p.max_items is not None else ""
            return f"[{most}{p.pattern or 'text'}]"
        case _:
            return "|".join(p.values) if p.values else p.type


def _member(p: Parameter) -> str:
    return p.name if p.type == "string" and p.values is None else f"{p.name}: {_shape(p)}"


def tool_input(tool: ToolSpec, spec: ModelSpec | None = None, models: Sequence[ModelSpec] = ()) -> dict[str, Any]:
    """The JSON Schema of a tool's own arguments (a catalogue or journal tool); ``models`` are the ones its model
    argument chooses among."""
    properties = {p.name: parameter_schema(p, spec, explain=False, models=models) for p in tool.parameters.values()}
    required = [p.name for p in tool.parameters.values() if p.required]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    return schema | ({"required": required} if required else {}) | {"additionalProperties": False}


def _aspect_ratio(models: Sequence[ModelSpec], *, full: bool) -> dict[str, Any]:
    spec = models[0]
    default = spec.default_size
    if not full:
        needed = "" if default is not None else " Required, unless width and height are given."
        return {"type": "string", "description": f"Shape, e.g. '9:16', instead of width and height.{needed}"}
    others = [f"; {m.model.version}: {m.default_size}" for m in models[1:] if m.default_size is not None]
    fallback = (
        f"Without it (and without width/height) the image is {default} ({default.ratio}){''.join(others)}."
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


def _whole(pattern: str) -> str:
    """A spec's pattern, which the whole value must match, as JSON Schema reads it (a match anywhere in the value):
    "0123abCD0" had passed the published "[0-9A-Fa-f]{8}" and been refused."""
    return pattern if pattern.startswith("^") and pattern.endswith("$") else f"^(?:{pattern})$"
