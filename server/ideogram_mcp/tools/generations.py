"""``get_generation`` and ``list_generations``: a task sent earlier fetched again, and the recent ones with the
spend. Neither sends a task or charges anything."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, cast

import mcp_types as types
from pydantic import Field

from ideogram_mcp import app, arguments, cursors
from ideogram_mcp.money import money
from ideogram_mcp.references import as_runware_reads
from ideogram_mcp.schemas import tool_input
from ideogram_mcp.specs import load_tool_specs, prompt_of
from ideogram_mcp.text import clipped
from ideogram_mcp.tools import Context, ToolEntry, announce_new_images, owner, places, reporter
from ideogram_mcp.tools.published import GenerateImageOutput, Output, Said, output_schema
from ideogram_mcp.tools.questions import Questions

if TYPE_CHECKING:
    from ideogram_mcp.files import Places
    from ideogram_mcp.journal import Entry, Place, State
    from ideogram_mcp.tasks.services import Services


class GenerationSummary(Output):
    task_uuid: str = Field(serialization_alias="taskUUID")
    tool: str
    model: str
    state: str = Field(description="pending, done or failed.")
    created: str = Field(description="When the task was sent, ISO 8601.")
    requested: int
    ready: int = Field(description="Images ready.")
    images: list[str] = Field(default_factory=list, description="Each ready image's saved path, else its URL.")
    cost: float | None = Field(default=None, description="What it cost, in USD, once known.")
    quote: float
    approval: str | None = Field(
        default=None, description="How the spend was approved: under threshold, asked (the user), approvedCost."
    )
    prompt: str | None = Field(default=None, description="The start of the prompt.")


class ListGenerationsOutput(Said):
    """Recent tasks and spending."""

    generations: list[GenerationSummary]
    spent_today: float = Field(serialization_alias="spentToday", description="USD, pending tasks at their quote.")
    spent_total: float = Field(serialization_alias="spentTotal")
    daily_budget: float | None = Field(default=None, serialization_alias="dailyBudget")
    next_cursor: str | None = Field(
        default=None, serialization_alias="nextCursor", description="Give it as cursor for the older ones."
    )


_READ_ONLY = types.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def get_generation_entry() -> ToolEntry:
    tool = types.Tool(
        name="get_generation",
        title="Get a generation",
        description=(
            "Fetch a generation started earlier (status pending, or an earlier session's): waits up to `wait` "
            "seconds for the rest, then saves and previews them. Never starts one, never charges."
        ),
        input_schema=tool_input(load_tool_specs()["get_generation"]),
        output_schema=output_schema(GenerateImageOutput),  # its description says what status pending means
        annotations=types.ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
        _meta=dict(app.SHOWN_IN),  # it brings images back, and shows them as the image tools do
    )
    return ToolEntry(tool, get_generation)


def list_generations_entry() -> ToolEntry:
    tool = types.Tool(
        name="list_generations",
        title="List recent generations",
        description="Recent generations with their state, images and cost, and today's and total spend. Free.",
        input_schema=tool_input(load_tool_specs()["list_generations"]),
        output_schema=output_schema(ListGenerationsOutput),
        annotations=_READ_ONLY,
    )
    return ToolEntry(tool, list_generations)


async def get_generation(
    ctx: Context, params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult:
    from ideogram_mcp.tasks import fetch, outcomes  # loaded at the first call: building the tool needs its schema only
    from ideogram_mcp.tools import results, wording

    state = ctx.lifespan_context
    try:
        given = arguments.parse_tool(load_tool_specs()["get_generation"], params.arguments)
    except arguments.InvalidArgumentsError as exc:
        return results.invalid(exc.problems, generating=False)
    task_uuid = as_runware_reads(str(given["taskUUID"]).strip())  # a UUID in any form reads as the one recorded
    questions = Questions(ctx, params)
    if (where := await places(ctx, questions)) is None:  # the client's roots first: they say where images are saved
        if await _known(state.services, task_uuid, owner(ctx)):
            return questions.asking()
        where = await places(ctx)  # nothing of it to save: refused as it is, with no round first
    outcome = await fetch.again(
        state.services,
        task_uuid,
        owner(ctx),
        where,
        wait=given.get("wait"),
        preview=given.get("preview"),
        report=reporter(ctx),
    )
    if isinstance(outcome, outcomes.Made) and outcome.saved_new:
        await announce_new_images(ctx)
    return await wording.said(outcome, state.settings.runware_api_key)


async def _known(services: Services, task_uuid: str, owner: str) -> bool:
    """Whether the owner's journal holds the task (a failing journal: as if it did, get_generation says why)."""
    from ideogram_mcp.journal import JournalError

    try:
        return await services.journal.get(task_uuid, owner) is not None
    except JournalError:
        return True


async def list_generations(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
    from ideogram_mcp.tasks import fetch  # loaded at the first call: building the tool needs its schema only
    from ideogram_mcp.tools import results, wording

    state = ctx.lifespan_context
    try:
        given = arguments.parse_tool(load_tool_specs()["list_generations"], params.arguments)
    except arguments.InvalidArgumentsError as exc:
        return results.invalid(exc.problems, generating=False)
    limit, wanted = int(given["limit"]), cast("State | None", given.get("state"))
    before = _place(given["cursor"]) if "cursor" in given else None
    if before is False:
        return results.invalid([arguments.Problem("cursor", _NOT_A_CURSOR)], generating=False)
    where = await places(ctx)  # on stdio, paths are shown whole: no need of the client's roots
    listing = await fetch.recent(state.services, owner(ctx), limit, wanted, before or None)
    spend, summaries, size = listing.spend, list[GenerationSummary](), 0
    for entry in listing.entries:  # a page ends early where it would pass PAGE_CHARACTERS: the rest follow
        summary = _summary(entry, where)
        size += len(json.dumps(summary.model_dump(mode="json", by_alias=True, exclude_none=True))) + 2
        if summaries and size > PAGE_CHARACTERS:
            break
        summaries.append(summary)
    entries = listing.entries[: len(summaries)]
    more = listing.more or len(entries) < len(listing.entries)
    following = cursors.cursor([entries[-1].created, entries[-1].task_uuid]) if more and entries else None
    output = ListGenerationsOutput(
        generations=summaries,
        spent_today=spend.today,
        spent_total=spend.total,
        daily_budget=listing.daily_budget,
        next_cursor=following,
    )
    limit_today = listing.daily_budget
    budget = f" of a {money(limit_today)} daily budget" if limit_today is not None else " (no daily budget is set)"
    lines = [f"Spent {money(spend.today)} today{budget}, {money(spend.total)} in all (pending tasks at their quote)."]
    lines += [warning] if (warning := wording.memory_only(listing.memory_only)) else []
    for item in output.generations:
        cost = money(item.cost) if item.cost is not None else f"quoted {money(item.quote)}"
        if item.cost is None and item.state == "failed":  # counted at nothing, as the spend above counts it
            cost = f"{money(0.0)} ({cost})"
        cost += f" ({item.approval})" if item.approval in ("asked", "approvedCost") else ""
        lines.append(
            f"- {item.created} {item.state} {item.task_uuid}: {item.ready}/{item.requested} image(s), {cost}, "
            # A reframe has no prompt: none shown. Quoted as JSON: a line break escaped, a joiner or a direction
            # mark of the prompt's language kept as written (repr had shown them as \u200c).
            f"{item.tool}{f' {json.dumps(clipped(item.prompt, 60), ensure_ascii=False)}' if item.prompt else ''}"
        )
    if not entries:
        kind = f"{wanted} " if wanted else ""
        lines.append(
            f"No older {kind}generations." if before else f"No {kind}generations." if wanted else "No generations yet."
        )
    if following is not None:
        lines.append(f'Older ones follow: call list_generations with cursor "{following}" for them.')
    return results.ok(output, "\n".join(lines))


PAGE_CHARACTERS = 60_000
"""Most characters of a page's generations as JSON (about 15,000 tokens): Claude Code gives its model the structured
output, and cuts a result at 25,000 tokens. A page of 100 tasks of 20 saved images each had been 315,000."""


_NOT_A_CURSOR = "is not a cursor this tool gave: give the nextCursor of an earlier call as it came, or leave it out"


def _place(cursor: object) -> Place | Literal[False]:
    """The place a cursor this tool gave names (when its last task was sent, and its taskUUID); False for anything
    else."""
    match cursors.place(cursor):
        case [int(created) | float(created), str(task_uuid)] if not isinstance(created, bool):
            try:
                when = float(created)
            except OverflowError:  # a whole number no float holds
                return False
            return (when, task_uuid) if math.isfinite(when) and _TASK_UUID.fullmatch(task_uuid) else False
        case _:
            return False


_TASK_UUID = re.compile(r"[0-9A-Za-z-]{1,64}")
"""A taskUUID as a cursor may name one: never a NUL or half a surrogate pair, which no journal's query takes."""


def _summary(entry: Entry, where: Places) -> GenerationSummary:
    prompt = prompt_of(entry.task)
    return GenerationSummary(
        task_uuid=entry.task_uuid,
        tool=entry.tool,
        model=entry.model,
        state=entry.state,
        created=datetime.fromtimestamp(entry.created, UTC).isoformat(timespec="seconds"),
        requested=entry.requested,
        ready=len(entry.images),
        images=[where.shown(record.path) if record.path else record.image_url for record in entry.images],
        cost=entry.cost,
        quote=entry.quote,
        approval=entry.approval or None,
        prompt=clipped(prompt, 120) if prompt else None,
    )
