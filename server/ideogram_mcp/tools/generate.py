"""``generate_image``: text to image with Ideogram 3.0, saved to disk and previewed in the result."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import mcp_types as types

from ideogram_mcp import arguments, files, previews
from ideogram_mcp.runware import errors
from ideogram_mcp.runware.client import InferenceResult
from ideogram_mcp.schemas import generate_image_input
from ideogram_mcp.settings import redact
from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tools import AppState, Context, ToolEntry, announce_new_images, places, results
from ideogram_mcp.tools.results import GeneratedImage, GenerateImageOutput

logger = logging.getLogger(__name__)

_DATA_URI_SHOWN = 64


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
    return ToolEntry(tool, generate_image)


async def generate_image(ctx: Context, given: Mapping[str, Any]) -> types.CallToolResult:
    state = ctx.lifespan_context
    spec = state.spec
    try:
        generation = arguments.parse(spec, given)
    except arguments.InvalidArgumentsError as exc:
        return results.invalid(exc.problems)
    if state.client is None:
        return results.error(
            "RUNWARE_API_KEY is not set, so no image can be generated. Add it to this server's environment in "
            "the MCP client's config (keys are made in the Runware dashboard), or start the server with "
            "--offline to use the built-in Runware emulator (placeholder images, no cost).",
            {"kind": "not_configured"},
        )
    where = await places(ctx)
    try:
        generation = await _upload_local_inputs(state, generation, where)
    except files.LocalInputError as exc:
        local = generation.local_inputs
        return results.invalid([arguments.Problem(local[i].argument, f"{reason}.") for i, reason in exc.problems])
    except errors.RunwareError as exc:
        return _failed(state, exc, None)
    task = generation.to_task(spec)
    count = generation.values.get("numberResults", 1)
    await ctx.session.report_progress(0, 1, f"Generating {count} image(s) at {generation.width}x{generation.height}")
    started = time.perf_counter()
    try:
        result = await state.client.image_inference(task)
    except errors.RunwareError as exc:
        return _failed(state, exc, task["taskUUID"])
    output = _output(spec, generation, task["taskUUID"], result, state)
    await ctx.session.report_progress(1, 1, f"Generated {len(output.images)} image(s); saving")
    kept, shown = await _keep(state, generation, output, task, where)
    if any(outcome.path is not None for outcome in kept):
        output.folder = str(where.output)
        await announce_new_images(ctx)
    logger.info(
        "generated %d image(s) %dx%d in %.1fs, cost %s, saved %d",
        len(output.images),
        generation.width,
        generation.height,
        time.perf_counter() - started,
        output.total_cost,
        sum(outcome.path is not None for outcome in kept),
    )
    return results.images(output, _headline(spec, output, offline=state.offline), kept, shown)


async def _upload_local_inputs(
    state: AppState, generation: arguments.Generation, where: files.Places
) -> arguments.Generation:
    """These arguments with every local file replaced by the image UUID Runware holds it under."""
    if not generation.local_inputs:
        return generation
    client = state.client
    assert client is not None

    async def upload(image: files.LocalImage) -> str:
        digest = hashlib.sha256(image.data).hexdigest()
        if digest not in state.uploads:
            state.uploads[digest] = await client.upload_image(image.data_uri)
            logger.info("uploaded %s as a Runware image", image.path.name)
        return state.uploads[digest]

    texts = [item.text for item in generation.local_inputs]
    uuids = await files.resolve_local(texts, where, client.base_url, upload)
    return generation.with_images(dict(zip(generation.local_inputs, uuids, strict=True)))


def _failed(state: AppState, exc: errors.RunwareError, task_uuid: str | None) -> types.CallToolResult:
    logger.warning("generation failed: %s", type(exc).__name__)
    text, details = results.describe(exc)
    details = {k: redact(v, state.api_key) if isinstance(v, str) else v for k, v in details.items()}
    if task_uuid is not None:
        details["taskUUID"] = task_uuid
    return results.error(redact(text, state.api_key), details)


def _output(
    spec: ModelSpec, generation: arguments.Generation, task_uuid: str, result: InferenceResult, state: AppState
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
        errors=[redact(f"{e.code}: {e.message}", state.api_key) for e in result.errors],
    )


async def _keep(
    state: AppState,
    generation: arguments.Generation,
    output: GenerateImageOutput,
    task: Mapping[str, Any],
    where: files.Places,
) -> tuple[list[files.Kept], list[previews.Preview]]:
    """Download the images, save them with their recipes when saving is on, and make the previews."""
    settings = state.settings
    show = settings.preview if generation.preview is None else generation.preview
    if not settings.save and not show:
        return [files.Kept() for _ in output.images], []
    now = datetime.now(UTC)
    names = files.stems(
        generation.file_name,
        str(generation.values.get("positivePrompt", "")),
        [image.image_uuid.replace("-", "")[:8] for image in output.images],
        now.astimezone(),
    )
    sent = _recorded(task)
    wanted = [
        files.Wanted(
            url=image.image_url or None,
            stem=name,
            recipe={
                "model": output.model,
                "taskUUID": output.task_uuid,
                "imageUUID": image.image_uuid,
                "seed": image.seed,
                "cost": image.cost,
                "width": image.width,
                "height": image.height,
                "imageURL": image.image_url,
                "runware": state.client.base_url if state.client else None,
                "created": now.isoformat(timespec="microseconds"),
                "task": sent,
            },
        )
        for image, name in zip(output.images, names, strict=True)
    ]
    kept = await files.keep(state.downloads, wanted, folder=where.output if settings.save else None)
    for image, outcome in zip(output.images, kept, strict=True):
        if outcome.path is not None:
            image.path = str(outcome.path)
        if outcome.format is not None:
            image.format = outcome.format.name
    shown = await anyio.to_thread.run_sync(_previews, kept) if show else []
    return kept, shown


def _previews(kept: Sequence[files.Kept]) -> list[previews.Preview]:
    """One preview per image for a few, one contact sheet for many; an unreadable image gets none."""
    ready = [(n, outcome.data) for n, outcome in enumerate(kept, 1) if outcome.data is not None]
    if len(ready) >= previews.SHEET_FROM:
        try:
            return [previews.sheet(ready)]
        except ValueError:
            return []
    shown: list[previews.Preview] = []
    for n, data in ready:
        try:
            shown.append(previews.single(data, n))
        except (OSError, ValueError):
            logger.warning("no preview for image %d: it could not be decoded", n)
    return shown


def _recorded(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task as sent, for a sidecar: inline image data shortened (it can be megabytes)."""

    def shorten(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shorten(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, list):
            return [shorten(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, str) and len(value) > 256 and _inline_image(value):
            return f"{value[:_DATA_URI_SHOWN]}... ({len(value)} characters)"
        return value

    return shorten(dict(task))


def _inline_image(text: str) -> bool:
    if text.startswith("data:"):
        return True
    try:
        base64.b64decode(text[:64], validate=True)
    except ValueError:
        return False
    return True


def _headline(spec: ModelSpec, output: GenerateImageOutput, *, offline: bool) -> str:
    first = output.images[0]
    cost = f", ${output.total_cost:.2f}" if output.total_cost is not None else ""
    source = " by the offline emulator (placeholder pictures)" if offline else ""
    return (
        f"Generated {len(output.images)} image(s) with {spec.model.name}{source}: "
        f"{first.width}x{first.height} {first.format}{cost}."
    )
