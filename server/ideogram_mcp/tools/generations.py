"""``get_generation`` and ``list_generations``: a task sent earlier fetched again, and the recent ones with the
spend. Neither sends a task or charges anything."""

from __future__ import annotations

from datetime import UTC, datetime

import mcp_types as types
from pydantic import Field

from ideogram_mcp import arguments, journal
from ideogram_mcp.files import Places
from ideogram_mcp.journal import Entry
from ideogram_mcp.tasks import fetch, outcomes
from ideogram_mcp.tools import Context, ToolEntry, announce_new_images, owner, places, reporter, results, wording
from ideogram_mcp.tools.results import GenerateImageOutput


class GenerationSummary(results.Output):
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


class ListGenerationsOutput(results.Output):
    """Recent tasks and spending."""

    generations: list[GenerationSummary]
    spent_today: float = Field(serialization_alias="spentToday", description="USD, pending tasks at their quote.")
    spent_total: float = Field(serialization_alias="spentTotal")
    daily_budget: float | None = Field(default=None, serialization_alias="dailyBudget")


_TASK_UUID_SCHEMA = {"type": "string", "description": "The taskUUID a generating tool returned."}


def get_generation_entry() -> ToolEntry:
    tool = types.Tool(
        name="get_generation",
        title="Get a generation",
        description=(
            "Fetch a generation started earlier (status pending, or an earlier session's): waits up to `wait` "
            "seconds for the rest, then saves and previews them. Never starts one, never charges."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "taskUUID": _TASK_UUID_SCHEMA,
                "wait": {"type": "number", "minimum": 0, "description": "Seconds to wait for unfinished images."},
                "preview": {"type": "boolean", "description": "Whether to show previews (default: on)."},
            },
            "required": ["taskUUID"],
            "additionalProperties": False,
        },
        output_schema=results.output_schema(GenerateImageOutput, described=results.IMAGES_DESCRIBED),
        annotations=types.ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    return ToolEntry(tool, get_generation)


def list_generations_entry() -> ToolEntry:
    tool = types.Tool(
        name="list_generations",
        title="List recent generations",
        description="Recent generations with their state, images and cost, and the spend today and in total. Free.",
        input_schema={
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                "state": {"type": "string", "enum": list(journal.STATES)},
            },
            "additionalProperties": False,
        },
        output_schema=results.output_schema(ListGenerationsOutput),
        annotations=types.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    return ToolEntry(tool, list_generations)


async def get_generation(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
    state = ctx.lifespan_context
    given, problems = arguments.canonical(params.arguments or {}, {"taskUUID", "wait", "preview"})
    task_uuid = given.get("taskUUID")
    limit = state.settings.wait_seconds
    wait = given.get("wait", limit)
    preview = arguments.boolean(given.get("preview"))
    wait = arguments.number(wait)
    if not isinstance(task_uuid, str) or not task_uuid.strip():
        problems.append(arguments.Problem("taskUUID", "required: the taskUUID a generating tool returned."))
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait >= 0:
        said = f"must be a number of seconds from 0 to {limit:g}; got {arguments.show(wait)}."
        problems.append(arguments.Problem("wait", said))
    if preview is not None and not isinstance(preview, bool):
        problems.append(arguments.Problem("preview", f"must be true or false; got {arguments.show(preview)}."))
    if problems:
        return results.invalid(problems, generating=False)
    assert isinstance(task_uuid, str)
    assert isinstance(wait, int | float)
    where = await places(ctx)
    outcome = await fetch.again(
        state.services, task_uuid.strip(), owner(ctx), where, wait=float(wait), preview=preview, report=reporter(ctx)
    )
    if isinstance(outcome, outcomes.Made) and outcome.saved_new:
        await announce_new_images(ctx)
    return await wording.said(outcome, state.settings.runware_api_key)


async def list_generations(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
    state = ctx.lifespan_context
    given, problems = arguments.canonical(params.arguments or {}, {"limit", "state"})
    raw, wanted = given.get("limit", 10), given.get("state")
    limit = arguments.whole(raw)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        problems.append(arguments.Problem("limit", f"must be a whole number from 1 to 100; got {arguments.show(raw)}."))
    if wanted is not None and wanted not in journal.STATES:
        said = f"must be one of {', '.join(journal.STATES)}; got {arguments.show(wanted)}."
        problems.append(arguments.Problem("state", said))
    if problems:
        return results.invalid(problems, generating=False)
    assert isinstance(limit, int)
    where = await places(ctx)
    listing = await fetch.recent(state.services, owner(ctx), limit, wanted)
    spend, entries = listing.spend, listing.entries
    output = ListGenerationsOutput(
        generations=[_summary(entry, where) for entry in entries],
        spent_today=spend.today,
        spent_total=spend.total,
        daily_budget=listing.daily_budget,
    )
    limit_today = listing.daily_budget
    budget = f" of a ${limit_today:.2f} daily budget" if limit_today is not None else " (no daily budget is set)"
    lines = [f"Spent ${spend.today:.2f} today{budget}, ${spend.total:.2f} in all (pending tasks at their quote)."]
    lines += [warning] if (warning := wording.memory_only(listing.memory_only)) else []
    for item in output.generations:
        cost = f"${item.cost:.2f}" if item.cost is not None else f"quoted ${item.quote:.2f}"
        cost += f" ({item.approval})" if item.approval in ("asked", "approvedCost") else ""
        lines.append(
            f"- {item.created} {item.state} {item.task_uuid}: {item.ready}/{item.requested} image(s), {cost}, "
            f"{item.tool} {(item.prompt or '')[:60]!r}"
        )
    if not entries:
        lines.append("No generations yet." if wanted is None else f"No {wanted} generations.")
    return results.ok(output, "\n".join(lines))


def _summary(entry: Entry, where: Places) -> GenerationSummary:
    prompt = entry.task.get("positivePrompt")
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
        prompt=str(prompt)[:120] if isinstance(prompt, str) else None,
    )
