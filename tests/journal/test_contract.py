"""What every journal does, SQLite's and PostgreSQL's alike: it keeps every task across restarts, counts spending,
lets no two calls slip past a budget or a limit of tasks running, keeps an owner to its calls a minute, merges what
two processes record of one task, and gives each image's saving to one finish at a time.

Each test runs against both; "two processes" are two journals on one file, or two pools on one database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from ideogram_mcp.clock import Clock, ManualClock, midnight
from ideogram_mcp.journal import (
    Claim,
    DuplicateTaskError,
    Journal,
    Limits,
    Options,
    OverBudgetError,
    TooManyCallsError,
    TooManyRunningError,
)
from ideogram_mcp.journal.postgres import PostgresJournal
from ideogram_mcp.journal.sqlite import SqliteJournal
from ideogram_mcp.records import ImageRecord

from . import pending

pytestmark = pytest.mark.anyio

Opener = Callable[..., Journal]
"""Opens one more journal on the test's one store (a file, a database), as another process would."""


@pytest.fixture(params=["sqlite", "postgres"])
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    url: str | None = request.getfixturevalue("database_url") if request.param == "postgres" else None
    opened: list[Journal] = []

    def open_one(clock: Clock | None = None) -> Journal:
        book: Journal
        if url is None:
            book = SqliteJournal(tmp_path / "journal.sqlite3", clock=clock)
        else:
            book = PostgresJournal(url, clock=clock)
        opened.append(book)
        return book

    yield open_one
    for book in opened:
        await book.aclose()


def image(name: str, **fields: object) -> ImageRecord:
    return ImageRecord.model_validate({"imageUUID": name, "imageURL": f"https://im/{name}.jpg"} | fields)


async def record(
    book: Journal,
    task_uuid: str,
    quote: float,
    *,
    owner: str = "",
    budget: float | None = None,
    max_running: int | None = None,
    per_minute: int | None = None,
    requested: int = 1,
    folder: str | None = None,
) -> None:
    await book.record(
        pending(task_uuid, quote, owner=owner, requested=requested, options=Options(file_name="poster", folder=folder)),
        Limits(daily_budget=budget, max_running=max_running, per_minute=per_minute),
    )


async def test_a_task_outlives_the_process_that_recorded_it(journal: Opener) -> None:
    book = journal()
    await record(book, "t1", 0.06)
    await book.aclose()
    reopened = journal()
    entry = await reopened.get("t1", "")
    assert entry is not None
    assert (entry.state, entry.quote, entry.task, entry.options, entry.approval, entry.accepted) == (
        "pending",
        0.06,
        {"taskUUID": "t1", "positivePrompt": "x", "model": "ideogram:4@1"},
        Options(file_name="poster"),
        "under threshold",
        False,
    )
    assert list(entry.task) == ["taskUUID", "positivePrompt", "model"], "the task's keys stay in the order sent"
    await reopened.accepted("t1")
    await reopened.update("t1", state="done", images=[image("i1")], errors=[], cost=0.06)
    done = await reopened.get("t1", "")
    assert done is not None
    assert (done.state, done.images, done.cost, done.accepted) == ("done", [image("i1")], 0.06, True)


async def test_spend_counts_costs_once_known_and_quotes_while_pending(journal: Opener) -> None:
    book = journal()
    await record(book, "done", 0.12)
    await book.update("done", state="done", images=[], errors=[], cost=0.06)  # one of two images came
    await record(book, "pending", 0.30)
    await record(book, "failed", 0.06)
    await book.update("failed", state="failed", images=[], errors=["x"], cost=None)
    await record(book, "someone else's", 5.0, owner="other")
    await record(book, "no cost reported", 0.06)
    await book.update("no cost reported", state="done", images=[image("i")], errors=[], cost=None)
    spend = await book.spend("")
    assert (spend.today, spend.total) == (0.42, 0.42), "a finished task without a reported cost counts its quote"
    assert [e.task_uuid for e in await book.recent("", 10, "pending")] == ["pending"]
    assert [e.task_uuid for e in await book.recent("", 2)] == ["no cost reported", "failed"]
    assert await book.get("someone else's", "") is None


async def test_pages_of_recent_tasks_hold_each_task_once_those_sent_at_one_time_too(journal: Opener) -> None:
    clock = ManualClock()
    book = journal(clock)
    for n in range(3):
        await record(book, f"early-{n}", 0.06)
    await clock.advance(1.0)
    for n in range(4):
        await record(book, f"late-{n}", 0.06)
    late = clock.now()
    pages: list[list[str]] = []
    before = None
    while entries := await book.recent("", 2, None, before):
        pages.append([e.task_uuid for e in entries])
        before = (entries[-1].created, entries[-1].task_uuid)
        if len(pages) == 1:  # sent after the first page: newer than its cursor
            await clock.advance(1.0)
            await record(book, "meanwhile", 0.06)
    assert pages == [["late-3", "late-2"], ["late-1", "late-0"], ["early-2", "early-1"], ["early-0"]]
    assert [e.task_uuid for e in await book.recent("", 10, "pending", (late, "late-2"))] == [
        "late-1",
        "late-0",
        "early-2",
        "early-1",
        "early-0",
    ]


async def test_spend_today_is_counted_from_local_midnight_on_the_journals_clock(journal: Opener) -> None:
    clock = ManualClock()
    book = journal(clock)
    await record(book, "yesterday", 0.30)
    clock.set_wall(clock.now() + 24 * 3600)
    await record(book, "today", 0.06, budget=0.10)
    spend = await book.spend("")
    assert (spend.today, spend.total) == (0.06, 0.36)
    with pytest.raises(OverBudgetError):
        await record(book, "too much", 0.06, budget=0.10)


async def test_a_task_sent_at_midnight_counts_towards_the_day_it_opens(journal: Opener) -> None:
    clock = ManualClock()
    book = journal(clock)
    clock.set_wall(midnight(clock))  # the day's first instant
    await record(book, "at midnight", 0.06)
    assert (await book.spend("")).today == 0.06
    with pytest.raises(OverBudgetError):
        await record(book, "next", 0.06, budget=0.10)


async def test_concurrent_calls_cannot_both_pass_the_daily_budget(journal: Opener) -> None:
    books = [journal(), journal()]  # two server processes sharing one journal
    outcomes: list[str] = []

    async def call(n: int) -> None:
        try:
            await record(books[n % 2], f"t{n}", 0.30, budget=1.00)
            outcomes.append("recorded")
        except OverBudgetError:
            outcomes.append("refused")

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(call, n)
    assert sorted(outcomes) == ["recorded"] * 3 + ["refused"] * 7
    assert (await books[0].spend("")).today == 0.90


async def test_concurrent_calls_cannot_pass_a_tokens_limit_of_tasks_running_at_once(journal: Opener) -> None:
    books = [journal(), journal()]
    outcomes: list[str] = []

    async def call(n: int) -> None:
        try:
            await record(books[n % 2], f"t{n}", 0.06, owner="alice", max_running=2)
            outcomes.append("recorded")
        except TooManyRunningError:
            outcomes.append("refused")

    async with anyio.create_task_group() as group:
        for n in range(8):
            group.start_soon(call, n)
    await record(books[0], "bob's", 0.06, owner="bob", max_running=2)  # another token's limit is its own
    assert sorted(outcomes) == ["recorded"] * 2 + ["refused"] * 6
    assert (await books[0].running("alice", 0.0), await books[1].running("bob", 0.0)) == (2, 1)


async def test_a_finished_task_no_longer_counts_as_running(journal: Opener) -> None:
    book = journal()
    await record(book, "done", 0.06, max_running=2)
    await record(book, "failed", 0.06, max_running=2)
    await book.update("done", state="done", images=[image("i")], errors=[], cost=0.06)
    await book.update("failed", state="failed", images=[], errors=["x"], cost=None)
    await record(book, "next", 0.06, max_running=1)  # neither finished task holds the one place
    assert await book.running("", 0.0) == 1


async def test_a_pending_task_charged_more_than_its_quote_counts_at_its_charge(journal: Opener) -> None:
    book = journal()
    await record(book, "t", 0.06)
    await book.update("t", state="pending", images=[], errors=[], cost=0.08)  # charged more than quoted, not done
    assert (await book.spend("")).today == 0.08
    with pytest.raises(OverBudgetError):
        await record(book, "next", 0.06, budget=0.12)


async def test_an_owner_records_as_many_tasks_a_minute_as_allowed_and_the_next_once_the_oldest_is_a_minute_old(
    journal: Opener,
) -> None:
    clock = ManualClock()
    book = journal(clock)
    start = clock.now()
    for n, after in enumerate((0, 10, 20)):
        clock.set_wall(start + after)
        await record(book, f"t{n}", 0.06, owner="alice", per_minute=3)
    await record(book, "bob's", 0.06, owner="bob", per_minute=3)  # another owner's minute is its own
    clock.set_wall(start + 20.5)
    with pytest.raises(TooManyCallsError) as refused:
        await record(book, "t3", 0.06, owner="alice", per_minute=3)
    assert (refused.value.limit, refused.value.wait) == (3, 40), "free again when t0 is 60 s old, rounded up"
    with pytest.raises(OverBudgetError):  # waiting would not let it through: it is said so
        await record(book, "dear", 0.90, owner="alice", per_minute=3, budget=1.00)
    clock.set_wall(start + 61)  # t0 no longer counts, nor did the refused calls
    await record(book, "t3", 0.06, owner="alice", per_minute=3)
    with pytest.raises(TooManyCallsError) as again:
        await record(book, "t4", 0.06, owner="alice", per_minute=3)
    assert again.value.wait == 9, "t1 (at 10 s) leaves the minute at 70 s"
    assert sorted(e.task_uuid for e in await book.recent("alice", 10)) == ["t0", "t1", "t2", "t3"]


async def test_the_minute_counts_a_task_a_clock_up_to_two_minutes_ahead_recorded_not_one_an_hour_ahead(
    journal: Opener,
) -> None:
    # A team machine's clock 90 s ahead: its task had not been counted by the other, which let a second call go at
    # once (found by audit); one an hour ahead is one recorded before the clock was stepped back, and waits at most
    # a minute, not the hour.
    here, ahead = ManualClock(), ManualClock()
    ahead.set_wall(here.now() + 90)
    await record(journal(ahead), "ahead", 0.06, owner="alice", per_minute=1)
    with pytest.raises(TooManyCallsError) as refused:
        await record(journal(here), "here", 0.06, owner="alice", per_minute=1)
    assert refused.value.wait == 60
    ahead.set_wall(here.now() + 3600)
    await record(journal(ahead), "stepped", 0.06, owner="bob", per_minute=1)
    await record(journal(here), "bob's", 0.06, owner="bob", per_minute=1)


async def test_a_task_recorded_twice_is_refused_the_second_time(journal: Opener) -> None:
    book = journal()
    await record(book, "t", 0.06)
    with pytest.raises(DuplicateTaskError):
        await record(journal(), "t", 0.06, owner="someone else")
    assert (await book.spend("someone else")).total == 0
    # Said so whatever the limits say now: its own spend used the day's budget up (an approved round sent again).
    with pytest.raises(DuplicateTaskError):
        await record(book, "t", 0.06, budget=0.06)


async def test_an_image_and_the_folders_are_found_for_their_owner_only(journal: Opener) -> None:
    book = journal()
    await record(book, "a", 0.06, owner="alice", folder="/out/alice")
    await record(book, "b", 0.06, owner="bob", folder="/out/bob")
    await record(book, "c", 0.06, owner="alice")
    await book.update("a", state="done", images=[image("img-a", path="/out/alice/x.jpg")], errors=[], cost=0.06)
    found = await book.image("img-a", "alice")
    assert found is not None
    assert found[0] == "a"
    assert found[1].path == "/out/alice/x.jpg"
    assert await book.image("img-a", "bob") is None
    assert await book.folders("alice") == [Path("/out/alice")]


async def test_a_folder_named_in_another_encoding_is_found_as_it_was_kept(journal: Opener) -> None:
    # Python holds a Latin-1 byte of a file name as half a surrogate pair; a journal written before such folders were
    # refused may keep one. PostgreSQL's options->>'folder' had refused it ("invalid input syntax for type json"), and
    # every listing of the owner's resources with it.
    book = journal()
    await record(book, "a", 0.06, owner="alice", folder="/out/caf\udce9")
    await record(book, "b", 0.06, owner="alice", folder="/out/plain")
    assert sorted(await book.folders("alice")) == [Path("/out/caf\udce9"), Path("/out/plain")]


async def test_when_an_owners_images_were_last_saved_is_seen_by_another_process(journal: Opener) -> None:
    clock = ManualClock()
    book, other = journal(clock), journal(clock)
    assert await other.saved_at("alice") == 0.0
    await record(book, "a", 0.06, owner="alice")
    clock.jump(clock.monotonic() + 5)
    assert await other.saved_at("alice") == 0.0, "a task pending has no images saved"
    await book.update("a", state="done", images=[image("img-a", path="/out/x.jpg")], errors=[], cost=0.06)
    assert await other.saved_at("alice") == clock.now()
    assert await other.saved_at("bob") == 0.0


async def test_two_processes_finishing_one_task_keep_every_image_and_a_finished_task_stays_finished(
    journal: Opener,
) -> None:
    first, second = journal(), journal()
    await record(first, "t", 0.12, requested=2)
    a, b = image("a", cost=0.06), image("b", cost=0.06)
    # Both fetched the task from the same stale entry; each saved what it downloaded.
    await first.update("t", state="done", images=[a.with_(path="/out/a.jpg"), b], errors=[], cost=0.12)
    await second.update("t", state="pending", images=[a], errors=[], cost=0.06)
    entry = await first.get("t", "")
    assert entry is not None
    assert (entry.state, entry.cost) == ("done", 0.12)
    assert entry.images == [a.with_(path="/out/a.jpg"), b]


async def test_a_task_seen_to_run_stays_so_whatever_a_later_update_or_another_process_says(journal: Opener) -> None:
    # A poll that reported an image finished, unusable, then one listing it running again: the task had been
    # journaled as never run, and a lack of credit said to a later call failed it at $0, never polled again.
    first, second = journal(), journal()
    await record(first, "t", 0.12, requested=2)
    fresh = await first.get("t", "")
    await first.update("t", state="pending", images=[], errors=[], cost=None, unusable_cost=0.0, ran=True)
    await second.update("t", state="pending", images=[], errors=[], cost=None, unusable_cost=0.0)
    await first.update("t", state="pending", images=[], errors=[], cost=None, ran=False)
    entry = await second.get("t", "")
    assert fresh is not None
    assert entry is not None
    assert (fresh.ran, entry.ran, entry.state, entry.unusable_cost) == (False, True, "pending", 0.0)


async def test_each_images_saving_is_given_to_one_finish_until_its_claim_runs_out(journal: Opener) -> None:
    clock = ManualClock()
    book = journal(clock)
    await record(book, "t", 0.12, requested=2)
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
    assert await book.claim("unknown", [], ["a"], by="x", until=lease) == {}


async def test_a_problem_another_finish_said_of_an_image_it_did_not_save_is_not_kept_beside_its_saved_path(
    journal: Opener,
) -> None:
    first, second = journal(), journal()
    await record(first, "t", 0.06)
    a = image("a", cost=0.06)
    await first.update("t", state="done", images=[a.with_(path="/out/a.jpg")], errors=[], cost=0.06)
    # A finish that found every lane busy said the image was waiting its turn; the first had saved it meanwhile.
    await second.update("t", state="pending", images=[a.with_(problem="was waiting its turn")], errors=[], cost=0.06)
    entry = await first.get("t", "")
    assert entry is not None
    assert entry.images == [a.with_(path="/out/a.jpg")]


async def test_the_name_an_image_is_to_be_saved_under_is_set_once(journal: Opener) -> None:
    clock = ManualClock()
    book = journal(clock)
    await record(book, "t", 0.06)
    lease = clock.now() + 5
    await book.claim("t", [image("a", stem="poster")], [], by="first", until=lease)
    # Another finish named the same arrival by its own clock (a default name holds the time): the first name stands.
    claims = await book.claim("t", [image("a", stem="20261207-101010-a-sign")], ["a"], by="second", until=lease)
    assert claims == {"a": Claim("mine", "poster")}


async def test_of_more_images_than_the_task_asked_for_the_saved_one_is_kept(journal: Opener) -> None:
    first, second = journal(), journal()
    await record(first, "t", 0.06)  # one image asked for
    a, b = image("a", cost=0.06), image("b", cost=0.06)
    await first.update("t", state="done", images=[a], errors=[], cost=0.06)
    await second.update("t", state="done", images=[b.with_(path="/out/b.jpg")], errors=[], cost=0.06)
    entry = await first.get("t", "")
    assert entry is not None
    assert entry.images == [b.with_(path="/out/b.jpg")]
