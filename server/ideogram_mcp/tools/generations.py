"""The life of a generation, shared by every image tool, and the two tools that look at it later.

``start`` takes checked arguments to a result: local inputs read, the price quoted and held to the
limits (and approved by the user when it is large), the task recorded in the journal, sent, and
waited for no longer than clients wait. ``finish`` keeps what arrived (files, previews) and says
what it is. ``get_generation`` finishes a task started earlier; ``list_generations`` lists them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import mcp_types as types
from pydantic import Field, SecretStr

from ideogram_mcp import arguments, files, journal, masks, previews
from ideogram_mcp.errors import PictureError
from ideogram_mcp.journal import DuplicateTaskError, Entry, JournalError, OverBudgetError, TooManyRunningError
from ideogram_mcp.runware import errors
from ideogram_mcp.runware.delivery import KEEPALIVE, Image, Snapshot
from ideogram_mcp.schemas import image_tool_input
from ideogram_mcp.settings import redact, redacted
from ideogram_mcp.specs import ModelSpec, is_web_url, load_specs
from ideogram_mcp.specs.spec import BASE_MODEL
from ideogram_mcp.tools import AppState, Context, ToolEntry, announce_new_images, owner, places, results, spending
from ideogram_mcp.tools.questions import Questions
from ideogram_mcp.tools.results import GeneratedImage, GenerateImageOutput

logger = logging.getLogger(__name__)

_INLINE_SHOWN = 64
BUSY_POLL = 0.25
"""Seconds between looks at the journal while another call saves an image this one waits for."""
SAVING_GRACE = 5.0
"""Seconds images that arrive at a call's deadline still get for downloading and saving (within clients' 60 s)."""
IN_FLIGHT_WINDOW = 15 * 60.0
"""A task pending longer than this no longer counts as in flight (it was cut short, and is fetched later)."""
NOT_ACCEPTED_WITHIN = 60 * 60.0
"""Seconds after its sending within which Runware's "no such task", for a task it never acknowledged and no poll
found, means it never had it (not charged). Later, the task may have run and its results expired ([guess]: Runware
keeps results at least this long), so it is counted as maybe charged."""

NOT_CONFIGURED = (
    "RUNWARE_API_KEY is not set, so no image can be generated. Add it to this server's environment in the MCP "
    "client's config (keys are made in the Runware dashboard), or start the server with --offline to use the "
    "built-in Runware emulator (placeholder images, no cost)."
)


Prepare = Callable[
    [Context, arguments.Generation, Mapping[arguments.LocalInput, files.LocalImage], bool],
    Awaitable[arguments.Generation | list[arguments.Problem]],
]
"""A tool's last step before its task is built, given the local images read; ``True`` when it may send
requests (after approval), ``False`` before (dry runs, and to find problems before anything is sent)."""


@dataclass(frozen=True, slots=True)
class Job:
    """One call's work: which tool and model, the checked arguments, and what it costs."""

    tool: str
    spec: ModelSpec
    generation: arguments.Generation
    prepare: Prepare | None = None

    @property
    def quote(self) -> float:
        return self.spec.quote(self.generation.values)

    @property
    def what(self) -> str:
        n = self.generation.count
        return f"make {n} image{'s' if n != 1 else ''} with {self.spec.model.name}"


_PAID = types.ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


def image_tool(
    spec: ModelSpec,
    name: str,
    title: str,
    description: str,
    *,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    full: bool = True,
    optional: frozenset[str] = frozenset(),
) -> types.Tool:
    """An image tool as ``tools/list`` shows it: its input schema from the model's spec, the shared output."""
    return types.Tool(
        name=name,
        title=title,
        description=description,
        input_schema=image_tool_input(spec, extra, full=full, optional=optional),
        output_schema=results.output_schema(GenerateImageOutput, described=results.IMAGES_DESCRIBED),
        annotations=_PAID,
    )


async def run(
    ctx: Context,
    params: types.CallToolRequestParams,
    spec: ModelSpec,
    *,
    own: frozenset[str] = frozenset(),
    supplied: frozenset[str] = frozenset(),
    problems: Sequence[arguments.Problem] = (),
    prepare: Prepare | None = None,
) -> types.CallToolResult | types.InputRequiredResult:
    """Check an image tool's arguments against its model's spec, then ``start`` the job.

    ``own`` are the tool's own arguments, checked by the tool (``problems`` holds what it found);
    ``supplied`` are required parameters the tool's ``prepare`` fills in.
    """
    try:
        generation = arguments.parse(spec, params.arguments or {}, supplied=supplied, own=own)
    except arguments.InvalidArgumentsError as exc:
        return results.invalid([*problems, *exc.problems])
    if problems:
        return results.invalid(problems)
    return await start(ctx, params, Job(params.name, spec, generation, prepare))


async def start(
    ctx: Context, params: types.CallToolRequestParams, job: Job
) -> types.CallToolResult | types.InputRequiredResult:
    """Run a job: check, quote, approve, record, send, wait; a result, ``pending`` at the latest when clients leave."""
    state = ctx.lifespan_context
    settings = state.settings
    generation = job.generation
    questions = Questions(ctx, params)
    where = await places(ctx, questions)
    if where is None:  # the client's roots are asked for first: where images go decides which files may be read
        return _asking(questions)
    if generation.output_dir is not None:
        chosen, problem = await anyio.to_thread.run_sync(files.chosen_output, where, generation.output_dir)
        if chosen is None:
            return results.invalid([arguments.Problem(arguments.OUTPUT_DIR, f"{problem}.")])
        where = chosen
    service = state.delivery.client.base_url if state.delivery else settings.runware_base_url
    local = generation.local_inputs
    try:
        read = await files.read_all([item.text for item in local], where, service)
    except files.LocalInputError as exc:
        return results.invalid([arguments.Problem(local[i].argument, f"{reason}.") for i, reason in exc.problems])
    read_by_item = dict(zip(local, read, strict=True))
    if job.prepare is not None:
        prepared = await job.prepare(ctx, generation, read_by_item, False)
        if isinstance(prepared, list):
            return results.invalid(prepared)
        generation = prepared
    server_values = {"webhookURL": settings.webhook_url, "uploadEndpoint": settings.upload_endpoint}
    if generation.dry_run:
        shown = {item: f"<upload of {where.shown(read_by_item[item].path)}>" for item in generation.local_inputs}
        task = generation.with_images(shown).to_task(job.spec, questions.task_uuid, server_values)
        return _dry_run(job, task, settings.confirm_above)
    if state.delivery is None:
        return results.error(NOT_CONFIGURED, {"kind": "not_configured"})
    if refusal := spending.over_the_call_limit(job.quote, settings.max_cost_per_call):
        return results.error(refusal, {"kind": "over_limit", "quote": job.quote, "limit": settings.max_cost_per_call})
    who = owner(ctx)
    if who and await state.journal.running(who, time.time() - IN_FLIGHT_WINDOW) >= settings.max_in_flight:
        return _too_many_running(settings.max_in_flight)  # checked again, atomically, when the task is recorded
    budget = settings.daily_limit
    if budget is not None and state.journal.problem is not None:  # a spend kept in memory is forgotten at restart
        return _budget_not_kept(budget, state.journal.problem)
    if budget is not None:  # checked again, atomically, when the task is recorded
        spent = (await state.journal.spend(who)).today
        if spent + job.quote > budget + spending.TOLERANCE:
            return _over_budget(OverBudgetError(job.quote, budget, spent))
    longest = f"{generation.file_name}-{generation.count}-999.webp" if generation.file_name else ""
    if settings.save and (why := await anyio.to_thread.run_sync(files.unwritable, where.output, longest)):
        return _unwritable(where, why)
    verdict = await spending.approve(ctx, questions, job.quote, job.what, generation.approved_cost)
    if verdict is None:
        return _asking(questions)
    if isinstance(verdict, spending.Refused):
        return results.error(verdict.text, {"kind": verdict.kind, **verdict.details})
    deadline = time.monotonic() + settings.wait_seconds
    progress = Progress(ctx, generation.count)
    async with progress.heartbeat(f"Preparing the task ({job.what})"):
        try:
            if job.prepare is not None:
                prepared = await job.prepare(ctx, job.generation, read_by_item, True)
                if isinstance(prepared, list):
                    return results.invalid(prepared)
                generation = prepared
            generation = await _uploaded(state, generation, read_by_item, deadline)
        except errors.RunwareError as exc:
            exc.may_have_run = False  # only free uploads went out: the paid task was never sent
            return _failed(state, exc, None)
    task = generation.to_task(job.spec, questions.task_uuid, server_values)
    try:
        entry = await state.journal.record(
            task_uuid=task["taskUUID"],
            owner=owner(ctx),
            tool=job.tool,
            model=job.spec.model.id,
            task=_recorded(task),
            requested=generation.count,
            quote=job.quote,
            options={"fileName": generation.file_name, "preview": generation.preview, "folder": str(where.output)},
            approval=verdict,
            daily_budget=budget,
            max_running=settings.max_in_flight if who else None,
            running_since=time.time() - IN_FLIGHT_WINDOW,
        )
    except OverBudgetError as exc:
        return _over_budget(exc)
    except TooManyRunningError as exc:
        return _too_many_running(exc.limit)
    except DuplicateTaskError as exc:
        return _sent_before(exc.task_uuid)
    try:
        async with progress.heartbeat(f"Sending the task ({job.what})"):
            try:
                await state.delivery.submit(task, deadline)
                await _accepted(state, entry.task_uuid)
            except errors.RunwareError as exc:
                if not exc.may_have_run:
                    await _record_failure(state, entry, exc)
                    return _failed(state, exc, entry.task_uuid)
                logger.warning("task %s may have reached Runware (%s); keeping it pending", entry.task_uuid, exc)
                unknown = Snapshot(entry.task_uuid, entry.requested, trouble=exc)
                return await finish(ctx, entry, unknown, where, generation.preview, deadline)
            # Runware has the task from now on: a slow submission (resends, a 429) must not count toward
            # the time after which "no such task" means lost.
            snapshot = await state.delivery.wait(
                entry.task_uuid, entry.requested, deadline, progress.images, sent_at=time.time()
            )
            return await finish(ctx, entry, snapshot, where, generation.preview, deadline, accepted=True)
    except Exception:  # the task is recorded and may be paid for: say how to get it, never "try again"
        logger.exception("task %s: unexpected failure after it was sent", entry.task_uuid)
        return _pending_after_trouble(entry)


def _asking(questions: Questions) -> types.InputRequiredResult:
    asking = questions.pending()
    assert asking is not None, "asked only when there is a question"
    return asking


async def finish(
    ctx: Context,
    entry: Entry,
    snapshot: Snapshot | None,
    where: files.Places,
    preview: bool | None,
    until: float,
    *,
    accepted: bool = False,
) -> types.CallToolResult:
    """Keep what the snapshot adds to the entry (files, previews), record it, and say where things stand.

    Without a snapshot the entry is shown as the journal holds it (a settled task fetched again); images
    that could not be saved before are tried again either way. ``accepted`` says Runware acknowledged the task.
    """
    state = ctx.lifespan_context
    async with state.finishing(entry.task_uuid):  # one finish of a task at a time in this process
        latest = await _reread(state, entry)  # another finish may have saved images meanwhile
        return await _finish(ctx, latest or entry, snapshot, where, preview, until, accepted=accepted)


async def _reread(state: AppState, entry: Entry) -> Entry | None:
    try:
        return await state.journal.get(entry.task_uuid, entry.owner)
    except JournalError as exc:
        logger.warning("task %s: the journal could not be read again: %s", entry.task_uuid, exc)
        return None


async def _finish(
    ctx: Context,
    entry: Entry,
    snapshot: Snapshot | None,
    where: files.Places,
    preview: bool | None,
    until: float,
    *,
    accepted: bool,
) -> types.CallToolResult:
    state = ctx.lifespan_context
    settled = snapshot is None
    snapshot = snapshot or Snapshot(entry.task_uuid, entry.requested)
    accepted = accepted or entry.accepted or snapshot.found
    if snapshot.lost is not None and not snapshot.images and not entry.images:
        if not accepted and time.time() - entry.created < NOT_ACCEPTED_WITHIN:
            return await _not_accepted(state, entry)
        return await _forgotten(state, entry, snapshot.lost)
    known = {record["imageUUID"] for record in entry.images}
    arrivals = _arrivals(entry, [image for image in snapshot.images if image.image_uuid not in known])
    records = [*[dict(record) for record in entry.images], *arrivals]
    show = state.settings.preview if preview is None else preview
    data: dict[str, bytes] = {}
    trouble: JournalError | None = None
    # Images that come at the deadline still get a few seconds: a call's time bounds the saving too.
    saving_until = max(until, time.monotonic() + SAVING_GRACE)
    if state.settings.save and any(record.get("imageURL") and not record.get("path") for record in records):
        saving = await _save_unsaved(state, entry, records, where, saving_until)
        for record in records:
            record.update(saving.fields.get(str(record["imageUUID"]), {}))
        data, trouble = saving.data, saving.journal
        if any(str(record["imageUUID"]) in saving.fields and record.get("path") for record in records):
            await announce_new_images(ctx)
    elif show and arrivals:  # not saved: fetched for the previews only
        wanted = [files.Wanted(url=r["imageURL"], stem="", recipe=lambda _: {}) for r in arrivals]
        kept = await files.keep(state.downloads, wanted, folder=None, until=saving_until)
        fallback = _asked_format(entry)
        for record, outcome in zip(arrivals, kept, strict=True):
            record |= _measured(entry, outcome.data) | {"format": outcome.format.name if outcome.format else fallback}
            if outcome.data is not None:
                data[str(record["imageUUID"])] = outcome.data
    for record in records:
        record.pop("claimedBy", None)
        record.pop("claimedUntil", None)
    shown_data: list[bytes | None] = []
    if show:
        shown_data = [data.get(str(r["imageUUID"])) or await _read(r.get("path")) for r in records]
    if settled:
        failures = [results.excerpt(error) for error in entry.errors]  # journals of earlier versions kept them whole
        status: journal.State = entry.state
    else:
        key = state.settings.runware_api_key  # blanked before any cut, so that no cut leaves a piece of it
        failures = [
            f"{results.excerpt(redact(f.code, key), 80)}: {results.excerpt(redact(f.message, key))}"
            for f in snapshot.failures
        ]
        done = snapshot.done or len(records) >= entry.requested
        status = "done" if done else "pending"
        if done and not records:
            status = "failed"
    # What it cost: each image at its cost, else at the price of an image; images Runware reported finished but that
    # cannot be used were charged all the same. Unknown while Runware said no cost at all (then the quote counts).
    unit = entry.quote / entry.requested
    unusable = sum(charge if charge is not None else unit for charge in snapshot.unusable_charges)
    costs = [record["cost"] for record in records if isinstance(record.get("cost"), int | float)]
    known = costs or unusable
    cost = round(sum(costs) + unit * (len(records) - len(costs)) + unusable, 6) if known else None
    try:
        await state.journal.update(
            entry.task_uuid,
            state=status,
            images=records,
            errors=failures,
            cost=cost,
            accepted=accepted,
            unusable_cost=None if settled else round(unusable, 6),
        )
    except JournalError as exc:  # what was saved is said all the same: the files are there
        logger.warning("task %s: the journal could not record it: %s", entry.task_uuid, exc)
        trouble = trouble or exc
    if status == "failed":
        charged = (
            f" Runware reported them finished, so they may have been charged ({spending.money(unusable)})."
            if unusable
            else ""
        )
        said = f"All {entry.requested} requested image(s) failed: {'; '.join(failures)}. Nothing usable was made."
        return results.error(
            said + charged,
            {"kind": "failed", "taskUUID": entry.task_uuid, "errors": failures, "mayHaveBeenCharged": bool(unusable)},
        )
    if snapshot.blocked is not None and not records:
        return _blocked(state, entry, snapshot.blocked)
    output = GenerateImageOutput(
        status="done" if status == "done" else "pending",
        model=entry.model,
        task_uuid=entry.task_uuid,
        requested=entry.requested,
        images=[_image(entry, record, where) for record in records],
        total_cost=cost,
        quote=entry.quote,
        errors=failures,
        folder=where.shown(where.output) if any(record.get("path") for record in records) else None,
    )
    shown = await anyio.to_thread.run_sync(_previews, shown_data) if show else []
    logger.info("task %s: %d of %d image(s) ready, cost %s", entry.task_uuid, len(records), entry.requested, cost)
    footer = _footer(output, snapshot.trouble, state.settings.runware_api_key)
    footer = footer or (_save_again(records) if status == "done" else "")
    if unusable:
        count = len(snapshot.unusable_charges)
        footer = "\n".join(
            line
            for line in (
                footer,
                f"Runware reported {count} more image(s) finished that cannot be used: they may have been charged "
                f"({spending.money(unusable)}), and are counted so.",
            )
            if line
        )
    unrecorded = (
        f"Warning: {trouble.said}, so this answer may not be in the journal yet. The saved files above are kept; "
        f"get_generation with this taskUUID saves the rest once it works. {trouble.fix}"
        if trouble is not None
        else ""
    )
    footer = "\n".join(line for line in (footer, unrecorded, _unkept(state)) if line)
    headline = _headline(entry, output, snapshot.trouble)
    uris = [where.uri(Path(r["path"])) if r.get("path") else None for r in records]  # None: not this connection's
    return results.images(output, headline, [r.get("problem") for r in records], uris, shown, footer)


async def _forgotten(state: AppState, entry: Entry, lost: errors.RunwareError) -> types.CallToolResult:
    """A task Runware no longer knows: it may never have arrived, or run (and been charged) and expired.
    Nothing can be fetched; it stays counted at its quote, as it may have cost that."""
    said = results.excerpt(redact(str(lost), state.settings.runware_api_key))
    await _failed_in_journal(state, entry, said, cost=entry.quote)
    _, details = results.describe(lost, state.settings.runware_api_key)
    details |= {"mayHaveBeenCharged": True, "taskUUID": entry.task_uuid}
    return results.error(
        "Runware no longer knows this task: it never arrived, or it ran and its results expired. Nothing more can "
        f"be fetched. It may have been charged, so it stays counted at its quote ({spending.money(entry.quote)}).",
        details,
    )


async def _failed_in_journal(state: AppState, entry: Entry, said: str, *, cost: float | None) -> None:
    """Record that a task failed; a journal that cannot take it changes nothing of what the agent is told (its
    state stays pending there, which a later get_generation settles)."""
    try:
        await state.journal.update(entry.task_uuid, state="failed", images=[], errors=[said], cost=cost)
    except JournalError as exc:
        logger.warning("task %s: its failure could not be recorded: %s", entry.task_uuid, exc)


async def _accepted(state: AppState, task_uuid: str) -> None:
    """Record at once that Runware has the task: a restart before its images come must not take it for unsent."""
    try:
        await state.journal.accepted(task_uuid)
    except JournalError as exc:
        logger.warning("task %s: its acceptance could not be recorded: %s", task_uuid, exc)


async def _not_accepted(state: AppState, entry: Entry) -> types.CallToolResult:
    """A task Runware never had: every send failed and no poll found it. It was not charged."""
    said = "Runware never accepted this task: every attempt to send it failed and no poll ever found it"
    await _failed_in_journal(state, entry, said, cost=0.0)
    return results.error(
        f"{said}, so it was not charged. Nothing can be fetched; send the call again when Runware answers.",
        {"kind": "not_accepted", "taskUUID": entry.task_uuid, "mayHaveBeenCharged": False},
    )


async def _record_failure(state: AppState, entry: Entry, exc: errors.RunwareError) -> None:
    said = results.excerpt(redact(str(exc), state.settings.runware_api_key))  # the key out before any cut
    await _failed_in_journal(state, entry, said, cost=None)


def _unkept(state: AppState) -> str:
    """A warning when the journal lives in memory only: a restart would forget the tasks and the day's spend."""
    problem = state.journal.problem
    if problem is None:
        return ""
    return (
        f"Warning: {results.excerpt(problem.said, 300)}, so this server keeps it in memory only: a restart forgets "
        f"this taskUUID and today's spend. {problem.fix}"
    )


def _budget_not_kept(budget: float, problem: JournalError) -> types.CallToolResult:
    return results.error(
        f"The daily budget ({spending.money(budget)}, IDEOGRAM_MCP_DAILY_BUDGET) cannot be kept: "
        f"{results.excerpt(problem.said, 300)}, so a restart would forget today's spend. Nothing was sent or "
        "charged. Have the user set IDEOGRAM_MCP_DATA_DIR to a folder this server can write, or "
        "IDEOGRAM_MCP_DAILY_BUDGET=0 to run without a budget.",
        {"kind": "budget_not_kept", "limit": budget},
    )


def _too_many_running(limit: int) -> types.CallToolResult:
    return results.error(
        f"This token already has {limit} generations running, the most it may have at once, so nothing was sent. "
        "Fetch them with get_generation (list_generations shows them), then try again.",
        {"kind": "too_many_in_flight", "limit": limit},
    )


def _over_budget(exc: OverBudgetError) -> types.CallToolResult:
    return results.error(
        f"This call would cost {spending.money(exc.quote)}, and {spending.money(exc.spent)} is already spent "
        f"today against a daily budget of {spending.money(exc.budget)}, so nothing was sent. Wait until "
        "tomorrow, or have the user raise IDEOGRAM_MCP_DAILY_BUDGET in the server's environment (0 means no limit).",
        {"kind": "over_budget", "quote": exc.quote, "limit": exc.budget, "spentToday": exc.spent},
    )


def _unwritable(where: files.Places, why: str) -> types.CallToolResult:
    folder = where.shown(where.output)
    other = "" if where.source == "setting" else ", or pass outputDir with another folder"
    return results.error(
        f"Images cannot be saved in {folder}: {why}. Nothing was sent or charged. Have the user set "
        "IDEOGRAM_MCP_OUTPUT_DIR to a folder this server can write (or IDEOGRAM_MCP_SAVE=false to keep only the "
        f"image URLs){other}.",
        {"kind": "unwritable_folder", "folder": folder},
    )


def _sent_before(task_uuid: str) -> types.CallToolResult:
    return results.error(
        f'The answers this call carries were used already: its task (taskUUID "{task_uuid}") was sent once, and a '
        f'task is never sent twice. Call get_generation with taskUUID "{task_uuid}" for its images; to make more, '
        "call again.",
        {"kind": "sent_before", "taskUUID": task_uuid},
    )


def _blocked(state: AppState, entry: Entry, exc: errors.RunwareError) -> types.CallToolResult:
    """Runware would not say how a sent task stands: an error, but the task stays pending, never lost."""
    text, details = results.describe(exc, state.settings.runware_api_key)
    text = (
        f"{text} The task was sent and may still run and be charged; it stays in the journal as pending. "
        f'Once this is fixed, call get_generation with taskUUID "{entry.task_uuid}" to fetch it; do not start it again.'
    )
    details |= {"mayHaveBeenCharged": True, "retryable": False, "taskUUID": entry.task_uuid}
    return results.error(text, details)  # the server redacts the key from every result


def _pending_after_trouble(entry: Entry) -> types.CallToolResult:
    return results.error(
        "The task was sent, but following it failed in this server (its log on stderr says why). It is not lost: "
        f'call get_generation with taskUUID "{entry.task_uuid}" to fetch its images; do not start it again.',
        {"kind": "internal", "taskUUID": entry.task_uuid, "mayHaveBeenCharged": True, "retryable": False},
    )


def _save_again(records: Sequence[Mapping[str, Any]]) -> str:
    if any(record.get("problem") for record in records):
        return "get_generation with this taskUUID tries to save the unsaved images again while their URLs live."
    return ""


class Progress:
    """Progress notifications for one call: a value that only rises, and a word at least every few seconds."""

    def __init__(self, ctx: Context, requested: int) -> None:
        self._ctx = ctx
        self._requested = requested
        self._started = time.monotonic()
        self._last = -1.0
        self._finished = 0

    async def say(self, message: str) -> None:
        if self._last >= self._requested:
            return  # complete: each notification must carry a larger value, and none can be larger
        elapsed = time.monotonic() - self._started
        value = self._finished + 0.99 * elapsed / (elapsed + 20.0)
        self._last = min(max(self._last + 1e-3, value), float(self._requested))
        await self._ctx.session.report_progress(self._last, self._requested, message[:200])

    async def images(self, snapshot: Snapshot) -> None:
        """Report what a snapshot shows: images ready, failed, and the time so far."""
        self._finished = len(snapshot.images) + len(snapshot.failures)
        parts = [f"{len(snapshot.images)} of {self._requested} ready"]
        if snapshot.failures:
            parts.append(f"{len(snapshot.failures)} failed")
        parts.append(f"{time.monotonic() - self._started:.0f} s")
        await self.say(", ".join(parts))

    @contextlib.asynccontextmanager
    async def heartbeat(self, message: str) -> AsyncGenerator[None]:
        """Say ``message`` now and again every few seconds while the block runs (clients reset timeouts on it)."""
        await self.say(message)

        async def beat() -> None:
            while True:
                await anyio.sleep(KEEPALIVE)
                await self.say(message)

        async with anyio.create_task_group() as beating:
            beating.start_soon(beat)
            try:
                yield
            finally:
                beating.cancel_scope.cancel()


async def _uploaded(
    state: AppState,
    generation: arguments.Generation,
    read: Mapping[arguments.LocalInput, files.LocalImage],
    deadline: float,
) -> arguments.Generation:
    """These arguments with every local file replaced by the image UUID Runware holds it under."""
    delivery = state.delivery
    assert delivery is not None
    uuids: dict[arguments.LocalInput, str] = {}
    for item in generation.local_inputs:
        image = read[item]
        if image.image_uuid is None:
            # Hashing and encoding up to 10 MB happen off the event loop.
            digest = await anyio.to_thread.run_sync(lambda image=image: image.sha256)
            if digest not in state.uploads:
                encoded = await anyio.to_thread.run_sync(lambda image=image: image.data_uri)
                state.uploads[digest], _ = await delivery.upload(encoded, deadline)
                logger.info("uploaded %s as a Runware image", image.path.name)
            uuids[item] = state.uploads[digest]
        else:
            uuids[item] = image.image_uuid
    return generation.with_images(uuids)


def _arrivals(entry: Entry, arrived: Sequence[Image]) -> list[dict[str, Any]]:
    """Records of newly finished images, each with the name (``stem``) it is to be saved under, numbered after the
    images the task has already."""
    stems = files.stems(
        entry.options.get("fileName"),
        str(entry.task.get("positivePrompt", "")),
        [image.image_uuid.replace("-", "")[:8] for image in arrived],
        datetime.now().astimezone(),
        first=len(entry.images) + 1,
        of=entry.requested,
    )
    return [
        {
            "imageUUID": image.image_uuid,
            "imageURL": image.image_url,
            "seed": image.seed,
            "cost": image.cost,
            "NSFWContent": image.nsfw_content,
            "stem": stem,
        }
        for image, stem in zip(arrived, stems, strict=True)
    ]


@dataclass(slots=True)
class _Saving:
    """What one finish learnt while saving: fields per image (by imageUUID), the bytes fetched, a journal failure."""

    fields: dict[str, dict[str, Any]] = dataclasses.field(default_factory=lambda: {})
    data: dict[str, bytes] = dataclasses.field(default_factory=lambda: {})
    journal: JournalError | None = None
    held: set[str] = dataclasses.field(default_factory=lambda: set[str]())
    """The images whose saving this finish claimed and has not recorded yet."""


async def _save_unsaved(
    state: AppState, entry: Entry, records: Sequence[Mapping[str, Any]], where: files.Places, until: float
) -> _Saving:
    """Save every image of the task that is not saved yet, each exactly once whatever runs at the same time
    (another call, another worker, a finish that was killed): the journal gives each image's saving to one finish
    (a claim that runs out at that finish's deadline), which downloads it, writes it under the name recorded for it
    (or takes the file a cut-short finish left there) and records it. A claim held by another is waited for until
    ``until``; an image not saved by then keeps its URL, and get_generation saves it later."""
    saving = _Saving()
    me = uuid.uuid4().hex
    lease = time.time() + max(0.0, until - time.monotonic())  # a wall-clock time: every process reads it
    by_uuid = {str(record["imageUUID"]): record for record in records}
    wanted = [u for u, record in by_uuid.items() if record.get("imageURL") and not record.get("path")]
    named = [dict(record) | {"stem": record.get("stem") or _stem_of(entry, record)} for record in records]
    try:
        claims = await state.journal.claim(entry.task_uuid, named, wanted, by=me, until=lease)
        saving.held = {u for u, claim in claims.items() if claim.state == "mine"}
        while True:
            mine = {u: claim.stem for u, claim in claims.items() if claim.state == "mine"}
            for u, claim in claims.items():
                if claim.state == "stored":
                    saving.fields[u] = {"path": claim.path, "problem": None}
            if mine:
                await _save_claimed(
                    state, entry, {u: (by_uuid[u], stem) for u, stem in mine.items()}, where, until, me, saving
                )
            busy = [u for u, claim in claims.items() if claim.state == "busy"]
            if not busy or time.monotonic() >= until:
                break
            await anyio.sleep(min(BUSY_POLL, max(0.0, until - time.monotonic())))
            claims = await state.journal.claim(entry.task_uuid, [], busy, by=me, until=lease)
            saving.held |= {u for u, claim in claims.items() if claim.state == "mine"}
        for u in busy:
            saving.fields[u] = {
                "problem": "was being saved by another call of this server when this one's time ran out"
            }
    except JournalError as exc:  # unrecorded, a file would be saved again later: keep the URL, save it then
        logger.warning("task %s: images not saved: %s", entry.task_uuid, exc)
        saving.journal = exc
        for u in wanted:
            saving.fields.setdefault(u, {"problem": exc.said})
    finally:
        if saving.held and saving.journal is None:  # ended (cancelled, say) before saving them: others may now
            with anyio.CancelScope(shield=True), contextlib.suppress(JournalError):
                await state.journal.release(entry.task_uuid, by=me)
    return saving


async def _save_claimed(
    state: AppState,
    entry: Entry,
    claimed: Mapping[str, tuple[Mapping[str, Any], str]],
    where: files.Places,
    until: float,
    me: str,
    saving: _Saving,
) -> None:
    """Download and save the images this finish claimed (record and name by imageUUID), and record each."""
    order = list(claimed)
    wanted = [
        files.Wanted(url=str(record["imageURL"]), stem=stem, recipe=_recipe(state, entry, record))
        for record, stem in claimed.values()
    ]
    kept = await files.keep(state.downloads, wanted, folder=where.output, until=until)
    fallback = _asked_format(entry)
    for image_uuid, outcome in zip(order, kept, strict=True):
        fields = _measured(entry, outcome.data) | {
            "format": outcome.format.name if outcome.format else fallback,
            "path": str(outcome.path) if outcome.path else None,
            "problem": outcome.problem,
        }
        if outcome.data is not None:
            saving.data[image_uuid] = outcome.data
        winner = None
        if saving.journal is None:  # once the journal failed, it is not asked again (each ask waits for its lock)
            try:
                winner = await state.journal.stored(entry.task_uuid, image_uuid, by=me, fields=fields)
                saving.held.discard(image_uuid)
            except JournalError as exc:  # the file is saved all the same: said now, and taken as is later
                saving.journal = exc
        if outcome.path is not None and winner is not None and winner != str(outcome.path):
            files.discard(outcome.path)  # another finish saved it first, after this one's claim ran out
            fields |= {"path": winner}
        saving.fields[image_uuid] = fields


def _recipe(state: AppState, entry: Entry, record: Mapping[str, Any]) -> Callable[[bytes], dict[str, Any]]:
    """What a sidecar records of an image: how it was made (never the key), where it came from, its size."""
    runware = state.delivery.client.base_url if state.delivery else None

    def of(data: bytes) -> dict[str, Any]:
        size = _measured(entry, data)
        return redacted(
            {
                "model": entry.model,
                "taskUUID": entry.task_uuid,
                "imageUUID": record["imageUUID"],
                "seed": record.get("seed"),
                "cost": record.get("cost"),
                "width": size.get("width"),
                "height": size.get("height"),
                "imageURL": record["imageURL"],
                "runware": runware,
                "created": datetime.now(UTC).isoformat(timespec="microseconds"),
                "task": entry.task,
            },
            state.settings.runware_api_key,
        )

    return of


def _measured(entry: Entry, data: bytes | None) -> dict[str, int]:
    """The image's size: read from its bytes when they were fetched, else the size the task asked for."""
    size = masks.size_of(data) if data is not None else None
    if size is None and isinstance(entry.task.get("width"), int) and isinstance(entry.task.get("height"), int):
        size = (entry.task["width"], entry.task["height"])
    return {"width": size[0], "height": size[1]} if size is not None else {}


def _stem_of(entry: Entry, record: Mapping[str, Any]) -> str:
    """The name an image recorded before names were recorded is saved under: by its place in the task."""
    number = next((i for i, r in enumerate(entry.images, 1) if r.get("imageUUID") == record.get("imageUUID")), 1)
    short_id = str(record["imageUUID"]).replace("-", "")[:8]
    (stem,) = files.stems(
        entry.options.get("fileName"),
        str(entry.task.get("positivePrompt", "")),
        [short_id],
        datetime.now().astimezone(),
        first=number,
        of=entry.requested,
    )
    return stem


def _asked_format(entry: Entry) -> str:
    """The format a task asked for: its outputFormat, else its model's default."""
    spec = load_specs().get(entry.model) or load_specs()[BASE_MODEL]
    return files.image_format(str(entry.task.get("outputFormat", spec.parameters["outputFormat"].default))).name


async def _read(path: object) -> bytes | None:
    if not isinstance(path, str):
        return None
    try:
        return await anyio.Path(path).read_bytes()
    except OSError:
        return None


def _image(entry: Entry, record: Mapping[str, Any], where: files.Places) -> GeneratedImage:
    width, height = record.get("width", entry.task.get("width")), record.get("height", entry.task.get("height"))
    return GeneratedImage(
        image_uuid=str(record["imageUUID"]),
        image_url=str(record["imageURL"]),
        path=where.shown(record["path"]) if record.get("path") and where.uri(Path(record["path"])) else None,
        seed=record.get("seed"),
        width=width if isinstance(width, int) else None,
        height=height if isinstance(height, int) else None,
        format=str(record.get("format") or _asked_format(entry)),
        cost=record.get("cost"),
        nsfw_content=record.get("NSFWContent"),
    )


def _previews(data: Sequence[bytes | None]) -> list[previews.Preview]:
    """One preview per image for a few, one contact sheet for many; an unreadable image gets none."""
    ready = [(n, d) for n, d in enumerate(data, 1) if d is not None]
    if len(ready) >= previews.SHEET_FROM:
        try:
            return [previews.sheet(ready)]
        except PictureError:
            return []
    shown: list[previews.Preview] = []
    for n, image in ready:
        try:
            shown.append(previews.single(image, n))
        except PictureError:
            logger.warning("no preview for image %d: it could not be decoded", n)
    return shown


def _headline(entry: Entry, output: GenerateImageOutput, trouble: errors.RunwareError | None = None) -> str:
    known = load_specs().get(entry.model)
    name = known.model.name if known is not None else entry.model
    cost = f", ${output.total_cost:.2f}" if output.total_cost is not None else ""
    size = f"{output.images[0].width}x{output.images[0].height} " if output.images and output.images[0].width else ""
    fmt = f"{size}{output.images[0].format}" if output.images else ""
    made = (
        f"{len(output.images)} image(s)"
        if output.status == "done"
        else f"{len(output.images)} of {entry.requested} image(s) ready"
    )
    said = "Generated" if output.status == "done" else "Pending:" if trouble is not None else "Still rendering:"
    return f"{said} {made} with {name}: {fmt}{cost}.".replace(": .", ".")


def _footer(output: GenerateImageOutput, trouble: errors.RunwareError | None, secret: SecretStr | None) -> str:
    if output.status != "pending":
        return ""
    fetch = f'Call get_generation with taskUUID "{output.task_uuid}"'
    if trouble is not None:  # Runware's answers were failures: say so, not that it renders
        said = results.excerpt(redact(str(trouble), secret), 200)
        return (
            f"Runware's last answer about this task was a failure ({said}), so whether it runs is not known; it "
            f"may still run and be charged, and it is never sent twice. {fetch} later to see; do not start a new "
            "generation for it until get_generation says it failed."
        )
    return (
        "The task is still running on Runware (it is not lost, and it is not charged twice). "
        f"{fetch} to wait for the rest; do not start a new generation for it."
    )


def _failed(state: AppState, exc: errors.RunwareError, task_uuid: str | None) -> types.CallToolResult:
    logger.warning("generation failed: %s", type(exc).__name__)
    text, details = results.describe(exc, state.settings.runware_api_key)
    if task_uuid is not None:
        details["taskUUID"] = task_uuid
    return results.error(text, details)  # the server redacts the key from every result


def _dry_run(job: Job, task: Mapping[str, Any], threshold: float) -> types.CallToolResult:
    generation = job.generation
    output = GenerateImageOutput(
        status="dry_run",
        model=job.spec.model.id,
        task_uuid=str(task["taskUUID"]),
        requested=generation.count,
        images=[],
        quote=job.quote,
        task=dict(task),
    )
    size = f" at {task['width']}x{task['height']}" if "width" in task else ""
    approval = (
        f" Above {spending.money(threshold)} it needs the user's approval: the client asks them when it can, else "
        "the call needs approvedCost once they agreed in the chat."
        if job.quote > threshold + spending.TOLERANCE
        else ""
    )
    text = (
        f"Dry run: nothing was sent or charged. This call would {job.what}{size} for {spending.money(job.quote)}."
        f"{approval} The task it would send is in the structured output (task); send the same arguments without "
        "dryRun to run it."
    )
    return results.ok(output, text)


def _recorded(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task as sent, for the journal and the sidecars: inline image data shortened (it can be megabytes)."""

    def shorten(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shorten(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, list):
            return [shorten(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, str) and len(value) > 256 and _inline_image(value):
            return f"{value[:_INLINE_SHOWN]}... ({len(value)} characters)"
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


# --- get_generation and list_generations -------------------------------------------------------


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
    entry = await state.journal.get(task_uuid.strip(), owner(ctx))
    if entry is None:
        return results.error(
            f"No generation with taskUUID {task_uuid.strip()[:40]!r} is known here. list_generations shows the "
            "recent ones; a taskUUID from another server or machine cannot be fetched.",
            {"kind": "unknown_task"},
        )
    where = await places(ctx)
    if isinstance(folder := entry.options.get("folder"), str):  # where the call that sent it saved its images
        where = dataclasses.replace(where, output=Path(folder))
    if entry.state == "failed":
        return results.error(
            f"That generation failed: {'; '.join(map(results.excerpt, entry.errors)) or 'no image was made'}. "
            "Nothing more can be fetched.",
            {"kind": "failed", "taskUUID": entry.task_uuid},
        )
    if entry.state == "done":
        return await finish(ctx, entry, None, where, preview, time.monotonic() + min(float(wait), limit))
    if state.delivery is None:
        return results.error(NOT_CONFIGURED, {"kind": "not_configured"})
    until = time.monotonic() + min(float(wait), limit)
    progress = Progress(ctx, entry.requested)
    try:
        # The first call may have sent it as late as its own deadline: "no such task" is counted from there.
        sent_at = entry.created + state.settings.wait_seconds
        snapshot = await state.delivery.wait(
            entry.task_uuid, entry.requested, until, progress.images, sent_at=sent_at, ask_first=True
        )
        return await finish(ctx, entry, snapshot, where, preview, until)
    except Exception:
        logger.exception("task %s: unexpected failure while fetching it", entry.task_uuid)
        return _pending_after_trouble(entry)


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
    who = owner(ctx)
    where = await places(ctx)
    entries = await state.journal.recent(who, limit, wanted)
    spend = await state.journal.spend(who)
    output = ListGenerationsOutput(
        generations=[_summary(entry, where) for entry in entries],
        spent_today=spend.today,
        spent_total=spend.total,
        daily_budget=state.settings.daily_limit,
    )
    limit_today = state.settings.daily_limit
    budget = f" of a ${limit_today:.2f} daily budget" if limit_today is not None else " (no daily budget is set)"
    lines = [f"Spent ${spend.today:.2f} today{budget}, ${spend.total:.2f} in all (pending tasks at their quote)."]
    lines += [warning] if (warning := _unkept(state)) else []
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


def _summary(entry: Entry, where: files.Places) -> GenerationSummary:
    prompt = entry.task.get("positivePrompt")
    return GenerationSummary(
        task_uuid=entry.task_uuid,
        tool=entry.tool,
        model=entry.model,
        state=entry.state,
        created=datetime.fromtimestamp(entry.created, UTC).isoformat(timespec="seconds"),
        requested=entry.requested,
        ready=len(entry.images),
        images=[
            where.shown(record["path"]) if record.get("path") else str(record.get("imageURL"))
            for record in entry.images
        ],
        cost=entry.cost,
        quote=entry.quote,
        approval=entry.approval or None,
        prompt=str(prompt)[:120] if isinstance(prompt, str) else None,
    )


def size_here(
    generation: arguments.Generation, read: Mapping[arguments.LocalInput, files.LocalImage], parameter: str
) -> tuple[int, int] | None:
    """The pixel size of an image argument when its bytes are here: a local file or inline data, not a URL or UUID.

    For a list of images, the first one's.
    """
    local = next((item for item in read if item.parameter == parameter), None)
    if local is not None:
        return masks.size_of(read[local].data)
    value: object = generation.values.get(parameter)
    if isinstance(value, list):
        value = cast(list[object], value)[0] if value else None
    first = str(value or "")
    if not first or is_web_url(first) or is_uuid(first):
        return None
    return masks.size_of(decoded(first))


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def decoded(image: str) -> bytes:
    """The bytes of inline image data (a data URI or bare base64); empty when it is neither."""
    encoded = image.split(";base64,", 1)[1] if image.startswith("data:") and ";base64," in image else image
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return b""
