"""``generate_image``: text to image with Ideogram 3.0."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import mcp_types as types
from pydantic import SecretStr

from ideogram_mcp import arguments, files
from ideogram_mcp.runware import errors
from ideogram_mcp.runware.client import InferenceResult
from ideogram_mcp.schemas import generate_image_input
from ideogram_mcp.settings import redact
from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import Context, ToolEntry, results
from ideogram_mcp.tools.results import GeneratedImage, GenerateImageOutput

logger = logging.getLogger(__name__)


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
            f"{spec.default_size}. Returns temporary image URLs with seed, size and cost."
        ),
        input_schema=generate_image_input(spec),
        output_schema=results.output_schema(GenerateImageOutput),
        annotations=types.ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    return ToolEntry(tool, generate_image)


async def generate_image(ctx: Context, given: Mapping[str, Any]) -> types.CallToolResult:
    state = ctx.lifespan_context
    spec = state.spec
    try:
        generation = arguments.parse(spec, given)
    except arguments.InvalidArgumentsError as exc:
        problems = [{"argument": p.argument, "message": p.message} for p in exc.problems]
        return results.error(exc.text(), {"kind": "invalid_arguments", "problems": problems})
    if state.client is None:
        return results.error(
            "RUNWARE_API_KEY is not set, so no image can be generated. Add it to this server's environment in "
            "the MCP client's config (keys are made in the Runware dashboard), or start the server with "
            "--offline to use the built-in Runware emulator (placeholder images, no cost).",
            {"kind": "not_configured"},
        )
    task = generation.to_task(spec)
    count = generation.values.get("numberResults", 1)
    await ctx.session.report_progress(0, 1, f"Generating {count} image(s) at {generation.width}x{generation.height}")
    started = time.perf_counter()
    try:
        result = await state.client.image_inference(task)
    except errors.RunwareError as exc:
        logger.warning("generation failed: %s", type(exc).__name__)
        text, details = results.describe(exc)
        details = {k: redact(v, state.api_key) if isinstance(v, str) else v for k, v in details.items()}
        return results.error(redact(text, state.api_key), details | {"taskUUID": task["taskUUID"]})
    output = _output(spec, generation, task["taskUUID"], result, state.api_key)
    await ctx.session.report_progress(1, 1, f"Generated {len(output.images)} image(s)")
    logger.info(
        "generated %d image(s) %dx%d in %.1fs, cost %s",
        len(output.images),
        generation.width,
        generation.height,
        time.perf_counter() - started,
        output.total_cost,
    )
    return results.ok(output, _summary(spec, output, offline=state.offline), list(_links(output)))


def _output(
    spec: ModelSpec,
    generation: arguments.Generation,
    task_uuid: str,
    result: InferenceResult,
    key: SecretStr | None,
) -> GenerateImageOutput:
    fmt = generation.output_format
    images = [
        GeneratedImage(
            image_uuid=image.image_uuid,
            image_url=image.image_url or "",
            seed=image.seed,
            width=generation.width,
            height=generation.height,
            format=fmt,
            cost=image.cost,
            nsfw_content=image.nsfw_content,
        )
        for image in result.images
    ]
    costs = [i.cost for i in images if i.cost is not None]
    return GenerateImageOutput(
        model=spec.model.id,
        task_uuid=task_uuid,
        images=images,
        total_cost=round(sum(costs), 6) if costs else None,
        errors=[redact(f"{e.code}: {e.message}", key) for e in result.errors],
    )


def _summary(spec: ModelSpec, output: GenerateImageOutput, *, offline: bool) -> str:
    first = output.images[0]
    cost = f", ${output.total_cost:.2f}" if output.total_cost is not None else ""
    source = " by the offline emulator (placeholder pictures)" if offline else ""
    lines = [
        f"Generated {len(output.images)} image(s) with {spec.model.name}{source}: "
        f"{first.width}x{first.height} {first.format}{cost}."
    ]
    for n, image in enumerate(output.images, 1):
        flag = " NSFW flagged" if image.nsfw_content else ""
        lines.append(f"{n}. {image.image_url} (seed {image.seed}){flag}")
    if output.errors:
        lines.append(f"{len(output.errors)} requested image(s) failed: " + "; ".join(output.errors))
    lines.append("The URLs expire; download the images that should be kept.")
    return "\n".join(lines)


def _links(output: GenerateImageOutput) -> list[types.ResourceLink]:
    links: list[types.ResourceLink] = []
    for image in output.images:
        fmt = files.image_format(image.format)
        links.append(
            types.ResourceLink(
                uri=image.image_url,
                name=f"{image.image_uuid}.{fmt.extension}",
                title=f"Ideogram image, seed {image.seed}",
                mime_type=fmt.mime_type,
            )
        )
    return links
