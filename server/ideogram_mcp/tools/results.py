"""The one place that shapes tool results: structured outputs, text, links, and errors as an agent reads them."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field

from ideogram_mcp.runware import errors
from ideogram_mcp.sizes import Size

ERROR_META = "ideogram-mcp/error"
"""Key in a tool error's ``_meta`` holding the error as data (kind, Runware's code, retryable ...)."""


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


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema a tool publishes for its structured output."""
    return model.model_json_schema(by_alias=True, mode="serialization")


def ok(output: BaseModel, text: str, extra: list[types.ContentBlock] | None = None) -> types.CallToolResult:
    """A successful result: the text for every client, extra blocks, and the structured output."""
    content: list[types.ContentBlock] = [types.TextContent(text=text), *(extra or [])]
    return types.CallToolResult(content=content, structured_content=output.model_dump(mode="json", exclude_none=True))


def error(text: str, details: dict[str, Any] | None = None) -> types.CallToolResult:
    """A tool error: text a model can act on, and the same as data under ``_meta``."""
    # No structuredContent: clients such as the TypeScript SDK check it against the tool's output
    # schema even on errors, and would turn this tool error into a protocol error.
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        is_error=True,
        _meta={ERROR_META: details or {"kind": "internal"}},
    )


def unexpected(given: dict[str, Any] | Any, allowed: set[str]) -> types.CallToolResult | None:
    """An error naming arguments a tool does not take, or None when there are none."""
    extra = sorted(set(given) - allowed)
    if not extra:
        return None
    takes = f"takes only {', '.join(sorted(allowed))}" if allowed else "takes no arguments"
    return error(f"Unknown argument(s) {', '.join(extra)}: this tool {takes}.", {"kind": "invalid_arguments"})


def describe(exc: errors.RunwareError) -> tuple[str, dict[str, Any]]:
    """What to tell an agent about a failed call, and the same as data."""
    details: dict[str, Any] = {"kind": "runware_error", "retryable": False}
    if isinstance(exc, errors.RunwareAPIError):
        details |= {"status": exc.status, "code": exc.code, "message": exc.message}
        if exc.parameter:
            details["parameter"] = list(exc.parameter)
    said = f"Runware said: {exc.message} ({exc.code})." if isinstance(exc, errors.RunwareAPIError) else ""
    match exc:
        case errors.AuthenticationError():
            text = "Runware refused the API key. Check RUNWARE_API_KEY in this server's environment."
        case errors.InsufficientCreditsError():
            text = "The Runware account has too little credit for this. Top it up, then try again."
        case errors.PermissionDeniedError():
            text = "This Runware API key is not allowed to run this model or task."
        case errors.ContentRejectedError():
            text = "Runware's safety filter refused the prompt or the image. Rephrase the prompt."
        case errors.InvalidRequestError():
            where = f" (parameter {', '.join(exc.parameter)})" if exc.parameter else ""
            text = f"Runware refused the request{where}. Change the arguments it names and try again."
        case errors.RateLimitError():
            details["retryable"] = True
            text = "Runware is rate-limiting this key. Wait a few seconds, then try again."
        case errors.ServerError():
            details["retryable"] = True
            text = "Runware failed on its side. Try again shortly; renderingSpeed TURBO finishes faster."
        case errors.RunwareTimeoutError():
            details["retryable"] = True
            text = (
                f"{exc} Wait before trying again, and tell the user the first attempt may still "
                "appear in their Runware account."
            )
        case errors.RunwareConnectionError():
            details["retryable"] = True
            text = f"{exc}. Check the network or RUNWARE_BASE_URL, then try again."
        case _:
            text = f"Runware's answer could not be used: {exc}"
    return " ".join(part for part in (text, said) if part), details
