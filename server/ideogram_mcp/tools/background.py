"""``replace_background``: the subject kept, a new background painted, with Ideogram 3.0 Replace Background."""

from __future__ import annotations

import mcp_types as types

from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry
from ideogram_mcp.tools.published import image_tool


def entry(spec: ModelSpec) -> ToolEntry:
    """The replace_background tool for Ideogram 3.0 Replace Background's spec."""
    tool = image_tool(
        spec,
        "replace_background",
        "Replace the background (Ideogram 3.0)",
        "Keep an image's subject (a product, a person) and paint the new background positivePrompt describes.",
        full=False,
    )

    async def replace_background(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        from ideogram_mcp.tools import running  # loaded at the first call: building the tool needs its schema only

        return await running.run(ctx, params, spec)

    return ToolEntry(tool, replace_background)
