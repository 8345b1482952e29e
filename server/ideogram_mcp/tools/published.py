"""What the tools publish: an image tool as ``tools/list`` shows it (its input schema from its model's spec, the
shared output), the models of the structured outputs, and the JSON Schemas shown for them.

Loaded when the tools are built (``server``); ``results`` and ``wording`` fill the models in at call time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ideogram_mcp import app
from ideogram_mcp.schemas import image_tool_input

if TYPE_CHECKING:
    from ideogram_mcp.sizes import Size
    from ideogram_mcp.specs import ModelSpec, Parameter


class Output(BaseModel):
    """Base of the structured outputs: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(serialize_by_alias=True)


class Said(Output):
    """A structured output that carries the result's words too (``results.ok`` fills ``message`` with its text).

    Some hosts give the model the structured output alone when a result has one: Claude Code sends it
    ``JSON.stringify(structuredContent)`` in place of the text blocks (the images it keeps). What to do next (a
    pending task is never started again), why an image was not saved, a warning: the text says these, and the data
    does not, so the words travel in both forms."""

    message: str | None = Field(default=None, description="The result in words, as its text says it.")


class GeneratedImage(Output):
    """One image a generation made."""

    image_uuid: str = Field(
        serialization_alias="imageUUID", description="Runware's id of the image; usable as an input image."
    )
    image_url: str = Field(
        serialization_alias="imageURL", description="Where Runware serves the image; the link expires."
    )
    path: str | None = Field(
        default=None,
        description="Path of the saved file (over HTTP relative to this connection's folder); absent when not saved.",
    )
    seed: int | None = Field(default=None, description="Seed the model used for this image.")
    width: int | None = None
    height: int | None = None
    format: str = Field(description="File format: JPG, PNG or WEBP.")
    cost: float | None = Field(default=None, description="Price of this image in USD, as Runware reported it.")
    nsfw_content: bool | None = Field(
        default=None,
        serialization_alias="NSFWContent",
        description="Safety check verdict; present only when checkContent was on.",
    )
    structured_prompt: Annotated[dict[str, Any], WithJsonSchema({"type": "object"})] | None = Field(
        default=None,
        serialization_alias="structuredPrompt",
        description=(
            "Ideogram 4.0: the structured prompt the image was made from; change it and send it back. When all the "
            "images share one, it is on the first only."
        ),
    )


class GenerateImageOutput(Said):
    """What a generation made, or (pending) what it has made so far."""

    status: Literal["done", "pending", "dry_run"] = Field(
        description="pending: still rendering, call get_generation with taskUUID; dry_run: nothing sent."
    )
    model: str = Field(description="Runware model id used.")
    task_uuid: str = Field(serialization_alias="taskUUID", description="Id of the Runware task.")
    requested: int = Field(description="How many images were asked for.")
    images: list[GeneratedImage] = Field(description="The images ready so far.")
    total_cost: float | None = Field(
        default=None, serialization_alias="totalCost", description="What the ready images cost, in USD."
    )
    quote: float | None = Field(default=None, description="The price quoted before sending, in USD.")
    errors: list[str] = Field(default_factory=list, description="Why some of the requested images failed.")
    folder: str | None = Field(default=None, description="The folder the images were saved in.")
    task: dict[str, Any] | None = Field(
        default=None, description="dry_run only: the exact task that would be sent to Runware."
    )


class SizeEntry(Output):
    width: int
    height: int
    ratio: str = Field(description="Nominal aspect ratio.")
    approximate: bool | None = Field(default=None, description="true when the pixels only come near the ratio.")

    @classmethod
    def of(cls, size: Size) -> SizeEntry:
        return cls(width=size.width, height=size.height, ratio=size.ratio, approximate=None if size.exact else True)


class ListSizesOutput(Output):
    """Supported sizes, widest ratio first."""

    sizes: list[SizeEntry]
    default: SizeEntry | None = Field(default=None, description="Size used when no size or aspectRatio is given.")


class NamedValue(Output):
    name: str
    description: str


class ListStylePresetsOutput(Output):
    """The style presets and style types generate_image accepts."""

    style_presets: list[NamedValue] = Field(serialization_alias="stylePresets")
    style_types: list[NamedValue] = Field(serialization_alias="styleTypes")
    message: str | None = Field(default=None, description="Why the lists are empty, and what to do instead.")


@functools.cache
def output_schema(model: type[BaseModel], *, described: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON Schema a tool publishes for its structured output, without what a model pays for twice.

    Pydantic's ``title`` keys repeat the property names; optional fields are never sent as null
    (results leave out what is absent), so ``anyOf [T, null]`` with a null default is just ``T``; and
    only the properties in ``described`` keep their descriptions (the result's text says the rest).
    """
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    definitions = cast(dict[str, Any], schema.pop("$defs", {}))
    text = json.dumps(schema)
    once = {name: body for name, body in definitions.items() if text.count(f'"#/$defs/{name}"') == 1}
    if kept := {name: body for name, body in definitions.items() if name not in once}:
        schema["$defs"] = kept
    return cast(dict[str, Any], _compact(_inlined(schema, once), described, keep=False))


def _inlined(node: object, definitions: Mapping[str, Any]) -> object:
    """A schema with each ``$ref`` to one of ``definitions`` replaced by the definition itself."""
    if isinstance(node, list):
        return [_inlined(item, definitions) for item in cast(list[object], node)]
    if not isinstance(node, dict):
        return node
    fields = cast(dict[str, object], node)
    reference = fields.get("$ref")
    name = reference.removeprefix("#/$defs/") if isinstance(reference, str) else ""
    if name in definitions:
        return _inlined(definitions[name], definitions)
    return {k: _inlined(v, definitions) for k, v in fields.items()}


IMAGES_DESCRIBED = frozenset({"status"})
"""The output properties of the image tools whose meaning an agent needs spelled out."""


def _compact(node: object, described: frozenset[str], *, keep: bool) -> object:
    if isinstance(node, list):
        return [_compact(item, described, keep=False) for item in cast(list[object], node)]
    if not isinstance(node, dict):
        return node
    fields: dict[str, object] = {}
    for key, value in cast(dict[str, object], node).items():
        if key == "title" or (key == "description" and not keep):
            continue
        if key == "properties" and isinstance(value, dict):
            props = cast(dict[str, object], value)
            fields[key] = {name: _compact(v, described, keep=name in described) for name, v in props.items()}
        else:
            fields[key] = _compact(value, described, keep=False)
    if fields.get("additionalProperties") is True:
        del fields["additionalProperties"]  # JSON Schema's default: saying it costs every image tool bytes
    options = fields.get("anyOf")  # T or null, null by default, is sent as T or left out
    if isinstance(options, list) and fields.get("default", ...) is None:
        kept = [o for o in cast(list[object], options) if o != {"type": "null"}]
        if len(kept) == 1 and isinstance(kept[0], dict):
            plain = {k: v for k, v in fields.items() if k not in ("anyOf", "default")}
            fields = plain | cast(dict[str, object], kept[0])
    return fields


_PAID = types.ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
# The same hints as _PAID, those equal to MCP's defaults (not read-only, not idempotent, open world) left to them, to
# keep tools/list small: generate_image says them all, its siblings only what differs.
_PAID_SHORT = types.ToolAnnotations(destructive_hint=False)


def image_tool(
    spec: ModelSpec,
    name: str,
    title: str,
    description: str,
    *,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    full: bool = True,
    optional: frozenset[str] = frozenset(),
    others: Sequence[ModelSpec] = (),
    choice: Parameter | None = None,
) -> types.Tool:
    """An image tool as ``tools/list`` shows it: its input schema from the model's spec (and the ``others`` it runs
    when its ``choice`` argument names them), the shared output."""
    return types.Tool(
        name=name,
        title=title,
        description=description,
        input_schema=image_tool_input(spec, extra, full=full, optional=optional, others=others, choice=choice),
        # generate_image and get_generation say what status means; its siblings share the word (and the instructions)
        output_schema=output_schema(GenerateImageOutput, described=IMAGES_DESCRIBED if full else frozenset[str]()),
        annotations=_PAID if full else _PAID_SHORT,
        _meta=dict(app.SHOWN_IN),
    )
