"""``reframe_image``: an image extended to a new shape, with Ideogram 3.0 Reframe."""

from __future__ import annotations

import mcp_types as types

from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry
from ideogram_mcp.tools.published import image_tool


def entry(spec: ModelSpec) -> ToolEntry:
    """The reframe_image tool for Ideogram 3.0 Reframe's spec."""
    tool = image_tool(
        spec,
        "reframe_image",
        "Reframe an image (Ideogram 3.0)",
        "Extend an image to a new shape (aspectRatio or a listed width+height), e.g. a square post to a 9:16 "
        "story, painting the new space to match. No prompt.",
        full=False,
    )

    async def reframe_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        from ideogram_mcp.tools import running  # loaded at the first call: building the tool needs its schema only

        return await running.run(ctx, params, spec)

    return ToolEntry(tool, reframe_image)
