"""The PostgreSQL under the journal: where it is (said without its password), a pool of connections opened at first
use, its versioned schema, and what its errors mean for the user.

Several processes (or machines) start at once against one database: the schema's changes are applied in one
transaction under an advisory lock, each once, and a process that finds them applied changes nothing. Any failure
of PostgreSQL or of the way to it is a ``JournalError`` naming the server (never the URL, which may hold a password)
and the fix. psycopg loads here, at the first use of the journal: a start needs no database.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Final, LiteralString

import anyio
from pydantic import SecretStr

from ideogram_mcp import logs
from ideogram_mcp.journal import JournalError
from ideogram_mcp.settings import ENV, redact

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

logger = logs.logger(__name__)

CONNECT_WAIT = 5
"""Seconds a connection to PostgreSQL may take to open (libpq's connect_timeout)."""
POOL_WAIT = 10.0
"""Seconds an operation waits for a free connection of the pool before it gives up and says why."""
LOCK_WAIT: Final = "SET lock_timeout = '5s'"
"""How long each connection's statements wait for another process's lock (an owner's record, a task's row) before
they give up."""
POOL_SIZE = (1, 10)
"""Connections each process keeps open at the least, and opens at the most."""
RECONNECT_WAIT = 15.0
"""Seconds the pool keeps trying, with growing pauses, to reopen a connection it lost; then it stops, and the next
operation opens one afresh. psycopg_pool tries for 5 minutes by default, its pauses growing past 30 s: PostgreSQL
back after an outage waited for the next pause's end, each operation meanwhile waiting its 10 s for nothing."""
ANSWER_WAIT = 30.0
"""Seconds a journal operation (the wait for a connection, at most ``POOL_WAIT``, the pool's check of it, the
statements and the commit) may take before PostgreSQL is said not to answer: one that stopped, or whose network went
silent, had held each call, and a connection of the pool, until the system's TCP timeout (about 15 minutes). Its
statements take milliseconds and wait at most 5 s for a lock."""
NETWORK_SILENT: Final[dict[str, Any]] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "tcp_user_timeout": 30_000,
}
"""libpq's TCP settings: a connection whose network went silent is found dead in about a minute when idle, and
within 30 s (in milliseconds) when its data goes unacknowledged, rather than by the system's defaults."""
SCHEMA_LOCK: Final = 0x1DE0_6A40
"""The advisory lock (two-key form, with 0) held while the schema is brought up to date."""
OWNER_LOCKS: Final = 0x1DE0_6A41
"""The first key of each owner's advisory lock (the second is a hash of the owner): recording a task holds it."""

MIGRATIONS: tuple[LiteralString, ...] = (
    # 1: the tasks, as SQLite's journal holds them after its three changes. JSON is kept as it was written (json,
    # not jsonb): a task's keys stay in the order they were sent.
    """
    CREATE TABLE ideogram_tasks (
        task_uuid text PRIMARY KEY,
        owner text NOT NULL DEFAULT '',
        tool text NOT NULL,
        model text NOT NULL,
        task json NOT NULL,
        requested integer NOT NULL,
        quote double precision NOT NULL,
        cost double precision,
        state text NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
        images json NOT NULL DEFAULT '[]',
        errors json NOT NULL DEFAULT '[]',
        options json NOT NULL DEFAULT '{}',
        created double precision NOT NULL,
        updated double precision NOT NULL,
        approval text NOT NULL DEFAULT '',
        accepted boolean NOT NULL DEFAULT false,
        unusable_cost double precision NOT NULL DEFAULT 0
    );
    CREATE INDEX ideogram_tasks_by_owner_and_time ON ideogram_tasks (owner, created);
    """,
    # 2: when an owner's images were last saved (saved_at), read without a walk through the owner's every task.
    "CREATE INDEX ideogram_tasks_by_owner_state_and_update ON ideogram_tasks (owner, state, updated)",
    # 3: whether a poll ever reported an image of the task finished (``Entry.ran``).
    "ALTER TABLE ideogram_tasks ADD COLUMN IF NOT EXISTS ran boolean NOT NULL DEFAULT false",
)
"""Schema changes in order; the table ``ideogram_schema`` counts those applied."""


def postgres_parts(url: str) -> dict[str, str] | None:
    """A PostgreSQL URL as libpq reads it (user, password, host, port, dbname, ...), or None where it cannot, or
    where its reading shows a character of the password taken as the URL's (an ``@`` or ``/`` not percent-encoded
    makes part of the password a host, a port or a database, which libpq's errors then repeat)."""
    from psycopg import ProgrammingError, conninfo

    try:
        parts = conninfo.conninfo_to_dict(url)
    except (ProgrammingError, UnicodeDecodeError):  # its message repeats the part it could not read (the password?)
        return None
    # As written, not as decoded, and as libpq reads it: its user part ends at the first "@" before any "/" (a "?" does
    # not end it), its hosts at the next "/" or "?". So a "/" of the password leaves a port that is no number, and an
    # "@" of it an "@" among the hosts or in the path ("%40", encoded, is neither).
    authority, slash, after = url.partition("://")[2].partition("/")
    hosts = (authority.partition("@")[2] if "@" in authority else authority).split("?", 1)[0]
    path = after.split("?", 1)[0] if slash else ""
    if "@" in hosts or "@" in path or not re.fullmatch(r"[0-9,]*", str(parts.get("port", ""))):
        return None
    return {key: str(value) for key, value in parts.items()}


def where(url: str) -> str:
    """The server and database a URL names, as libpq reads it (``host:port/database``): what errors and logs show of
    it. A URL libpq cannot read for sure is named by nothing of its own: its text may hold the password."""
    return _named(postgres_parts(url))


def _named(parts: dict[str, str] | None) -> str:
    if parts is None:
        return f"the database of {ENV.database_url}"
    host, database = parts.get("host") or "localhost", parts.get("dbname") or parts.get("user") or ""
    return f"{host}:{parts.get('port') or 5432}/{database}"


class Database:
    """One PostgreSQL database, reached through a pool opened (and its schema brought up to date) at first use."""

    def __init__(self, url: SecretStr) -> None:
        self._url = url
        parts = postgres_parts(url.get_secret_value())  # read once: where it is, and the password to blank
        self.where = _named(parts)
        self._unreadable = parts is None
        self._password = SecretStr((parts or {}).get("password", ""))
        self._pool: AsyncConnectionPool[AsyncConnection] | None = None
        self._opening = anyio.Lock()
        self._down = False
        """Whether the last attempt to reach it failed (said once in the log, until it is reached again)."""

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncGenerator[AsyncConnection]:
        """A connection (autocommit: each statement its own transaction unless one is begun); any failure of
        PostgreSQL in the block comes out as a ``JournalError``."""
        import psycopg
        import psycopg_pool

        if self._unreadable:  # never tried: what libpq makes of it may be a host or a port out of the password
            raise self._misread()
        lent = False
        try:
            for tries_left in (1, 0):
                # One deadline for the pool's opening (the wait for another call opening it included: calls made
                # together had failed one after another, the k-th after k deadlines), the pool's check of the
                # connection it lends (a statement, which a PostgreSQL gone silent never answers either) and the
                # block's statements; the connection goes back whatever happens (mid-statement, the pool drops it).
                deadline = anyio.current_time() + ANSWER_WAIT
                pool: AsyncConnectionPool[AsyncConnection] | None = None
                with anyio.CancelScope(deadline=deadline):
                    pool = await self._opened()
                if pool is None:
                    raise self._unanswered()
                try:
                    connection: AsyncConnection | None = None
                    with anyio.CancelScope(deadline=deadline):
                        connection = await pool.getconn(timeout=POOL_WAIT)
                    if connection is None:
                        raise self._unanswered()
                    try:
                        lent, self._down = True, False
                        with anyio.CancelScope(deadline=deadline) as using:
                            yield connection
                        if using.cancelled_caught:
                            raise self._unanswered()
                    finally:
                        with anyio.CancelScope(shield=True):
                            await pool.putconn(connection)
                    return
                except psycopg_pool.PoolClosed:
                    if lent or not tries_left:
                        raise
                    # Made afresh meanwhile (PostgreSQL back after an outage, see _diagnosed): nothing was done yet.
                except psycopg_pool.PoolTimeout as exc:
                    failure, back = await self._diagnosed()
                    if lent or not back or not tries_left:
                        raise failure from exc
                    # Back after an outage, and the pool made afresh: nothing was done yet, so it is done now.
        except psycopg.Error as exc:
            raise self.failure(exc) from exc

    @staticmethod
    def _misread() -> JournalError:
        return JournalError(
            f"the task journal's {ENV.database_url} is not a URL PostgreSQL reads as meant",
            "Write it as postgresql://user:password@host:5432/database, with each @ / : % # ? or space in the user "
            "or password percent-encoded (%40 %2F %3A %25 %23 %3F %20), and an IPv6 host in brackets.",
        )

    def _unanswered(self) -> JournalError:
        url = ENV.database_url
        return JournalError(
            f"the task journal in PostgreSQL at {self.where} did not answer within {ANSWER_WAIT:g} s",
            f"Try again in a moment; if it lasts, see whether PostgreSQL there (or the network to it) is up, or "
            f"correct {url}.",
            lasting=f"see whether PostgreSQL there (or the network to it) is up, or correct {url}.",
        )

    @contextlib.asynccontextmanager
    async def transaction(self, owner: str | None = None) -> AsyncGenerator[AsyncConnection]:
        """A connection in a transaction, committed at the end of the block (rolled back if it raises); with
        ``owner``, holding that owner's lock, so that the owner's transactions of this kind run one at a time."""
        async with self.connection() as connection, connection.transaction():
            if owner is not None:
                await connection.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (OWNER_LOCKS, owner))
            yield connection

    async def migrate(self) -> int:
        """Bring the schema up to date (as ``connection`` does at first use); the number of changes applied."""
        import psycopg

        if self._unreadable:
            raise self._misread()
        with anyio.move_on_after(ANSWER_WAIT):  # at first use and after each outage, under the pool's opening lock
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self._url.get_secret_value(), autocommit=True, connect_timeout=CONNECT_WAIT, **NETWORK_SILENT
                )
            except psycopg.Error as exc:
                raise self.failure(exc) from exc
            try:
                async with connection:
                    return await _migrated(connection)
            except psycopg.Error as exc:
                raise self.failure(exc) from exc
        raise self._unanswered()  # a PostgreSQL gone silent mid-way had held every journal call of the process

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _opened(self) -> AsyncConnectionPool[AsyncConnection]:
        """The pool, opened once its database was reached and its schema brought up to date; tried again at each
        use until it succeeds."""
        if self._pool is not None:
            return self._pool
        from psycopg import AsyncConnection
        from psycopg_pool import AsyncConnectionPool

        async with self._opening:
            if self._pool is None:
                try:
                    applied = await self.migrate()
                except JournalError as exc:
                    self._went_down(exc)
                    raise
                if self._down or applied:
                    logger.info(
                        "the task journal is in PostgreSQL at %s (%d schema changes applied)", self.where, applied
                    )
                self._down = False
                pool = AsyncConnectionPool(
                    self._url.get_secret_value(),
                    connection_class=AsyncConnection,
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_WAIT, **NETWORK_SILENT},
                    min_size=POOL_SIZE[0],
                    max_size=POOL_SIZE[1],
                    open=False,
                    configure=_configured,
                    check=AsyncConnectionPool.check_connection,
                    name="ideogram-mcp journal",
                    timeout=POOL_WAIT,
                    reconnect_timeout=RECONNECT_WAIT,
                )
                await pool.open()
                self._pool = pool
            return self._pool

    def _went_down(self, failure: JournalError) -> None:
        """PostgreSQL cannot be used: said once an outage, in the log too."""
        if not self._down:
            logger.error("%s", failure.text())
        self._down = True

    async def _diagnosed(self) -> tuple[JournalError, bool]:
        """Why no connection came, and whether PostgreSQL is back: it cannot be reached (a fresh attempt says why);
        it was not, and is again (the pool, still pausing between its tries, is made afresh, and the operation tried
        on it); or every connection is busy."""
        import psycopg

        try:
            probe = await psycopg.AsyncConnection.connect(self._url.get_secret_value(), connect_timeout=CONNECT_WAIT)
        except psycopg.Error as exc:
            failure = self.failure(exc)
            self._went_down(failure)
            return failure, False
        await probe.close()
        if self._down:  # the pool may be pausing between its tries: the next operation opens one that connects now
            if (stale := self._pool) is not None:
                self._pool = None
                with anyio.CancelScope(shield=True):
                    await stale.close(timeout=1.0)
            said = f"the task journal in PostgreSQL at {self.where} can be reached again, after it could not"
            return JournalError(said, "Try again now.", lasting="", locked=True), True
        return JournalError(
            f"the task journal in PostgreSQL at {self.where} is busy: no connection of this process's "
            f"{POOL_SIZE[1]} came free within {POOL_WAIT:g} s",
            "Try again in a moment; if it lasts, serve fewer calls at once per process.",
            lasting="serve fewer calls at once per process.",
            locked=True,
        ), False

    def failure(self, exc: BaseException) -> JournalError:
        """What an error of PostgreSQL (or of the way to it) means for the user, and what fixes it."""
        import psycopg

        reason = self._reason(exc)
        state = getattr(exc, "sqlstate", None) or ""
        here = f"PostgreSQL at {self.where}"
        url = ENV.database_url
        if self._unreadable:  # libpq's words would repeat the part it could not read, which may be the password
            return self._misread()
        if isinstance(exc, psycopg.OperationalError) and not state:  # connecting failed, or the connection was lost
            if "does not exist" in reason and "database" in reason:
                return JournalError(
                    f"the task journal's database does not exist in {here} ({reason})",
                    f"Create it (createdb, as a PostgreSQL superuser), or correct {url}.",
                )
            if any(word in reason for word in ("password", "authentication", "role", "pg_hba")):
                return JournalError(
                    f"{here} refused the task journal's user ({reason})",
                    f"Correct the user and password in {url}, or let that user connect (pg_hba.conf).",
                )
            return JournalError(
                f"the task journal in {here} cannot be reached ({reason})",
                f"Start PostgreSQL there (or check its host and port), or correct {url}; unset it to keep the "
                "journal in SQLite on this machine.",
            )
        if state in ("55P03", "57014", "40001", "40P01"):  # a lock or statement timeout, a conflict
            return JournalError(
                f"the task journal in {here} is busy ({reason})", "Try again in a moment.", lasting="", locked=True
            )
        if state.startswith("53"):  # out of disk, memory or connections
            return JournalError(
                f"{here} cannot take more ({reason})",
                "Free space on its disk, or raise its max_connections (each process keeps up to "
                f"{POOL_SIZE[1]} connections for the journal and 2 for the notices of new images).",
            )
        if state == "25006":
            return JournalError(
                f"the task journal in {here} cannot be written ({reason}: a standby?)",
                f"Point {url} at the primary server.",
            )
        if state == "42501":
            return JournalError(
                f"the task journal's user may not use its tables in {here} ({reason})",
                "Connect as the user that owns the database, or grant that user the rights to create and write "
                "tables in it.",
            )
        if state.startswith(("08", "57")):  # the connection went, or the server is shutting down
            return JournalError(
                f"the task journal in {here} cannot be reached ({reason})",
                f"Try again in a moment; if it lasts, start PostgreSQL there or correct {url}.",
                lasting=f"start PostgreSQL there or correct {url}.",
            )
        return JournalError(
            f"the task journal in {here} failed ({reason})",
            "If it stays, see PostgreSQL's log there.",
            lasting="see PostgreSQL's log there.",
        )

    def _reason(self, exc: BaseException) -> str:
        """What went wrong in a few words: libpq's own, after its preamble, with nothing of the URL's secrets."""
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        said = first.rpartition(" failed: ")[2] if " failed: " in first else first.removeprefix("connection failed: ")
        said = " ".join(said.removeprefix("FATAL:").split())
        said = redact(redact(said, self._url), self._password)
        return (said[:1].lower() + said[1:]).rstrip(".") or type(exc).__name__


async def _configured(connection: AsyncConnection) -> None:
    """Each connection of the pool waits at most ``LOCK_WAIT`` for another's lock."""
    await connection.execute(LOCK_WAIT)


async def _migrated(connection: AsyncConnection) -> int:
    """Apply the schema changes the database lacks, in one transaction, under the schema lock; the number applied."""
    from psycopg import sql

    async with connection.transaction():
        # Given up by PostgreSQL itself before the deadline: a backend left waiting for the lock after each
        # process's deadline had added up, call after call, to max_connections.
        await connection.execute(
            sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{int(ANSWER_WAIT * 800)}ms"))
        )
        await connection.execute("SELECT pg_advisory_xact_lock(%s, 0)", (SCHEMA_LOCK,))
        await connection.execute("CREATE TABLE IF NOT EXISTS ideogram_schema (version integer NOT NULL)")
        row = await (await connection.execute("SELECT max(version) FROM ideogram_schema")).fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        for change in MIGRATIONS[version:]:
            await connection.execute(change)
        if version < len(MIGRATIONS):
            await connection.execute("DELETE FROM ideogram_schema")
            await connection.execute("INSERT INTO ideogram_schema (version) VALUES (%s)", (len(MIGRATIONS),))
        return len(MIGRATIONS) - min(version, len(MIGRATIONS))
