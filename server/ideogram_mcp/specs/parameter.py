"""One parameter of a tool, as its spec file holds it: its type, bounds, default, allowed values and where it goes
on the wire; what a valid value looks like (``rule``) and why a value is not one (``violation``).

Runware's own rules are checked here strictly; friendlier reading of what agents send (aliases, case, nearest
choices) is layered on top in ``arguments``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, model_validator

from ideogram_mcp.references import (
    broken_base64,
    inline_picture,
    is_image_reference,
    is_uuid,
    is_web_url,
    url_fault,
)
from ideogram_mcp.text import has_visible

_IMAGE_FORMS = "a local file in an allowed folder, a public http(s) URL, a data URI, base64 data or an image UUID"
"""What an image argument may be: the server reads a local file and uploads it; the rest go to Runware as given."""

ParameterType = Literal["string", "integer", "number", "boolean", "string[]", "rectangles", "object", "object[]", "box"]
"""``object`` holds named ``properties`` (each a Parameter), ``object[]`` a list of such objects; ``box`` is four whole
numbers ``[y_min, x_min, y_max, x_max]`` from ``minimum`` to ``maximum``, each min below its max."""
Format = Literal["uuid", "uri", "image", "file_name", "folder", "dollars", "ratio", "model"]
"""What a string (or number) names, beyond its type: checked here (uuid, uri, image) or read by ``arguments``
(a file name, a folder, dollars, a ratio, a model a tool runs)."""
JSON_SAFE_INTEGER = 2**53 - 1
"""The largest integer every JSON reader keeps exactly; no parameter without a maximum goes past it."""
JSONValue = str | int | bool | list[str]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken rule of the spec: which parameters, what is wrong, and Runware's kind of error."""

    parameters: tuple[str, ...]
    message: str
    kind: Literal["missing", "invalid"] = "invalid"


class Parameter(Frozen):
    """One parameter of a tool: its type, bounds, default and, for a model's, its place on the wire."""

    name: str
    wire: str
    type: ParameterType
    description: str
    required: bool = False
    default: str | int | float | bool | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    pattern: str | None = None
    format: Format | None = None
    values: dict[str, str] | None = None
    any_case: bool = False
    synonyms: dict[str, str] | None = None
    """Other spellings agents use for allowed values (JPEG for JPG): accepted as the value they name."""
    visible: bool = False
    """The text must hold at least one visible character (a prompt of spaces or zero-width marks says nothing)."""
    excludes: tuple[str, ...] = ()
    source: str | None = None
    """Where the fact comes from: ``[doc] ...``, ``[sdk] ...`` or ``[guess] ...``; the model's source when absent."""
    paired_with: str | None = None
    same_length_as: str | None = None
    requires: dict[str, str] | None = None
    required_when: dict[str, str] | None = None
    """Inside an object: required when these other members have these values (an obj element needs its desc)."""
    required_unless: tuple[str, ...] = ()
    """Inside an object: required unless one of these other members is given (a text element: its text or desc)."""
    properties: dict[str, Parameter] | None = None
    """The members of an ``object`` (or of each item of an ``object[]``), by their keys, in the order they are sent."""
    owned: str | None = None
    server_value: JSONValue | None = None
    """The value the server always sends for an owned parameter (outputType URL, deliveryMethod async)."""

    @model_validator(mode="before")
    @classmethod
    def _name_members(cls, data: object) -> object:
        # In the file each member of an object is keyed by its name, which is also its key on the wire.
        if not isinstance(data, dict):
            return data
        fields = cast(dict[str, Any], data)
        members = fields.get("properties")
        if not isinstance(members, dict):
            return fields
        named = {k: {"name": k, "wire": k, **v} for k, v in cast(dict[str, dict[str, Any]], members).items()}
        return {**fields, "properties": named}

    @property
    def exposed(self) -> bool:
        """Whether agents set this parameter (the server owns the others)."""
        return self.owned is None

    @property
    def wire_path(self) -> tuple[str, ...]:
        return tuple(self.wire.split("."))

    def match_value(self, value: str) -> str | None:
        """The allowed value that ``value`` names under Runware's own rules, or None."""
        if self.values is None:
            return value
        if value in self.values:
            return value
        if self.any_case:
            return next((v for v in self.values if v.lower() == value.lower()), None)
        return None

    def rule(self) -> str:
        """What a valid value looks like, in a few words."""
        match self.type:
            case "boolean":
                return "true or false"
            case "number":
                if self.minimum is not None and self.maximum is not None:
                    return f"a number from {self.minimum:g} to {self.maximum:g}"
                if self.minimum is not None:
                    return f"a number of at least {self.minimum:g}"
                return "a number"
            case "rectangles":
                return (
                    "a rectangle {x, y, width, height} in fractions of the image (0 to 1), "
                    f"or a list of up to {self.max_items} of them"
                )
            case "box":
                return (
                    f"[y_min, x_min, y_max, x_max]: 4 whole numbers from {self.minimum} to {self.maximum} "
                    "(thousandths of the height and width, from the top left), each min below its max"
                )
            case "object":
                return "an object with the keys " + ", ".join(self.properties or {})
            case "object[]":
                most = f"at most {self.max_items} " if self.max_items is not None else ""
                return f"a list of {most}objects, each with the keys " + ", ".join(self.properties or {})
            case "integer":
                if self.minimum is not None and self.maximum is not None:
                    return f"a whole number from {self.minimum} to {self.maximum}"
                if self.minimum is not None:
                    return f"a whole number from {self.minimum} to {JSON_SAFE_INTEGER}"
                return "a whole number"
            case "string[]":
                noun = "image" if self.format == "image" else "string"
                if self.min_items and self.max_items == self.min_items:
                    many = f"exactly {self.min_items} {noun}{'s' if self.min_items > 1 else ''}"
                elif self.min_items and self.max_items:
                    many = f"{self.min_items} to {self.max_items} {noun}s"
                elif self.min_items:
                    many = f"at least {self.min_items} {noun}{'s' if self.min_items > 1 else ''}"
                elif self.max_items:
                    many = f"at most {self.max_items} {noun}s"
                else:
                    many = f"{noun}s"
                if self.format == "image":
                    return f"a list of {many}, each {_IMAGE_FORMS}"
                if self.pattern is not None:
                    return f"a list of {many}, each matching {self.pattern}"
                return f"a list of {many}"
            case "string":
                if self.format == "image":
                    return f"an image: {_IMAGE_FORMS}"
                if self.values is not None:
                    return "one of " + ", ".join(self.values)
                if self.pattern is not None:
                    return f"text matching {self.pattern}"
                if self.format == "uri":
                    return "an http(s) URL"
                if self.format == "uuid":
                    return "a UUID"
                if self.min_length is not None and self.max_length is not None:
                    return f"text of {self.min_length} to {self.max_length} characters"
                if self.min_length is not None:
                    return f"text of at least {self.min_length} character{'s' if self.min_length > 1 else ''}"
                if self.max_length is not None:
                    return f"text of at most {self.max_length} characters"
                return "text"

    def violation(self, value: object) -> str | None:
        """Why ``value`` is not valid for this parameter under Runware's rules, or None if it is."""
        wrong = f"must be {self.rule()}"
        match self.type:
            case "boolean":
                return None if isinstance(value, bool) else wrong
            case "number":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return wrong
                if isinstance(value, float) and not math.isfinite(value):
                    return wrong
                if isinstance(value, int) and abs(value) > JSON_SAFE_INTEGER:  # no float holds it (10**400)
                    return wrong
                too_low = self.minimum is not None and value < self.minimum
                too_high = self.maximum is not None and value > self.maximum
                return wrong if too_low or too_high else None
            case "rectangles":
                return rectangles_violation(value, wrong, self.max_items or 1)
            case "box":
                return box_violation(value, wrong, int(self.minimum or 0), int(self.maximum or 0))
            case "object" | "object[]":
                from ideogram_mcp.specs.shapes import member_problems  # the rules of objects, which use this one

                found = member_problems(self, value, self.name)
                return f"{found[0][0]}: {found[0][1]}" if found else None
            case "integer":
                if not isinstance(value, int) or isinstance(value, bool):
                    return wrong
                too_low = self.minimum is not None and value < self.minimum
                if abs(value) > JSON_SAFE_INTEGER and self.minimum is None and self.maximum is None:
                    return f"{wrong} from -{JSON_SAFE_INTEGER} to {JSON_SAFE_INTEGER}"  # not "a whole number" alone
                too_high = value > (self.maximum if self.maximum is not None else JSON_SAFE_INTEGER)
                return wrong if too_low or too_high else None
            case "string[]":
                if not isinstance(value, list):
                    return wrong
                items: list[object] = list(value)  # pyright: ignore[reportUnknownArgumentType]
                if not all(isinstance(item, str) and item for item in items):
                    return f"{wrong}, each a non-empty string"
                if self.min_items is not None and len(items) < self.min_items:
                    return f"{wrong}; it has {len(items)}"
                if self.max_items is not None and len(items) > self.max_items:
                    return f"{wrong}; it has {len(items)}"
                if self.pattern is not None:
                    unmatched = [n for n, item in enumerate(items, 1) if not re.fullmatch(self.pattern, str(item))]
                    if unmatched:
                        return f"{wrong}; item {unmatched[0]} does not"
                if self.format == "image":
                    unreadable = [n for n, item in enumerate(items, 1) if not is_image_reference(str(item))]
                    if unreadable:
                        why = url_fault(str(items[unreadable[0] - 1]))
                        return f"{wrong}; item {unreadable[0]} is none of these" + (f" ({why})" if why else "")
                    garbled = [n for n, item in enumerate(items, 1) if inline_picture(str(item)) is False]
                    if garbled:
                        return f"{wrong}; item {garbled[0]} is inline data of no PNG, JPEG or WEBP image"
                return None
            case "string":
                if not isinstance(value, str):
                    return wrong
                return self._string_violation(value, wrong)

    def _string_violation(self, value: str, wrong: str) -> str | None:
        if self.format == "image":
            if not value or not is_image_reference(value):
                why = broken_base64(value) or url_fault(value)
                return f"{wrong}; {why}" if why is not None else wrong
            return f"{wrong}; its inline data is no PNG, JPEG or WEBP image" if inline_picture(value) is False else None
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return wrong
        if self.values is not None:
            return None if self.match_value(value) is not None else wrong
        if self.min_length is not None and len(value) < self.min_length:
            return f"{wrong}; it has {len(value)}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"{wrong}; it has {len(value)}"
        if self.visible and not has_visible(value):
            return f"{wrong}, with a visible character; it has none"
        if self.format == "uri":
            return None if is_web_url(value) else wrong
        if self.format == "uuid":
            return None if is_uuid(value) else wrong
        return None

    def place(self, task: MutableMapping[str, Any], value: object) -> None:
        """Put ``value`` at this parameter's place in a wire task, making nested objects as needed."""
        *parents, leaf = self.wire_path
        node = task
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    def lookup(self, task: Mapping[str, Any]) -> object | None:
        """This parameter's value in a wire task, or None when absent."""
        node: object = task
        for key in self.wire_path:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]  # pyright: ignore[reportUnknownVariableType]
        return node  # pyright: ignore[reportUnknownVariableType]


_FRACTION_SLACK = 1e-9
"""How far past the image's edge a rectangle's sum of floats may reach (0.7 + 0.3 is 1.0000000000000002)."""


def rectangles_violation(value: object, wrong: str, most: int) -> str | None:
    """Why ``value`` is not one rectangle {x, y, width, height} in fractions of the image, or a list of up to
    ``most`` of them; None when it is."""
    items: list[object] = [value] if isinstance(value, dict) else list(value) if isinstance(value, list) else []  # pyright: ignore[reportUnknownArgumentType]
    if not items or len(items) > most:
        return wrong
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or set(item) != {"x", "y", "width", "height"}:  # pyright: ignore[reportUnknownArgumentType]
            return f"{wrong}; rectangle {n} needs exactly x, y, width and height"
        fields = cast(dict[str, object], item)
        numbers = [fields[k] for k in ("x", "y", "width", "height")]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in numbers):
            return f"{wrong}; in rectangle {n} every value is a fraction from 0 to 1"
        x, y, width, height = (float(cast(float, v)) for v in numbers)
        if width <= 0 or height <= 0:
            return f"{wrong}; rectangle {n} is empty (width and height above 0)"
        if x + width > 1 + _FRACTION_SLACK or y + height > 1 + _FRACTION_SLACK:
            return f"{wrong}; rectangle {n} reaches past the image (x + width and y + height at most 1)"
    return None


def box_violation(value: object, wrong: str, low: int, high: int) -> str | None:
    """Why ``value`` is not a box ``[y_min, x_min, y_max, x_max]`` of whole numbers from ``low`` to ``high``, each
    min below its max; None when it is."""
    if not isinstance(value, list) or len(value) != 4:  # pyright: ignore[reportUnknownArgumentType]
        return wrong
    sides = cast(list[object], value)
    if not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in sides):
        return wrong
    y_min, x_min, y_max, x_max = cast(list[int], sides)
    if y_min >= y_max:
        return f"{wrong}; y_min {y_min} is not below y_max {y_max}"
    if x_min >= x_max:
        return f"{wrong}; x_min {x_min} is not below x_max {x_max}"
    return None
