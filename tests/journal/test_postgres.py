"""What the PostgreSQL journal does of its own: machines (journals with pools of their own) racing on one database
hold a budget, an owner's calls a minute and an image's saving exactly; its schema is brought up to date once
however many start at once; a database it cannot use is said in one line with the fix, never with its password; and
a server keeps its tasks there.

What every journal does is in ``test_contract``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, LiteralString

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from pydantic import SecretStr

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.journal import (
    Claim,
    DuplicateTaskError,
    JournalError,
    Limits,
    OverBudgetError,
    TooManyCallsError,
    database,
)
from ideogram_mcp.journal.database import MIGRATIONS, Database
from ideogram_mcp.journal.postgres import PostgresJournal, unusable
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from tests.conftest import API_KEY, error_of, structured, text
from tests.postgresql import PostgreSQL
from tests.processes import free_port

from . import pending

pytestmark = pytest.mark.anyio

PASSWORD = "s3cret-pass-word"


def _count(url: str, query: LiteralString) -> Any:
    with psycopg.connect(url) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return row[0]


async def _record(
    book: PostgresJournal, task_uuid: str, quote: float, owner: str, budget: float | None, per_minute: int | None = None
) -> str:
    try:
        await book.record(
            pending(task_uuid, quote, owner=owner),
            Limits(daily_budget=budget, per_minute=per_minute),
        )
    except (OverBudgetError, TooManyCallsError):
        return "refused"
    return "recorded"


async def _race(database_url: str, quote: float, budget: float | None, per_minute: int | None = None) -> list[str]:
    """20 records of one owner at once, alternating between two journals on one database (two machines): each one's
    outcome."""
    machines = [PostgresJournal(database_url), PostgresJournal(database_url)]
    await machines[0].spend("team")  # the schema made before the race, so that the race is the records' alone
    outcomes: list[str] = []

    async def call(n: int) -> None:
        outcomes.append(await _record(machines[n % 2], f"t{n}", quote, "team", budget, per_minute=per_minute))

    try:
        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(call, n)
    finally:
        for machine in machines:
            await machine.aclose()
    return outcomes


async def test_two_machines_racing_twenty_calls_against_a_budget_that_allows_three_record_three(
    database_url: str,
) -> None:
    outcomes = await _race(database_url, 0.30, 1.00)
    assert sorted(outcomes) == ["recorded"] * 3 + ["refused"] * 17
    after = PostgresJournal(database_url)
    try:
        assert (await after.spend("team")).today == 0.90
    finally:
        await after.aclose()
    assert _count(database_url, "SELECT count(*) FROM ideogram_tasks") == 3


async def test_two_machines_racing_twenty_calls_of_one_owner_allowed_three_a_minute_record_three(
    database_url: str,
) -> None:
    outcomes = await _race(database_url, 0.06, None, per_minute=3)
    assert sorted(outcomes) == ["recorded"] * 3 + ["refused"] * 17
    assert _count(database_url, "SELECT count(*) FROM ideogram_tasks") == 3


async def test_a_task_another_machine_records_at_the_same_moment_is_refused_not_recorded_twice(
    database_url: str,
) -> None:
    # Another owner's machine recorded the same taskUUID after this record looked for it, before it wrote it: the
    # owners' locks differ, so only the insert itself finds it.
    book = PostgresJournal(database_url)
    await book.spend("alice")  # the schema made
    outcomes: list[str] = []

    async def call() -> None:
        try:
            await book.record(pending("t", owner="alice"), Limits())
            outcomes.append("recorded")
        except DuplicateTaskError:
            outcomes.append("refused")

    try:
        with psycopg.connect(database_url) as other:  # its transaction open until the commit below
            other.execute(
                "INSERT INTO ideogram_tasks (task_uuid, owner, tool, model, task, requested, quote, state, created,"
                " updated) VALUES ('t', 'bob', 'generate_image', 'ideogram:4@1', '{}', 1, 0.06, 'pending', 0, 0)"
            )
            waiting: LiteralString = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            async with anyio.create_task_group() as group:
                group.start_soon(call)
                with anyio.fail_after(10):
                    while True:  # till this record's insert waits on the other's row
                        if _count(database_url, waiting):
                            break
                        await anyio.sleep(0.01)
                other.commit()
    finally:
        await book.aclose()
    assert outcomes == ["refused"]
    assert _count(database_url, "SELECT owner FROM ideogram_tasks WHERE task_uuid = 't'") == "bob"


async def test_two_finishes_on_two_machines_claiming_one_images_saving_get_it_once(database_url: str) -> None:
    machines = [PostgresJournal(database_url), PostgresJournal(database_url)]
    arrived = [ImageRecord(image_uuid="a", image_url="https://im/a.jpg", stem="poster")]
    claims: dict[str, list[Claim]] = {}
    try:
        for n in range(10):
            await _record(machines[0], f"t{n}", 0.06, "", 10.0)

        async def finish(n: int, machine: int) -> None:
            found = await machines[machine].claim(f"t{n}", arrived, ["a"], by=f"m{machine}", until=2e9)
            claims.setdefault(f"t{n}", []).append(found["a"])

        async with anyio.create_task_group() as group:
            for n in range(10):
                group.start_soon(finish, n, 0)
                group.start_soon(finish, n, 1)
        for found in claims.values():
            assert sorted(claim.state for claim in found) == ["busy", "mine"]
    finally:
        for machine in machines:
            await machine.aclose()


async def test_the_schema_is_made_once_however_many_machines_start_at_once_and_again_changes_nothing(
    database_url: str,
) -> None:
    applied: list[int] = []

    async def start() -> None:
        applied.append(await Database(SecretStr(database_url)).migrate())

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(start)
    assert sorted(applied) == [0, 0, 0, 0, len(MIGRATIONS)]
    book = PostgresJournal(database_url)
    await _record(book, "kept", 0.06, "", 10.0)
    await book.aclose()
    await start()
    assert applied[-1] == 0
    assert _count(database_url, "SELECT max(version) FROM ideogram_schema") == len(MIGRATIONS)
    assert _count(database_url, "SELECT count(*) FROM ideogram_tasks") == 1


async def test_a_database_an_earlier_version_made_is_brought_to_this_schema_and_keeps_its_tasks(
    database_url: str,
) -> None:
    # Its second version, before the tasks kept whether they ran: a machine of this version reads and writes them.
    with psycopg.connect(database_url, autocommit=True) as connection:
        for change in MIGRATIONS[:2]:
            connection.execute(change)
        connection.execute("CREATE TABLE ideogram_schema (version integer NOT NULL)")
        connection.execute("INSERT INTO ideogram_schema (version) VALUES (2)")
        connection.execute(
            "INSERT INTO ideogram_tasks (task_uuid, tool, model, task, requested, quote, state, created, updated)"
            " VALUES ('old', 'generate_image', 'ideogram:4@1', '{}', 2, 0.12, 'pending', 1, 1)"
        )
    book = PostgresJournal(database_url)
    try:
        before = await book.get("old", "")
        await book.update("old", state="pending", images=[], errors=[], cost=None, ran=True)
        after = await book.get("old", "")
    finally:
        await book.aclose()
    assert before is not None
    assert after is not None
    assert (before.quote, before.ran, after.ran) == (0.12, False, True)
    assert _count(database_url, "SELECT max(version) FROM ideogram_schema") == len(MIGRATIONS)


async def test_an_unreachable_database_is_said_once_in_the_log_with_the_fix_and_never_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    book = PostgresJournal(f"postgresql://ideogram:{PASSWORD}@127.0.0.1:{port}/journal")
    with caplog.at_level(logging.INFO, logger="ideogram_mcp"):
        with pytest.raises(JournalError):
            await book.spend("")
        with pytest.raises(JournalError) as failed:  # tried again, and said once
            await book.spend("")
    assert failed.value.text() == (
        f"The task journal in PostgreSQL at 127.0.0.1:{port}/journal cannot be reached (connection refused). Start "
        "PostgreSQL there (or check its host and port), or correct IDEOGRAM_MCP_DATABASE_URL; unset it to keep the "
        "journal in SQLite on this machine."
    )
    assert [r.getMessage() for r in caplog.records] == [failed.value.text()]
    assert PASSWORD not in caplog.text
    await book.aclose()


async def test_after_an_outage_postgresql_is_used_again_at_once_and_the_wait_is_never_called_busy(
    database_url: str, postgresql: PostgreSQL, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The pool pauses longer and longer between its tries to reconnect: back after an outage, PostgreSQL went unused
    # until the pause ended, and the operations meanwhile were told the journal was busy.
    monkeypatch.setattr(database, "POOL_WAIT", 1.0)
    monkeypatch.setattr(database, "RECONNECT_WAIT", 300.0)  # psycopg_pool's own: the pool is made afresh all the same
    book = PostgresJournal(database_url)
    await book.spend("")
    postgresql.stop(mode="fast")
    try:
        for _ in range(6):  # 12 s of tries failing meanwhile: the pool's pauses grow to 8 s and more
            with pytest.raises(JournalError, match="cannot be reached"):
                await book.spend("")
            await anyio.sleep(1)
    finally:
        postgresql.resume()
    # The first operation after the return is done: it had been told "can be reached again ... Try again now" (a
    # paid call's images left unsaved so), the pool made afresh only for the next one.
    await book.spend("")
    assert [r.levelname for r in caplog.records if "cannot be reached" in r.getMessage()] == ["ERROR"]  # said once
    await book.aclose()


async def test_a_database_that_does_not_exist_or_a_user_it_does_not_know_is_said_with_the_fix(
    postgresql: PostgreSQL,
) -> None:
    missing = await unusable(SecretStr(postgresql.url("nowhere")))
    stranger = await unusable(SecretStr(postgresql.url().replace("postgres@", f"stranger:{PASSWORD}@")))
    assert missing == (
        f"The task journal's database does not exist in PostgreSQL at 127.0.0.1:{postgresql.port}/nowhere "
        '(database "nowhere" does not exist). Create it (createdb, as a PostgreSQL superuser), or correct '
        "IDEOGRAM_MCP_DATABASE_URL."
    )
    assert stranger is not None
    assert stranger.startswith(f"PostgreSQL at 127.0.0.1:{postgresql.port}/postgres refused the task journal's user")
    assert "Correct the user and password in IDEOGRAM_MCP_DATABASE_URL" in stranger
    assert PASSWORD not in stranger
    assert await unusable(SecretStr(postgresql.url())) is None


def test_the_http_server_refuses_to_start_in_one_line_when_its_database_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ideogram_mcp.cli import main

    port = free_port()
    monkeypatch.setenv("IDEOGRAM_MCP_DATABASE_URL", f"postgresql://ideogram:{PASSWORD}@127.0.0.1:{port}/journal")
    before = dict(os.environ)
    try:
        with pytest.raises(SystemExit) as stopped:
            main(["http", "--port", str(free_port())])
    finally:  # the command sets its workers' variables (a key it made among them) in this process's environment
        os.environ.clear()
        os.environ.update(before)
    assert str(stopped.value.code).startswith(
        f"ideogram-mcp: The task journal in PostgreSQL at 127.0.0.1:{port}/journal cannot be reached (connection "
        "refused). Start PostgreSQL there"
    )
    assert "\n" not in str(stopped.value.code)
    assert PASSWORD not in str(stopped.value.code) + "".join(capsys.readouterr())


async def test_a_server_keeps_its_tasks_in_postgresql_and_lists_them_from_there(
    database_url: str, make_settings: Callable[..., Settings], output: Path, data_dir: Path
) -> None:
    emulator = Emulator(api_key=API_KEY)  # on the machine's clock: PostgreSQL answers in real time
    settings = make_settings(output_dir=output, database_url=database_url)
    server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()))
    async with Client(server) as mcp:
        made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "a lighthouse at dusk"}))
        listed = structured(await mcp.call_tool("list_generations", {}))
    assert made["status"] == "done"
    assert [(g["taskUUID"], g["state"], g["ready"]) for g in listed["generations"]] == [(made["taskUUID"], "done", 1)]
    assert _count(database_url, "SELECT count(*) FROM ideogram_tasks WHERE state = 'done'") == 1
    assert not (data_dir / "journal.sqlite3").exists()


async def test_a_task_the_database_could_not_record_is_never_sent(
    make_settings: Callable[..., Settings], output: Path
) -> None:
    emulator = Emulator(api_key=API_KEY)
    port = free_port()
    url = f"postgresql://ideogram:{PASSWORD}@127.0.0.1:{port}/journal"
    settings = make_settings(output_dir=output, database_url=url, daily_budget=0)  # the record is its first use
    async with Client(build_server(settings, transport=httpx2.ASGITransport(emulator.app()))) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": "a lighthouse at dusk"})
    assert error_of(result) == {"kind": "journal"}
    assert text(result).startswith(
        f"The task journal in PostgreSQL at 127.0.0.1:{port}/journal cannot be reached (connection refused), so "
        "nothing was sent or charged. Start PostgreSQL there"
    )
    assert emulator.requests == []
