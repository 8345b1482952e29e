"""``remix_image``: a new image from a source image and a prompt, with Ideogram 3.0 Remix."""

from __future__ import annotations

import mcp_types as types

from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry, owner
from ideogram_mcp.tools.published import image_tool


def entry(spec: ModelSpec) -> ToolEntry:
    """The remix_image tool for Ideogram 3.0 Remix's spec."""
    tool = image_tool(
        spec,
        "remix_image",
        "Remix an image (Ideogram 3.0)",
        "New images from a source image and a prompt: a new style or wording on the same idea; remixStrength "
        "sets how far. Without a size: the source's shape if measurable, else square. "
        "Other settings as in generate_image.",
        full=False,
    )

    async def remix_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        # Loaded at the first call: building the tool needs its schema only.
        from ideogram_mcp.tasks.prepare import shaped_like_the_source
        from ideogram_mcp.tools import running

        shaped = shaped_like_the_source(ctx.lifespan_context.services, owner(ctx), spec)
        return await running.run(ctx, params, spec, prepare=shaped)

    return ToolEntry(tool, remix_image)
