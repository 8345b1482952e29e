"""``generate_image``: text to image with Ideogram 3.0 (the default), or 4.0 when its ``model`` argument says so."""

from __future__ import annotations

from collections.abc import Sequence

import mcp_types as types

from ideogram_mcp.specs import ModelSpec, load_tool_specs
from ideogram_mcp.tools import Context, ToolEntry
from ideogram_mcp.tools.published import image_tool

MODEL = "model"
"""generate_image's own argument choosing the model."""


def entry(models: Sequence[ModelSpec]) -> ToolEntry:
    """The generate_image tool for the models it runs, its default (Ideogram 3.0) first."""
    spec, *others = models
    count = spec.parameters["numberResults"]
    also = "".join(f" or, with model {m.model.choice}, {_priced(m)}" for m in others)
    tool = image_tool(
        spec,
        "generate_image",
        f"Generate image ({spec.model.name}{''.join(f', {m.model.version}' for m in others)})",
        f"Make {count.minimum} to {count.maximum} images from a prompt with {spec.model.name} "
        f"({_cost(spec)}){also}. Saves the files; returns paths, previews, seeds, cost.",
        others=others,
        choice=load_tool_specs()["generate_image"].parameters[MODEL],
    )

    async def generate_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        # Loaded at the first call: building the tool needs its schema only.
        from ideogram_mcp import arguments
        from ideogram_mcp.arguments.models import named
        from ideogram_mcp.tools import results, running

        given = params.arguments or {}
        # Under any spelling the parsers read (Model, MODEL): the tool's own model, not the spec's server-set one.
        spelt = arguments.aliases_for(frozenset({MODEL}))
        model_names = frozenset(k for k in given if k == MODEL or (spelt.get(k) or spelt.get(k.lower())) == MODEL)
        try:
            own = arguments.parse_tool(load_tool_specs()["generate_image"], given, only=model_names)
        except arguments.InvalidArgumentsError as exc:
            return results.invalid(exc.problems)
        chosen, problem = named(models, own.get(MODEL))
        if chosen is None:
            return results.invalid([arguments.Problem(MODEL, problem or "unknown model.")])
        return await running.run(ctx, params, chosen, own=model_names, also=frozenset({MODEL}))

    return ToolEntry(tool, generate_image)


def _priced(spec: ModelSpec) -> str:
    """A model beside the default, in a few words: its name, size class and prices by speed."""
    takes = ", structuredPrompt" if "structuredPrompt" in spec.parameters else ""
    return f"{spec.model.name} ({spec.model.price_tier}, {_cost(spec)}{takes})"


def _cost(spec: ModelSpec) -> str:
    """What an image costs, by renderingSpeed where the price depends on it: the quote's own prices."""
    prices = "/".join(f"{price:.2f}" for price in (spec.model.prices or {}).values())
    return f"${prices} by renderingSpeed" if prices else f"${spec.model.price_per_image:.2f} each"
