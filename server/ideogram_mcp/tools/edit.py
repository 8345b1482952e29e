"""``edit_image``: repaint part of an image from a prompt, with Ideogram 3.0 Edit.

The part to change is a ``mask`` (an image, white = change) or a ``region``: rectangles in fractions
of the image, from which the server draws the mask at the size Runware holds the image at.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from ideogram_mcp import arguments, files, masks
from ideogram_mcp.runware import errors
from ideogram_mcp.specs import ModelSpec, is_web_url
from ideogram_mcp.tools import Context, ToolEntry, generations, owner

REGION = "region"
REGION_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "object", "required": ["x", "y", "width", "height"]},
    "minItems": 1,
    "maxItems": masks.MAX_REGIONS,
    "description": "Instead of mask: rectangles {x, y, width, height} in fractions (0-1) of the image from its top "
    'left, e.g. [{"x": 0, "y": 0, "width": 1, "height": 0.3}] for the top third.',
}
_UNKNOWN_SIZE = (
    "needs the image's size, which this server cannot know for an image UUID it did not make; pass the image as a "
    "file or a URL, or give mask instead."
)


def entry(spec: ModelSpec) -> ToolEntry:
    """The edit_image tool for Ideogram 3.0 Edit's spec."""
    tool = generations.image_tool(
        spec,
        "edit_image",
        "Edit part of an image (Ideogram 3.0)",
        "Repaint part of an image from a prompt, e.g. fix the words on a sign; the part is region (rectangles) "
        "or mask (white = change). The rest stays.",
        extra={REGION: REGION_SCHEMA},
        full=False,
        optional=frozenset({"mask"}),  # or region: the server draws the mask from it
    )

    async def edit_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        given = params.arguments or {}
        raw = given.get(REGION)
        has_mask = given.get("mask") is not None
        problems: list[arguments.Problem] = []
        regions: list[masks.Region] = []
        if raw is not None:
            regions, problem = masks.read_regions(raw)
            if problem is not None:
                problems.append(arguments.Problem(REGION, f"{problem}."))
            if has_mask:
                problems.append(arguments.Problem("mask/region", "give either mask or region, not both."))
        elif not has_mask:
            problems.append(
                arguments.Problem(
                    "mask",
                    "required: the part to change, as region (rectangles in fractions of the image) or mask "
                    "(an image the size of the source, white = change).",
                )
            )

        async def prepare(
            ctx: Context,
            generation: arguments.Generation,
            read: Mapping[arguments.LocalInput, files.LocalImage],
            may_send: bool,
        ) -> arguments.Generation | list[arguments.Problem]:
            if regions:
                return await _masked(ctx, generation, read, regions, may_send)
            return _mask_fits(generation, read)

        return await generations.run(
            ctx,
            params,
            spec,
            own=frozenset({REGION}),
            supplied=frozenset({"mask"}) if not has_mask else frozenset(),
            problems=problems,
            prepare=prepare,
        )

    return ToolEntry(tool, edit_image)


async def _masked(
    ctx: Context,
    generation: arguments.Generation,
    read: Mapping[arguments.LocalInput, files.LocalImage],
    regions: list[masks.Region],
    may_send: bool,
) -> arguments.Generation | list[arguments.Problem]:
    """These arguments with the mask drawn from the regions, at the image's size."""
    state = ctx.lifespan_context
    image = str(generation.values["image"])
    changes: dict[str, Any] = {}
    local = next((item for item in read if item.parameter == "image"), None)
    size: tuple[int, int] | None = None
    if local is not None:
        size = masks.size_of(read[local].data)
    elif is_web_url(image):
        if not may_send or state.delivery is None:
            return generation.with_values(mask="<drawn from region once the image's size is known>")
        # Runware fetches the URL (this server never does); its own copy is measured, then sent by UUID.
        try:
            stored, url = await state.delivery.upload(image, time.monotonic() + state.settings.wait_seconds)
            if url is None:
                raise errors.RunwareResponseError("Runware gave no URL for the uploaded image")
            data, _ = await files.download(state.downloads, url)
        except files.DownloadError as exc:
            return [arguments.Problem(REGION, f"needs the image's size, and Runware's copy could not be read: {exc}.")]
        size, changes["image"] = masks.size_of(data), stored
    elif image.startswith("data:") or not generations.is_uuid(image):
        size = masks.size_of(generations.decoded(image))
    else:
        record = await state.journal.image(image, owner(ctx))
        if record is not None and isinstance(record.get("width"), int) and isinstance(record.get("height"), int):
            size = (record["width"], record["height"])
    if size is None:
        return [arguments.Problem(REGION, _UNKNOWN_SIZE)]
    width, height = masks.stored_size(*size)
    changes["mask"] = masks.data_uri(masks.draw(width, height, regions))
    return generation.with_values(**changes)


def _mask_fits(
    generation: arguments.Generation, read: Mapping[arguments.LocalInput, files.LocalImage]
) -> arguments.Generation | list[arguments.Problem]:
    """The arguments as they are, unless the mask is plainly not the image's size (both are here to measure)."""
    image, mask = generations.size_here(generation, read, "image"), generations.size_here(generation, read, "mask")
    if image is None or mask is None or image == mask:
        return generation  # the same size, or one Runware measures: it refuses a mismatch itself
    return [
        arguments.Problem(
            "mask",
            f"is {mask[0]}x{mask[1]} but the image is {image[0]}x{image[1]}; a mask must be the image's size "
            "(white = change), or give region instead and the server draws one.",
        )
    ]
