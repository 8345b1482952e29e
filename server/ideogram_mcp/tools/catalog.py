"""``list_sizes`` and ``list_style_presets``: what the model accepts, free and offline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import mcp_types as types

from ideogram_mcp import arguments, sizes
from ideogram_mcp.schemas import tool_input
from ideogram_mcp.specs import ModelSpec, load_tool_specs
from ideogram_mcp.tools import Context, ToolEntry
from ideogram_mcp.tools.published import ListSizesOutput, ListStylePresetsOutput, NamedValue, SizeEntry, output_schema

_LISTING = types.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def list_sizes_entry(models: Sequence[ModelSpec]) -> ToolEntry:
    counts = ", ".join(f"{m.model.version}: {len(m.sizes)}" for m in models)
    tool = types.Tool(
        name="list_sizes",
        title="List supported sizes",
        description=(
            f"The width x height pairs a model accepts ({counts}), with their ratio; "
            "filter by ratio (e.g. 16:9) or orientation. Free, no network."
        ),
        input_schema=tool_input(load_tool_specs()["list_sizes"], models=models),
        output_schema=output_schema(ListSizesOutput),
        annotations=_LISTING,
    )

    async def run(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await list_sizes(models, params)

    return ToolEntry(tool, run)


def list_style_presets_entry(models: Sequence[ModelSpec]) -> ToolEntry:
    spec = models[0]
    none = [m.model.version for m in models if "stylePreset" not in m.parameters]
    said = f" ({' and '.join(none)} takes none)" if none else ""
    tool = types.Tool(
        name="list_style_presets",
        title="List style presets and types",
        description=(
            f"The {len(spec.parameters['stylePreset'].values or {})} stylePreset values with what each looks "
            f"like, and the styleType values{said}. "
            "Free, no network."
        ),
        input_schema=tool_input(load_tool_specs()["list_style_presets"], models=models),
        output_schema=output_schema(ListStylePresetsOutput),
        annotations=_LISTING,
    )

    async def run(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await list_style_presets(models, params)

    return ToolEntry(tool, run)


def _chosen(
    tool: str, models: Sequence[ModelSpec], params: types.CallToolRequestParams
) -> tuple[ModelSpec, dict[str, object]] | types.CallToolResult:
    """The model a catalogue call asks about, and its other arguments; or the tool error saying what is wrong."""
    from ideogram_mcp.arguments.models import named
    from ideogram_mcp.tools import results  # loaded at the first call: building the tool needs its schema only

    try:
        given = arguments.parse_tool(load_tool_specs()[tool], params.arguments)
    except arguments.InvalidArgumentsError as exc:
        return results.invalid(exc.problems, generating=False)
    spec, problem = named(models, given.get("model"))
    if spec is None:
        return results.invalid([arguments.Problem("model", problem or "unknown model.")], generating=False)
    return spec, given


async def list_sizes(models: Sequence[ModelSpec], params: types.CallToolRequestParams) -> types.CallToolResult:
    from ideogram_mcp.tools import results  # loaded at the first call: building the tool needs its schema only

    found = _chosen("list_sizes", models, params)
    if isinstance(found, types.CallToolResult):
        return found
    spec, given = found
    chosen = list(spec.sizes)
    orientation, ratio = cast(str | None, given.get("orientation")), cast(str | None, given.get("ratio"))
    if orientation is not None:
        chosen = [s for s in chosen if s.orientation == orientation]
    if ratio is not None:
        listed = sizes.ratios(spec.sizes)
        wanted = sizes.listed_ratio(spec.sizes, ratio)
        if wanted is None:
            target = sizes.parse_ratio(ratio)
            near = sizes.for_ratio(spec.sizes, ratio) if target else None
            hint = f" The closest listed ratio is {near.ratio} ({near})." if near else ""
            said = (
                f"No size is listed for ratio {ratio[:40]!r}.{hint} Listed ratios: {', '.join(listed)}. "
                "generate_image also takes any aspectRatio and picks the closest size."
            )
            return results.error(said, results.refused([arguments.Problem("ratio", said)]))
        if not (chosen := [s for s in chosen if s.ratio == wanted]):  # the orientation filter took them all
            shape = next(s.orientation for s in spec.sizes if s.ratio == wanted)
            said = (
                f"No size is both {wanted} and {orientation}: the {wanted} sizes are {shape}. Drop one of the filters."
            )
            return results.error(said, results.refused([arguments.Problem("orientation", said)]))
    output = ListSizesOutput(
        sizes=[SizeEntry.of(s) for s in chosen],
        default=SizeEntry.of(spec.default_size) if spec.default_size is not None else None,
    )
    by_ratio: dict[str, list[str]] = {}
    for s in chosen:
        by_ratio.setdefault(s.ratio, []).append(str(s) + ("" if s.exact else "~"))
    whose = "" if spec is models[0] else f" of {spec.model.name}"
    lines = [f"{len(chosen)} supported size(s){whose} (~ marks approximate ratios):"]
    lines += [f"{r}: {', '.join(items)}" for r, items in by_ratio.items()]
    return results.ok(output, "\n".join(lines))


async def list_style_presets(models: Sequence[ModelSpec], params: types.CallToolRequestParams) -> types.CallToolResult:
    from ideogram_mcp.tools import results  # loaded at the first call: building the tool needs its schema only

    found = _chosen("list_style_presets", models, params)
    if isinstance(found, types.CallToolResult):
        return found
    spec, _ = found
    values = spec.parameters
    if "stylePreset" not in values:
        takers = [m for m in models if "stylePreset" in m.parameters]
        others = " or ".join(f"{m.model.name} (model: {m.model.choice})" for m in takers)
        text = (
            f"{spec.model.name} has no style presets or style types: describe the look in the prompt"
            f"{' (or structuredPrompt.style_description)' if 'structuredPrompt' in values else ''}. "
            f"{others} takes stylePreset and styleType."
        )
        return results.ok(ListStylePresetsOutput(style_presets=[], style_types=[], message=text), text)
    presets = [NamedValue(name=k, description=v) for k, v in (values["stylePreset"].values or {}).items()]
    style_types = [NamedValue(name=k, description=v) for k, v in (values["styleType"].values or {}).items()]
    output = ListStylePresetsOutput(style_presets=presets, style_types=style_types)
    text = (
        f"styleType (the broad approach): {', '.join(t.name for t in style_types)}.\n"
        f"stylePreset ({len(presets)}): {', '.join(p.name for p in presets)}.\n"
        "What each looks like is in the structured output (stylePresets, styleTypes)."
    )
    return results.ok(output, text)
