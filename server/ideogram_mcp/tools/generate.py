"""``generate_image``: text to image with Ideogram 3.0."""

from __future__ import annotations

import mcp_types as types

from ideogram_mcp import arguments
from ideogram_mcp.schemas import generate_image_input
from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry, generations, results
from ideogram_mcp.tools.results import GenerateImageOutput


def entry(spec: ModelSpec) -> ToolEntry:
    """The generate_image tool for this spec."""
    price = spec.model.price_per_image
    tool = types.Tool(
        name="generate_image",
        title="Generate image (Ideogram 3.0)",
        description=(
            f"Make 1 to 20 images from a text prompt with {spec.model.name} on Runware "
            f"(${price:.2f} each). Strong at legible text: quote the exact words in positivePrompt. "
            "Choose the shape with aspectRatio or a listed width+height; default "
            f"{spec.default_size}. Saves the images as files, returns their paths, previews, seeds and cost."
        ),
        input_schema=generate_image_input(spec),
        output_schema=results.output_schema(GenerateImageOutput),
        annotations=types.ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )

    async def generate_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        try:
            generation = arguments.parse(spec, params.arguments or {})
        except arguments.InvalidArgumentsError as exc:
            return results.invalid(exc.problems)
        return await generations.start(ctx, params, generations.Job("generate_image", spec, generation))

    return ToolEntry(tool, generate_image)
