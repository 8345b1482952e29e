"""Submissions in batches: tasks sent at about the same moment go to Runware together, in one request, and each
sender hears its own task's fate.

Runware takes an array of tasks and answers each by its taskUUID: an acknowledgement among ``data``, or an error
naming it among ``errors``. A failure of the whole request (no answer, a 5xx, a refused key) is every sender's, and
each retries under its own taskUUID as it would alone. A task the answer says nothing of is taken as a lost answer
(it may have run): it is sent again under the same taskUUID, and Runware's ``conflictTaskUUID`` then says it has it.
So batching changes how many requests go out, never what is sent or charged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from ideogram_mcp import logs
from ideogram_mcp.clock import Clock
from ideogram_mcp.runware.answers import by_task
from ideogram_mcp.runware.client import RunwareClient, written
from ideogram_mcp.runware.errors import (
    ErrorDetail,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RunwareAPIError,
    RunwareError,
    RunwareResponseError,
    RunwareUnwritableError,
    api_error,
)

logger = logs.logger(__name__)

GATHER = 0.005
"""Seconds the first task of a batch waits for others to join it; again while more keep joining."""
WINDOWS = 10
"""Most such windows a batch gathers for while tasks keep coming (50 ms: hundreds of calls arrive over a second)."""
MOST = 50
"""Most tasks in one request."""
PARALLEL = 16
"""Batch requests in flight at once."""
ALONE = 4
"""Requests at once that send, one task each, a batch Runware refused whole naming no task."""


@dataclass(slots=True)
class _Slot:
    task: Mapping[str, Any]
    until: float
    """When (monotonic) its sender stops waiting."""
    done: anyio.Event = field(default_factory=anyio.Event)
    items: tuple[Mapping[str, Any], ...] = ()
    error: RunwareError | None = None
    gone: bool = False
    """Its sender stopped waiting before the batch left: it is not sent."""


class Batches:
    """Gathers tasks into shared requests; ``run`` sends them, and must run for ``send`` to batch."""

    def __init__(self, client: RunwareClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self._waiting: list[_Slot] = []
        self._arrived = anyio.Event()
        self.running = False

    async def send(self, task: Mapping[str, Any], within: float) -> tuple[Mapping[str, Any], ...]:
        """Send one task in the next batch; its answer items, or the error that is its own (raised)."""
        if not self.running:
            reply = await self.client.send([task], within=within)
            return reply.data
        slot = _Slot(task, until=self.clock.monotonic() + within)
        self._waiting.append(slot)
        self._arrived.set()
        try:
            await slot.done.wait()
        finally:
            if not slot.done.is_set():
                slot.gone = True
        if slot.error is not None:
            raise slot.error
        return slot.items

    async def run(self) -> None:
        """Send what gathers, a batch at a time per request, several requests at once. Runs until cancelled."""
        self.running = True
        limit = anyio.Semaphore(PARALLEL)
        try:
            async with anyio.create_task_group() as sending:
                while True:
                    await self._arrived.wait()
                    await self._gather()
                    while self._waiting:
                        batch, self._waiting = self._waiting[:MOST], self._waiting[MOST:]
                        batch = [slot for slot in batch if not slot.gone]
                        if batch:
                            await limit.acquire()
                            sending.start_soon(self._send, batch, limit)
        finally:
            self.running = False

    async def _gather(self) -> None:
        """Wait for tasks to join the first: ``GATHER`` seconds, and as long again each time one came meanwhile, until
        a batch is full or ``WINDOWS`` windows passed. A task alone waits 5 ms; under load, requests carry dozens."""
        for _ in range(WINDOWS):
            self._arrived = anyio.Event()
            await self.clock.sleep(GATHER)
            if len(self._waiting) >= MOST or not self._arrived.is_set():
                break
        self._arrived = anyio.Event()

    async def _send(self, batch: list[_Slot], limit: anyio.Semaphore) -> None:
        try:
            await self._exchange(batch)
        except Exception:  # a fault here must not end the sending, and with it every caller's session
            logger.exception("sending %d task(s) failed unexpectedly; each may have reached Runware", len(batch))
        finally:
            limit.release()
            for slot in batch:
                if not slot.done.is_set():  # this request was cut short (cancelled): it may have reached Runware
                    slot.error = slot.error or RunwareResponseError("the request carrying this task was cut short")
                    slot.done.set()

    async def _exchange(self, batch: list[_Slot]) -> None:
        """One request carrying the batch, and each task's fate from its answer."""
        within = max(slot.until for slot in batch) - self.clock.monotonic()
        try:
            reply = await self.client.send([slot.task for slot in batch], errors_ok=True, within=within)
        except RunwareUnwritableError:
            # A task no request can carry (the argument checks refuse its values) fails alone, unsent; the others
            # go without it.
            writable = [slot for slot in batch if _writable(slot)]
            if writable:
                await self._exchange(writable)
        except RunwareAPIError as exc:
            await self._refused(batch, exc)
        except RunwareError as exc:
            _fail(batch, exc)
        else:
            if reply.errors and not reply.data and not any(detail.task_uuid for detail in reply.errors):
                await self._refused(batch, api_error(reply.status, reply.errors))  # a 200 saying only errors
            else:
                _share(batch, reply.status, reply.data, reply.errors)

    async def _refused(self, batch: list[_Slot], exc: RunwareAPIError) -> None:
        """Each task's fate from an error answer to the request carrying the batch."""
        names_a_task = any(detail.task_uuid for detail in exc.details)
        if not names_a_task and (taken := _acknowledged(batch, exc.items)):
            # Some were acknowledged before the refusal (credit ran out part-way): taken, they run and are charged;
            # the refusal is the others'. They had been told it, failed unpolled, and counted as nothing spent.
            _share(taken, 200, exc.items, [])
            batch = [slot for slot in batch if slot not in taken]
            if not batch:
                return
        refused_whole = isinstance(exc, _ONE_TASKS)  # a conflict among them: one task Runware had refuses all
        if refused_whole and len(batch) > 1 and not names_a_task:
            # Refused whole for a parameter, a model, a permission, or a task Runware already has, naming no task:
            # nothing ran, and which task it was is learnt by sending each alone (under its own taskUUID still, a
            # few at a time, so that none can run twice), so that no other caller hears its refusal: a new task
            # beside a resent one would otherwise be taken as accepted, never sent, and counted as spent.
            few = anyio.CapacityLimiter(ALONE)

            async def alone(slot: _Slot) -> None:
                async with few:
                    await self._exchange([slot])

            async with anyio.create_task_group() as each:
                for slot in batch:
                    each.start_soon(alone, slot)
        elif not names_a_task:
            _fail(batch, exc)  # the whole request's failure: a refused key, a 429, a 5xx ...
        else:
            _share(batch, exc.status, exc.items, exc.details)


_ONE_TASKS = (InvalidRequestError, PermissionDeniedError, NotFoundError)
"""Refusals that may be of one task of a batch (its parameters, its model, what the key may run) and leave nothing
run; a refused key, too little credit, a rate limit or a fault are every task's."""


def _acknowledged(batch: Sequence[_Slot], items: Sequence[Mapping[str, Any]]) -> list[_Slot]:
    """The slots of ``batch`` an answer's ``items`` name (acknowledged, or further along)."""
    named = {item.get("taskUUID") for item in items}
    return [slot for slot in batch if slot.task.get("taskUUID") in named]


def _writable(slot: _Slot) -> bool:
    """Whether the slot's task can be written into a request; when not, it has failed with why."""
    try:
        written([slot.task])
    except RunwareUnwritableError as exc:
        slot.error = exc
        slot.done.set()
        return False
    return True


def _fail(batch: Sequence[_Slot], exc: RunwareError) -> None:
    for slot in batch:
        slot.error = _own_copy(exc, slot) if len(batch) > 1 else exc
        slot.done.set()


def _own_copy(exc: RunwareError, slot: _Slot) -> RunwareError:
    """The request's failure as this task's own error: each sender marks its copy (its taskUUID, may it have run)."""
    if isinstance(exc, RunwareAPIError):
        copy = api_error(exc.status, exc.details, retry_after=exc.retry_after)
    else:
        copy = type(exc).__new__(type(exc))
        copy.__dict__.update(exc.__dict__)
        copy.args = exc.args
    copy.retryable, copy.may_have_run = exc.retryable, exc.may_have_run
    copy.__cause__ = exc.__cause__
    return copy


def _share(
    batch: Sequence[_Slot], status: int, items: Sequence[Mapping[str, Any]], errors: Sequence[ErrorDetail]
) -> None:
    """Each task's part of the answer: its items, or its errors raised as its own, or (said nothing of) a lost
    answer, sent again under its taskUUID."""
    items_of, errors_of = by_task(items, errors)
    for slot in batch:
        task_uuid = slot.task.get("taskUUID")
        mine, about = items_of.get(task_uuid, []), errors_of.get(str(task_uuid), [])
        if about:
            slot.error = api_error(status, about)
            slot.error.items = tuple(mine)
        elif mine:
            slot.items = tuple(mine)
        elif len(batch) == 1 and status < 400 and not errors:
            # A lone task's whole answer: empty acknowledges it; an error of another task's alone does not (it had
            # been taken, never sent again, and counted spent though never run).
            slot.items = tuple(items)
        else:
            slot.error = RunwareResponseError("Runware's answer to a batch of tasks said nothing of this one")
            if 400 <= status < 500 and errors_of:
                # The request refused for another task (a 402 naming it): no acknowledgement of this one, so it was
                # not taken, and is sent again alone. Said to "may have run", a refusal of that resend had been told
                # as "may have been charged", the task kept pending and its price held against the budget.
                slot.error.may_have_run = False
        slot.done.set()
