"""Getting generations done without paying twice or losing an image: async submission, retries, batched polling.

A task is sent with ``deliveryMethod: "async"``; Runware acknowledges it at once and the images
are then asked for with ``getResponse``. Failures on the way are retried within a deadline, always
under the task's own taskUUID, so a resend can never start a second, paid generation: Runware
answers ``conflictTaskUUID`` when it already has the task, and polling goes on. Polls are free and
retried freely; they go out in rounds, from one loop (``Delivery.run``, in ``polling``). What the answers
say is read in ``answers``; what is retried, in ``retries``. All time is the injected clock's.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from ideogram_mcp import logs
from ideogram_mcp.clock import Clock, SystemClock
from ideogram_mcp.references import is_web_url
from ideogram_mcp.runware.answers import Snapshot, check_acknowledged
from ideogram_mcp.runware.batching import Batches
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.errors import RunwareError, RunwareResponseError, TaskConflictError
from ideogram_mcp.runware.polling import Poller, PollSchedule
from ideogram_mcp.runware.retries import Patience, retrying

logger = logs.logger(__name__)

KEEPALIVE = 8.0
"""Seconds between progress reports while nothing changes (some clients restart their timeout on each)."""
LAST_ATTEMPT = 0.1
"""Seconds before its deadline within which a submission is not sent again (its answer could not come in time)."""
FIRST_ANSWER = 5.0
"""Seconds a caller who will not wait still waits for Runware's first answer (``wait(ask_first=True)``)."""
RAN_KEPT = 10_000
"""Tasks a process remembers having seen run (``Delivery.wait``), the latest."""

OnChange = Callable[[Snapshot], Awaitable[None]]


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
        self.poller = Poller(client, self.clock, self.schedule)
        self.batches = Batches(client, self.clock)
        self._ran: dict[str, None] = {}
        """The tasks a wait here saw run, the latest ``RAN_KEPT``: a wait cut short records nothing in the journal."""

    async def submit(self, task: Mapping[str, Any], until: float) -> None:
        """Send an async task, resending the same taskUUID until Runware has it or the deadline passes.

        Raises the last failure when it gives up; its ``may_have_run`` says whether any attempt may
        have reached Runware (then the task may still run and be charged, and can be fetched later).
        """
        reached = False
        task_uuid = str(task["taskUUID"])

        async def attempt_once() -> None:
            nonlocal reached
            try:
                items = await self.batches.send(task, within=until - self.clock.monotonic())
            except TaskConflictError:
                logger.info("Runware already has task %s; fetching its results", task_uuid)
                return  # an earlier attempt got through: the task runs once, and is charged once
            except RunwareError as exc:
                reached = reached or exc.may_have_run
                raise
            reached = True  # Runware answered: whatever the answer says, it has the task and may charge it
            check_acknowledged(items, task_uuid)

        started = self.clock.monotonic()
        failures: list[RunwareError] = []
        try:
            try:  # the first attempt alone: the retry policy is built only for a task that needs it
                return await attempt_once()
            except RunwareError as exc:
                if not exc.retryable:
                    raise
                failures.append(exc)
            # Not sent again in the last moment before the deadline: Runware's last answer stands, not a timeout.
            async for attempt in retrying(self.clock, until, self.patience, started=started, margin=LAST_ATTEMPT):
                with attempt:
                    if failures:  # counted as the policy's first attempt: its wait and stop rules apply
                        raise failures.pop()
                    return await attempt_once()
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
        ran: bool = False,
    ) -> Snapshot:
        """The task's snapshot once every image is finished or failed, or as it stands at the deadline.

        ``on_change`` hears every new state, and at least every few seconds while nothing changes.
        ``sent_at`` (Unix time) is when the task was sent, for telling a task not yet known from a lost one.
        ``ask_first`` asks Runware once even when the deadline is already here (a caller who will not wait
        still wants the state now), waiting up to ``FIRST_ANSWER`` seconds for that answer. ``ran``: an image of the
        task came before (an earlier call saved it), so a refusal for lack of credit is no longer the task's own; an
        earlier wait in this process that saw it run counts so too.
        """
        now = self.clock.monotonic()
        latest = max(until, now + FIRST_ANSWER) if ask_first else until
        ran = ran or task_uuid in self._ran
        watch = self.poller.watch(task_uuid, requested, sent_at=sent_at or self.clock.now(), at_once=ask_first, ran=ran)
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
            self.poller.forget(watch)
            if watch.snapshot.ran and not ran:  # kept for the next wait, should this one's end not be recorded
                self._ran[task_uuid] = None
                if len(self._ran) > RAN_KEPT:
                    del self._ran[next(iter(self._ran))]
        return watch.snapshot

    async def run(self) -> None:
        """The poll loop, in rounds, for every wait, and the sending of submissions in batches. Runs until
        cancelled."""
        async with anyio.create_task_group() as loops:
            loops.start_soon(self.poller.run)
            loops.start_soon(self.batches.run)
