"""The tools' input schemas, derived from the model spec, and their structured outputs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideogram_mcp import sizes
from ideogram_mcp.arguments import ASPECT_RATIO
from ideogram_mcp.sizes import ORIENTATIONS, Size
from ideogram_mcp.spec import ModelSpec, Parameter

_JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean"}
_EXPLAINED_VALUES = 8  # enums this short carry each value's meaning in the description


def generate_image_input(spec: ModelSpec) -> dict[str, Any]:
    """JSON Schema of generate_image: every exposed spec parameter, flat, plus aspectRatio."""
    properties: dict[str, Any] = {}
    for p in spec.exposed:
        properties[p.name] = _property(spec, p)
        if p.name == "positivePrompt":
            properties[ASPECT_RATIO] = _aspect_ratio(spec)
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


class _Out(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)


class GeneratedImage(_Out):
    """One image made by generate_image."""

    image_uuid: str = Field(
        serialization_alias="imageUUID", description="Runware's id of the image; usable as a reference image."
    )
    image_url: str = Field(
        serialization_alias="imageURL", description="Where the image can be downloaded; the link expires."
    )
    seed: int | None = Field(default=None, description="Seed the model used for this image.")
    width: int
    height: int
    format: str = Field(description="File format: JPG, PNG or WEBP.")
    cost: float | None = Field(default=None, description="Price of this image in USD, as Runware reported it.")
    nsfw_content: bool | None = Field(
        default=None,
        serialization_alias="NSFWContent",
        description="Safety check verdict; present only when checkContent was on.",
    )


class GenerateImageOutput(_Out):
    """What generate_image made."""

    model: str = Field(description="Runware model id used.")
    task_uuid: str = Field(serialization_alias="taskUUID", description="Id of the Runware task.")
    images: list[GeneratedImage]
    total_cost: float | None = Field(
        default=None, serialization_alias="totalCost", description="Sum of the images' prices in USD."
    )
    errors: list[str] = Field(
        default_factory=list, description="Failures of some of the requested images, when others succeeded."
    )


class SizeEntry(_Out):
    width: int
    height: int
    label: str = Field(description="Runware's configuration label, e.g. '1K (~16:9)'.")
    ratio: str = Field(description="Nominal aspect ratio.")
    exact: bool = Field(description="Whether the pixels have exactly the nominal ratio.")
    orientation: str

    @classmethod
    def of(cls, size: Size) -> SizeEntry:
        return cls.model_validate(size.model_dump())


class ListSizesOutput(_Out):
    """Supported sizes, widest ratio first."""

    sizes: list[SizeEntry]
    count: int
    default: SizeEntry = Field(description="Size used when no size or aspectRatio is given.")


class NamedValue(_Out):
    name: str
    description: str


class ListStylePresetsOutput(_Out):
    """The style presets and style types generate_image accepts."""

    style_presets: list[NamedValue] = Field(serialization_alias="stylePresets")
    style_types: list[NamedValue] = Field(serialization_alias="styleTypes")
