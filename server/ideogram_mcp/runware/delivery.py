"""Getting generations done without paying twice or losing an image: async submission, retries, batched polling.

A task is sent with ``deliveryMethod: "async"``; Runware acknowledges it at once and the images
are then asked for with ``getResponse``. Failures on the way are retried within a deadline, always
under the task's own taskUUID, so a resend can never start a second, paid generation: Runware
answers ``conflictTaskUUID`` when it already has the task, and polling goes on. Polls are free and
retried freely. The polls of every generation in flight go out together, in one request, from one
loop (``Delivery.run``), at an interval that grows with each task's age.

Answers are read defensively: only items of the task asked about count, at most as many images
as were requested; a malformed item is a reported failure that never discards the good ones; an
image without a usable URL is not a success.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.errors import (
    ErrorDetail,
    NotFoundError,
    RateLimitError,
    RunwareAPIError,
    RunwareError,
    RunwareResponseError,
    ServerError,
    TaskConflictError,
)
from ideogram_mcp.specs import is_web_url

if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState

logger = logging.getLogger(__name__)

MAX_BATCH = 100
"""Most getResponse tasks sent in one request."""
LOST_AFTER = 20.0
"""Seconds after sending before Runware's "no such task" is believed (it may lag behind its acknowledgement)."""
UNUSABLE_POLLS = 2
"""Polls in a row that must answer with an unusable item before its image counts as failed."""
KEEPALIVE = 8.0
"""Seconds between progress reports while nothing changes (some clients restart their timeout on each)."""
FINISHED = "success"
FIRST_ANSWER = 5.0
"""Seconds a caller who will not wait still waits for Runware's first answer (``wait(ask_first=True)``)."""
RUNNING = ("processing", "pending")  # older documentation says pending, newer processing


@dataclass(frozen=True, slots=True)
class Patience:
    """How long failures are retried before the caller hears of them, whatever time its call has left.

    Retrying protects the money (the same taskUUID is resent until Runware has it) but it must not hide an
    outage: when nothing could be sent (no network, a refused connection, a TLS failure) the agent hears it
    within a few seconds, and when Runware answers only with failures (5xx, unreadable answers) within
    ``failing`` seconds, rather than at the end of its wait. A 429 is waited out as Runware asks.
    """

    nothing_sent: float = 3.0
    """Seconds of attempts that all failed before sending anything."""
    failing: float = 20.0
    """Seconds of answers that were all failures (5xx, unreadable answers, polls included)."""


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to ask again: at once, then every ``share`` of the task's age, kept between the two bounds."""

    minimum: float = 0.5
    share: float = 0.25
    maximum: float = 5.0

    def interval(self, age: float) -> float:
        return min(self.maximum, max(self.minimum, self.share * age))


@dataclass(frozen=True, slots=True)
class Image:
    """One finished image, as Runware reported it."""

    image_uuid: str
    image_url: str
    seed: int | None
    cost: float | None
    nsfw_content: bool | None


@dataclass(slots=True)
class Snapshot:
    """What is known of one generation: the finished images, the failed ones, and the progress."""

    task_uuid: str
    requested: int
    images: list[Image] = field(default_factory=lambda: [])
    failures: list[ErrorDetail] = field(default_factory=lambda: [])
    progress: int | None = None
    """Runware's own percentage for the images still running, when it gives one."""
    unusable_polls: int = 0
    """Polls in a row that answered with an item this client cannot use."""
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

    @property
    def done(self) -> bool:
        """Whether every image finished or failed, or nothing more can be learnt."""
        return self.lost is not None or len(self.images) + len(self.failures) >= self.requested

    @property
    def settled(self) -> bool:
        """Whether waiting longer can change nothing: done, or Runware will not say."""
        return self.done or self.blocked is not None

    @property
    def cost(self) -> float | None:
        costs = [i.cost for i in self.images if i.cost is not None]
        return round(sum(costs), 6) if costs else None


OnChange = Callable[[Snapshot], Awaitable[None]]


@dataclass(slots=True)
class _Watch:
    snapshot: Snapshot
    started: float
    due: float
    sent_at: float
    """When the task was sent (Unix time): Runware may not know a task for a moment after acknowledging it."""
    changed: anyio.Event = field(default_factory=anyio.Event)
    answered: bool = False
    """Whether a poll has brought news of the task since the watch began."""
    troubled_since: float | None = None
    """Since when (monotonic) every poll of the task has failed; None after a good answer."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RunwareError) and exc.retryable


def _backoff(state: RetryCallState) -> float:
    """Exponential backoff with jitter, or longer when Runware said how long (``Retry-After``)."""
    from tenacity import wait_exponential_jitter

    exponential = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)(state)
    failure = state.outcome.exception() if state.outcome is not None else None
    asked = failure.retry_after if isinstance(failure, RunwareAPIError) else None
    return max(exponential, asked or 0.0)


def retrying(until: float, patience: Patience | None = None) -> AsyncRetrying:
    """The retry policy: retryable failures again until the deadline (monotonic seconds), or until they have
    gone on longer than ``patience`` allows for their kind."""
    # Imported here, on the first call: starting the server (which a client waits for) needs no retries.
    from tenacity import AsyncRetrying, retry_if_exception

    patience = patience or Patience()

    def stop(state: RetryCallState) -> bool:
        if time.monotonic() + state.upcoming_sleep >= until:
            return True
        failure = state.outcome.exception() if state.outcome is not None else None
        elapsed = state.seconds_since_start or 0.0
        if isinstance(failure, RateLimitError):
            return False  # waited out as Runware asks, within the deadline
        if isinstance(failure, RunwareError) and not failure.may_have_run:
            return elapsed + state.upcoming_sleep >= patience.nothing_sent
        if isinstance(failure, ServerError | RunwareResponseError):
            return elapsed + state.upcoming_sleep >= patience.failing
        return False

    return AsyncRetrying(
        retry=retry_if_exception(_retryable),
        wait=_backoff,
        stop=stop,
        sleep=anyio.sleep,
        reraise=True,
    )


class Delivery:
    """Sends tasks to Runware and brings their results back, whatever the network does in between."""

    def __init__(
        self, client: RunwareClient, *, schedule: PollSchedule | None = None, patience: Patience | None = None
    ) -> None:
        self.client = client
        self.schedule = schedule or PollSchedule()
        self.patience = patience or Patience()
        self._watches: dict[str, list[_Watch]] = {}
        self._wake = anyio.Event()

    async def submit(self, task: Mapping[str, Any], until: float) -> None:
        """Send an async task, resending the same taskUUID until Runware has it or the deadline passes.

        Raises the last failure when it gives up; its ``may_have_run`` says whether any attempt may
        have reached Runware (then the task may still run and be charged, and can be fetched later).
        """
        reached = False
        try:
            async for attempt in retrying(until, self.patience):
                with attempt:
                    try:
                        reply = await self.client.send([task], within=until - time.monotonic())
                    except TaskConflictError:
                        logger.info("Runware already has task %s; fetching its results", task["taskUUID"])
                        return  # an earlier attempt got through: the task runs once, and is charged once
                    except RunwareError as exc:
                        reached = reached or exc.may_have_run
                        raise
                    reached = True  # Runware answered: whatever the answer says, it has the task and may charge it
                    _check_acknowledged(reply.data, str(task["taskUUID"]))
                    return
        except RunwareError as exc:
            exc.task_uuid = str(task["taskUUID"])
            exc.may_have_run = reached or exc.may_have_run
            raise

    async def upload(self, image: str, until: float) -> tuple[str, str | None]:
        """Store an image with ``imageUpload`` (free); returns the image UUID Runware gives it, and its URL."""
        task_uuid = str(uuid.uuid4())
        async for attempt in retrying(until, self.patience):
            with attempt:
                try:
                    upload = {"taskType": "imageUpload", "taskUUID": task_uuid, "image": image}
                    reply = await self.client.send([upload], within=until - time.monotonic())
                except TaskConflictError:
                    task_uuid = str(uuid.uuid4())  # uploads cost nothing: a lost answer is simply asked again
                    raise RunwareResponseError("Runware stored the image, but its answer was lost") from None
                for item in reply.data:
                    found, url = item.get("imageUUID"), item.get("imageURL")
                    if item.get("taskUUID") == task_uuid and isinstance(found, str) and found:
                        return found, url if isinstance(url, str) and is_web_url(url) else None
                raise RunwareResponseError("Runware's answer to the upload named no image")
        raise AssertionError("unreachable: the retry policy re-raises")

    async def wait(
        self,
        task_uuid: str,
        requested: int,
        until: float,
        on_change: OnChange | None = None,
        *,
        sent_at: float | None = None,
        ask_first: bool = False,
    ) -> Snapshot:
        """The task's snapshot once every image is finished or failed, or as it stands at the deadline.

        ``on_change`` hears every new state, and at least every few seconds while nothing changes.
        ``sent_at`` (Unix time) is when the task was sent, for telling a task not yet known from a lost one.
        ``ask_first`` asks Runware once even when the deadline is already here (a caller who will not wait
        still wants the state now), waiting up to ``FIRST_ANSWER`` seconds for that answer.
        """
        now = time.monotonic()
        watch = _Watch(Snapshot(task_uuid, requested), started=now, due=now, sent_at=sent_at or time.time())
        latest = max(until, now + FIRST_ANSWER) if ask_first else until
        self._watches.setdefault(task_uuid, []).append(watch)
        self._wake.set()
        try:
            while not watch.snapshot.settled:
                # Until the deadline, or past it (up to ``latest``) while the first answer is awaited, or until
                # Runware has answered only with failures for longer than the patience allows.
                end = until if watch.answered or not ask_first else latest
                if watch.troubled_since is not None:
                    end = min(end, watch.troubled_since + self.patience.failing)
                left = end - time.monotonic()
                if left <= 0:
                    break
                with anyio.move_on_after(min(left, KEEPALIVE)):
                    await watch.changed.wait()
                watch.changed = anyio.Event()
                if on_change is not None:
                    await on_change(watch.snapshot)
        finally:
            self._forget(task_uuid, watch)
        return watch.snapshot

    async def run(self) -> None:
        """The poll loop: asks for every watched task in one request when the first is due. Runs until cancelled."""
        while True:
            if not self._watches:
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            due = min(w.due for watches in self._watches.values() for w in watches)
            with anyio.move_on_after(max(0.0, due - time.monotonic())):
                await self._wake.wait()
            self._wake = anyio.Event()
            now = time.monotonic()
            if not any(w.due <= now for watches in self._watches.values() for w in watches):
                continue
            uuids = list(self._watches)
            for start in range(0, len(uuids), MAX_BATCH):
                batch = uuids[start : start + MAX_BATCH]
                try:
                    await self._poll(batch)
                except Exception:  # the loop serves every waiting call: one strange answer must not end it
                    logger.exception("a poll failed unexpectedly; asking again shortly")
                    self._postpone(batch, None)

    async def _poll(self, uuids: Sequence[str]) -> None:
        polls = [{"taskType": "getResponse", "taskUUID": task_uuid} for task_uuid in uuids]
        try:
            reply = await self.client.send(polls, errors_ok=True)
        except RunwareAPIError as exc:
            if exc.retryable or not any(detail.task_uuid for detail in exc.details):
                # Images that came beside the error are kept all the same; the rest is asked for again
                # (a 429, a 503), or cannot be followed for now (a refused key: the tasks may be fine).
                self._keep_images(uuids, exc.items)
                if exc.retryable:
                    self._postpone(uuids, exc)
                else:
                    self._block(uuids, exc)
                return
            self._take(uuids, exc.items, exc.details)
        except RunwareError as exc:
            self._postpone(uuids, exc)
        else:
            self._take(uuids, reply.data, reply.errors)

    def _keep_images(self, uuids: Sequence[str], items: Sequence[Mapping[str, Any]]) -> None:
        """Finished images from an answer that is otherwise an error: added, and nothing else learnt from it."""
        for task_uuid in uuids:
            for watch in self._watches.get(task_uuid, []):
                if _add_images(watch.snapshot, items):
                    watch.changed.set()

    def _take(self, uuids: Sequence[str], items: Sequence[Mapping[str, Any]], errors: Sequence[ErrorDetail]) -> None:
        """What a poll brought, into each watched task's snapshot; the next poll is scheduled."""
        now = time.monotonic()
        for task_uuid in uuids:
            for watch in self._watches.get(task_uuid, []):
                _absorb(watch.snapshot, items, errors, known_for=time.time() - watch.sent_at)
                watch.snapshot.trouble = None
                watch.troubled_since = None
                watch.answered = True
                watch.due = now + self.schedule.interval(now - watch.started)
                watch.changed.set()

    def _postpone(self, uuids: Iterable[str], exc: RunwareError | None) -> None:
        logger.info("a poll failed (%s); asking again shortly", type(exc).__name__)
        now = time.monotonic()
        later = now + max(self.schedule.minimum * 2, getattr(exc, "retry_after", None) or 0.0)
        for task_uuid in uuids:
            for watch in self._watches.get(task_uuid, []):
                watch.due = later
                watch.snapshot.trouble = exc
                if isinstance(exc, RateLimitError):
                    watch.troubled_since = None  # Runware answers: it is busy, not down
                elif exc is not None and watch.troubled_since is None:
                    watch.troubled_since = now  # a 429 is waited out, as Runware asks; any other failure is trouble
                    watch.changed.set()  # the waiter's patience starts now

    def _block(self, uuids: Iterable[str], exc: RunwareError) -> None:
        for task_uuid in uuids:
            for watch in self._watches.get(task_uuid, []):
                watch.snapshot.blocked = exc
                watch.changed.set()

    def _forget(self, task_uuid: str, watch: _Watch) -> None:
        watches = self._watches.get(task_uuid, [])
        if watch in watches:
            watches.remove(watch)
        if not watches:
            self._watches.pop(task_uuid, None)


def _check_acknowledged(items: Sequence[Mapping[str, Any]], task_uuid: str) -> None:
    """An async answer acknowledges the task (an empty ``data`` is tolerated); one about another task is not."""
    strangers = [item for item in items if item.get("taskUUID") not in (None, task_uuid)]
    if strangers and not any(item.get("taskUUID") == task_uuid for item in items):
        raise RunwareResponseError("Runware answered about another task")


def _absorb(
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
    unusable: list[ErrorDetail] = []
    charges: list[float | None] = []
    progress: list[int] = []
    mine = [item for item in items if item.get("taskUUID") == snapshot.task_uuid]
    about = [detail for detail in errors if detail.task_uuid == snapshot.task_uuid]
    snapshot.found = snapshot.found or bool(mine) or any(d.code != "taskFailedOrNotFound" for d in about)
    for item in mine:
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
            unusable.append(ErrorDetail("unusableResult", problem, task_uuid=snapshot.task_uuid))
            charges.append(_number(item.get("cost")))
    _add_images(snapshot, mine)
    for detail in errors:
        if detail.task_uuid != snapshot.task_uuid:
            continue
        if detail.code != "taskFailedOrNotFound":
            failures.append(detail)
        elif known_for >= LOST_AFTER:
            snapshot.lost = NotFoundError(404, [detail])
            missing = snapshot.requested - len(snapshot.images)
            if snapshot.images and missing:
                note = f"Runware no longer knows this task; {missing} of its images never arrived"
                failures += [ErrorDetail("taskFailedOrNotFound", note, task_uuid=snapshot.task_uuid)] * missing
    # A garbled item may be a passing fault: it fails the image only if the next poll garbles it too.
    snapshot.unusable_polls = snapshot.unusable_polls + 1 if unusable else 0
    room = max(0, snapshot.requested - len(snapshot.images))
    if snapshot.unusable_polls >= UNUSABLE_POLLS:
        failures += unusable
        snapshot.unusable_charges = charges[:room]
    elif not unusable:
        snapshot.unusable_charges = []  # the garbled items came right: they are images now, counted as such
    if failures and not mine and room:
        # An error for the task with nothing finished or running: the task failed as a whole.
        failures = [*failures, *[failures[0]] * room]
    snapshot.failures = failures[:room]
    snapshot.progress = min(progress) if progress else None


def _add_images(snapshot: Snapshot, items: Sequence[Mapping[str, Any]]) -> bool:
    """Add the task's finished images among ``items`` that the snapshot lacks; whether any was added."""
    known = {image.image_uuid for image in snapshot.images}
    added = False
    for item in items:
        if item.get("taskUUID") != snapshot.task_uuid or item.get("status") in (*RUNNING, "error"):
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


def _image(item: Mapping[str, Any]) -> tuple[Image | None, str | None]:
    """A finished image from an answer item, or why the item cannot count as one."""
    image_uuid, url = item.get("imageUUID"), item.get("imageURL")
    if not isinstance(image_uuid, str) or not image_uuid:
        return None, "Runware reported a finished image without its imageUUID"
    if not isinstance(url, str) or not is_web_url(url):
        return None, f"Runware reported image {image_uuid[:36]} as finished but gave no usable URL for it"
    seed, cost, nsfw = item.get("seed"), item.get("cost"), item.get("NSFWContent")
    return (
        Image(
            image_uuid=image_uuid,
            image_url=url,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            cost=_number(cost),
            nsfw_content=nsfw if isinstance(nsfw, bool) else None,
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
