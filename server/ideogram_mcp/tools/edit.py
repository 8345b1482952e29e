"""``edit_image``: repaint part of an image from a prompt, with Ideogram 3.0 Edit.

The part to change is a ``mask`` (an image, white = change) or a ``region``: rectangles in fractions
of the image, from which the server draws the mask at the size Runware holds the image at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mcp_types as types

from ideogram_mcp import arguments
from ideogram_mcp.schemas import parameter_schema
from ideogram_mcp.specs import ModelSpec, load_tool_specs
from ideogram_mcp.tools import Context, ToolEntry, owner
from ideogram_mcp.tools.published import image_tool

if TYPE_CHECKING:
    from ideogram_mcp.tasks.job import Prepare

_OWN = load_tool_specs()["edit_image"]


def entry(spec: ModelSpec) -> ToolEntry:
    """The edit_image tool for Ideogram 3.0 Edit's spec."""
    tool = image_tool(
        spec,
        "edit_image",
        "Edit part of an image (Ideogram 3.0)",
        "Repaint part of an image from a prompt, e.g. fix the words on a sign; the part is region (rectangles) "
        "or mask (white = change). The rest stays.",
        extra={name: parameter_schema(p) for name, p in _OWN.parameters.items()},  # its own: region
        full=False,
        optional=frozenset({"mask"}),  # or region: the server draws the mask from it
    )

    async def edit_image(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        # Loaded at the first call: building the tool needs its schema only.
        from ideogram_mcp import masks
        from ideogram_mcp.tasks.prepare import REGION, mask_fits, mask_from
        from ideogram_mcp.tools import running

        given = params.arguments or {}
        # Under any spelling the parsers read (Mask, REGION ...): a mask given so beside a region is no less given.
        spelt = arguments.aliases_for(frozenset({"mask", REGION}))
        named = {k: spelt.get(k) or spelt.get(k.lower()) for k, v in given.items() if v is not None}
        has_mask, has_region = "mask" in named.values(), REGION in named.values()
        problems: list[arguments.Problem] = []
        regions: list[masks.Region] = []
        region_names = frozenset(k for k, name in named.items() if name == REGION)
        try:
            own = arguments.parse_tool(_OWN, given, only=region_names)
        except arguments.InvalidArgumentsError as exc:
            problems += exc.problems
            own = {}
        if REGION in own:
            regions = masks.regions(own[REGION])
        if has_region and has_mask:
            problems.append(arguments.Problem("mask/region", "give either mask or region, not both."))
        elif not has_region and not has_mask:
            problems.append(
                arguments.Problem(
                    "mask",
                    "required: the part to change, as region (rectangles in fractions of the image) or mask "
                    "(an image the size of the source, white = change).",
                )
            )

        services = ctx.lifespan_context.services
        prepare: Prepare
        if regions:
            prepare = mask_from(services, owner(ctx), regions, spec.model.stored_side)
        else:
            prepare = mask_fits(services, owner(ctx), spec.model.stored_side)
        return await running.run(
            ctx,
            params,
            spec,
            own=region_names,
            also=frozenset({REGION}),
            supplied=frozenset({"mask"}) if not has_mask else frozenset(),
            problems=problems,
            prepare=prepare,
        )

    return ToolEntry(tool, edit_image)
