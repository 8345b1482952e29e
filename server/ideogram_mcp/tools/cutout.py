"""``remove_background``: an image's subject cut out onto transparency (a PNG with alpha), with Ideogram Remove
Background."""

from __future__ import annotations

import mcp_types as types

from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry
from ideogram_mcp.tools.published import image_tool


def entry(spec: ModelSpec) -> ToolEntry:
    """The remove_background tool for Ideogram Remove Background's spec."""
    tool = image_tool(
        spec,
        "remove_background",
        "Remove the background",
        f"Cut an image's subject out: a PNG with transparency, ${spec.model.price_per_image:.2f}.",
        full=False,
    )

    async def remove_background(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        from ideogram_mcp.tools import running  # loaded at the first call: building the tool needs its schema only

        return await running.run(ctx, params, spec)

    return ToolEntry(tool, remove_background)
