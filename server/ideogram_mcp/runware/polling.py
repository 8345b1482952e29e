"""Polling in rounds: every task a caller waits for is asked about with ``getResponse``, in batched rounds, one round
at a time, each task when it is due.

A task is first asked about a moment after it was sent; then when its progress says it will be done (Runware's own
percentage, when it gives one), else after a share of its age; never sooner than the next round, never later than
``PollSchedule.maximum``. Rounds come at most every ``PollSchedule.cadence`` (a tenth of a second), so a task whose
percentage says it is done in 40 ms is asked about 0.1 s after its last ask, not a quarter of a second after. A round
asks for every task due by then, at most ``MAX_BATCH`` to a request; a task that arrives meanwhile waits for the next
round instead of starting one. A request that fails is split and asked again, so that one task whose polls fail never
holds back the others (it is then polled apart until a good answer). A caller is woken only when its task changed, and
each answer is read once, indexed by taskUUID. Polls are free: they are asked again, at the next round, whatever
fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio

from ideogram_mcp import logs
from ideogram_mcp.clock import Clock
from ideogram_mcp.runware.answers import (
    LOST_CODE,
    RATE_LIMITED,
    REFUSALS,
    Snapshot,
    absorb,
    add_images,
    by_task,
    poll_trouble,
    ran_in,
    refused_poll,
)
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.errors import (
    NO_CODE,
    ErrorDetail,
    RateLimitError,
    RunwareAPIError,
    RunwareError,
    RunwareTimeoutError,
    api_error,
)

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

logger = logs.logger(__name__)

MAX_BATCH = 100
"""Most getResponse tasks sent in one request."""
PARALLEL = 4
"""Requests of one round in flight at once."""
HUNG_PARTS = 8
"""Parts a poll request that got no answer is split in at once, to find the task Runware hangs on."""
POLL_WAIT = 15.0
"""Seconds one poll request may take. The tasks of a request in flight are not asked about again until it ends; the
others are, in the rounds that go on meanwhile."""


def _refused_for_one(exc: RunwareError, uuids: Sequence[str]) -> bool:
    """Whether a part's failure is Runware not knowing one of its tasks: split further until that one is found."""
    return isinstance(exc, RunwareAPIError) and refused_poll(exc, uuids) == "lost"


def _theirs(uuids: Sequence[str], details: Sequence[ErrorDetail]) -> list[ErrorDetail]:
    """The errors of a poll's successful answer, those naming no task and no parameter of the request given to the
    task asked about where it asked about one alone (Runware's error entries need not carry a taskUUID): it had
    waited for news it had been given, then was said to be lost. A refusal of the request (an error status), an
    error naming one of its parameters, or one with no code (a bare string: "Service temporarily unavailable"), stays
    the request's: nothing in it says the task failed (``_take`` counts it as the poll's trouble)."""
    if len(uuids) != 1:
        return list(details)
    return [
        detail
        if detail.task_uuid or detail.parameter or detail.code == NO_CODE
        else replace(detail, task_uuid=uuids[0])
        for detail in details
    ]


def _busy(exc: RunwareError | None) -> bool:
    """Whether a refused poll says Runware is busy, whatever its status (a 400 with its rate-limit code): waited out."""
    return isinstance(exc, RateLimitError) or (
        isinstance(exc, RunwareAPIError) and any(detail.code == RATE_LIMITED for detail in exc.details)
    )


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to ask about a task: ``first`` seconds after it was sent, then where its progress says it will be done,
    else every ``share`` of its age; never later than ``maximum``, and never sooner than ``minimum`` but for one ask
    at a time (``cadence`` after the last) while its percentage moves."""

    first: float = 0.2
    minimum: float = 0.25
    """Seconds between two asks about a task without progress to go by, at the shortest."""
    cadence: float = 0.1
    """Seconds between rounds, at the shortest, and between two asks about a task whose percentage moved since the
    last ask and says it will be done sooner than ``minimum``; the ask after such a hurried one waits ``minimum``
    again, so a task is asked about at most twice in any ``minimum`` + ``cadence`` seconds."""
    share: float = 0.2
    maximum: float = 5.0
    margin: float = 0.05
    """Seconds added to where progress says a task will be done: asked just after, not just before."""

    def interval(self, age: float, progress: int | None = None, *, may_hurry: bool = True) -> float:
        """Seconds until a task sent ``age`` seconds ago, at ``progress`` percent, is asked about again; ``may_hurry``:
        it may be sooner than ``minimum`` (its percentage moved since the last ask, which was not itself hurried)."""
        if progress is not None and 0 <= progress < 100:
            # As fast as it went so far, taking the percentage at its highest (Runware's whole numbers cut the
            # fraction off): a poll a little early is asked again; one too late keeps a caller waiting.
            done = progress + 1
            soonest = self.cadence if may_hurry else self.minimum  # a stalled percentage: not asked ten times a second
            return min(self.maximum, max(soonest, age * (100 - done) / done + self.margin))
        return min(self.maximum, max(self.minimum, self.share * age))


@dataclass(slots=True)
class Watch:
    """One caller waiting for one task."""

    snapshot: Snapshot
    due: float
    """When (monotonic) the task is next asked about."""
    sent_at: float
    """When the task was sent (Unix time): Runware may not know a task for a moment after acknowledging it."""
    started: float
    """When the watch began (monotonic)."""
    changed: anyio.Event = field(default_factory=anyio.Event)
    answered: bool = False
    """Whether a poll has brought news of the task since the watch began."""
    troubled_since: float | None = None
    """Since when (monotonic) every poll of the task has failed; None after a good answer."""
    progress: int | None = None
    """The percentage the last answer gave (None: none yet, or none given)."""
    hurried: bool = False
    """Whether the next ask was timed sooner than ``PollSchedule.minimum`` (the one after it then is not)."""


@dataclass(slots=True)
class _Task:
    """The watches of one task, and how it is polled."""

    watches: list[Watch] = field(default_factory=lambda: [])
    apart: bool = False
    """Polled in a request of its own: its polls failed where others' did not."""

    @property
    def due(self) -> float:
        return min(watch.due for watch in self.watches)


@dataclass(frozen=True, slots=True)
class _Limits:
    """Poll requests in flight at once: of tasks polled together, and of tasks polled apart."""

    together: anyio.CapacityLimiter
    apart: anyio.CapacityLimiter


class Poller:
    """Asks Runware about every watched task, in rounds; ``run`` is the loop, one per process and Runware."""

    def __init__(self, client: RunwareClient, clock: Clock, schedule: PollSchedule) -> None:
        self.client = client
        self.clock = clock
        self.schedule = schedule
        self._tasks: dict[str, _Task] = {}
        self._wake = anyio.Event()
        self._planned: float | None = None
        """When the next round is planned (monotonic); None while the loop waits for a first task."""
        self._last_round = float("-inf")
        self._asking: dict[str, object] = {}
        """The tasks of the poll requests in flight: not asked about again until their answer (or its failure)."""

    def watch(
        self, task_uuid: str, requested: int, *, sent_at: float, at_once: bool = False, ran: bool = False
    ) -> Watch:
        """Begin watching a task for one caller: first asked about at the next round (``at_once``), else a moment after
        it was sent; ``ran``: an image of it came before (``Snapshot.ran``)."""
        now = self.clock.monotonic()
        due = now if at_once else now + max(0.0, self.schedule.first - (self.clock.now() - sent_at))
        watch = Watch(Snapshot(task_uuid, requested, ran=ran), due=due, sent_at=sent_at, started=now)
        self._tasks.setdefault(task_uuid, _Task()).watches.append(watch)
        if self._planned is None or due < self._planned:
            self._wake.set()  # sooner than the round planned: plan again
        return watch

    def forget(self, watch: Watch) -> None:
        task = self._tasks.get(watch.snapshot.task_uuid)
        if task is None:
            return
        if watch in task.watches:
            task.watches.remove(watch)
        if not task.watches:
            del self._tasks[watch.snapshot.task_uuid]

    async def run(self) -> None:
        """The poll loop: a round when the first task is due, at most one every ``cadence`` seconds. Runs until
        cancelled. A round does not wait for its requests: one that hangs (Runware slow about one task, up to
        ``POLL_WAIT``) holds back only the tasks it asks about, never the next rounds (a task sent a second later
        had waited 14 s for an image ready in 0.5)."""
        # Tasks polled apart (their polls failed where others' did not) have slots of their own: four that Runware
        # hangs on had held every slot, and a new task waited up to 15 s for its first poll.
        limit = _Limits(anyio.CapacityLimiter(PARALLEL), anyio.CapacityLimiter(PARALLEL))
        async with anyio.create_task_group() as requests:
            while True:
                idle = [task.due for uuid, task in self._tasks.items() if uuid not in self._asking]
                if not idle:  # none, or all being asked about: a new task, or an answer, wakes the loop
                    self._planned = None
                    await self._wake.wait()
                    self._wake = anyio.Event()
                    continue
                await self._next_round(min(idle), requests, limit)

    async def _next_round(self, first_due: float, requests: TaskGroup, limit: _Limits) -> None:
        """Wait for the round planned (or a sooner task), then start its requests."""
        self._planned = max(first_due, self._last_round + self.schedule.cadence)
        with self.clock.deadline(self._planned):
            await self._wake.wait()
        self._wake = anyio.Event()
        now = self.clock.monotonic()
        if now < self._planned:
            return  # woken for a task due sooner, or an answer: plan again
        self._last_round = now
        self._round(now, requests, limit)

    def _round(self, now: float, requests: TaskGroup, limit: _Limits) -> None:
        """Ask about every task due before the next round could, but those being asked about: those polled apart
        one to a request."""
        by = now + self.schedule.cadence / 2
        due = [(uuid, task) for uuid, task in self._tasks.items() if task.due <= by and uuid not in self._asking]
        together = [uuid for uuid, task in due if not task.apart]
        batches = [together[i : i + MAX_BATCH] for i in range(0, len(together), MAX_BATCH)]
        batches += [[uuid] for uuid, task in due if task.apart]

        async def ask(uuids: list[str], mine: object) -> None:
            try:
                async with limit.apart if self._apart(uuids) else limit.together:
                    await self._ask(uuids)
            except Exception:  # the loop serves every waiting call: one strange answer must not end it
                logger.exception("a poll failed unexpectedly; asking again shortly")
                self._postpone(uuids, None)
            finally:
                for uuid in uuids:  # those still its own: one answered may be in a later request by now
                    if self._asking.get(uuid) is mine:
                        del self._asking[uuid]
                self._wake.set()  # its tasks may be due again: plan the next round with them

        for uuids in batches:
            mine = object()
            self._asking.update(dict.fromkeys(uuids, mine))
            requests.start_soon(ask, uuids, mine)

    async def _ask(self, uuids: Sequence[str]) -> None:
        """Poll these tasks; a failed request of several is split and the parts asked at once, then a part that alone
        failed split again, until the task at fault is found (and polled apart from then on). A request that got no
        answer in ``POLL_WAIT`` is split in up to ``HUNG_PARTS`` at a time, as each split costs that wait again; a
        part found at fault while the others answered is not yet taken for troubled (Runware answers), so that the
        tasks polled beside the one at fault are not given up on before it is found."""
        failure = await self._poll(uuids)
        if failure is None:  # a part asked about again answered: not held while the others are split
            self._answered(uuids)
        # Since when each task's polls fail, given back to the one found at fault (its caller's patience runs from
        # then: it had waited out its whole wait), after the parts holding it were not taken for troubled; its own
        # time, not another's in the request (a task sent late in an outage had been given up on 17 s early).
        since = [(watch, watch.troubled_since) for watch in self._watches(uuids)]
        # Runware busy (a 429) is waited out whole; a rate limit under another status is split off, as it may be one
        # task's (the tasks beside it had been held back), at the cost of more polls where it is the key's.
        while (
            failure is not None
            and len(uuids) > 1
            and not (isinstance(failure, RateLimitError) and failure.status == 429)
        ):
            count = min(len(uuids), HUNG_PARTS if isinstance(failure, RunwareTimeoutError) else 2)
            parts = [uuids[i * len(uuids) // count : (i + 1) * len(uuids) // count] for i in range(count)]
            failed = await self._each(parts)
            faulty: list[tuple[Sequence[str], RunwareError]] = [
                (part, exc) for part, exc in zip(parts, failed, strict=True) if exc is not None
            ]
            if len(faulty) != 1:
                if len(faulty) < len(parts):  # some answered: a task at fault is sought in each part that failed
                    await self._each([part for part, _ in faulty], ask=True)
                else:  # all failed: a task Runware does not know is sought in each (Runware down: nothing to find)
                    await self._each([part for part, exc in faulty if _refused_for_one(exc, part)], ask=True)
                return
            ((uuids, failure),) = faulty
            for watch in self._watches(uuids):
                watch.troubled_since = None
        if failure is not None and len(uuids) == 1 and (task := self._tasks.get(uuids[0])) is not None:
            task.apart = True
            for watch in task.watches:
                earlier = next((then for kept, then in since if kept is watch), None)
                if watch.troubled_since is None and earlier is not None:
                    watch.troubled_since = earlier
                    watch.changed.set()  # its waiter's patience runs from then

    def _answered(self, uuids: Sequence[str]) -> None:
        """Tasks whose poll answered are asked about again in the rounds as they come due, not held while the other
        parts of their request are polled or split further (images ready at 18 s had come at 45 s)."""
        for uuid in uuids:
            self._asking.pop(uuid, None)
        self._wake.set()

    def _apart(self, uuids: Sequence[str]) -> bool:
        return len(uuids) == 1 and (task := self._tasks.get(uuids[0])) is not None and task.apart

    async def _each(self, parts: Sequence[Sequence[str]], *, ask: bool = False) -> list[RunwareError | None]:
        """The parts of a failed request polled (or, ``ask``, asked about and split further) at once: one after the
        other, each had waited for the others' hang (``POLL_WAIT``) at each split."""
        failed: list[RunwareError | None] = [None] * len(parts)

        async def one(index: int, uuids: Sequence[str]) -> None:
            if ask:
                await self._ask(uuids)
                return
            failed[index] = await self._poll(uuids)
            if failed[index] is None:
                self._answered(uuids)

        async with anyio.create_task_group() as polls:
            for index, part in enumerate(parts):
                polls.start_soon(one, index, part)
        return failed

    async def _poll(self, uuids: Sequence[str]) -> RunwareError | None:
        """One poll request; what it learnt goes into the watches. The failure when it was retryable (to be split),
        else None."""
        polls = [{"taskType": "getResponse", "taskUUID": task_uuid} for task_uuid in uuids]
        try:
            reply = await self.client.send(polls, errors_ok=True, within=POLL_WAIT)
        except RunwareAPIError as exc:
            said = refused_poll(exc, uuids)
            if said == "lost" and len(uuids) == 1:  # its own news, heard alone (with Runware's grace)
                # Its "no such task" only: words without a code beside it are no failure of it.
                self._take(
                    uuids, exc.items, [replace(d, task_uuid=uuids[0]) for d in exc.details if d.code == LOST_CODE]
                )
                if (task := self._tasks.get(uuids[0])) is not None:
                    task.apart = True  # asked about alone from now on, until Runware knows it: no split each round
                return None
            if said == "outcome":
                self._take(uuids, exc.items, [detail for detail in exc.details if detail.code != NO_CODE])
                return None
            self._keep_images(uuids, exc.items)  # images beside the error are kept all the same
            if said == "blocked":  # cannot be followed for now: the tasks were sent, and may be fine
                self._block(uuids, exc)
                return None
            if said == "passing":
                self._postpone(uuids, exc)
            return exc  # to be split, until the task at fault is found
        except RunwareError as exc:
            self._postpone(uuids, exc)
            return exc
        else:
            self._take(uuids, reply.data, _theirs(uuids, reply.errors))
        return None

    def _watches(self, uuids: Iterable[str]) -> Iterable[Watch]:
        for task_uuid in uuids:
            task = self._tasks.get(task_uuid)
            if task is not None:
                yield from task.watches

    def _keep_images(self, uuids: Sequence[str], items: Sequence[Mapping[str, Any]]) -> None:
        """Finished images from an answer that is otherwise an error: added, and nothing else learnt from it."""
        for watch in self._watches(uuids):
            if add_images(watch.snapshot, items):
                watch.changed.set()

    def _take(self, uuids: Sequence[str], items: Sequence[Mapping[str, Any]], errors: Sequence[ErrorDetail]) -> None:
        """What a poll brought, into each watched task's snapshot (each waiter woken only if its task changed); the
        next poll of each is scheduled."""
        items_of, errors_of = by_task(items, errors)
        asked = set(uuids)  # an error naming a task not asked about says as little of these as one naming none
        unnamed = [detail for named, said in errors_of.items() if named not in asked for detail in said]
        now, wall = self.clock.monotonic(), self.clock.now()
        for task_uuid in uuids:
            task = self._tasks.get(task_uuid)
            if task is None:
                continue
            task.apart = False
            mine, about = items_of.get(task_uuid, []), errors_of.get(task_uuid, [])
            ran = any(w.snapshot.ran or w.snapshot.images for w in task.watches)
            ran = ran or ran_in(mine)
            trouble = poll_trouble(about, ran=ran)
            if trouble is None and unnamed and not mine and not about:
                # Said of no task, and nothing of this one: the poll failed for it (it had been taken for an answer
                # saying nothing, "still running on Runware" for the whole wait).
                trouble = api_error(200, unnamed)
            if trouble is not None:  # the poll's own error, not the task's outcome
                about = [detail for detail in about if detail not in trouble.details]
            for watch in task.watches:
                snapshot = watch.snapshot
                before = _state(snapshot)
                absorb(snapshot, mine, about, known_for=wall - watch.sent_at)
                if trouble is None:  # a good answer ends any trouble; another failure continues it (its patience)
                    snapshot.trouble = None
                    watch.troubled_since = None
                first = not watch.answered
                watch.answered = True
                age = max(wall - watch.sent_at, now - watch.started)  # a task fetched later was sent long before
                may_hurry = snapshot.progress != watch.progress and not watch.hurried
                watch.progress = snapshot.progress
                interval = self.schedule.interval(age, snapshot.progress, may_hurry=may_hurry)
                watch.due, watch.hurried = now + interval, interval < self.schedule.minimum
                if first or _state(snapshot) != before:
                    watch.changed.set()
            if isinstance(trouble, REFUSALS):
                self._block([task_uuid], trouble)
            elif trouble is not None:
                self._postpone([task_uuid], trouble)

    def _postpone(self, uuids: Iterable[str], exc: RunwareError | None) -> None:
        logger.info("a poll failed (%s); asking again shortly", type(exc).__name__)
        now = self.clock.monotonic()
        later = now + max(self.schedule.minimum * 2, getattr(exc, "retry_after", None) or 0.0)
        for watch in self._watches(uuids):
            watch.due = later
            watch.snapshot.trouble = exc
            if _busy(exc):
                watch.troubled_since = None  # Runware answers: it is busy, not down
            elif exc is not None and watch.troubled_since is None:
                watch.troubled_since = now  # a 429 is waited out, as Runware asks; any other failure is trouble
                watch.changed.set()  # the waiter's patience starts now

    def _block(self, uuids: Iterable[str], exc: RunwareError) -> None:
        # The refusal is the poll's; the tasks were sent before it, and may run (and be charged) all the same.
        exc.may_have_run = True
        exc.retryable = False
        for watch in self._watches(uuids):
            watch.snapshot.blocked = exc
            watch.changed.set()


def _state(snapshot: Snapshot) -> tuple[object, ...]:
    """What a waiter hears of a snapshot: a poll that changes none of it wakes nobody."""
    return (
        len(snapshot.images),
        len(snapshot.failures),
        snapshot.progress,
        snapshot.lost is not None,
        snapshot.blocked is not None,
        snapshot.trouble is not None,
        tuple(key for key, _, _ in snapshot.garbled),  # an unusable item seen, or come right
    )
