"""Grouped writes: the writes of calls waiting on each other share one commit, each in its own savepoint."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from ideogram_mcp.journal import JournalError, failure
from ideogram_mcp.journal.writes import Writer

pytestmark = pytest.mark.anyio


class Book:
    """A table behind a writer, and the statements the connection ran."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("CREATE TABLE rows (name TEXT PRIMARY KEY)")
        self.statements: list[str] = []
        self.db.set_trace_callback(self.statements.append)
        self.writer = Writer(self.db, threading.Lock(), lambda exc: failure(path, exc))

    def insert(self, name: str) -> str:
        self.db.execute("INSERT INTO rows (name) VALUES (?)", (name,))
        return name

    @property
    def names(self) -> list[str]:
        return [name for (name,) in self.db.execute("SELECT name FROM rows ORDER BY name")]

    @property
    def commits(self) -> int:
        return self.statements.count("COMMIT")


async def _write_all(book: Book, names: list[str]) -> dict[str, str | BaseException]:
    got: dict[str, str | BaseException] = {}

    async def one(index: int, name: str) -> None:
        try:
            got[f"{index}:{name}"] = await book.writer.write(lambda: book.insert(name))
        except Exception as exc:
            got[f"{index}:{name}"] = exc

    async with anyio.create_task_group() as writers:
        for index, name in enumerate(names):
            writers.start_soon(one, index, name)
    return got


async def test_writes_that_wait_for_each_other_share_a_commit(tmp_path: Path) -> None:
    book = Book(tmp_path / "rows.sqlite3")
    names = [f"row-{n:02}" for n in range(40)]
    got = await _write_all(book, names)

    assert sorted(v for v in got.values() if isinstance(v, str)) == names
    assert book.names == names
    assert book.commits < 10, f"{book.commits} commits for 40 writes"


async def test_a_write_that_fails_is_rolled_back_alone_and_its_error_is_its_callers(tmp_path: Path) -> None:
    book = Book(tmp_path / "rows.sqlite3")
    got = await _write_all(book, ["a", "b", "a", "c"])

    assert book.names == ["a", "b", "c"]
    failed = [v for v in got.values() if not isinstance(v, str)]
    assert len(failed) == 1
    assert isinstance(failed[0], JournalError)


async def test_an_error_of_the_write_itself_is_raised_as_it_is(tmp_path: Path) -> None:
    book = Book(tmp_path / "rows.sqlite3")

    def refuse() -> None:
        book.insert("kept only if nothing is raised")
        raise ValueError("over budget")

    with pytest.raises(ValueError, match="over budget"):
        await book.writer.write(refuse)
    assert book.names == []
    assert await book.writer.write(lambda: book.insert("next")) == "next"
    assert book.names == ["next"]


async def test_a_write_whose_caller_left_before_it_began_is_not_done(tmp_path: Path) -> None:
    book = Book(tmp_path / "rows.sqlite3")
    async with anyio.create_task_group() as writers:
        writers.start_soon(book.writer.write, lambda: book.insert("first"))
        await anyio.lowlevel.checkpoint()  # the first is being committed
        with anyio.move_on_after(0):
            await book.writer.write(lambda: book.insert("left"))
    assert book.names == ["first"]


async def test_writes_queued_behind_a_cancelled_caller_are_written_by_their_own(tmp_path: Path) -> None:
    """The caller committing the groups is cancelled while its own write is in the thread: the writes queued
    meanwhile were never told they were written without being so (each is written by its own caller)."""
    book = Book(tmp_path / "rows.sqlite3")
    entered, release = threading.Event(), threading.Event()
    scopes: list[anyio.CancelScope] = []
    got: list[str] = []

    def slow() -> str:
        entered.set()
        release.wait(5)
        return book.insert("first")

    async def first() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await book.writer.write(slow)

    async def later(name: str) -> None:
        got.append(await book.writer.write(lambda: book.insert(name)))

    async with anyio.create_task_group() as writers:
        writers.start_soon(first)
        while not entered.is_set():  # noqa: ASYNC110 (a thread's event): the first write is in the thread now
            await anyio.sleep(0.01)
        writers.start_soon(later, "second")
        writers.start_soon(later, "third")
        await anyio.wait_all_tasks_blocked()
        scopes[0].cancel()
        release.set()

    assert set(got) == {"second", "third"}
    assert book.names == ["first", "second", "third"]
