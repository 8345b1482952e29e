"""The SQLite journal keeps every task across restarts, counts spending, lets no two calls slip past a budget, and
gives each image's saving to one finish at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.journal import Claim, Limits, Options, OverBudgetError, TooManyRunningError
from ideogram_mcp.journal.sqlite import SqliteJournal
from ideogram_mcp.records import ImageRecord

pytestmark = pytest.mark.anyio


def image(name: str, **fields: object) -> ImageRecord:
    return ImageRecord.model_validate({"imageUUID": name, "imageURL": f"https://im/{name}.jpg"} | fields)


async def _record(
    book: SqliteJournal,
    task_uuid: str,
    quote: float,
    *,
    owner: str = "",
    budget: float | None = None,
    max_running: int | None = None,
    requested: int = 1,
) -> None:
    await book.record(
        task_uuid=task_uuid,
        owner=owner,
        tool="generate_image",
        model="ideogram:4@1",
        task={"taskUUID": task_uuid, "positivePrompt": "x"},
        requested=requested,
        quote=quote,
        options=Options(file_name="poster"),
        approval="under threshold",
        limits=Limits(daily_budget=budget, max_running=max_running),
    )


async def test_a_task_outlives_the_process_that_recorded_it(tmp_path: Path) -> None:
    book = SqliteJournal(tmp_path / "journal.sqlite3")
    await _record(book, "t1", 0.06)
    book.close()
    reopened = SqliteJournal(tmp_path / "journal.sqlite3")
    entry = await reopened.get("t1", "")
    assert entry is not None
    assert (entry.state, entry.quote, entry.task["positivePrompt"], entry.options, entry.approval) == (
        "pending",
        0.06,
        "x",
        Options(file_name="poster"),
        "under threshold",
    )
    await reopened.update("t1", state="done", images=[image("i1")], errors=[], cost=0.06)
    done = await reopened.get("t1", "")
    assert done is not None
    assert (done.state, done.images, done.cost) == ("done", [image("i1")], 0.06)
    assert sqlite3.connect(tmp_path / "journal.sqlite3").execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_spend_counts_costs_once_known_and_quotes_while_pending(tmp_path: Path) -> None:
    book = SqliteJournal(tmp_path / "j.sqlite3")
    await _record(book, "done", 0.12)
    await book.update("done", state="done", images=[], errors=[], cost=0.06)  # one of two images came
    await _record(book, "pending", 0.30)
    await _record(book, "failed", 0.06)
    await book.update("failed", state="failed", images=[], errors=["x"], cost=None)
    await _record(book, "someone else's", 5.0, owner="other")
    await _record(book, "no cost reported", 0.06)
    await book.update("no cost reported", state="done", images=[image("i")], errors=[], cost=None)
    spend = await book.spend("")
    assert (spend.today, spend.total) == (0.42, 0.42), "a finished task without a reported cost counts its quote"
    assert [e.task_uuid for e in await book.recent("", 10, "pending")] == ["pending"]
    assert await book.get("someone else's", "") is None


async def test_spend_today_is_counted_from_local_midnight_on_the_journals_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    book = SqliteJournal(tmp_path / "j.sqlite3", clock=clock)
    await _record(book, "yesterday", 0.30)
    clock.set_wall(clock.now() + 24 * 3600)
    await _record(book, "today", 0.06, budget=0.10)
    spend = await book.spend("")
    assert (spend.today, spend.total) == (0.06, 0.36)
    with pytest.raises(OverBudgetError):
        await _record(book, "too much", 0.06, budget=0.10)


async def test_concurrent_calls_cannot_both_pass_the_daily_budget(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    books = [SqliteJournal(path), SqliteJournal(path)]  # two server processes sharing one journal
    outcomes: list[str] = []

    async def call(n: int) -> None:
        try:
            await _record(books[n % 2], f"t{n}", 0.30, budget=1.00)
            outcomes.append("recorded")
        except OverBudgetError:
            outcomes.append("refused")

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(call, n)
    assert sorted(outcomes) == ["recorded"] * 3 + ["refused"] * 7
    assert (await books[0].spend("")).today == 0.90


async def test_concurrent_calls_cannot_pass_a_tokens_limit_of_tasks_running_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    books = [SqliteJournal(path), SqliteJournal(path)]
    outcomes: list[str] = []

    async def call(n: int) -> None:
        try:
            await _record(books[n % 2], f"t{n}", 0.06, owner="alice", max_running=2)
            outcomes.append("recorded")
        except TooManyRunningError:
            outcomes.append("refused")

    async with anyio.create_task_group() as group:
        for n in range(8):
            group.start_soon(call, n)
    await _record(books[0], "bob's", 0.06, owner="bob", max_running=2)  # another token's limit is its own
    assert sorted(outcomes) == ["recorded"] * 2 + ["refused"] * 6
    assert (await books[0].running("alice", 0.0), await books[1].running("bob", 0.0)) == (2, 1)


def test_a_journal_that_cannot_be_kept_on_disk_is_kept_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    book = SqliteJournal.open(blocker / "sub")
    assert book.path == ":memory:"
    assert book.problem is not None
    assert book.problem.said == f"the task journal cannot be kept in {blocker / 'sub'} (a file (not a folder) " + (
        "stands in its path)"
    )


async def test_two_processes_finishing_one_task_keep_every_image_and_a_finished_task_stays_finished(
    tmp_path: Path,
) -> None:
    first, second = SqliteJournal(tmp_path / "shared.sqlite3"), SqliteJournal(tmp_path / "shared.sqlite3")
    await _record(first, "t", 0.12, requested=2)
    a, b = image("a", cost=0.06), image("b", cost=0.06)
    # Both fetched the task from the same stale entry; each saved what it downloaded.
    await first.update("t", state="done", images=[a.with_(path="/out/a.jpg"), b], errors=[], cost=0.12)
    await second.update("t", state="pending", images=[a], errors=[], cost=0.06)
    entry = await first.get("t", "")
    assert entry is not None
    assert (entry.state, entry.cost) == ("done", 0.12)
    assert entry.images == [a.with_(path="/out/a.jpg"), b]


async def test_each_images_saving_is_given_to_one_finish_until_its_claim_runs_out(tmp_path: Path) -> None:
    clock = ManualClock()
    book = SqliteJournal(tmp_path / "j.sqlite3", clock=clock)
    await _record(book, "t", 0.12, requested=2)
    arrived = [image("a", stem="poster-1"), image("b", stem="poster-2")]
    lease = clock.now() + 5
    mine = await book.claim("t", arrived, ["a", "b"], by="first", until=lease)
    busy = await book.claim("t", [], ["a", "b"], by="second", until=lease)
    assert mine == {"a": Claim("mine", "poster-1"), "b": Claim("mine", "poster-2")}
    assert busy == {"a": Claim("busy", "poster-1"), "b": Claim("busy", "poster-2")}
    assert await book.stored("t", arrived[0].with_(path="/out/poster-1.jpg"), by="first") == "/out/poster-1.jpg"
    await book.release("t", by="first")  # the first finish ended before it saved the second image
    after = await book.claim("t", [], ["a", "b"], by="second", until=lease)
    assert after == {"a": Claim("stored", "poster-1", "/out/poster-1.jpg"), "b": Claim("mine", "poster-2")}
    clock.set_wall(lease + 1)  # the second finish was killed: its claim runs out, and a third may save it
    assert await book.claim("t", [], ["b"], by="third", until=lease + 10) == {"b": Claim("mine", "poster-2")}
    late = await book.stored("t", arrived[1].with_(path="/out/poster-2.jpg"), by="third")
    assert await book.stored("t", arrived[1].with_(path="/out/poster-2-2.jpg"), by="second") == late
