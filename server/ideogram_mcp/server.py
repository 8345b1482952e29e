"""The MCP server: three tools and the prompt templates, built from the spec and a Runware client.

It knows MCP and builds no HTTP request. Tool failures an agent can act on (bad arguments,
a refused key, no credit, Runware down) come back as tool errors (``is_error``) with text
written for a model; only an unknown tool or prompt name is a protocol error.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, SecretStr

from ideogram_mcp import __version__, arguments, artwork, errors, sizes
from ideogram_mcp.client import InferenceResult, RunwareClient
from ideogram_mcp.emulator import Emulator, serving
from ideogram_mcp.prompts import load_prompts
from ideogram_mcp.schemas import (
    GeneratedImage,
    GenerateImageOutput,
    ListSizesOutput,
    ListStylePresetsOutput,
    NamedValue,
    SizeEntry,
    generate_image_input,
    list_sizes_input,
    no_input,
)
from ideogram_mcp.settings import Settings, redact
from ideogram_mcp.spec import ModelSpec, load_spec

logger = logging.getLogger(__name__)

EMULATOR_KEY = "offline-emulator-key"
ERROR_META = "ideogram-mcp/error"
"""Key in a tool error's ``_meta`` holding the error as data (kind, Runware's code, retryable ...)."""


@dataclass(frozen=True, slots=True)
class AppState:
    """What the tools need for one connection: the spec and, when configured, a Runware client."""

    spec: ModelSpec
    client: RunwareClient | None
    api_key: SecretStr | None
    offline: bool


Context = ServerRequestContext[AppState]
ToolHandler = Callable[[Context, Mapping[str, Any]], Awaitable[types.CallToolResult]]


def build_server(
    settings: Settings | None = None, *, transport: httpx2.AsyncBaseTransport | None = None
) -> Server[AppState]:
    """A server for these settings; ``transport`` replaces the network (tests plug the emulator in)."""
    settings = settings or Settings()
    spec = load_spec()
    tools = _tools(spec)
    prompts = load_prompts()
    handlers: dict[str, ToolHandler] = {
        "generate_image": _generate_image,
        "list_sizes": _list_sizes,
        "list_style_presets": _list_style_presets,
    }

    @contextlib.asynccontextmanager
    async def lifespan(_: Server[AppState]) -> AsyncGenerator[AppState]:
        async with contextlib.AsyncExitStack() as stack:
            key, url = settings.runware_api_key, settings.runware_base_url
            if settings.offline:
                url = await stack.enter_async_context(serving(Emulator(api_key=EMULATOR_KEY)))
                key = SecretStr(EMULATOR_KEY)
                logger.info("offline: generating with the built-in Runware emulator at %s", url)
            client = None
            if key is not None:
                client = RunwareClient(key, base_url=url, timeout=settings.runware_timeout, transport=transport)
                await stack.enter_async_context(client)
            else:
                logger.warning("RUNWARE_API_KEY is not set: generate_image will explain how to set it")
            yield AppState(spec=spec, client=client, api_key=key, offline=settings.offline)

    async def list_tools(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        handler = handlers.get(params.name)
        if handler is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool {params.name!r}. Tools: {', '.join(handlers)}.")
        try:
            return await handler(ctx, params.arguments or {})
        except Exception:
            logger.exception("tool %s failed unexpectedly", params.name)
            return _error("The server hit an internal error; nothing more is known. Its log (stderr) has details.")

    async def list_prompts(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name=p.name,
                    title=p.title,
                    description=p.description,
                    arguments=[
                        types.PromptArgument(name=a.name, description=a.description, required=a.required)
                        for a in p.arguments
                    ],
                )
                for p in prompts.values()
            ]
        )

    async def get_prompt(ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        template = prompts.get(params.name)
        if template is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown prompt {params.name!r}. Prompts: {', '.join(prompts)}.")
        try:
            text = template.render(params.arguments)
        except ValueError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        return types.GetPromptResult(
            description=template.description,
            messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
        )

    return Server[AppState](
        "ideogram-mcp",
        version=__version__,
        title="Ideogram 3.0 on Runware",
        description="Generate images with Ideogram 3.0 through Runware's API.",
        instructions=_instructions(spec, list(prompts)),
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def _instructions(spec: ModelSpec, prompt_names: list[str]) -> str:
    price = spec.model.price_per_image
    return (
        f"Make images with {spec.model.name} ({spec.model.id}) on Runware. It renders text well: put the exact "
        "words to show in double quotes inside positivePrompt and say where they go. Pick the shape with "
        "aspectRatio (e.g. '16:9') or a width/height pair from list_sizes. styleType DESIGN suits logos, "
        "posters and typography; REALISTIC suits photos; stylePreset adds a named look (list_style_presets). "
        f"Each image costs ${price:.2f}, so numberResults multiplies the price. Results are URLs that expire: "
        "download what should be kept. Bad arguments are refused before anything is charged, with the fix. "
        f"The prompts {', '.join(prompt_names)} show how to write prompts that render well."
    )


def _tools(spec: ModelSpec) -> list[types.Tool]:
    price = spec.model.price_per_image
    listing = types.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
    return [
        types.Tool(
            name="generate_image",
            title="Generate image (Ideogram 3.0)",
            description=(
                f"Make 1 to 20 images from a text prompt with {spec.model.name} on Runware "
                f"(${price:.2f} each). Strong at legible text: quote the exact words in positivePrompt. "
                "Choose the shape with aspectRatio or a listed width+height; default "
                f"{spec.default_size}. Returns temporary image URLs with seed, size and cost."
            ),
            input_schema=generate_image_input(spec),
            output_schema=GenerateImageOutput.model_json_schema(by_alias=True, mode="serialization"),
            annotations=types.ToolAnnotations(
                read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
            ),
        ),
        types.Tool(
            name="list_sizes",
            title="List supported sizes",
            description=(
                f"The {len(spec.sizes)} width x height pairs {spec.model.name} accepts, with ratio and "
                "orientation; filter by ratio or orientation. Free, no network."
            ),
            input_schema=list_sizes_input(spec),
            output_schema=ListSizesOutput.model_json_schema(by_alias=True, mode="serialization"),
            annotations=listing,
        ),
        types.Tool(
            name="list_style_presets",
            title="List style presets and types",
            description=(
                f"The {len(spec.parameters['stylePreset'].values or {})} stylePreset values with what each looks "
                "like, and the styleType values. Free, no network."
            ),
            input_schema=no_input(),
            output_schema=ListStylePresetsOutput.model_json_schema(by_alias=True, mode="serialization"),
            annotations=listing,
        ),
    ]


async def _generate_image(ctx: Context, given: Mapping[str, Any]) -> types.CallToolResult:
    state = ctx.lifespan_context
    spec = state.spec
    try:
        generation = arguments.parse(spec, given)
    except arguments.InvalidArgumentsError as exc:
        problems = [{"argument": p.argument, "message": p.message} for p in exc.problems]
        return _error(exc.text(), {"kind": "invalid_arguments", "problems": problems})
    if state.client is None:
        return _error(
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
        text, details = _describe(exc)
        details = {k: redact(v, state.api_key) if isinstance(v, str) else v for k, v in details.items()}
        return _error(redact(text, state.api_key), details | {"taskUUID": task["taskUUID"]})
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
    return _ok(output, _summary(spec, output, offline=state.offline), _links(output))


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
        fmt = image.format if image.format in artwork.MIME_TYPES else "JPG"
        ext, mime = artwork.EXTENSIONS[fmt], artwork.MIME_TYPES[fmt]
        links.append(
            types.ResourceLink(
                uri=image.image_url,
                name=f"{image.image_uuid}.{ext}",
                title=f"Ideogram image, seed {image.seed}",
                mime_type=mime,
            )
        )
    return links


def _describe(exc: errors.RunwareError) -> tuple[str, dict[str, Any]]:
    """What to tell an agent about a failed call, and the same as data."""
    details: dict[str, Any] = {"kind": "runware_error", "retryable": False}
    if isinstance(exc, errors.RunwareAPIError):
        details |= {"status": exc.status, "code": exc.code, "message": exc.message}
        if exc.parameter:
            details["parameter"] = list(exc.parameter)
    said = f"Runware said: {exc.message} ({exc.code})." if isinstance(exc, errors.RunwareAPIError) else ""
    match exc:
        case errors.AuthenticationError():
            text = "Runware refused the API key. Check RUNWARE_API_KEY in this server's environment."
        case errors.InsufficientCreditsError():
            text = "The Runware account has too little credit for this. Top it up, then try again."
        case errors.PermissionDeniedError():
            text = "This Runware API key is not allowed to run this model or task."
        case errors.ContentRejectedError():
            text = "Runware's safety filter refused the prompt or the image. Rephrase the prompt."
        case errors.InvalidRequestError():
            where = f" (parameter {', '.join(exc.parameter)})" if exc.parameter else ""
            text = f"Runware refused the request{where}. Change the arguments it names and try again."
        case errors.RateLimitError():
            details["retryable"] = True
            text = "Runware is rate-limiting this key. Wait a few seconds, then try again."
        case errors.ServerError():
            details["retryable"] = True
            text = "Runware failed on its side. Try again shortly; renderingSpeed TURBO finishes faster."
        case errors.RunwareTimeoutError():
            details["retryable"] = True
            text = (
                f"{exc} Wait before trying again, and tell the user the first attempt may still "
                "appear in their Runware account."
            )
        case errors.RunwareConnectionError():
            details["retryable"] = True
            text = f"{exc}. Check the network or RUNWARE_BASE_URL, then try again."
        case _:
            text = f"Runware's answer could not be used: {exc}"
    return " ".join(part for part in (text, said) if part), details


def _ok(output: BaseModel, text: str, extra: list[types.ResourceLink] | None = None) -> types.CallToolResult:
    content: list[types.ContentBlock] = [types.TextContent(text=text), *(extra or [])]
    return types.CallToolResult(content=content, structured_content=output.model_dump(mode="json", exclude_none=True))


def _error(text: str, details: dict[str, Any] | None = None) -> types.CallToolResult:
    # No structuredContent: clients such as the TypeScript SDK check it against the tool's output
    # schema even on errors, and would turn this tool error into a protocol error.
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        is_error=True,
        _meta={ERROR_META: details or {"kind": "internal"}},
    )


def _unexpected(given: Mapping[str, Any], allowed: set[str]) -> types.CallToolResult | None:
    extra = sorted(set(given) - allowed)
    if not extra:
        return None
    takes = f"takes only {', '.join(sorted(allowed))}" if allowed else "takes no arguments"
    return _error(f"Unknown argument(s) {', '.join(extra)}: this tool {takes}.", {"kind": "invalid_arguments"})


async def _list_sizes(ctx: Context, given: Mapping[str, Any]) -> types.CallToolResult:
    spec = ctx.lifespan_context.spec
    if refused := _unexpected(given, {"ratio", "orientation"}):
        return refused
    chosen = list(spec.sizes)
    orientation, ratio = given.get("orientation"), given.get("ratio")
    if orientation is not None:
        wanted = str(orientation).strip().lower()
        if wanted not in sizes.ORIENTATIONS:
            return _error(
                f"orientation must be one of {', '.join(sizes.ORIENTATIONS)}; got {str(orientation)[:40]!r}.",
                {"kind": "invalid_arguments"},
            )
        chosen = [s for s in chosen if s.orientation == wanted]
    if ratio is not None:
        listed = sizes.ratios(spec.sizes)
        wanted = sizes.spelled(str(ratio))
        if wanted not in listed:
            target = sizes.parse_ratio(str(ratio))
            near = sizes.for_ratio(spec.sizes, str(ratio)) if target else None
            hint = f" The closest listed ratio is {near.ratio} ({near})." if near else ""
            return _error(
                f"No size is listed for ratio {str(ratio)[:40]!r}.{hint} Listed ratios: {', '.join(listed)}. "
                "generate_image also takes any aspectRatio and picks the closest size.",
                {"kind": "invalid_arguments"},
            )
        chosen = [s for s in chosen if s.ratio == wanted]
    output = ListSizesOutput(
        sizes=[SizeEntry.of(s) for s in chosen], count=len(chosen), default=SizeEntry.of(spec.default_size)
    )
    by_ratio: dict[str, list[str]] = {}
    for s in chosen:
        by_ratio.setdefault(s.ratio, []).append(str(s) + ("" if s.exact else "~"))
    lines = [f"{len(chosen)} supported size(s) (~ marks approximate ratios):"]
    lines += [f"{r}: {', '.join(items)}" for r, items in by_ratio.items()]
    return _ok(output, "\n".join(lines))


async def _list_style_presets(ctx: Context, given: Mapping[str, Any]) -> types.CallToolResult:
    if refused := _unexpected(given, set()):
        return refused
    params = ctx.lifespan_context.spec.parameters
    presets = [NamedValue(name=k, description=v) for k, v in (params["stylePreset"].values or {}).items()]
    style_types = [NamedValue(name=k, description=v) for k, v in (params["styleType"].values or {}).items()]
    output = ListStylePresetsOutput(style_presets=presets, style_types=style_types)
    lines = [f"styleType (broad approach): {', '.join(t.name for t in style_types)}.", "stylePreset values:"]
    lines += [f"{p.name}: {p.description}" for p in presets]
    return _ok(output, "\n".join(lines))
