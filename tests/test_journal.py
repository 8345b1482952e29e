"""The journal keeps every task across restarts, counts spending, and lets no two calls slip past a budget."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest

from ideogram_mcp import journal
from ideogram_mcp.journal import Journal, OverBudgetError, TooManyRunningError

pytestmark = pytest.mark.anyio


async def _record(
    book: Journal,
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
        options={"fileName": "poster"},
        daily_budget=budget,
        max_running=max_running,
    )


async def test_a_task_outlives_the_process_that_recorded_it(tmp_path: Path) -> None:
    book = Journal(tmp_path / "journal.sqlite3")
    await _record(book, "t1", 0.06)
    book.close()
    reopened = Journal(tmp_path / "journal.sqlite3")
    entry = await reopened.get("t1", "")
    assert entry is not None
    assert (entry.state, entry.quote, entry.task["positivePrompt"], entry.options) == (
        "pending",
        0.06,
        "x",
        {"fileName": "poster"},
    )
    await reopened.update("t1", state="done", images=[{"imageUUID": "i1"}], errors=[], cost=0.06)
    done = await reopened.get("t1", "")
    assert done is not None
    assert (done.state, done.images, done.cost) == ("done", [{"imageUUID": "i1"}], 0.06)
    assert sqlite3.connect(tmp_path / "journal.sqlite3").execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_spend_counts_costs_once_known_and_quotes_while_pending(tmp_path: Path) -> None:
    book = Journal(tmp_path / "j.sqlite3")
    await _record(book, "done", 0.12)
    await book.update("done", state="done", images=[], errors=[], cost=0.06)  # one of two images came
    await _record(book, "pending", 0.30)
    await _record(book, "failed", 0.06)
    await book.update("failed", state="failed", images=[], errors=["x"], cost=None)
    await _record(book, "someone else's", 5.0, owner="other")
    await _record(book, "no cost reported", 0.06)
    await book.update("no cost reported", state="done", images=[{"imageUUID": "i"}], errors=[], cost=None)
    spend = await book.spend("")
    assert (spend.today, spend.total) == (0.42, 0.42), "a finished task without a reported cost counts its quote"
    assert [e.task_uuid for e in await book.recent("", 10, "pending")] == ["pending"]
    assert await book.get("someone else's", "") is None


async def test_concurrent_calls_cannot_both_pass_the_daily_budget(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    books = [Journal(path), Journal(path)]  # two server processes sharing one journal
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
    books = [Journal(path), Journal(path)]
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
    book = Journal.open(blocker / "sub")
    assert book.path == ":memory:"


@pytest.mark.parametrize("day", [date(2025, 11, 2), date(2025, 3, 9)])  # the days New York's clocks change
def test_the_budgets_day_starts_at_local_midnight_even_when_the_clocks_change_that_day(
    day: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Today(date):
        @classmethod
        def today(cls) -> Today:
            return cls(day.year, day.month, day.day)

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    monkeypatch.setattr(journal, "date", Today)
    try:
        midnight = journal._midnight()  # pyright: ignore[reportPrivateUsage]
        assert datetime.fromtimestamp(midnight, ZoneInfo("America/New_York")) == datetime(
            day.year, day.month, day.day, tzinfo=ZoneInfo("America/New_York")
        )
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_two_processes_finishing_one_task_keep_every_image_and_a_finished_task_stays_finished(
    tmp_path: Path,
) -> None:
    first, second = Journal(tmp_path / "shared.sqlite3"), Journal(tmp_path / "shared.sqlite3")
    await _record(first, "t", 0.12, requested=2)
    a = {"imageUUID": "a", "imageURL": "https://im/a.jpg", "cost": 0.06}
    b = {"imageUUID": "b", "imageURL": "https://im/b.jpg", "cost": 0.06}
    # Both fetched the task from the same stale entry; each saved what it downloaded.
    await first.update("t", state="done", images=[a | {"path": "/out/a.jpg"}, b], errors=[], cost=0.12)
    await second.update("t", state="pending", images=[a], errors=[], cost=0.06)
    entry = await first.get("t", "")
    assert entry is not None
    assert (entry.state, entry.cost) == ("done", 0.12)
    assert entry.images == [a | {"path": "/out/a.jpg"}, b]
