"""Getting generations done without paying twice or losing an image: async submission, retries, batched polling.

A task is sent with ``deliveryMethod: "async"``; Runware acknowledges it at once and the images
are then asked for with ``getResponse``. Failures on the way are retried within a deadline, always
under the task's own taskUUID, so a resend can never start a second, paid generation: Runware
answers ``conflictTaskUUID`` when it already has the task, and polling goes on. Polls are free and
retried freely. The polls of every generation in flight go out together, in one request, from one
loop (``Delivery.run``), at an interval that grows with each task's age. What the answers say is read in
``answers``; what is retried, in ``retries``. All time is the injected clock's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from ideogram_mcp.clock import Clock, SystemClock
from ideogram_mcp.references import is_web_url
from ideogram_mcp.runware.answers import Snapshot, absorb, add_images, check_acknowledged
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.errors import (
    ErrorDetail,
    RateLimitError,
    RunwareAPIError,
    RunwareError,
    RunwareResponseError,
    TaskConflictError,
)
from ideogram_mcp.runware.retries import Patience, retrying

logger = logging.getLogger(__name__)

MAX_BATCH = 100
"""Most getResponse tasks sent in one request."""
KEEPALIVE = 8.0
"""Seconds between progress reports while nothing changes (some clients restart their timeout on each)."""
FIRST_ANSWER = 5.0
"""Seconds a caller who will not wait still waits for Runware's first answer (``wait(ask_first=True)``)."""


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to ask again: at once, then every ``share`` of the task's age, kept between the two bounds."""

    minimum: float = 0.5
    share: float = 0.25
    maximum: float = 5.0

    def interval(self, age: float) -> float:
        return min(self.maximum, max(self.minimum, self.share * age))


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


class Delivery:
    """Sends tasks to Runware and brings their results back, whatever the network does in between."""

    def __init__(
        self,
        client: RunwareClient,
        *,
        clock: Clock | None = None,
        schedule: PollSchedule | None = None,
        patience: Patience | None = None,
    ) -> None:
        self.client = client
        self.clock = clock or SystemClock()
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
            async for attempt in retrying(self.clock, until, self.patience):
                with attempt:
                    try:
                        reply = await self.client.send([task], within=until - self.clock.monotonic())
                    except TaskConflictError:
                        logger.info("Runware already has task %s; fetching its results", task["taskUUID"])
                        return  # an earlier attempt got through: the task runs once, and is charged once
                    except RunwareError as exc:
                        reached = reached or exc.may_have_run
                        raise
                    reached = True  # Runware answered: whatever the answer says, it has the task and may charge it
                    check_acknowledged(reply.data, str(task["taskUUID"]))
                    return
        except RunwareError as exc:
            exc.task_uuid = str(task["taskUUID"])
            exc.may_have_run = reached or exc.may_have_run
            raise

    async def upload(self, image: str, until: float) -> tuple[str, str | None]:
        """Store an image with ``imageUpload``; returns the image UUID Runware gives it, and its URL.

        An upload is free: whatever fails, nothing of it is charged (``may_have_run`` is false on its errors).
        """
        try:
            return await self._upload(image, until)
        except RunwareError as exc:
            exc.may_have_run = False
            raise

    async def copy(self, image: str, until: float) -> tuple[str, str]:
        """Runware's own copy of an image (a URL it fetches): its image UUID and the URL it serves the copy at."""
        found, url = await self.upload(image, until)
        if url is None:
            error = RunwareResponseError("Runware gave no URL for the uploaded image")
            error.may_have_run = False
            raise error
        return found, url

    async def _upload(self, image: str, until: float) -> tuple[str, str | None]:
        task_uuid = str(uuid.uuid4())
        async for attempt in retrying(self.clock, until, self.patience):
            with attempt:
                try:
                    upload = {"taskType": "imageUpload", "taskUUID": task_uuid, "image": image}
                    reply = await self.client.send([upload], within=until - self.clock.monotonic())
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
        now = self.clock.monotonic()
        watch = _Watch(Snapshot(task_uuid, requested), started=now, due=now, sent_at=sent_at or self.clock.now())
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
                if end <= self.clock.monotonic():
                    break
                with self.clock.deadline(min(end, self.clock.monotonic() + KEEPALIVE)):
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
            with self.clock.deadline(due):
                await self._wake.wait()
            self._wake = anyio.Event()
            now = self.clock.monotonic()
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
                if add_images(watch.snapshot, items):
                    watch.changed.set()

    def _take(self, uuids: Sequence[str], items: Sequence[Mapping[str, Any]], errors: Sequence[ErrorDetail]) -> None:
        """What a poll brought, into each watched task's snapshot; the next poll is scheduled."""
        now = self.clock.monotonic()
        for task_uuid in uuids:
            for watch in self._watches.get(task_uuid, []):
                absorb(watch.snapshot, items, errors, known_for=self.clock.now() - watch.sent_at)
                watch.snapshot.trouble = None
                watch.troubled_since = None
                watch.answered = True
                watch.due = now + self.schedule.interval(now - watch.started)
                watch.changed.set()

    def _postpone(self, uuids: Iterable[str], exc: RunwareError | None) -> None:
        logger.info("a poll failed (%s); asking again shortly", type(exc).__name__)
        now = self.clock.monotonic()
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
        # The refusal is the poll's; the tasks were sent before it, and may run (and be charged) all the same.
        exc.may_have_run = True
        exc.retryable = False
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
