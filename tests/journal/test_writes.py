"""Grouped work: the writes of calls waiting on each other share one commit, each in its own savepoint; the reads
that come together go to the worker thread together."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from ideogram_mcp.journal import JournalError, failure
from ideogram_mcp.journal.writes import Reader, Writer

pytestmark = pytest.mark.anyio

T = TypeVar("T")


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


class _Held(Generic[T]):
    """A work that, once in the worker thread, holds it until ``released``: what comes meanwhile queues behind."""

    def __init__(self, work: Callable[[], T]) -> None:
        self.entered, self.released = threading.Event(), threading.Event()
        self._work = work

    def __call__(self) -> T:
        self.entered.set()
        self.released.wait(5)
        return self._work()

    async def in_thread(self) -> None:
        while not self.entered.is_set():  # noqa: ASYNC110 (a thread's event)
            await anyio.sleep(0.01)


async def _told(do: Callable[[Callable[[], T]], Awaitable[T]], work: Callable[[], T]) -> T | Exception:
    """What a caller handing ``work`` to ``do`` is told: its result, or the error raised."""
    try:
        return await do(work)
    except Exception as exc:
        return exc


async def _leave_before_it_begins(
    do: Callable[[Callable[[], T]], Coroutine[Any, Any, T]], first: Callable[[], T], left: Callable[[], T]
) -> None:
    """``first`` handed over, then ``left`` by a caller that stops waiting before its work begins."""
    async with anyio.create_task_group() as callers:
        callers.start_soon(do, first)
        await anyio.lowlevel.checkpoint()  # the first is in the thread
        with anyio.move_on_after(0):
            await do(left)


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
    await _leave_before_it_begins(book.writer.write, lambda: book.insert("first"), lambda: book.insert("left"))
    assert book.names == ["first"]


async def _cancel_the_runner(
    do: Callable[[Callable[[], str | None]], Awaitable[str | None]],
    first: str,
    later: list[str],
    done: Callable[[str], str | None],
) -> list[str | None]:
    """The caller running the groups is cancelled while its own work is in the thread, with ``later`` queued
    meanwhile: what each of those callers was told."""
    slow = _Held(lambda: done(first))
    scopes: list[anyio.CancelScope] = []
    got: list[str | None] = []

    async def runner() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await do(slow)

    async def queued(name: str) -> None:
        got.append(await do(lambda: done(name)))

    async with anyio.create_task_group() as callers:
        callers.start_soon(runner)
        await slow.in_thread()
        for name in later:
            callers.start_soon(queued, name)
        await anyio.wait_all_tasks_blocked()
        scopes[0].cancel()
        slow.released.set()
    return got


async def test_writes_queued_behind_a_cancelled_caller_are_written_by_their_own(tmp_path: Path) -> None:
    """Never told they were written without being so: each is written by its own caller."""
    book = Book(tmp_path / "rows.sqlite3")
    got = await _cancel_the_runner(book.writer.write, "first", ["second", "third"], book.insert)

    assert set(got) == {"second", "third"}
    assert book.names == ["first", "second", "third"]


async def test_writes_are_each_done_once_when_the_committing_caller_is_cancelled_waiting_for_a_thread(
    tmp_path: Path,
) -> None:
    """No worker thread free: the committing caller is cancelled while its group waits for one, with a write queued
    behind it and another coming at once. Each is written once (an INSERT done twice would fail as a duplicate)."""
    book = Book(tmp_path / "rows.sqlite3")
    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens, holder = limiter.total_tokens, object()
    limiter.total_tokens = 1
    await limiter.acquire_on_behalf_of(holder)
    scopes: list[anyio.CancelScope] = []
    got: dict[str, str | Exception] = {}

    async def first() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await book.writer.write(lambda: book.insert("first"))

    async def one(name: str) -> None:
        got[name] = await _told(book.writer.write, lambda: book.insert(name))

    try:
        async with anyio.create_task_group() as writers:
            writers.start_soon(first)
            await anyio.wait_all_tasks_blocked()  # its group waits for the one thread token
            writers.start_soon(one, "queued")
            await anyio.wait_all_tasks_blocked()
            scopes[0].cancel()
            writers.start_soon(one, "at once")
            await anyio.wait_all_tasks_blocked()
            limiter.release_on_behalf_of(holder)
    finally:
        limiter.total_tokens = tokens

    assert got == {"queued": "queued", "at once": "at once"}
    assert book.names == ["at once", "queued"]
    assert book.statements.count("INSERT INTO rows (name) VALUES ('queued')") == 1


async def test_a_transaction_that_ended_under_a_group_is_every_writes_failure(tmp_path: Path) -> None:
    """SQLite ends some failed transactions itself (a full disk): the group's other writes were not committed, so
    none of their callers may hear that they were, and the next group begins afresh."""
    book = Book(tmp_path / "rows.sqlite3")
    slow = _Held(lambda: book.insert("before"))
    got: dict[str, str | Exception] = {}

    def ended() -> str:
        book.db.execute("ROLLBACK")  # as SQLite does after SQLITE_FULL: the transaction is gone
        return "ended"

    async def one(name: str, work: Callable[[], str]) -> None:
        got[name] = await _told(book.writer.write, work)

    async with anyio.create_task_group() as writers:
        writers.start_soon(one, "before", slow)
        await slow.in_thread()
        writers.start_soon(one, "a", lambda: book.insert("a"))
        writers.start_soon(one, "ended", ended)
        writers.start_soon(one, "c", lambda: book.insert("c"))
        await anyio.wait_all_tasks_blocked()
        slow.released.set()

    assert got["before"] == "before"
    assert all(isinstance(got[name], JournalError) for name in ("a", "ended", "c")), got
    assert book.names == ["before"]
    assert not book.db.in_transaction
    assert await book.writer.write(lambda: book.insert("next")) == "next"


async def test_a_caller_that_committed_for_others_returns_once_its_own_write_is_done(tmp_path: Path) -> None:
    """The next caller waiting takes over the commits: the one before does not wait for writes that keep coming."""
    book = Book(tmp_path / "rows.sqlite3")
    first, second = _Held(lambda: book.insert("first")), _Held(lambda: book.insert("second"))
    returned: list[str] = []
    returned_before_the_second: list[str] = []

    async def one(work: Callable[[], str]) -> None:
        returned.append(await book.writer.write(work))

    async with anyio.create_task_group() as writers:
        writers.start_soon(one, first)
        await first.in_thread()
        writers.start_soon(one, second)
        await anyio.wait_all_tasks_blocked()
        first.released.set()
        with anyio.move_on_after(2):
            while not returned:  # noqa: ASYNC110 (filled by another task)
                await anyio.sleep(0.01)
        returned_before_the_second.extend(returned)
        second.released.set()

    assert returned_before_the_second == ["first"], "it waited for the next group's write"
    assert returned == ["first", "second"]


async def test_a_caller_cancelled_as_it_is_handed_the_lead_hands_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled (its deadline passed) just as the lead was handed to it: the next caller waiting takes the lead.
    Dropping that hand-on hung every later write (seen by a mutation audit)."""
    book = Book(tmp_path / "rows.sqlite3")
    first = _Held(lambda: book.insert("first"))
    handed = anyio.CancelScope()
    hand_on = book.writer._hand_on  # pyright: ignore[reportPrivateUsage]

    def cancelled_then_handed_on() -> (
        None
    ):  # the cancellation comes first, the lead a moment after, both before it runs
        handed.cancel()
        monkeypatch.setattr(book.writer, "_hand_on", hand_on)
        hand_on()

    monkeypatch.setattr(book.writer, "_hand_on", cancelled_then_handed_on)
    returned: list[str] = []

    async def write(name: str, work: Callable[[], str]) -> None:
        with handed if name == "second" else contextlib.nullcontext():
            returned.append(await book.writer.write(work))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as writers:
            writers.start_soon(write, "first", first)
            await first.in_thread()
            writers.start_soon(write, "second", lambda: book.insert("second"))
            await anyio.wait_all_tasks_blocked()
            writers.start_soon(write, "third", lambda: book.insert("third"))
            await anyio.wait_all_tasks_blocked()
            first.released.set()

    assert returned == ["first", "third"]
    assert book.names == ["first", "third"]


# --- reads ------------------------------------------------------------------------------------------


class Shelf:
    """A table behind a reader, with the reads done and the hand-offs to a worker thread counted."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("CREATE TABLE rows (name TEXT PRIMARY KEY)")
        self.db.executemany("INSERT INTO rows (name) VALUES (?)", [(f"row-{n:02}",) for n in range(40)])
        self.lock = threading.Lock()
        self.reader = Reader(self.lock)
        self.hops = 0
        self.done: list[str] = []
        hand_off = anyio.to_thread.run_sync

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.hops += 1
            return await hand_off(*args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", counted)

    def find(self, name: str) -> str | None:
        assert self.lock.locked(), "a read runs under the connection's lock"
        self.done.append(name)
        row = self.db.execute("SELECT name FROM rows WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None


async def test_reads_that_come_together_go_to_the_thread_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shelf = Shelf(tmp_path / "rows.sqlite3", monkeypatch)
    names = [f"row-{n:02}" for n in range(40)]
    got: dict[str, str | None] = {}

    async def one(name: str) -> None:
        got[name] = await shelf.reader.read(lambda: shelf.find(name))

    async with anyio.create_task_group() as readers:
        for name in names:
            readers.start_soon(one, name)

    assert got == {name: name for name in names}
    assert shelf.hops < 10, f"{shelf.hops} hand-offs for 40 reads"
    assert not shelf.lock.locked()


async def test_a_read_that_fails_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shelf = Shelf(tmp_path / "rows.sqlite3", monkeypatch)
    got: list[str | Exception | None] = []

    async def one(work: Callable[[], str | None]) -> None:
        got.append(await _told(shelf.reader.read, work))

    def broken() -> None:
        shelf.db.execute("SELECT name FROM nowhere")

    async with anyio.create_task_group() as readers:
        readers.start_soon(one, lambda: shelf.find("row-01"))
        readers.start_soon(one, broken)
        readers.start_soon(one, lambda: shelf.find("row-02"))
        readers.start_soon(one, lambda: shelf.find("missing"))

    assert got[0] == "row-01"
    assert got[2:] == ["row-02", None]
    assert isinstance(got[1], sqlite3.OperationalError)
    assert "nowhere" in str(got[1])
    assert await shelf.reader.read(lambda: shelf.find("row-03")) == "row-03"


async def test_a_read_whose_caller_left_before_it_began_is_not_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shelf = Shelf(tmp_path / "rows.sqlite3", monkeypatch)
    await _leave_before_it_begins(shelf.reader.read, lambda: shelf.find("row-01"), lambda: shelf.find("row-02"))
    assert shelf.done == ["row-01"]


async def test_reads_queued_behind_a_cancelled_caller_are_done_by_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shelf = Shelf(tmp_path / "rows.sqlite3", monkeypatch)
    got = await _cancel_the_runner(shelf.reader.read, "row-00", ["row-01", "row-02"], shelf.find)

    assert set(got) == {"row-01", "row-02"}
    assert shelf.done[0] == "row-00"  # the read in the thread when its caller left was done all the same


async def test_a_write_in_a_group_its_lead_never_sent_is_written_by_its_own_caller(tmp_path: Path) -> None:
    """A caller handed the lead is cancelled while its group ([its write, another]) waits for a worker thread: the
    other write is done by its own caller, not failed with an internal error."""
    book = Book(tmp_path / "rows.sqlite3")
    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens, holder = limiter.total_tokens, object()
    limiter.total_tokens = 1
    slow = _Held(lambda: book.insert("first"))
    scopes: list[anyio.CancelScope] = []
    got: dict[str, str | Exception] = {}

    firsts = anyio.Event()

    async def one(name: str, work: Callable[[], str] | None = None) -> None:
        got[name] = await _told(book.writer.write, work or (lambda: book.insert(name)))
        if name == "first":
            firsts.set()

    async def lead() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await book.writer.write(lambda: book.insert("lead"))

    try:
        async with anyio.create_task_group() as writers:
            writers.start_soon(one, "first", slow)
            await slow.in_thread()  # the first group holds the one thread
            writers.start_soon(lead)
            await anyio.wait_all_tasks_blocked()
            writers.start_soon(one, "other")
            await anyio.wait_all_tasks_blocked()
            writers.start_soon(limiter.acquire_on_behalf_of, holder)  # takes the thread once the first gives it up
            await anyio.wait_all_tasks_blocked()
            slow.released.set()
            await firsts.wait()
            await anyio.wait_all_tasks_blocked()  # the lead's group [lead, other] waits for the thread
            scopes[0].cancel()
            await anyio.wait_all_tasks_blocked()
            limiter.release_on_behalf_of(holder)
    finally:
        limiter.total_tokens = tokens

    assert got == {"first": "first", "other": "other"}
    assert book.names == ["first", "other"]
