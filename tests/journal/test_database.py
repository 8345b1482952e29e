"""The PostgreSQL under the journal: what its errors say (where, what, the fix; never the password), and an
operation that waits too long for a connection or a lock gives up saying it is busy."""

from __future__ import annotations

import contextlib
import os
import signal

import anyio
import psycopg
import psycopg.errors
import pytest
from pydantic import SecretStr

from ideogram_mcp.journal import JournalError, Limits
from ideogram_mcp.journal import database as module
from ideogram_mcp.journal.database import OWNER_LOCKS, Database, where
from ideogram_mcp.journal.postgres import PostgresJournal, unusable

from ..postgresql import PostgreSQL
from . import pending

pytestmark = pytest.mark.anyio

URL = "postgresql://team:s3cret-pass-word@db.example.test:6543/ideogram"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, "db.example.test:6543/ideogram"),
        ("postgres://alice@db", "db:5432/alice"),
        ("postgresql:///ideogram?host=/var/run/postgresql&port=5433", "/var/run/postgresql:5433/ideogram"),
        ("postgresql://u:p@h1:5432,h2:5433/db", "h1,h2:5432,5433/db"),  # hosts tried in turn
        ("postgresql://u:p#x@db/x", "db:5432/x"),  # a '#' in the password, as libpq reads it (not as a fragment)
        # What libpq would read as a port, a host or a database is a password's part: none of the URL shown.
        ("postgresql://db:port/x", "the database of IDEOGRAM_MCP_DATABASE_URL"),
        ("postgresql://u:Secr3t/Tail@db:5999/x", "the database of IDEOGRAM_MCP_DATABASE_URL"),
        ("postgresql://u:Secr3t@Tail@db/x", "the database of IDEOGRAM_MCP_DATABASE_URL"),
        ("postgresql://u:p@[::1/x", "the database of IDEOGRAM_MCP_DATABASE_URL"),  # had raised ValueError
        ("postgresql://u:p%FF@db/x", "the database of IDEOGRAM_MCP_DATABASE_URL"),  # no UTF-8: had raised
        ("postgresql://u:5432/x@db/y", "the database of IDEOGRAM_MCP_DATABASE_URL"),  # a port, then "x" in the path
        ("postgresql://u:s3cr?t@P4ss@db/x", "the database of IDEOGRAM_MCP_DATABASE_URL"),  # libpq's host "P4ss@db"
        ("postgresql://u:p?x@db/x?application_name=a@b", "db:5432/x"),  # a "?" in the password, an "@" in a value
        # Valid, decoded or from the query, as they were before the reading by libpq (found by a review).
        ("postgresql://u:p@db/team%40ideogram", "db:5432/team@ideogram"),
        ("postgresql:///x?host=/tmp/with%20space", "/tmp/with space:5432/x"),
        ("postgresql://u:p@[::1]:5433/x", "::1:5433/x"),
    ],
)
def test_a_database_is_shown_by_its_host_port_and_name_without_its_user_or_password(url: str, shown: str) -> None:
    assert where(url) == shown


@pytest.mark.parametrize(
    ("error", "said", "fix", "locked"),
    [
        (
            psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
            "the task journal in PostgreSQL at db.example.test:6543/ideogram is busy (canceling statement due to "
            "lock timeout)",
            "Try again in a moment.",
            True,
        ),
        (
            psycopg.errors.DiskFull("could not extend file: No space left on device."),
            "PostgreSQL at db.example.test:6543/ideogram cannot take more (could not extend file: No space left on "
            "device)",
            "Free space on its disk, or raise its max_connections (each process keeps up to 10 connections for the "
            "journal and 2 for the notices of new images).",
            False,
        ),
        (
            psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
            "the task journal in PostgreSQL at db.example.test:6543/ideogram cannot be written (cannot execute "
            "INSERT in a read-only transaction: a standby?)",
            "Point IDEOGRAM_MCP_DATABASE_URL at the primary server.",
            False,
        ),
        (
            psycopg.errors.InsufficientPrivilege("permission denied for schema public"),
            "the task journal's user may not use its tables in PostgreSQL at db.example.test:6543/ideogram "
            "(permission denied for schema public)",
            "Connect as the user that owns the database, or grant that user the rights to create and write tables "
            "in it.",
            False,
        ),
        (
            psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
            "the task journal in PostgreSQL at db.example.test:6543/ideogram cannot be reached (terminating "
            "connection due to administrator command)",
            "Try again in a moment; if it lasts, start PostgreSQL there or correct IDEOGRAM_MCP_DATABASE_URL.",
            False,
        ),
        (
            psycopg.errors.DivisionByZero("division by zero"),
            "the task journal in PostgreSQL at db.example.test:6543/ideogram failed (division by zero)",
            "If it stays, see PostgreSQL's log there.",
            False,
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "10.0.0.5", port 6543 failed: FATAL:  password '
                'authentication failed for user "team"'
            ),
            "PostgreSQL at db.example.test:6543/ideogram refused the task journal's user (password authentication "
            'failed for user "team")',
            "Correct the user and password in IDEOGRAM_MCP_DATABASE_URL, or let that user connect (pg_hba.conf).",
            False,
        ),
        (
            psycopg.OperationalError(f"failed to resolve host in {URL}: [Errno -2] Name or service not known"),
            "the task journal in PostgreSQL at db.example.test:6543/ideogram cannot be reached (failed to resolve "
            "host in [redacted]: [Errno -2] Name or service not known)",
            "Start PostgreSQL there (or check its host and port), or correct IDEOGRAM_MCP_DATABASE_URL; unset it to "
            "keep the journal in SQLite on this machine.",
            False,
        ),
    ],
)
def test_each_error_of_postgresql_says_where_what_and_the_fix_and_never_the_password(
    error: psycopg.Error, said: str, fix: str, locked: bool
) -> None:
    found = Database(SecretStr(URL)).failure(error)
    assert (found.said, found.fix, found.locked) == (said, fix, locked)
    assert "s3cret" not in found.text()
    # What a paid result says if the trouble lasts: the fix without its "try again", never the whole of it.
    assert "try again" not in found.lasting.lower()
    assert found.lasting in fix


async def test_a_call_that_waits_too_long_for_a_connection_is_told_the_journal_is_busy(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tried again only when PostgreSQL is back after an outage; busy connections are waited for once, not twice.
    monkeypatch.setattr(module, "POOL_SIZE", (1, 1))
    monkeypatch.setattr(module, "POOL_WAIT", 0.2)
    book = PostgresJournal(database_url)
    try:
        await book.spend("")
        db = book._db  # pyright: ignore[reportPrivateUsage]
        opened = db._opened  # pyright: ignore[reportPrivateUsage]
        waits: list[object] = []

        async def counted() -> object:
            waits.append(None)  # each wait for a connection takes the pool first
            return await opened()

        async with db.connection():  # this process's one connection
            monkeypatch.setattr(db, "_opened", counted)
            with pytest.raises(JournalError) as busy:
                await book.spend("")
        assert busy.value.locked
        assert busy.value.said.endswith("is busy: no connection of this process's 1 came free within 0.2 s")
        assert len(waits) == 1, "a busy pool waited for again, POOL_WAIT twice"
        assert (await book.spend("")).total == 0  # free again
    finally:
        await book.aclose()


async def test_a_record_that_waits_too_long_for_its_owners_lock_is_told_the_journal_is_busy(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "LOCK_WAIT", "SET lock_timeout = '100ms'")
    book = PostgresJournal(database_url)
    try:
        await book.spend("alice")
        with psycopg.connect(database_url, autocommit=True) as other, other.transaction():
            other.execute("SELECT pg_advisory_xact_lock(%s, hashtext('alice'))", (OWNER_LOCKS,))
            with pytest.raises(JournalError) as busy:
                await book.record(
                    pending("t", owner="alice"),
                    Limits(daily_budget=1.0),
                )
        assert busy.value.locked
        assert busy.value.said.startswith("the task journal in PostgreSQL at 127.0.0.1:")
        assert "is busy (canceling statement due to lock timeout)" in busy.value.said
        assert await book.get("t", "alice") is None
    finally:
        await book.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ideogram:Secr3t/Passw0rdTail@127.0.0.1:5999/ideogram",  # libpq: port "Secr3t", database "Pa..."
        "postgresql://ideogram:Secr3t@Passw0rdTail@127.0.0.1:5999/ideogram",  # libpq: host "Passw0rdTail@127..."
        "postgresql://ideogram:Secr3t%40Passw0rdTail%zz@127.0.0.1/ideogram",  # libpq's error repeats it whole
        "postgresql://ideogram:Secr3t@[::1/ideogram",  # had been a traceback at the start
    ],
)
async def test_a_url_libpq_reads_otherwise_than_meant_is_refused_naming_the_escapes_never_the_password(
    url: str,
) -> None:
    # Found by an audit: each had started, or failed with libpq's words, and errors and logs showed part or all of
    # the password ("cannot be reached at ideogram:5432/Passw0rdTail@127.0.0.1:5999/ideogram"). Nothing is tried.
    said = await unusable(SecretStr(url))
    assert said == (
        "The task journal's IDEOGRAM_MCP_DATABASE_URL is not a URL PostgreSQL reads as meant. Write it as "
        "postgresql://user:password@host:5432/database, with each @ / : % # ? or space in the user or password "
        "percent-encoded (%40 %2F %3A %25 %23 %3F %20), and an IPv6 host in brackets."
    )
    book = PostgresJournal(SecretStr(url))
    with pytest.raises(JournalError) as refused:
        await book.spend("alice")
    assert refused.value.said == "the task journal's IDEOGRAM_MCP_DATABASE_URL is not a URL PostgreSQL reads as meant"
    encoded = "postgresql://ideogram:Secr3t%2FPassw0rdTail%40x@127.0.0.1:1/ideogram"
    assert where(encoded) == "127.0.0.1:1/ideogram", "percent-encoded, the same password is read as meant"


async def test_a_url_whose_password_libpq_cannot_read_is_said_without_the_password() -> None:
    # libpq names the bad token alone, outside the URL: "invalid percent-encoded token: "<the password>"". The
    # settings refuse such a URL; a journal given one says what to write, with nothing of libpq's words.
    said = await unusable(SecretStr("postgresql://team:s3cret%zz@127.0.0.1:1/ideogram"))
    assert said is not None
    assert "IDEOGRAM_MCP_DATABASE_URL is not a URL PostgreSQL reads as meant" in said
    assert "percent-encoded (%40 %2F %3A %25 %23 %3F %20)" in said
    assert "s3cret" not in said


class _Silence:
    """A PostgreSQL gone silent, as one stopped or behind a network that drops everything: its processes stopped
    (SIGSTOP), and resumed whatever happens. A backend that ends meanwhile (a connection closed) is passed over: one
    left stopped would hold every later test of this process."""

    def __init__(self, postgresql: PostgreSQL) -> None:
        self._folder, self._stopped = postgresql.folder, list[int]()

    async def stop(self) -> None:
        postmaster = int((self._folder / "data" / "postmaster.pid").read_text().split()[0])
        children = await anyio.run_process(["ps", "-o", "pid=", "--ppid", str(postmaster)])
        for pid in [postmaster, *map(int, children.stdout.split())]:  # the postmaster first: it forks no more
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self._stopped.append(pid)

    def resume(self) -> None:
        for pid in self._stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._stopped.clear()

    async def __aenter__(self) -> _Silence:
        await self.stop()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.resume()


async def test_a_postgresql_that_stops_answering_is_said_within_the_wait_and_used_again_once_it_answers(
    postgresql: PostgreSQL, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by an audit: a PostgreSQL stopped (or a network gone silent, as in a failover) held each journal call,
    # and a connection of the pool, until the system's TCP timeout, with nothing said for 15 minutes.
    monkeypatch.setattr(module, "ANSWER_WAIT", 1.0)
    book = PostgresJournal(database_url)
    try:
        await book.spend("alice")  # the pool open, a connection made
        async with _Silence(postgresql):
            with anyio.fail_after(30), pytest.raises(JournalError) as silent:
                await book.record(pending("t", owner="alice"), Limits(daily_budget=1.0))
        assert silent.value.said.startswith("the task journal in PostgreSQL at 127.0.0.1:")
        assert silent.value.said.endswith("did not answer within 1 s")
        assert "see whether PostgreSQL there (or the network to it) is up" in silent.value.fix
        with anyio.fail_after(30):
            await book.record(pending("t2", owner="alice"), Limits(daily_budget=1.0))
        assert (await book.get("t2", "alice")) is not None, "the pool gave up the stuck connection and went on"
    finally:
        await book.aclose()


async def test_a_postgresql_that_stops_answering_while_the_schema_is_brought_up_to_date_is_said_too(
    postgresql: PostgreSQL, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a review: the schema's changes (at first use, after an outage, at the http start) ran without the
    # deadline, under the lock every journal call of the process waits for, so one silent PostgreSQL held them all.
    monkeypatch.setattr(module, "ANSWER_WAIT", 1.0)
    silence = _Silence(postgresql)
    migrated = module._migrated  # pyright: ignore[reportPrivateUsage]

    async def silenced(connection: psycopg.AsyncConnection) -> int:
        await silence.stop()
        return await migrated(connection)

    monkeypatch.setattr(module, "_migrated", silenced)
    book = PostgresJournal(database_url)
    try:
        with anyio.fail_after(30), pytest.raises(JournalError) as silent:
            await book.spend("alice")
    finally:
        silence.resume()
        await book.aclose()
    assert silent.value.said.endswith("did not answer within 1 s")


async def test_a_process_waiting_for_another_ones_schema_changes_leaves_no_backend_waiting_past_its_deadline(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a review: each process that gave up waiting for the schema lock (held by a machine whose network went
    # silent mid-change) had left its backend waiting on the server, one more at each try, up to max_connections.
    monkeypatch.setattr(module, "ANSWER_WAIT", 1.0)
    with psycopg.connect(database_url, autocommit=True) as holder, holder.transaction():
        holder.execute("SELECT pg_advisory_xact_lock(%s, 0)", (module.SCHEMA_LOCK,))
        for _ in range(3):
            book = PostgresJournal(database_url)
            try:
                with anyio.fail_after(30), pytest.raises(JournalError) as waited:
                    await book.spend("alice")
            finally:
                await book.aclose()
            assert "busy" in waited.value.said or "did not answer" in waited.value.said, waited.value.said
        await anyio.sleep(0.5)
        row = holder.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchone()
        assert row == (0,), "a backend still waits for the schema lock"


async def test_calls_made_together_while_a_silent_postgresql_is_first_opened_each_get_one_deadline(
    postgresql: PostgreSQL, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a check of the README's "within 30 s": calls waiting for another call's opening of the pool had waited
    # it out, then their own, the k-th failing after k deadlines (four calls: 2, 4, 6 and 8 s here).
    monkeypatch.setattr(module, "ANSWER_WAIT", 2.0)
    book = PostgresJournal(database_url)
    said: list[str] = []

    async def spend() -> None:
        with pytest.raises(JournalError) as silent:
            await book.spend("alice")
        said.append(silent.value.said)

    try:
        async with _Silence(postgresql):
            with anyio.fail_after(5.0):  # one deadline each, all at once: not 8 s
                async with anyio.create_task_group() as calls:
                    for _ in range(4):
                        calls.start_soon(spend)
    finally:
        await book.aclose()
    assert len(said) == 4
    assert all(line.endswith("did not answer within 2 s") for line in said), said
