"""Writes to the SQLite journal grouped: the writes of calls that come while one transaction commits go in the next,
together, each in a savepoint of its own.

A commit waits for the disk; a thousand calls each committing alone wait for it a thousand times, one after
another. Grouped, each write still sees the ones before it (a budget checked by one counts the task another just
recorded), and a write that fails (a budget exceeded, a duplicate) is rolled back alone, its error its caller's.
Once the group commits, every write in it is on disk; if the commit itself fails, each caller hears it.
"""

from __future__ import annotations

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
class _Write:
    work: Callable[[], Any]
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: BaseException | None = None
    started: bool = False
    gone: bool = False
    """Its caller stopped waiting before the write began: it is not done."""


class Writer:
    """Runs write transactions on one connection, grouping those that wait for each other."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, failure: Callable[[sqlite3.Error], Exception]):
        self._db = db
        self._lock = lock
        self._failure = failure
        self._queue: list[_Write] = []
        self._writing = False

    async def write(self, work: Callable[[], T]) -> T:
        """``work`` in a write transaction, alone or with others; its result, or its own error raised."""
        write = _Write(work)
        self._queue.append(write)
        if self._writing:
            try:
                await write.done.wait()
            finally:
                if not write.started:
                    write.gone = True
        else:
            self._writing = True  # this caller commits the groups that gather while it does
            try:
                while self._queue:
                    group, self._queue = [w for w in self._queue if not w.gone], []
                    for each in group:
                        each.started = True
                    ran = False

                    def commit(group: list[_Write] = group) -> None:
                        nonlocal ran
                        ran = True
                        self._commit(group)

                    try:
                        await anyio.to_thread.run_sync(commit)
                    finally:  # cancelled while the thread ran, the group was written all the same; before, it was not
                        for each in group:
                            if not ran:
                                each.error = each.error or _NotWrittenError()
                            each.done.set()
            finally:
                self._writing = False
                for left in self._queue:  # cut short (cancelled): those still queued run on their own
                    left.done.set()
                    left.error = left.error or _NotWrittenError()
        if write.error is not None:
            if isinstance(write.error, _NotWrittenError):
                return await self.write(work)
            raise write.error
        return cast(T, write.result)

    def _commit(self, group: list[_Write]) -> None:
        """One transaction, taken at once (``BEGIN IMMEDIATE``), each write in a savepoint."""
        import sqlite3  # here, not at import: starting the server needs no database

        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                for each in group:
                    each.error = self._failure(exc)
                return
            for each in group:
                self._db.execute("SAVEPOINT one")
                try:
                    each.result = each.work()
                except BaseException as exc:  # its own failure: only its own changes go
                    self._db.execute("ROLLBACK TO one")
                    each.error = self._failure(exc) if isinstance(exc, sqlite3.Error) else exc
                self._db.execute("RELEASE one")
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                for each in group:
                    each.error = each.error or self._failure(exc)


class _NotWrittenError(Exception):
    """The caller committing a group was cancelled before this write's turn: it is written again by its own caller."""
