"""A task's outcome as an agent reads it: the words, the structured output, the previews and the links.

Nothing here decides anything about the task: each outcome carries its facts (``tasks.outcomes``), and this
module says them, each kind of outcome in one function. "May have been charged" is Runware's verdict
(``runware``), passed on as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import assert_never

import mcp_types as types
from pydantic import SecretStr

from ideogram_mcp import files
from ideogram_mcp.errors import Kind
from ideogram_mcp.journal import JournalError
from ideogram_mcp.money import money, within
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.runware.errors import RunwareError
from ideogram_mcp.settings import ENV, redact
from ideogram_mcp.specs import load_specs
from ideogram_mcp.tasks import outcomes
from ideogram_mcp.tasks.finish import NEVER_ACCEPTED
from ideogram_mcp.tasks.saving import asked_format
from ideogram_mcp.text import excerpt, joined, quoted
from ideogram_mcp.tools import results
from ideogram_mcp.tools.published import GeneratedImage, GenerateImageOutput
from ideogram_mcp.tools.results import listed

NOT_CONFIGURED = (
    f"{ENV.runware_api_key} is not set, so no image can be generated. Add it to this server's environment in the MCP "
    "client's config (keys are made in the Runware dashboard), or start the server with --offline to use the "
    "built-in Runware emulator (placeholder images, no cost)."
)


def fetch_it(task_uuid: str) -> str:
    """The one way the server tells an agent to fetch a task: by get_generation, with its taskUUID."""
    return f'call get_generation with taskUUID "{task_uuid}"'


async def said(outcome: outcomes.Outcome, secret: SecretStr | None) -> types.CallToolResult:
    """The tool result of an outcome (``Asking`` excepted: the tool answers that with its questions)."""
    match outcome:
        case outcomes.Made():
            return await made(outcome, secret)
        case outcomes.Invalid():
            return results.invalid(outcome.problems)
        case outcomes.NotConfigured():
            return results.error(NOT_CONFIGURED, {"kind": Kind.NOT_CONFIGURED})
        case outcomes.OverCallLimit(quote=quote, limit=limit, cheaper=cheaper):
            ask = f"Ask for {cheaper}, or have" if cheaper else "Have"
            return results.error(
                f"This call would cost {money(quote)}, above the limit of {money(limit)} per call, so nothing was "
                f"sent. {ask} the user raise {ENV.max_cost_per_call} in the server's environment.",
                {"kind": Kind.OVER_LIMIT, "quote": quote, "limit": limit},
            )
        case outcomes.TooManyRunning(limit=limit):
            return results.error(
                f"This token already has {limit} generations running, the most it may have at once, so nothing was "
                "sent. Fetch them with get_generation (list_generations shows them), then try again.",
                {"kind": Kind.TOO_MANY_IN_FLIGHT, "limit": limit},
            )
        case outcomes.TooManyCalls(limit=limit, wait=wait):
            return results.error(
                f"This server lets each client start {limit} paid call(s) a minute ({ENV.max_calls_per_minute}), "
                f"and that many were started in the last 60 seconds, so nothing was sent or charged. Try again in "
                f"{wait} second(s), or have the user raise {ENV.max_calls_per_minute} in the server's environment.",
                {"kind": Kind.RATE_LIMITED, "limit": limit, "retryAfterSeconds": wait},
            )
        case outcomes.BudgetNotKept(budget=budget, problem=problem):
            return results.error(
                f"The daily budget ({money(budget)}, {ENV.daily_budget}) cannot be kept: "
                f"{excerpt(problem.said, 300)}, so a restart would forget today's spend. Nothing was sent or "
                f"charged. Have the user set {ENV.data_dir} to a folder this server can write, or "
                f"{ENV.daily_budget}=0 to run without a budget.",
                {"kind": Kind.BUDGET_NOT_KEPT, "limit": budget},
            )
        case outcomes.OverBudget(quote=quote, budget=budget, spent=spent, cheaper=cheaper, cheaper_tomorrow=later):
            left = round(max(0.0, budget - spent), 9)
            smaller = [f"ask for {cheaper}"] if cheaper else [f"ask for {later} tomorrow"] if later else []
            if not within(quote, budget):  # tomorrow will not fit it either
                said, ways = "This call alone costs more than a day's budget", smaller
            else:
                said = f"{money(left)} is left today" if left > 0 else ""
                ways = [f"ask for {cheaper}"] if cheaper else []
                ways.append("wait until tomorrow")
            ways.append(f"have the user raise {ENV.daily_budget} in the server's environment (0 means no limit)")
            how = ", or ".join(ways)
            return results.error(
                f"This call would cost {money(quote)}, and {money(spent)} is already spent today against a daily "
                f"budget of {money(budget)}, so nothing was sent. {f'{said}: {how}' if said else _capital(how)}.",
                {"kind": Kind.OVER_BUDGET, "quote": quote, "limit": budget, "spentToday": spent, "leftToday": left},
            )
        case outcomes.Unwritable(folder=folder, why=why):
            fix = _capital(_writable(outcome))
            return results.error(
                f"Images cannot be saved in {files.folder_named(folder)}: {why}. Nothing was sent or charged. {fix}.",
                {"kind": Kind.UNWRITABLE_FOLDER, "folder": folder},
            )
        case outcomes.SentBefore(task_uuid=task_uuid):
            return results.error(
                f'The answers this call carries were used already: its task (taskUUID "{task_uuid}") was sent once, '
                f"and a task is never sent twice. {_capital(fetch_it(task_uuid))} for its images; to make more, call "
                "again.",
                {"kind": Kind.SENT_BEFORE, "taskUUID": task_uuid},
            )
        case outcomes.Declined(kind=kind, text=text, details=details):
            return results.error(text, {"kind": kind, **details})
        case outcomes.DryRun():
            return dry_run(outcome)
        case outcomes.SendFailed(error=error, task_uuid=task_uuid):
            return _failed(error, task_uuid, secret)
        case outcomes.AllFailed(task_uuid=task_uuid, requested=requested, failures=failures, unusable=unusable):
            some = 0 < outcome.unusable_count < requested
            them = f"{outcome.unusable_count} of them finished, so those" if some else "them finished, so they"
            charged = f" Runware reported {them} may have been charged ({money(unusable)})." if unusable else ""
            return results.error(
                f"All {requested} requested image(s) failed: {listed(failures)}. Nothing usable was made.{charged}",
                {"kind": Kind.FAILED, "taskUUID": task_uuid, "errors": failures, "mayHaveBeenCharged": bool(unusable)},
            )
        case outcomes.Blocked(task_uuid=task_uuid, error=error):
            text, details = results.describe(error, secret, polled=True)
            fixed = "Once this is fixed" if results.users_to_fix(error) else "Later"
            text = (
                f"{text} The task was sent and may still run and be charged; it stays in the journal as pending. "
                f"{fixed}, {fetch_it(task_uuid)} to fetch it; do not start it again."
            )
            return results.error(text, details | {"taskUUID": task_uuid})
        case outcomes.NotAccepted(task_uuid=task_uuid):
            return results.error(
                f"{NEVER_ACCEPTED}, so it was not charged. Nothing can be fetched; send the call again when Runware "
                "answers.",
                {"kind": Kind.NOT_ACCEPTED, "taskUUID": task_uuid, "mayHaveBeenCharged": False},
            )
        case outcomes.Forgotten(task_uuid=task_uuid, error=error, offline=True):
            _, details = results.describe(error, secret)
            return results.error(
                "The built-in emulator no longer knows this task: offline, tasks are kept only while the server runs, "
                "and it was restarted since. Nothing was charged (offline nothing is); to make the images, call the "
                "tool again.",
                details | {"taskUUID": task_uuid, "mayHaveBeenCharged": False},
            )
        case outcomes.Forgotten(task_uuid=task_uuid, quote=quote, error=error):
            _, details = results.describe(error, secret)
            return results.error(
                "Runware no longer knows this task: it never arrived, or it ran and its results expired. Nothing more "
                f"can be fetched. It may have been charged, so it stays counted at its quote ({money(quote)}).",
                details | {"taskUUID": task_uuid},
            )
        case outcomes.Troubled(task_uuid=task_uuid):
            return results.error(
                "The task was sent, but following it failed in this server (its log on stderr says why). It is not "
                f"lost: {fetch_it(task_uuid)} to fetch its images; do not start it again.",
                {"kind": Kind.INTERNAL, "taskUUID": task_uuid, "mayHaveBeenCharged": True, "retryable": False},
            )
        case outcomes.UnknownTask(given=given, image_of=str(task_uuid)):
            return results.error(
                f"{quoted(given)} is the imageUUID of an image of task {task_uuid}, not a taskUUID: call "
                f"get_generation with taskUUID {quoted(task_uuid)}.",
                {"kind": Kind.UNKNOWN_TASK, "taskUUID": task_uuid},
            )
        case outcomes.UnknownTask(given=given):
            return results.error(
                f"No generation with taskUUID {quoted(given[:40])} is known here. list_generations shows the recent "
                "ones; a dry run's taskUUID names a task never sent (send the call without dryRun to make it), and "
                "one from another server or machine cannot be fetched.",
                {"kind": Kind.UNKNOWN_TASK},
            )
        case outcomes.FailedBefore(task_uuid=task_uuid, errors=errors, cost=cost):
            charged = f" It may have been charged ({money(cost)}), and is counted so." if cost else ""
            why = listed(errors) or "no image was made"
            return results.error(
                f"That generation failed: {why}. Nothing more can be fetched.{charged}",
                {"kind": Kind.FAILED, "taskUUID": task_uuid, "mayHaveBeenCharged": bool(cost)},
            )
        case outcomes.Asking():
            raise AssertionError("a question is answered with the call's questions, not a result")
        case _:
            assert_never(outcome)


def _failed(error: RunwareError, task_uuid: str | None, secret: SecretStr | None) -> types.CallToolResult:
    text, details = results.describe(error, secret)
    if task_uuid is not None:
        details["taskUUID"] = task_uuid
    return results.error(text, details)  # the server redacts the key from every result


def _lasting_fix(trouble: JournalError) -> str:
    """What the journal needs if its trouble lasts, for a paid result: never its "try again", which an agent could
    take for the call (paying twice)."""
    fix = trouble.lasting
    return f" If it lasts: {fix[:1].lower()}{fix[1:]}" if fix else ""


def _writable(unwritable: outcomes.Unwritable) -> str:
    """How to save images where they could not be."""
    other = "" if unwritable.by_setting else ", or pass outputDir with another folder"
    if unwritable.in_bucket:  # a folder there is a prefix: the bucket itself, or where it lets images go
        return (
            f"try again once the bucket answers, or have the user check {ENV.storage_url} and the bucket's "
            f"credentials (or set {ENV.save}=false to keep only the image URLs){other}"
        )
    return (
        f"have the user set {ENV.output_dir} (or the --output-dir the server is started with, which comes first) to "
        f"a folder this server can write (or {ENV.save}=false to keep only the image URLs){other}"
    )


def dry_run(outcome: outcomes.DryRun) -> types.CallToolResult:
    task = outcome.task
    output = GenerateImageOutput(
        status="dry_run",
        model=outcome.model,
        task_uuid=str(task["taskUUID"]),
        requested=outcome.requested,
        images=[],
        quote=outcome.quote,
        task=dict(task),
    )
    size = f" at {task['width']}x{task['height']}" if "width" in task else ""
    quote, threshold, agreed = outcome.quote, outcome.threshold, outcome.approved_cost
    run = "send the same arguments without dryRun to run it"
    if agreed is not None and not within(quote, agreed):  # the real call would be refused for it
        fix = (
            f"leave approvedCost out (no approval is needed up to {money(threshold)})"
            if within(quote, threshold)
            else f"ask the user about {money(quote)}, and if they agree give approvedCost: {quote:g}"
        )
        approval = f" That is more than approvedCost ({money(agreed)}), so the call as it is would be refused: {fix}."
        run = "then send the call without dryRun to run it"
    elif not within(quote, threshold):
        approval = (
            f" Above {money(threshold)} it needs the user's approval: the client asks them when it can, else "
            "the call needs approvedCost once they agreed in the chat."
        )
    else:
        approval = ""
    if (unwritable := outcome.unwritable) is not None:
        folder = files.folder_named(unwritable.folder)
        approval += (
            f" Images cannot be saved in {folder}: {unwritable.why}, so the call as it is would be refused: "
            f"{_writable(unwritable)}."
        )
        run = "then send the call without dryRun to run it"
    text = (
        f"Dry run: nothing was sent or charged. This call would {outcome.what}{size} for {money(quote)}."
        f"{approval} The task it would send is in the structured output (task); {run}."
    )
    return results.ok(output, text)


async def made(outcome: outcomes.Made, secret: SecretStr | None) -> types.CallToolResult:
    """The images of a task so far: the headline, a line each, the previews, a link each, what is left to do."""
    entry, where, records = outcome.entry, outcome.places, outcome.images
    ours = [where.uri(Path(r.path)) if r.path else None for r in records]  # None: not this connection's
    uris = [None if r.image_uuid in outcome.unlinked else uri for r, uri in zip(records, ours, strict=True)]
    folders = {Path(r.path).parent for r in records if r.path}  # one, unless an older version saved them elsewhere
    folder = next(iter(folders)) if len(folders) == 1 else None
    if folder is not None and where.root is not None and not folder.is_relative_to(where.root):
        folder = None  # outside a remote connection's folder: nowhere it can name
    output = GenerateImageOutput(
        status=outcome.status,
        model=entry.model,
        task_uuid=entry.task_uuid,
        requested=entry.requested,
        images=_scenes_once([_image(record, uri, outcome) for record, uri in zip(records, ours, strict=True)]),
        total_cost=outcome.cost,
        quote=entry.quote,
        errors=outcome.failures,
        folder=where.shown(folder) if folder is not None else None,
    )
    waiting = _footer(output, outcome.trouble, secret, accepted=entry.accepted)
    lines = [waiting or (_save_again(records) if outcome.status == "done" else "")]
    if any(record.structured_prompt for record in records):
        lines.append(
            "Each image's structuredPrompt (the scene as the model drew it) is in the structured output and its "
            "recipe: change one element and send it back as structuredPrompt to redo the image with the change."
            + _scenes_shared(records, output.images)
        )
    if outcome.cost is not None and not within(outcome.cost, entry.quote):  # Runware's price is not the spec's
        lines.append(
            f"Runware charged {money(outcome.cost)} for this task, more than the {money(entry.quote)} it was quoted "
            "at: tell the user. The spend limits count what was charged; quotes, and the approval asked on them, "
            "come from the server's price list, which may be out of date."
        )
    if outcome.unusable:
        lines.append(
            f"Runware reported {outcome.unusable_count} more image(s) finished that cannot be used: they may have "
            f"been charged ({money(outcome.unusable)}), and are counted so."
        )
    if (trouble := outcome.unrecorded) is not None:
        # Never "try again" here: the task was sent and paid for, and an agent may take it for the call.
        kept = "The files saved above are kept. " if any(record.path for record in records) else ""
        rest = " to save the rest" if any(not record.path for record in records) else ""
        lines.append(
            f"Warning: {trouble.said}, so this answer may not be in the journal yet. {kept}Do not send this call "
            f"again (its task was sent): once the journal works, {fetch_it(entry.task_uuid)}{rest}."
            f"{_lasting_fix(trouble)}"
        )
    lines.append(memory_only(outcome.memory_only))
    footer = "\n".join(line for line in lines if line)
    headline = _headline(outcome, output)
    notes = [_no_file(record, outcome) for record in records]
    return results.images(output, headline, notes, uris, outcome.previews, footer, outcome.links, outcome.link_seconds)


def _no_file(record: ImageRecord, outcome: outcomes.Made) -> str | None:
    """Why an image is given by its URL, or by its path with no link, where there is a reason to say."""
    if record.image_uuid in outcome.unlinked:
        return "Its .json recipe was deleted: it is no longer one of this server's resources (no link)."
    if (path := outcome.gone.get(record.image_uuid)) is not None:
        shown = outcome.places.shown(path)
        gone = f"Saved as {shown}, which is no longer there (moved, deleted or made unreadable since)"
        if outcome.urls_expired:
            return f"{gone}: its URL here has expired too, with the task's ttl."
        return f"{gone}: this URL serves the image until it expires."
    return f"Not saved: {record.problem}." if record.problem else None


def memory_only(problem: JournalError | None) -> str:
    """A warning when the journal lives in memory only: a restart would forget the tasks and the day's spend."""
    if problem is None:
        return ""
    return (
        f"Warning: {excerpt(problem.said, 300)}, so this server keeps it in memory only: a restart forgets "
        f"this taskUUID and today's spend. {problem.fix}"
    )


def _scenes_once(images: list[GeneratedImage]) -> list[GeneratedImage]:
    """The images with their structuredPrompt given once when they all share one: on the first image only (20
    copies of one long scene made a result too large for hosts to take). Scenes that differ are each given with its
    image; each recipe keeps its own."""
    scenes = [image.structured_prompt for image in images if image.structured_prompt is not None]
    if len(scenes) < 2 or any(scene != scenes[0] for scene in scenes):
        return images
    first = next(n for n, image in enumerate(images) if image.structured_prompt is not None)
    return [
        image if n == first else image.model_copy(update={"structured_prompt": None}) for n, image in enumerate(images)
    ]


def _scenes_shared(records: Sequence[ImageRecord], shown: Sequence[GeneratedImage]) -> str:
    """Which images share the structuredPrompt given on the first of them (``_scenes_once``), said in a sentence."""
    given = [n for n, image in enumerate(shown, start=1) if image.structured_prompt is not None]
    later = [
        n
        for n, (record, image) in enumerate(zip(records, shown, strict=True), start=1)
        if record.structured_prompt is not None and image.structured_prompt is None
    ]
    if not later:  # _scenes_once left one scene, on ``given[0]``, or cleared none
        return ""
    which = f"Images {_numbers(later)} share" if len(later) > 1 else f"Image {later[0]} shares"
    return f" {which} image {given[0]}'s, given there only."


def _numbers(numbers: list[int]) -> str:
    """1, 2, 3 and 5 as "1 to 3 and 5": images are numbered as the answer lists them."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts: list[str] = []
    for r in runs:
        parts += [f"{r[0]} to {r[-1]}"] if len(r) > 2 else [str(n) for n in r]
    return joined(parts)


def _image(record: ImageRecord, uri: str | None, outcome: outcomes.Made) -> GeneratedImage:
    task = outcome.entry.task
    width = record.width if record.width is not None else task.get("width")
    height = record.height if record.height is not None else task.get("height")
    return GeneratedImage(
        image_uuid=record.image_uuid,
        image_url=record.image_url,
        # On stdio a path is the user's own, linked or not; over HTTP only one inside the connection's folder is told.
        path=outcome.places.shown(record.path) if record.path and (uri or outcome.places.root is None) else None,
        seed=record.seed,
        width=width if isinstance(width, int) else None,
        height=height if isinstance(height, int) else None,
        format=record.format or asked_format(outcome.entry),
        cost=record.cost,
        nsfw_content=record.nsfw_content,
        structured_prompt=record.structured_prompt,
    )


def _headline(outcome: outcomes.Made, output: GenerateImageOutput) -> str:
    entry = outcome.entry
    known = load_specs().get(entry.model)
    name = known.model.name if known is not None else entry.model
    cost = f", {money(output.total_cost)}" if output.total_cost is not None else ""
    size = f"{output.images[0].width}x{output.images[0].height} " if output.images and output.images[0].width else ""
    fmt = f"{size}{output.images[0].format}" if output.images else ""
    made = (
        f"{len(output.images)} image(s)"
        if output.status == "done"
        else f"{len(output.images)} of {entry.requested} image(s) ready"
    )
    # "Still rendering" only once Runware has said it has the task: before that (its answers all "no such task" while
    # a sent task is given time to appear), the footer says what is known.
    rendering = outcome.trouble is None and entry.accepted
    said = "Generated" if output.status == "done" else "Still rendering:" if rendering else "Pending:"
    return f"{said} {made} with {name}: {fmt}{cost}.".replace(": .", ".")


def _footer(
    output: GenerateImageOutput, trouble: RunwareError | None, secret: SecretStr | None, *, accepted: bool
) -> str:
    if output.status != "pending":
        return ""
    fetch = _capital(fetch_it(output.task_uuid))
    unknown = (
        f"it may still run and be charged, and it is never sent twice. {fetch} later to see; do not start a new "
        "generation for it until get_generation says it failed."
    )
    if trouble is not None and results.users_to_fix(trouble):  # refused until the user acts (the credit, the key)
        text, _ = results.describe(trouble, secret, polled=True)
        rest = (
            f"Once this is fixed, {fetch_it(output.task_uuid)} to fetch the rest; do not start a new generation for it."
        )
        return f"{text} The rest may still run and be charged. {rest}"
    if trouble is not None:  # Runware's answers were failures: say so, not that it renders
        said = excerpt(redact(str(trouble), secret), 200)
        return (
            f"Runware's last answer about this task was a failure ({said}), so whether it runs is not known; {unknown}"
        )
    if not accepted:  # sent by a process that ended before Runware's answer came: no poll has found it yet
        return f"Runware has not yet said that it has this task: {unknown}"
    return (
        "The task is still running on Runware (it is not lost, and it is not charged twice). "
        f"{fetch} to wait for the rest; do not start a new generation for it."
    )


def _save_again(records: list[ImageRecord]) -> str:
    if any(record.problem for record in records):
        return "get_generation with this taskUUID tries to save the unsaved images again while their URLs live."
    return ""


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
