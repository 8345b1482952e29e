"""``remix_image``: a new image from a source image and a prompt, with Ideogram 3.0 Remix."""

from __future__ import annotations

from collections.abc import Mapping

import mcp_types as types

from ideogram_mcp import arguments, files, sizes
from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry, generations


def entry(spec: ModelSpec) -> ToolEntry:
    """The remix_image tool for Ideogram 3.0 Remix's spec."""
    tool = generations.image_tool(
        spec,
        "remix_image",
        "Remix an image (Ideogram 3.0)",
        "New images from a source image and a prompt: a new style or wording on the same idea; remixStrength "
        "sets how far from the source. Without a size, the source's shape where it can be measured, else square. "
        "Other settings as in generate_image.",
        full=False,
    )

    async def shaped_like_the_source(
        ctx: Context,
        generation: arguments.Generation,
        read: Mapping[arguments.LocalInput, files.LocalImage],
        may_send: bool,
    ) -> arguments.Generation:
        """With no size given, the listed size closest to the source's shape (a local file or inline data)."""
        if generation.shaped or (source := generations.size_here(generation, read, "image")) is None:
            return generation
        size = sizes.for_ratio(spec.sizes, f"{source[0]}:{source[1]}")
        return generation if size is None else generation.with_values(width=size.width, height=size.height)

    async def remix_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        return await generations.run(ctx, params, spec, prepare=shaped_like_the_source)

    return ToolEntry(tool, remix_image)
