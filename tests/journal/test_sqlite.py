"""What the SQLite journal does of its own: one file several processes share (WAL), and a journal kept in memory
when no file can hold it. What every journal does is in ``test_contract``."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ideogram_mcp.journal import JournalError, Limits
from ideogram_mcp.journal.sqlite import SqliteJournal
from ideogram_mcp.records import ImageRecord

from . import pending

pytestmark = pytest.mark.anyio


async def _deleted_after(folder: Path, *tasks: str, requested: int = 1) -> SqliteJournal:
    """A journal in ``folder`` that recorded ``tasks``, then had its folder deleted (rm -rf of the data folder)."""
    book = SqliteJournal.open(folder)
    for task in tasks:
        await book.record(pending(task, requested=requested), Limits())
    shutil.rmtree(folder)
    return book


@asynccontextmanager
async def _next_start(folder: Path) -> AsyncIterator[SqliteJournal]:
    """The journal in ``folder`` as the next process to start opens it."""
    after = SqliteJournal.open(folder)
    try:
        yield after
    finally:
        await after.aclose()


async def _task_uuids(book: SqliteJournal) -> list[str]:
    return [entry.task_uuid for entry in await book.recent("", 10)]


async def test_the_journal_file_is_shared_in_wal_mode(tmp_path: Path) -> None:
    book = SqliteJournal(tmp_path / "journal.sqlite3")
    await book.record(
        pending("t1"),
        Limits(),
    )
    await book.aclose()
    assert sqlite3.connect(tmp_path / "journal.sqlite3").execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_journal_that_cannot_be_kept_on_disk_is_kept_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    book = SqliteJournal.open(blocker / "sub")
    assert book.path == ":memory:"
    assert book.problem is not None
    assert book.problem.said == f"the task journal cannot be kept in {blocker / 'sub'} (a file (not a folder) " + (
        "stands in its path)"
    )


def test_a_journal_locked_by_another_process_at_open_is_said_so_and_not_swapped_for_one_in_memory(
    tmp_path: Path,
) -> None:
    # One in memory would forget the day's spend, and let a call past the budget the file keeps.
    SqliteJournal.open(tmp_path).close()
    holder = sqlite3.connect(tmp_path / "journal.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JournalError) as refused:
            SqliteJournal.open(tmp_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.value.said == f"the task journal {tmp_path / 'journal.sqlite3'} is locked by another process"
    after = SqliteJournal.open(tmp_path)  # the next call opens it
    after.close()
    assert (after.path, after.problem) == (tmp_path / "journal.sqlite3", None)


async def test_a_journal_deleted_while_the_server_runs_is_written_again_with_everything_it_held(
    tmp_path: Path,
) -> None:
    # Its folder deleted (rm -rf of the data folder), every task had gone on into the deleted file: a restart found
    # no generations and no spend, and the paid images of the tasks in flight were never saved.
    folder = tmp_path / "data"
    book = await _deleted_after(folder, "t1", "t2")
    image = ImageRecord(image_uuid="i1", image_url="https://x/i1.jpg")
    await book.update("t1", state="done", images=[image], errors=[], cost=0.06)
    await book.record(pending("t3"), Limits())
    await book.aclose()
    async with _next_start(folder) as again:
        assert await _task_uuids(again) == ["t3", "t2", "t1"]
        t1 = await again.get("t1", "")
        assert t1 is not None
        assert (t1.state, [image.image_uuid for image in t1.images]) == ("done", ["i1"])
        assert (await again.spend("")).total == 0.18


async def test_a_journal_put_back_by_another_process_is_the_one_written_from_then_on(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    one, other = SqliteJournal.open(folder), SqliteJournal.open(folder)
    await one.record(pending("t1"), Limits())
    shutil.rmtree(folder)
    await one.record(pending("t2"), Limits())  # written again by this one, with t1
    await other.record(pending("t3"), Limits())  # which the other now writes to, not to the deleted file
    seen = await _task_uuids(one)
    await one.aclose()
    await other.aclose()
    assert seen == ["t3", "t2", "t1"]
    async with _next_start(folder) as after:
        assert await _task_uuids(after) == ["t3", "t2", "t1"]


async def test_a_journal_that_cannot_be_written_again_leaves_nothing_and_keeps_what_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy cut short by a full disk had been left at the path, then taken as a journal put back in its place: with
    # no tables in it, every call failed, and the next start had forgotten the day's spend.
    import errno

    from ideogram_mcp.journal import JournalError, reopening

    folder = tmp_path / "data"
    book = await _deleted_after(folder, "t1")
    link = reopening.os.link

    def full(source: Path, target: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(reopening.os, "link", full)
    with pytest.raises(JournalError, match="the disk is full"):
        await book.record(pending("t2"), Limits())  # refused before it is sent: the journal cannot be kept
    assert list(folder.iterdir()) == [], "no copy left behind, whole or not"
    (folder / "journal.sqlite3").write_bytes(b"")  # a file that is no journal: not taken, not written over
    with pytest.raises(JournalError, match="is not a journal"):
        await book.accepted("t1")
    (folder / "journal.sqlite3").unlink()
    monkeypatch.setattr(reopening.os, "link", link)
    await book.record(pending("t3"), Limits())
    await book.aclose()
    async with _next_start(folder) as after:
        assert await _task_uuids(after) == ["t3", "t1"]
        assert (await after.spend("")).total == 0.12


async def test_every_write_follows_a_journal_deleted_not_only_a_new_task(tmp_path: Path) -> None:
    # Claims and saved paths, written by a process that had recorded no task since, went into the deleted file.
    folder = tmp_path / "data"
    book = SqliteJournal.open(folder)
    await book.record(pending("t1"), Limits())
    image = ImageRecord(image_uuid="i1", image_url="https://x/i1.jpg", stem="i1")
    await book.claim("t1", [image], ["i1"], by="me", until=10**10)
    shutil.rmtree(folder)
    await book.stored("t1", image.with_(path="/out/i1.jpg"), by="me")
    assert (folder / "journal.sqlite3").is_file()
    await book.aclose()
    async with _next_start(folder) as after:
        t1 = await after.get("t1", "")
    assert t1 is not None
    assert [image.path for image in t1.images] == ["/out/i1.jpg"]


async def test_a_journal_made_anew_by_a_process_started_since_gets_every_task_of_the_one_deleted(
    tmp_path: Path,
) -> None:
    # Taken as it was, the new process's empty journal had left the day's tasks and spend in the deleted file.
    folder = tmp_path / "data"
    book = await _deleted_after(folder, "t1")
    started = SqliteJournal.open(folder)  # a server started after the folder went: a journal of its own there
    await started.record(pending("n1"), Limits())
    await book.record(pending("t2"), Limits())
    assert await _task_uuids(started) == ["t2", "n1", "t1"]
    await book.aclose()
    await started.aclose()


async def test_a_journal_reached_through_a_link_is_written_again_where_the_link_leads(tmp_path: Path) -> None:
    # Its file deleted, the link left dangling had been taken for a journal put back: writes went on into the
    # deleted file, and the next start read an empty one.
    real = tmp_path / "real"
    real.mkdir()
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "journal.sqlite3").symlink_to(real / "journal.sqlite3")
    book = SqliteJournal.open(folder)
    await book.record(pending("t1"), Limits())
    for leftover in real.iterdir():
        leftover.unlink()
    await book.record(pending("t2"), Limits())
    await book.aclose()
    assert (real / "journal.sqlite3").is_file()
    async with _next_start(folder) as after:
        assert await _task_uuids(after) == ["t2", "t1"]


async def test_a_journal_put_back_from_before_keeps_each_tasks_latest_state_and_is_brought_to_this_schema(
    tmp_path: Path,
) -> None:
    # A copy from before a task finished had won over the open journal's (the saved image and its cost gone), and
    # one of an older schema had refused every later write ("table tasks has no column named approval").
    from ideogram_mcp.journal import sqlite as module

    folder = tmp_path / "data"
    book = SqliteJournal.open(folder)
    await book.record(pending("t1"), Limits())
    columns = (
        "task_uuid, owner, tool, model, task, requested, quote, cost, state, images, errors, options, created, updated"
    )
    with sqlite3.connect(folder / "journal.sqlite3") as now:
        (row,) = now.execute(f"SELECT {columns} FROM tasks").fetchall()  # t1, pending
    image = ImageRecord(image_uuid="i1", image_url="https://x/i1.jpg", path="/out/i1.jpg")
    await book.update("t1", state="done", images=[image], errors=[], cost=0.06)
    shutil.rmtree(folder)
    folder.mkdir()
    with sqlite3.connect(folder / "journal.sqlite3") as old:  # as an older server left it: its first schema
        old.executescript(module._SCHEMA)  # pyright: ignore[reportPrivateUsage]
        old.execute(f"INSERT INTO tasks ({columns}) VALUES ({', '.join('?' * 14)})", row)
    await book.record(pending("t2"), Limits())
    t1 = await book.get("t1", "")
    await book.aclose()
    assert t1 is not None
    assert (t1.state, [i.path for i in t1.images], t1.cost) == ("done", ["/out/i1.jpg"], 0.06)


@pytest.mark.parametrize("set_to", [1, 0, 99])
async def test_a_journal_an_older_or_newer_server_opened_keeps_its_tasks_and_spend(tmp_path: Path, set_to: int) -> None:
    # An older server opening the same data folder (two hosts on two pinned versions) set the schema's number to its
    # own count; this one then added a column again ("duplicate column name: accepted"), and the journal was lost to
    # it: no history, no day's spend, every paid call refused. A newer server's number had been lowered to this one's.
    from ideogram_mcp.journal import sqlite as module

    folder = tmp_path / "data"
    book = SqliteJournal.open(folder)
    await book.record(pending("t1"), Limits())
    await book.aclose()
    with sqlite3.connect(folder / "journal.sqlite3") as other:
        other.execute(f"PRAGMA user_version = {set_to}")
    async with _next_start(folder) as after:
        assert after.problem is None
        assert await _task_uuids(after) == ["t1"]
        await after.record(pending("t2"), Limits())
        assert await _task_uuids(after) == ["t2", "t1"]
    with sqlite3.connect(folder / "journal.sqlite3") as opened:
        (version,) = opened.execute("PRAGMA user_version").fetchone()
    assert version == max(set_to, len(module._MIGRATIONS)), "never lowered"  # pyright: ignore[reportPrivateUsage]


async def test_a_task_in_both_journals_keeps_what_each_recorded(tmp_path: Path) -> None:
    # The whole row last updated had won: an image saved in the deleted file lost its path to the other's claim of
    # another image, and Runware's acknowledgement (recorded without a new time) was lost to an older copy.
    folder = tmp_path / "data"
    book = SqliteJournal.open(folder)
    await book.record(pending("t1", requested=2), Limits())
    now, other = sqlite3.connect(folder / "journal.sqlite3"), sqlite3.connect(tmp_path / "other.sqlite3")
    now.backup(other)  # the other process's copy, from before what follows
    other.execute(
        "UPDATE tasks SET images = ?, ran = 1, updated = updated + 1000 WHERE task_uuid = 't1'",
        ('[{"imageUUID": "i2", "imageURL": "https://x/i2.jpg", "claimedBy": "B", "claimedUntil": 1e12}]',),
    )
    other.commit()
    other.close()  # its log written into its file
    now.close()
    await book.accepted("t1")
    saved = ImageRecord(image_uuid="i1", image_url="https://x/i1.jpg", path="/out/i1.jpg")
    await book.update("t1", state="pending", images=[saved], errors=[], cost=None)
    shutil.rmtree(folder)
    folder.mkdir()
    shutil.copy(tmp_path / "other.sqlite3", folder / "journal.sqlite3")
    t1 = await book.get("t1", "")
    await book.aclose()
    assert t1 is not None
    assert [(i.image_uuid, i.path) for i in t1.images] == [("i2", None), ("i1", "/out/i1.jpg")]
    assert (t1.accepted, t1.ran) == (True, True), "acknowledged here, seen to run there"


async def test_a_failure_recorded_after_the_copy_put_back_was_made_stands(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    book = SqliteJournal.open(folder)
    await book.record(pending("t1"), Limits())
    now, older = sqlite3.connect(folder / "journal.sqlite3"), sqlite3.connect(tmp_path / "older.sqlite3")
    now.backup(older)  # a copy from before the task failed
    older.close()
    now.close()
    await book.update("t1", state="failed", images=[], errors=["invalidPrompt: refused"], cost=0.0)
    shutil.rmtree(folder)  # the data folder removed, and the older copy put back in its place
    folder.mkdir()
    shutil.copy(tmp_path / "older.sqlite3", folder / "journal.sqlite3")
    t1 = await book.get("t1", "")
    await book.aclose()
    assert t1 is not None
    assert (t1.state, t1.errors) == ("failed", ["invalidPrompt: refused"])


async def test_a_task_finished_here_stays_finished_and_one_acknowledged_there_stays_so(tmp_path: Path) -> None:
    # The copy put back was written later (its clock, a claim), yet knows less: the task pending, or not acknowledged.
    folder = tmp_path / "data"
    book = SqliteJournal.open(folder)
    await book.record(pending("t1"), Limits())
    await book.record(pending("t2"), Limits())
    now, other = sqlite3.connect(folder / "journal.sqlite3"), sqlite3.connect(tmp_path / "other.sqlite3")
    now.backup(other)
    other.execute("UPDATE tasks SET updated = updated + 1000")
    other.execute("UPDATE tasks SET accepted = 1 WHERE task_uuid = 't2'")  # the other process heard Runware
    other.commit()
    other.close()
    now.close()
    made = ImageRecord(image_uuid="i1", image_url="https://x/i1.jpg", path="/out/i1.jpg")
    await book.update("t1", state="done", images=[made], errors=[], cost=0.06)
    await book.update("t2", state="pending", images=[], errors=[], cost=None)
    shutil.rmtree(folder)
    folder.mkdir()
    shutil.copy(tmp_path / "other.sqlite3", folder / "journal.sqlite3")
    t1, t2 = await book.get("t1", ""), await book.get("t2", "")
    await book.aclose()
    assert t1 is not None
    assert t2 is not None
    assert (t1.state, [i.path for i in t1.images]) == ("done", ["/out/i1.jpg"]), "a finished task stays finished"
    assert t2.accepted, "Runware's acknowledgement, recorded by the other process, is kept"
