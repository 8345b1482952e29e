"""A paid task's life: limits, approval, the journal's record, uploads, the send and the wait, the finish.

Every step that can refuse comes before the task is recorded, and every refusal sends nothing. The task is
recorded (its taskUUID minted here, unless an earlier round of the call chose it) in the transaction that checks
the budget, the tasks running and the calls a minute, and only then sent; from then on it is never lost: any
failure leaves it pending in the journal, to be fetched with get_generation.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread

from ideogram_mcp import files, logs
from ideogram_mcp.arguments import OUTPUT_DIR, Generation, LocalInput, Problem
from ideogram_mcp.clock import stamp
from ideogram_mcp.files import LocalImage, LocalInputError, Places
from ideogram_mcp.journal import (
    DuplicateTaskError,
    JournalError,
    Limits,
    Options,
    OverBudgetError,
    Pending,
    RefusedError,
    TooManyCallsError,
    TooManyRunningError,
    check_limits,
)
from ideogram_mcp.money import within
from ideogram_mcp.references import is_inline_image
from ideogram_mcp.runware.answers import Snapshot
from ideogram_mcp.runware.errors import RunwareError
from ideogram_mcp.settings import redact
from ideogram_mcp.tasks import fetch, prepare
from ideogram_mcp.tasks.finish import failed_in_journal, finish
from ideogram_mcp.tasks.job import Approver, Job, Report
from ideogram_mcp.tasks.outcomes import (
    Asking,
    BudgetNotKept,
    Declined,
    DryRun,
    Invalid,
    Made,
    NotConfigured,
    Outcome,
    OverBudget,
    OverCallLimit,
    SendFailed,
    SentBefore,
    TooManyCalls,
    TooManyRunning,
    Troubled,
    Unwritable,
)
from ideogram_mcp.tasks.progress import Progress
from ideogram_mcp.tasks.services import Services
from ideogram_mcp.text import excerpt

logger = logs.logger(__name__)

IN_FLIGHT_WINDOW = 15 * 60.0
"""A task pending longer than this no longer counts as in flight (it was cut short, and is fetched later)."""
SERVERS_OWN = "<set by the server>"
"""What a dry run shows of a URL the server's settings give the task (it may carry a secret)."""
INLINE_SHOWN = 64
"""Characters of inline image data the journal and the recipes keep of a task (the data can be megabytes)."""
DRAWN_KEPT = 64 * 1024
"""Characters of an inline image the server drew (a region's mask: 2 KB at 1024x1024, 28 KB at 4096x4096 with ten
regions) up to which the journal and the recipes keep it whole."""
SEND_FLOOR = 5.0
"""Seconds a call approved late in its wait still has to send its task (then answered pending), if its wait is as
long."""


async def start(services: Services, job: Job, approve: Approver, report: Report | None = None) -> Outcome:
    """Run a job: check, quote, approve, record, send, wait; ``pending`` at the latest at the call's deadline."""
    settings, clock = services.settings, services.clock
    if job.task_uuid is not None and await services.journal.get(job.task_uuid, job.owner) is not None:
        return SentBefore(job.task_uuid)  # an approved round sent again: its task went, whatever holds now
    generation = job.generation
    where = job.places
    if generation.output_dir is not None:
        chosen, problem = await anyio.to_thread.run_sync(files.chosen_output, where, generation.output_dir)
        if chosen is None:
            return Invalid([Problem(OUTPUT_DIR, f"{problem}.")])
        where = chosen
    local = generation.local_inputs
    try:
        kept = None if services.store.on_disk else functools.partial(_kept, services)  # a bucket's, read from it
        # Relative to the folder the results' paths are relative to ("campaign/hero.jpg" names the same file in a call
        # saving into "campaign"), else, where no file is there, to the call's own outputDir.
        also = where if where is not job.places else None
        read = await files.read_all([item.text for item in local], job.places, kept, also)
    except LocalInputError as exc:
        return Invalid([Problem(local[i].argument, f"{reason}.") for i, reason in exc.problems])
    if named := await prepare.tasks_for_images(services, job.owner, job.spec, generation):
        return Invalid(named)
    generation = await prepare.own_by_uuid(services, job.owner, job.spec, generation)
    inputs = await prepare.inputs_checked(job.spec, generation, read, services.inputs)
    if isinstance(inputs, list):
        return Invalid(inputs)
    generation, read = inputs
    checked = generation  # what a prepare on sending starts from (the dry one may have changed ``generation``)
    read_by_item = dict(zip(local, read, strict=True))
    if job.prepare is not None:
        prepared = await job.prepare(generation, read_by_item, False)
        if isinstance(prepared, list):
            return Invalid(prepared)
        generation = prepared
    server_values = {"webhookURL": settings.webhook_url, "uploadEndpoint": settings.upload_endpoint}
    task_uuid = job.task_uuid or str(uuid.uuid4())
    if generation.dry_run:
        if refusal := await _refused(services, job, where, dry=True):  # what the real call would meet, said now
            return refusal
        known = await _known_uuids(services, generation, read_by_item)
        shown = {item: known[item] or f"<upload of {where.shown(read_by_item[item].path)}>" for item in known}
        unwritable = None
        if (
            settings.save
            and services.store.on_disk
            and (why := await _unwritable_as_it_is(services, where.output, _longest(generation)))
        ):
            unwritable = Unwritable(where.shown(where.output), why, where.source == "setting", in_bucket=False)
        # As the journal keeps it: the user's own URLs (a presigned upload URL, a webhook's token) never shown to an
        # agent, and inline images shortened (echoed whole, four style references in data URIs had answered 23 MB).
        task = recorded(generation.with_images(shown).to_task(job.spec, task_uuid, server_values), server_values)
        return DryRun(
            job.spec.model.id,
            task,
            generation.count,
            job.quote,
            job.what,
            settings.confirm_above,
            generation.approved_cost,
            unwritable,
        )
    delivery = services.delivery
    if delivery is None:
        return NotConfigured()
    if refusal := await _refused(services, job, where):
        return refusal
    asked = clock.monotonic()
    verdict = await approve(job.quote, job.what, generation.approved_cost, task_uuid, job.cheaper)
    if verdict is None:
        return Asking()
    if isinstance(verdict, Declined):
        return verdict
    # The time the user took to answer is the call's: its wait had begun again after it, and a client giving up at
    # 60 s cancelled the call, its agent then asking again, and paying again.
    wait = settings.wait_seconds
    deadline = max(asked + wait, clock.monotonic() + min(SEND_FLOOR, wait))
    progress = Progress(report, generation.count, clock, services.keepalive)
    async with progress.heartbeat(f"Preparing the task ({job.what})"):
        try:
            if job.prepare is not None:
                prepared = await job.prepare(checked, read_by_item, True)
                if isinstance(prepared, list):
                    return Invalid(prepared)
                generation = prepared
            generation = await _uploaded(services, generation, read_by_item, deadline)
        except RunwareError as exc:  # only free uploads went out: the paid task was never sent
            return SendFailed(exc, None)
    task = generation.to_task(job.spec, task_uuid, server_values)
    # This process's from before the journal shows it: the taking up of tasks other processes left reads the journal
    # meanwhile, and had taken it up as one of theirs, to fetch once this call's time was over.
    services.recorded(task_uuid)
    recorded_it = False
    try:
        entry = await services.journal.record(
            Pending(
                task_uuid=task_uuid,
                owner=job.owner,
                tool=job.tool,
                model=job.spec.model.id,
                task=recorded(task, server_values, drawn=_drawn(checked, generation)),
                requested=generation.count,
                quote=job.quote,
                options=Options(
                    file_name=generation.file_name,
                    preview=generation.preview,
                    folder=str(where.output),
                    save=services.settings.save,
                    wait=settings.wait_seconds,
                ),
                approval=verdict,
            ),
            _limits(services, job),
        )
        recorded_it = True
    except RefusedError as exc:
        return _refusal(exc, job)
    finally:
        services.recording_over(task_uuid, recorded=recorded_it)
    try:
        async with progress.heartbeat(f"Sending the task ({job.what})"):
            try:
                services.sending.add(entry.task_uuid)
                try:
                    await delivery.submit(task, deadline)
                finally:
                    services.sending.discard(entry.task_uuid)
                await _accepted(services, entry.task_uuid)
            except RunwareError as exc:
                if not exc.may_have_run:
                    said = excerpt(redact(str(exc), settings.runware_api_key))  # the key out before any cut
                    await failed_in_journal(services, entry, said, cost=None)
                    return SendFailed(exc, entry.task_uuid)
                logger.warning(
                    "task %s may have reached Runware (%s); keeping it pending", entry.task_uuid, excerpt(str(exc))
                )
                unknown = Snapshot(entry.task_uuid, entry.requested, trouble=exc)
                return _followed(
                    services, job, await finish(services, entry, unknown, where, generation.preview, deadline)
                )
            # Runware has the task from now on: a slow submission (resends, a 429) must not count toward
            # the time after which "no such task" means lost.
            snapshot = await delivery.wait(
                entry.task_uuid, entry.requested, deadline, progress.images, sent_at=clock.now()
            )
            made = await finish(services, entry, snapshot, where, generation.preview, deadline, accepted=True)
            return _followed(services, job, made)
    except anyio.get_cancelled_exc_class():  # its client gone, or the call cancelled: the task may be paid for
        fetch.take_up_when_over(services, entry, where, job.saved)
        raise
    except Exception:  # the task is recorded and may be paid for: say how to get it, never "try again"
        logger.exception("task %s: unexpected failure after it was sent", entry.task_uuid)
        return Troubled(entry.task_uuid)


def _followed(services: Services, job: Job, outcome: Outcome) -> Outcome:
    """A call that ends with its task still pending hands the task to the process's background work, which saves its
    images as they come: the agent may never call get_generation, or call it once their URLs expired (``ttl``)."""
    if isinstance(outcome, Made) and outcome.status == "pending":
        fetch.take_up_when_over(services, outcome.entry, outcome.places, job.saved)
    return outcome


async def _refused(services: Services, job: Job, where: Places, *, dry: bool = False) -> Outcome | None:
    """Why the job may not run under the server's limits (checked again, atomically, when it is recorded), or
    None when it may. A ``dry`` run meets the spend limits alone, and makes and probes no folder."""
    settings, journal = services.settings, services.journal
    limit = settings.max_cost_per_call
    if limit is not None and not within(job.quote, limit):
        return OverCallLimit(job.quote, limit, job.cheaper(limit))
    budget = settings.daily_limit
    if budget is not None and journal.problem is not None:  # a spend kept in memory is forgotten at restart
        return BudgetNotKept(budget, journal.problem)
    if dry:  # the spend limits alone: the others (calls a minute, tasks running) say how things stand this moment
        return await _over_limits(services, job, spend_only=True)
    generation = job.generation
    # The journal's limits are read here only where something would come before the transaction that records the
    # task, which checks them all again and refuses alike: the user's question, free uploads, or a tool's own
    # preparing (an edit's region copies its image at Runware). Otherwise the reads are saved (three a call).
    first = not within(job.quote, settings.confirm_above) or generation.local_inputs or job.prepare is not None
    if first and (refusal := await _over_limits(services, job)):
        return refusal
    if settings.save and (why := await _unwritable(services, where.output, _longest(generation))):
        shown, by_setting = where.shown(where.output), where.source == "setting"
        return Unwritable(shown, why, by_setting, in_bucket=not services.store.on_disk)
    return None


def _kept(services: Services, path: Path) -> bytes | None:
    """An image saved in a store off this machine (a bucket), by its path; one that does not answer is said so, not
    taken for one without the image ("no such file")."""
    try:
        return services.store.load(path, strict=True)
    except LookupError as exc:
        raise LocalInputError.one(f"cannot be read now: {exc}".rstrip(".")) from None


async def _unwritable_as_it_is(services: Services, folder: Path, longest: str) -> str | None:
    """Why images cannot be saved in ``folder``, where that shows without making a folder (a dry run makes none):
    it exists and takes no file (or no name that long), a file stands where a folder of its path would be made, or
    the folder its missing ones would be made in takes none."""

    def why() -> str | None:
        try:
            nearest = folder
            while not nearest.exists() and nearest.parent != nearest:
                nearest = nearest.parent
            if nearest == folder or not nearest.is_dir():
                return services.store.unwritable(folder, longest)
        except OSError as exc:  # a folder of its path that may not be looked in
            return files.plainly(exc)
        # Made when the call runs, as every folder of an output path is, where this process may make them.
        return None if os.access(nearest, os.W_OK | os.X_OK) else "this server may not make folders where it goes"

    return await anyio.to_thread.run_sync(why)


def _longest(generation: Generation) -> str:
    """The longest name the call's images may be saved under (a name of its own), for a probe of the folder."""
    return f"{generation.file_name}-{files.MOST_NUMBERED}-999.webp" if generation.file_name else ""


async def _known_uuids(
    services: Services, generation: Generation, read: Mapping[LocalInput, LocalImage]
) -> dict[LocalInput, str | None]:
    """Each local image's UUID at Runware where it is one this server saved from it (sent by it, with no upload),
    else None; the recipes read in one trip to a thread."""

    def known() -> dict[LocalInput, str | None]:
        return {
            item: services.store.known_uuid(read[item].path, read[item].data, services.runware)
            for item in generation.local_inputs
        }

    return await anyio.to_thread.run_sync(known) if generation.local_inputs else {}


def _limits(services: Services, job: Job) -> Limits:
    """The journal's limits on the job's owner, as the server's settings set them."""
    settings = services.settings
    return Limits(
        daily_budget=settings.daily_limit,
        max_running=settings.max_in_flight if job.owner else None,
        running_since=services.clock.now() - IN_FLIGHT_WINDOW,
        per_minute=settings.max_calls_per_minute,
    )


async def _over_limits(services: Services, job: Job, *, spend_only: bool = False) -> Outcome | None:
    """The journal's limits the job would go over, as read now (``journal.record`` checks them again, at once);
    ``spend_only``: the day's budget alone."""
    journal, limits, owner = services.journal, _limits(services, job), job.owner
    if spend_only:
        limits = dataclasses.replace(limits, max_running=None, per_minute=None)
    running = await journal.running(owner, limits.running_since) if limits.max_running is not None else None
    spent = (await journal.spend(owner)).today if limits.daily_budget is not None else None
    most = limits.per_minute
    started = [entry.created for entry in await journal.recent(owner, most)] if most is not None else None
    try:
        check_limits(limits, job.quote, running=running, spent=spent, started=started, now=services.clock.now())
    except RefusedError as exc:
        return _refusal(exc, job)
    return None


def _refusal(refused: RefusedError, job: Job) -> Outcome:
    """What a refusal of the journal's says to the caller."""
    match refused:
        case OverBudgetError(quote=quote, budget=budget, spent=spent):
            today = job.cheaper(budget - spent) if budget - spent > 0 else None
            return OverBudget(quote, budget, spent, today, None if today else job.cheaper(budget))
        case TooManyRunningError():
            return TooManyRunning(refused.limit)
        case TooManyCallsError():
            return TooManyCalls(refused.limit, refused.wait)
        case DuplicateTaskError():
            return SentBefore(refused.task_uuid)
        case _:
            raise refused


WRITABLE_KEPT = 30.0
"""Seconds a folder found writable (for names as long) is taken as writable before it is probed again."""


async def _unwritable(services: Services, folder: Path, longest: str) -> str | None:
    """Why images cannot be saved in ``folder``; a folder probed writable lately is not probed at every call."""
    key = (folder, len(longest.encode("utf-8")))
    now = services.clock.monotonic()
    if now - services.writable.get(key, -WRITABLE_KEPT) < WRITABLE_KEPT:
        return None
    why = await anyio.to_thread.run_sync(services.store.unwritable, folder, longest)
    if why is None:
        stamp(services.writable, key, now, lambda found: now - found >= WRITABLE_KEPT)
    return why


async def _accepted(services: Services, task_uuid: str) -> None:
    """Record at once that Runware has the task: a restart before its images come must not take it for unsent."""
    try:
        await services.journal.accepted(task_uuid)
    except JournalError as exc:
        logger.warning("task %s: its acceptance could not be recorded: %s", task_uuid, exc)


async def _uploaded(
    services: Services, generation: Generation, read: Mapping[LocalInput, LocalImage], deadline: float
) -> Generation:
    """These arguments with every local file replaced by the image UUID Runware holds it under: one this server
    saved from this Runware is sent by its UUID, another uploaded once per process (``Services.held``)."""
    uuids: dict[LocalInput, str] = {}
    for item, known in (await _known_uuids(services, generation, read)).items():
        image = read[item]
        if known is not None:
            uuids[item] = known
            continue
        # Hashing and encoding up to 10 MB happen off the event loop.
        digest = await anyio.to_thread.run_sync(lambda image=image: image.sha256)
        if (uuid := services.held(digest)) is None:
            encoded = await anyio.to_thread.run_sync(lambda image=image: image.data_uri)
            uuid, _ = await services.upload(digest, encoded, deadline)
            logger.info("uploaded %s as a Runware image", image.path.name)
        uuids[item] = uuid
    return generation.with_images(uuids)


def _drawn(checked: Generation, sent: Generation) -> frozenset[str]:
    """The inline images the server made for a task (a region's mask), as sent: not in the arguments as checked."""
    given = {value for value in checked.values.values() if isinstance(value, str)}
    return frozenset(
        value
        for value in sent.values.values()
        if isinstance(value, str) and value not in given and is_inline_image(value)
    )


def recorded(
    task: Mapping[str, Any], hidden: Mapping[str, str | None], drawn: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The task as sent, for the journal and the recipes: inline image data shortened (it can be megabytes), but
    for the small ones the server ``drawn`` (a region's mask: the task could not be made again from its recipe
    without it), and the ``hidden`` values the server's settings gave (a webhook's token, a presigned upload URL)
    not written out: a recipe lies beside the image, in a folder agents read and people share."""
    task = {k: SERVERS_OWN if hidden.get(k) else v for k, v in task.items()}

    def shorten(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shorten(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, list):
            return [shorten(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, str) and len(value) > 256 and is_inline_image(value):
            if value in drawn and len(value) <= DRAWN_KEPT:
                return value
            return f"{value[:INLINE_SHOWN]}... ({len(value)} characters)"
        return value

    return shorten(dict(task))
