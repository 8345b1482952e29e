"""The SQLite journal's work grouped: the writes of calls that come while one transaction commits go in the next,
together, each in a savepoint of its own; the reads that come while others run go to the thread together.

A commit waits for the disk; a thousand calls each committing alone wait for it a thousand times, one after
another. Grouped, each write still sees the ones before it (a budget checked by one counts the task another just
recorded), and a write that fails (a budget exceeded, a duplicate) is rolled back alone, its error its caller's.
Once the group commits, every write in it is on disk; if the commit itself fails, or the transaction ended under
it, each caller hears it. The caller that commits for the others stops once its own write is done and hands that
job to the next caller waiting; cancelled, it hands it on all the same, and the writes of a group it never handed to
the thread are written by their own callers, each once.

Reads are grouped for the hand-offs alone: one connection runs one statement at a time anyway, and a thousand
calls finishing together each handing a read to a thread of its own cost a hop apiece, the loop and those threads
taking the interpreter in turns. Grouped (``benchmarks/tasks.py``, 1,000 tasks at once with saving off, three pairs):
from the poll that saw a task done to its outcome 0.17 to 0.19 s (p50) against 0.40 to 0.49, 0.54 to 0.66 ms of CPU
a task against 0.77 to 0.92, under one voluntary context switch a task against 8. Each read still takes the
connection's lock alone, so a commit waits for one read, not for a group.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    import sqlite3

T = TypeVar("T")


@dataclass(slots=True)
class _Work:
    work: Callable[[], Any]
    woken: anyio.Event = field(default_factory=anyio.Event)
    """Set once it is finished, or once its caller is handed the running of the groups (``lead``)."""
    finished: bool = False
    result: Any = None
    error: BaseException | None = None
    started: bool = False
    gone: bool = False
    """Its caller stopped waiting before it began: it is not done."""

    @property
    def lead(self) -> bool:
        """Whether its caller was woken to run the groups from now on (its own work not done yet)."""
        return self.woken.is_set() and not self.finished


class _Grouped:
    """Work done in a worker thread in groups: what callers hand over while a group runs goes in the next group,
    all of it in one hop. One caller at a time runs the groups (the lead): the first to find none running, until its
    own work is done; then the next caller still waiting takes the lead over, so that no caller waits for more than
    its own group and the one before it."""

    def __init__(self) -> None:
        self._queue: list[_Work] = []
        self._running = False

    async def _grouped(self, work: Callable[[], T]) -> T:
        """``work`` done in a group; its result, or its own error raised."""
        mine = _Work(work)
        self._queue.append(mine)
        if self._running:
            try:
                await mine.woken.wait()
            except BaseException:
                if not mine.started:
                    mine.gone = True
                    if mine.lead:  # handed the lead as it left: the next one takes it
                        self._hand_on()
                raise
            if mine.lead:
                await self._lead(mine)
        else:
            self._running = True
            await self._lead(mine)
        if mine.error is not None:
            if isinstance(mine.error, _NotDoneError):
                return await self._grouped(work)
            raise mine.error
        return cast(T, mine.result)

    async def _lead(self, mine: _Work) -> None:
        """Run the groups that gather until ``mine`` is done (or this caller is cancelled); then hand the lead on."""
        try:
            while not mine.finished:
                group, self._queue = [w for w in self._queue if not w.gone], []
                for each in group:
                    each.started = True
                ran = False

                def run(group: list[_Work] = group) -> None:
                    nonlocal ran
                    ran = True
                    try:
                        self._run_group(group)
                    except BaseException as exc:  # the group's own failure: every work it left unfinished is told
                        for each in group:
                            each.error = each.error or self._failure_of(exc)
                        if not isinstance(exc, Exception):
                            raise

                try:
                    await anyio.to_thread.run_sync(run)
                finally:  # cancelled while the thread ran, the group was done all the same; before, it was not
                    for each in group:
                        if not ran:
                            each.error = each.error or _NotDoneError()
                        each.finished = True
                        each.woken.set()
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        """The lead to the first caller still waiting, or to none."""
        self._queue = [w for w in self._queue if not w.gone]
        if self._queue:
            self._queue[0].woken.set()  # not finished: woken to lead
        else:
            self._running = False

    def _run_group(self, group: list[_Work]) -> None:
        raise NotImplementedError

    def _failure_of(self, exc: BaseException) -> BaseException:
        """What a caller is told of a failure of its whole group."""
        return exc


class Writer(_Grouped):
    """Runs write transactions on one connection, grouping those that wait for each other."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, failure: Callable[[sqlite3.Error], Exception]):
        super().__init__()
        self._db = db
        self._lock = lock
        self._failure = failure

    async def write(self, work: Callable[[], T]) -> T:
        """``work`` in a write transaction, alone or with others; its result, or its own error raised."""
        return await self._grouped(work)

    def connect(self, db: sqlite3.Connection) -> None:
        """Write on ``db`` from now on (the journal reopened its file); called under the lock."""
        self._db = db

    def _run_group(self, group: list[_Work]) -> None:
        """One transaction, taken at once (``BEGIN IMMEDIATE``), each write in a savepoint. A failure of the
        transaction itself (its commit, a savepoint) is every write's that has no failure of its own, and leaves no
        transaction open behind it."""
        import sqlite3  # here, not at import: starting the server needs no database

        with self._lock:
            try:  # a failure raised from here is the whole group's (``_lead`` tells each write of it)
                self._db.execute("BEGIN IMMEDIATE")
                for each in group:
                    self._db.execute("SAVEPOINT one")
                    try:
                        each.result = each.work()
                    except BaseException as exc:  # its own failure: only its own changes go
                        self._db.execute("ROLLBACK TO one")
                        each.error = self._failure_of(exc)
                    self._db.execute("RELEASE one")
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite ends some failed transactions itself (a full disk)
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    def _failure_of(self, exc: BaseException) -> BaseException:
        import sqlite3

        return self._failure(exc) if isinstance(exc, sqlite3.Error) else exc


class Reader(_Grouped):
    """Runs reads on one connection, those that come while others run handed to the thread together; each takes
    the connection's lock alone."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__()
        self._lock = lock

    async def read(self, work: Callable[[], T]) -> T:
        """``work`` under the connection's lock in a worker thread, alone or with others; its result, or its own
        error raised."""
        return await self._grouped(work)

    def _run_group(self, group: list[_Work]) -> None:
        for each in group:
            try:
                with self._lock:
                    each.result = each.work()
            except BaseException as exc:  # its own failure, its caller's alone
                each.error = exc


class _NotDoneError(Exception):
    """The caller running the groups was cancelled before this work's group went to the thread: its own caller runs
    it again."""
