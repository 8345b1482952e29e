"""``generate_image``: text to image with Ideogram 3.0."""

from __future__ import annotations

import mcp_types as types

from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry
from ideogram_mcp.tools.published import image_tool


def entry(spec: ModelSpec) -> ToolEntry:
    """The generate_image tool for Ideogram 3.0's spec."""
    count = spec.parameters["numberResults"]
    tool = image_tool(
        spec,
        "generate_image",
        "Generate image (Ideogram 3.0)",
        f"Make {count.minimum} to {count.maximum} images from a prompt with {spec.model.name} "
        f"(${spec.model.price_per_image:.2f} each). It "
        "renders text well: quote the exact words. Saves the files; returns paths, previews, seeds, cost.",
    )

    async def generate_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        from ideogram_mcp.tools import running  # loaded at the first call: building the tool needs its schema only

        return await running.run(ctx, params, spec)

    return ToolEntry(tool, generate_image)
