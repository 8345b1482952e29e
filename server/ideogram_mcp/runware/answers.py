"""What Runware's answers say of a task, read defensively.

Only items of the task asked about count, at most as many images as were requested; a malformed item is a
reported failure that never discards the good ones (and, when it comes twice, a failed but charged image); an
image without a usable URL is not a success; "no such task" is believed only some time after the task was sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ideogram_mcp.records import ImageRecord
from ideogram_mcp.references import is_web_url
from ideogram_mcp.runware.errors import (
    NO_CODE,
    AuthenticationError,
    ErrorDetail,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RunwareAPIError,
    RunwareError,
    RunwareResponseError,
    api_error,
)

UNUSABLE_CODE = "unusableResult"
"""The failure of an image Runware reported finished that cannot be used (charged all the same)."""
LOST_NOTE = "Runware no longer knows this task"
"""How a failure of an image that never came, from a task Runware has since forgotten, begins."""
LOST_AFTER = 20.0
"""Seconds after sending before Runware's "no such task" is believed (it may lag behind its acknowledgement)."""
RUNNING = ("processing", "pending")  # older documentation says pending, newer processing
WAITING = (*RUNNING, "error")
"""The states of an answer's item that are no finished image."""
RATE_LIMITED = "rateLimitExceeded"
"""Runware's code for a request refused because its key sends too many: waited out, under any status."""
PASSING = frozenset({RATE_LIMITED, "internalServerError", "requestTimeout"})
"""Runware's codes for a fault of its own in answering a request (a rate limit, an internal error, a timeout), which
said of a task in a poll's answer are the poll's, not the task's outcome (an ``inferenceError`` is its outcome)."""
LOST_CODE = "taskFailedOrNotFound"
"""Runware's code for a task it does not know (never arrived, or its results expired)."""
REFUSALS = (AuthenticationError, PermissionDeniedError, InsufficientCreditsError)
"""Refusals of a request for its key or its account: a poll answered so (401, 402, 403) says nothing of how its tasks
stand. Said of one task in an answer of 200, only a refused key is the poll's: a lack of credit, say, is then that
task's outcome (refused when it was to run), until an image of it has come (``poll_trouble``'s ``ran``)."""
REFUSING = frozenset({401, 402, 403})
"""The statuses of REFUSALS: under another (a 422), their codes said of a task asked about are its outcome too."""


@dataclass(slots=True)
class Snapshot:
    """What is known of one generation: the finished images, the failed ones, and the progress."""

    task_uuid: str
    requested: int
    images: list[ImageRecord] = field(default_factory=lambda: [])
    failures: list[ErrorDetail] = field(default_factory=lambda: [])
    progress: int | None = None
    """Runware's own percentage for the images still running, when it gives one."""
    lost: RunwareError | None = None
    """Set when Runware says it has no such task (never received, or its results expired)."""
    blocked: RunwareError | None = None
    """Set when Runware refuses to say how the task stands (a refused key ...); the task itself may be fine."""
    trouble: RunwareError | None = None
    """Runware's last answer about the task when it was a failure (a 5xx, no answer); cleared by a good one."""
    found: bool = False
    """Whether any poll found the task (an item of it, or an error about it other than "no such task")."""
    unusable_charges: list[float | None] = field(default_factory=lambda: [])
    """What Runware charged for each image it reported finished but that cannot be used (its ``cost``, None when
    it gave none): a failed image all the same, but a paid one."""
    ran: bool = False
    """Whether an image of the task came, before this wait began (an earlier call saved it, or found it unusable) or
    in an answer of it (finished, usable or not, though a later answer no longer says so): the task ran."""
    listed: bool = False
    """Whether an answer of this wait listed each of the task's images (finished, unusable, failed or running): what
    became of each is then known here, from it and the answers after, with no need of what earlier calls recorded.
    Not so from errors for the whole task, or "no such task", alone."""
    itemized: bool = False
    """Whether an answer of this wait listed any of the task's images (items, not only errors)."""
    garbled: list[tuple[str, ErrorDetail, float | None]] = field(default_factory=lambda: [])
    """The unusable items of the last answer that listed any of the task's images, each by its imageUUID (else its
    place in the answer), with its failure and charge: one is failed when the next answer repeats it, or when the
    task then fails as a whole (it never comes right)."""
    doubtful: list[float | None] = field(default_factory=lambda: [])
    """The charges of the unusable items the last answer brought for the first time: they may yet come right, or be
    failed (and charged) by the next."""

    @property
    def done(self) -> bool:
        """Whether every image finished or failed, or nothing more can be learnt."""
        return self.lost is not None or len(self.images) + len(self.failures) >= self.requested

    @property
    def settled(self) -> bool:
        """Whether waiting longer can change nothing: done, or Runware will not say."""
        return self.done or self.blocked is not None


def by_task(
    items: Sequence[Mapping[str, Any]], errors: Sequence[ErrorDetail]
) -> tuple[dict[object, list[Mapping[str, Any]]], dict[str | None, list[ErrorDetail]]]:
    """An answer of several tasks split by taskUUID: each one's items, and each one's errors."""
    items_of: dict[object, list[Mapping[str, Any]]] = {}
    for item in items:
        items_of.setdefault(item.get("taskUUID"), []).append(item)
    errors_of: dict[str | None, list[ErrorDetail]] = {}
    for detail in errors:
        errors_of.setdefault(detail.task_uuid, []).append(detail)
    return items_of, errors_of


def check_acknowledged(items: Sequence[Mapping[str, Any]], task_uuid: str) -> None:
    """An async answer acknowledges the task (an empty ``data`` is tolerated); one about another task is not."""
    strangers = [item for item in items if item.get("taskUUID") not in (None, task_uuid)]
    if strangers and not any(item.get("taskUUID") == task_uuid for item in items):
        raise RunwareResponseError("Runware answered about another task")


def poll_trouble(details: Sequence[ErrorDetail], *, ran: bool = False) -> RunwareAPIError | None:
    """The poll's own error among those its answer says of one task, as an exception: a refusal of the poll (a refused
    key; a lack of credit once the task ``ran``, an image of it delivered: it was not refused when it was to run),
    else a passing fault of Runware's; None when every one is the task's own news. The task was sent, and may run and
    be charged all the same: it is asked about again, never written off for these."""
    for detail in details:
        refused = api_error(200, [detail])
        if isinstance(refused, AuthenticationError) or (ran and isinstance(refused, InsufficientCreditsError)):
            return refused
    passing = [detail for detail in details if detail.code in PASSING]
    return api_error(200, passing) if passing else None


def refused_poll(exc: RunwareAPIError, uuids: Sequence[str]) -> Literal["lost", "passing", "blocked", "outcome"]:
    """What a poll of the tasks ``uuids`` answered with an error status says:

    - ``lost``: Runware does not know one of them (its every error "no such task", naming none or one asked about,
      under a 400, a 404 or a 422): that task's news, found by splitting the request (its results expired, likely);
    - ``passing``: the request's trouble, asked again, split from the others and waited out as Runware asks: a 5xx,
      408 or 429, or under another 4xx a passing fault's code, or a coded error naming a task not asked about (the
      healthy tasks beside it had been refused alike, their images late by 20 s, or blocked at once);
    - ``blocked``: a refusal that says nothing of the tasks (a 401, 402 or 403, or a refused key under any status; a
      400 naming none, or saying no code: a 422 so had failed a task Runware ran and charged); they cannot be
      followed for now;
    - ``outcome``: a coded error naming a task asked about, under a 4xx but 408 and 429, is its news (a 422 with
      inferenceError: it failed; it had been asked again for the whole wait; a 422 with insufficientCredits: it was
      refused when it was to run, as under a 200 or a 400; it had been left pending at its quote).
    """
    verdicts = [detail for detail in exc.details if detail.code != NO_CODE]  # words without a code say no more
    lost = [detail for detail in verdicts if detail.code == LOST_CODE and detail.task_uuid in (None, "", *uuids)]
    if isinstance(exc, NotFoundError | InvalidRequestError) and lost and len(lost) == len(verdicts):  # a 400 too
        return "lost"
    if exc.status in REFUSING or any(isinstance(api_error(200, [d]), AuthenticationError) for d in verdicts):
        return "blocked"  # a refused key, whatever the status and whichever task it names
    outcome = any(detail.task_uuid in uuids and detail.code not in PASSING for detail in verdicts)
    if exc.status >= 500 or exc.status in (408, 429):
        passing = exc.retryable
    else:  # a 400 or a 404 is not retryable as a class, whatever its code
        passing = not outcome and (exc.retryable or any(d.task_uuid or d.code in PASSING for d in verdicts))
    return "passing" if passing else "outcome" if outcome else "blocked"


def absorb(
    snapshot: Snapshot,
    items: Sequence[Mapping[str, Any]],
    errors: Sequence[ErrorDetail],
    *,
    known_for: float = LOST_AFTER,
) -> None:
    """Update a snapshot from one poll's answer, which holds the whole state of each task so far.

    ``known_for`` is how long ago the task was sent: "no such task" means lost only after ``LOST_AFTER``.
    """
    failures: list[ErrorDetail] = []
    lost_now = False
    seen: list[tuple[str, ErrorDetail, float | None]] = []
    progress: list[int] = []
    mine = [item for item in items if item.get("taskUUID") == snapshot.task_uuid]
    about = [detail for detail in errors if detail.task_uuid == snapshot.task_uuid]
    snapshot.found = snapshot.found or bool(mine) or any(d.code != LOST_CODE for d in about)
    if not mine and not about:  # an answer that says nothing of the task (its only word a passing fault) unsays nothing
        return
    for index, item in enumerate(mine):
        status = item.get("status")
        if status in RUNNING:
            value = _number(item.get("progress"))
            if value is not None:
                progress.append(int(value))
            continue
        if status == "error":
            failures.append(_item_error(item, snapshot.task_uuid))
            continue
        _, problem = _image(item)
        if problem is not None:
            uuid = item.get("imageUUID")
            key = uuid if isinstance(uuid, str) and uuid else f"#{index}"
            seen.append(
                (key, ErrorDetail(UNUSABLE_CODE, problem, task_uuid=snapshot.task_uuid), _number(item.get("cost")))
            )
    add_images(snapshot, mine)
    snapshot.ran = snapshot.ran or ran_in(mine)
    for detail in errors:
        if detail.task_uuid != snapshot.task_uuid:
            continue
        if detail.code != LOST_CODE:
            failures.append(detail)
        elif known_for >= LOST_AFTER:
            snapshot.lost = NotFoundError(404, [detail])
            # Unknown now, but it was sent: it may have run and been charged, its results since expired.
            snapshot.lost.may_have_run = True
            lost_now = True
            # An image it said had failed stays failed (an answer about nothing knows none); the rest never came.
            earlier = [f for f in snapshot.failures if not never_came(f)]
            failures += earlier
            missing = snapshot.requested - len(snapshot.images) - len(earlier)
            if snapshot.images and missing > 0:
                failures += never_came_notes(snapshot.task_uuid, missing)
    listed = len(mine) + len(about) if mine else 0  # errors said beside items are their images'
    snapshot.listed = snapshot.listed or listed >= snapshot.requested
    room = max(0, snapshot.requested - len(snapshot.images))
    if mine:
        snapshot.itemized = True
        # A garbled item may be a passing fault: it fails its image only if the next answer garbles it too. Those
        # that came right are images now, counted as such.
        before = {key for key, _, _ in snapshot.garbled}
        failures += [detail for key, detail, _ in seen if key in before]
        snapshot.unusable_charges = [charge for key, _, charge in seen if key in before][:room]
        snapshot.doubtful = [charge for key, _, charge in seen if key not in before]
        snapshot.garbled = seen
    else:
        snapshot.doubtful = []
        if failures and room and not lost_now:
            # An error for the task with nothing finished or running: the task failed as a whole. Items reported
            # finished but unusable before it will never come right, and were charged all the same.
            snapshot.unusable_charges = [charge for _, _, charge in snapshot.garbled][:room]
            failures = [*(detail for _, detail, _ in snapshot.garbled), *failures, *[failures[0]] * room]
    snapshot.failures = failures[:room]
    snapshot.progress = min(progress) if progress else None


def ran_in(items: Sequence[Mapping[str, Any]]) -> bool:
    """Whether an answer's items show that the task ran: one finished, usable or not."""
    return any(item.get("status") not in WAITING for item in items)


def never_came_notes(task_uuid: str, missing: int) -> list[ErrorDetail]:
    """The failures of the ``missing`` images of a task Runware has since forgotten, which never came: one each (said
    once, with how many, where they are listed)."""
    return [ErrorDetail(LOST_CODE, f"{LOST_NOTE}, and an image of it never arrived", task_uuid=task_uuid)] * missing


def never_came(failure: ErrorDetail) -> bool:
    """Whether a failure is that of an image that never came, from a task Runware has since forgotten."""
    return failure.code == LOST_CODE and failure.message.startswith(LOST_NOTE)


def add_images(snapshot: Snapshot, items: Sequence[Mapping[str, Any]]) -> bool:
    """Add the task's finished images among ``items`` that the snapshot lacks; whether any was added."""
    known = {image.image_uuid for image in snapshot.images}
    added = False
    for item in items:
        if item.get("taskUUID") != snapshot.task_uuid or item.get("status") in WAITING:
            continue
        image, _ = _image(item)
        if image is not None and image.image_uuid not in known and len(snapshot.images) < snapshot.requested:
            snapshot.images.append(image)
            known.add(image.image_uuid)
            added = True
    return added


def _number(value: object) -> float | None:
    """A finite number from an answer, or None: JSON allows integers no float can hold (10**400)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _image(item: Mapping[str, Any]) -> tuple[ImageRecord | None, str | None]:
    """A finished image from an answer item, or why the item cannot count as one."""
    image_uuid, url = item.get("imageUUID"), item.get("imageURL")
    if not isinstance(image_uuid, str) or not image_uuid:
        return None, "Runware reported a finished image without its imageUUID"
    if not isinstance(url, str) or not is_web_url(url):
        return None, f"Runware reported image {image_uuid[:36]} as finished but gave no usable URL for it"
    seed, cost, nsfw, scene = item.get("seed"), item.get("cost"), item.get("NSFWContent"), item.get("structuredPrompt")
    return (
        ImageRecord(
            image_uuid=image_uuid,
            image_url=url,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            cost=_number(cost),
            nsfw_content=nsfw if isinstance(nsfw, bool) else None,
            structured_prompt=cast(dict[str, Any], scene) if isinstance(scene, dict) else None,
        ),
        None,
    )


def _item_error(item: Mapping[str, Any], task_uuid: str) -> ErrorDetail:
    code, message = item.get("code"), item.get("message")
    return ErrorDetail(
        code=str(code) if code else "imageFailed",
        message=str(message)[:300] if message else "Runware reported this image as failed",
        task_uuid=task_uuid,
    )
