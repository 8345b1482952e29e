"""The journal in PostgreSQL, shared by every process and machine serving one address (``IDEOGRAM_MCP_DATABASE_URL``).

It keeps what the SQLite journal keeps, and decides alike (``rows``). What several machines racing must not slip
past is decided in one transaction each: a task is recorded under its owner's advisory lock, with the budget, the
tasks running and the calls of the last minute counted inside it, so N machines recording at once hold a limit
exactly; a task's row is read ``FOR UPDATE`` before what is merged into it is written, so two finishes never both
claim one image's saving. Nothing is opened until the first use (``database``); a PostgreSQL that cannot be
reached fails that use with a ``JournalError``, and the next use tries again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pydantic import SecretStr

from ideogram_mcp.clock import Clock, SystemClock, midnight
from ideogram_mcp.journal import (
    CLOCKS_APART,
    MINUTE,
    Claim,
    DuplicateTaskError,
    Entry,
    JournalError,
    Limits,
    Pending,
    Place,
    Spend,
    State,
    check_limits,
    rows,
)
from ideogram_mcp.journal.database import Database
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.settings import redact

if TYPE_CHECKING:
    from psycopg import AsyncConnection

# What a task counts towards spending: as in the SQLite journal (its real cost once known, its quote while it may
# still be charged or when a finished task's cost was never reported, nothing for a task that failed uncharged).
_SPENT: Final = (
    "CASE WHEN state = 'pending' THEN GREATEST(quote, COALESCE(cost, 0))"
    " WHEN state = 'done' THEN COALESCE(cost, quote) ELSE COALESCE(cost, 0) END"
)
_COLUMNS: Final = (
    "task_uuid, owner, tool, model, task::text, requested, quote, cost, state, images::text, errors::text,"
    " options::text, created, updated, approval, accepted, unusable_cost, ran"
)


class PostgresJournal:
    """The task journal in a PostgreSQL database (``postgresql://user:password@host:port/database``): a
    ``Journal``."""

    def __init__(self, url: SecretStr | str, *, secret: SecretStr | None = None, clock: Clock | None = None) -> None:
        self._db = Database(url if isinstance(url, SecretStr) else SecretStr(url))
        self._secret = secret
        """The API key, blanked out of everything written: an upstream answer may echo it."""
        self._clock = clock or SystemClock()
        self.problem: JournalError | None = None  # never kept in memory only: a journal others share or none
        self.where = self._db.where
        """The server and database, as errors name them (``host:port/database``; never the password)."""

    async def aclose(self) -> None:
        await self._db.aclose()

    # --- the interface ----------------------------------------------------------------------------

    async def record(self, pending: Pending, limits: Limits) -> Entry:
        entry, row = rows.pending(pending, now=self._clock.now(), json_of=self._json)
        owner, quote = pending.owner, pending.quote
        async with self._db.transaction(owner) as db:  # the owner's lock: its records wait for each other
            # A task recorded already (an approval's round sent again) is said to be so, whatever the limits say now.
            if await (
                await db.execute("SELECT 1 FROM ideogram_tasks WHERE task_uuid = %s", (pending.task_uuid,))
            ).fetchone():
                raise DuplicateTaskError(pending.task_uuid)
            running = await _running(db, owner, limits.running_since) if limits.max_running is not None else None
            spent = await _spent_since(db, owner, midnight(self._clock)) if limits.daily_budget is not None else None
            most = limits.per_minute
            started = await _started(db, owner, entry.created, most) if most is not None else None
            check_limits(limits, quote, running=running, spent=spent, started=started, now=entry.created)
            inserted = await (
                await db.execute(
                    "INSERT INTO ideogram_tasks (task_uuid, owner, tool, model, task, requested, quote, state, options,"
                    " created, updated, approval) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (task_uuid) DO NOTHING RETURNING 1",
                    row,
                )
            ).fetchone()
            if inserted is None:
                raise DuplicateTaskError(pending.task_uuid)
        return entry

    async def accepted(self, task_uuid: str) -> None:
        async with self._db.connection() as db:
            await db.execute("UPDATE ideogram_tasks SET accepted = true WHERE task_uuid = %s", (task_uuid,))

    async def update(
        self,
        task_uuid: str,
        *,
        state: State,
        images: Sequence[ImageRecord],
        errors: Sequence[str],
        cost: float | None,
        accepted: bool = False,
        unusable_cost: float | None = None,
        ran: bool = False,
    ) -> None:
        """Merged with what another process recorded meanwhile, as the SQLite journal merges (``rows.merged``), the
        task's row locked from the read to the write."""
        async with self._db.transaction() as db:
            row = await (
                await db.execute(
                    "SELECT state, images::text, unusable_cost, quote, requested FROM ideogram_tasks"
                    " WHERE task_uuid = %s FOR UPDATE",
                    (task_uuid,),
                )
            ).fetchone()
            if row is None:
                return
            final, merged, total, unusable = rows.updated(row, images, state, unusable_cost, cost)
            await db.execute(
                "UPDATE ideogram_tasks SET state = %s, images = %s, errors = %s, cost = %s, updated = %s,"
                " accepted = accepted OR %s, unusable_cost = %s, ran = ran OR %s WHERE task_uuid = %s",
                (
                    final,
                    self._json(merged),
                    self._json(list(errors)),
                    total,
                    self._clock.now(),
                    accepted,
                    unusable,
                    ran,
                    task_uuid,
                ),
            )

    async def get(self, task_uuid: str, owner: str) -> Entry | None:
        async with self._db.connection() as db:
            row = await (
                await db.execute(
                    f"SELECT {_COLUMNS} FROM ideogram_tasks WHERE task_uuid = %s AND owner = %s", (task_uuid, owner)
                )
            ).fetchone()
        return rows.entry(row) if row is not None else None

    async def recent(
        self, owner: str, limit: int, state: State | None = None, before: Place | None = None
    ) -> list[Entry]:
        async with self._db.connection() as db:
            cursor = await db.execute(
                f"SELECT {_COLUMNS} FROM ideogram_tasks WHERE owner = %(owner)s"
                " AND (%(state)s::text IS NULL OR state = %(state)s)"
                " AND (%(created)s::double precision IS NULL OR created < %(created)s"
                " OR (created = %(created)s AND task_uuid < %(task)s))"
                " ORDER BY created DESC, task_uuid DESC LIMIT %(limit)s",
                {
                    "owner": owner,
                    "state": state,
                    "created": before[0] if before is not None else None,
                    "task": before[1] if before is not None else None,
                    "limit": limit,
                },
            )
            found = await cursor.fetchall()
        return [rows.entry(row) for row in found]

    async def image(self, image_uuid: str, owner: str) -> tuple[str, ImageRecord] | None:
        async with self._db.connection() as db:
            found = await (
                await db.execute(
                    "SELECT task_uuid, images::text FROM ideogram_tasks "
                    "WHERE owner = %s AND strpos(images::text, %s) > 0",
                    (owner, image_uuid),
                )
            ).fetchall()
        for task_uuid, images in found:
            for record in rows.records(images):
                if image_uuid in (record.image_uuid, record.image_url):
                    return task_uuid, record
        return None

    async def saved_at(self, owner: str) -> float:
        async with self._db.connection() as db:
            row = await (
                await db.execute(
                    "SELECT MAX(updated) FROM ideogram_tasks WHERE owner = %s AND state = 'done'", (owner,)
                )
            ).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    async def folders(self, owner: str) -> list[Path]:
        import psycopg

        async with self._db.connection() as db:
            try:
                found = await (
                    await db.execute(
                        "SELECT DISTINCT options->>'folder' FROM ideogram_tasks WHERE owner = %s", (owner,)
                    )
                ).fetchall()
            except psycopg.DataError:
                # A folder kept as half a surrogate pair (a Latin-1 byte of its name, in a journal written before such
                # folders were refused), which PostgreSQL's json does not read: every listing of resources had failed.
                kept = await (
                    await db.execute("SELECT DISTINCT options::text FROM ideogram_tasks WHERE owner = %s", (owner,))
                ).fetchall()
                found = [(json.loads(options).get("folder"),) for (options,) in kept]
        return list(dict.fromkeys(Path(folder) for (folder,) in found if isinstance(folder, str) and folder))

    async def running(self, owner: str, since: float) -> int:
        async with self._db.connection() as db:
            return await _running(db, owner, since)

    async def spend(self, owner: str) -> Spend:
        async with self._db.connection() as db:
            row = await (
                await db.execute(
                    f"SELECT COALESCE(SUM({_SPENT}) FILTER (WHERE created >= %s), 0), COALESCE(SUM({_SPENT}), 0)"
                    " FROM ideogram_tasks WHERE owner = %s",
                    (midnight(self._clock), owner),
                )
            ).fetchone()
        assert row is not None
        return Spend(round(float(row[0]), 6), round(float(row[1]), 6))

    async def claim(
        self, task_uuid: str, arrivals: Sequence[ImageRecord], wanted: Sequence[str], *, by: str, until: float
    ) -> dict[str, Claim]:
        """As the SQLite journal claims (``rows.claimed``), the task's row locked from the read to the write: of
        two finishes claiming one image at once, on any machines, one has it."""
        async with self._db.transaction() as db:
            row = await (
                await db.execute(
                    "SELECT images::text, requested FROM ideogram_tasks WHERE task_uuid = %s FOR UPDATE", (task_uuid,)
                )
            ).fetchone()
            if row is None:
                return {}
            records = rows.merged(json.loads(row[0]), [rows.raw(image) for image in arrivals], limit=int(row[1]))
            found = rows.claimed(records, wanted, by=by, until=until, now=self._clock.now())
            await self._set_images(db, task_uuid, records)
        return found

    async def stored(self, task_uuid: str, record: ImageRecord, *, by: str) -> str | None:
        async with self._db.transaction() as db:
            records = await _images_locked(db, task_uuid)
            changed, path = rows.stored(records, record, by=by)
            if changed:
                await self._set_images(db, task_uuid, records)
        return path

    async def release(self, task_uuid: str, *, by: str) -> None:
        async with self._db.transaction() as db:
            records = await _images_locked(db, task_uuid)
            if rows.released(records, by=by):
                await self._set_images(db, task_uuid, records)

    # --- underneath -----------------------------------------------------------------------------

    def _json(self, value: object) -> str:
        return redact(json.dumps(value), self._secret)

    async def _set_images(self, db: AsyncConnection, task_uuid: str, records: list[rows.Raw]) -> None:
        await db.execute(
            "UPDATE ideogram_tasks SET images = %s, updated = %s WHERE task_uuid = %s",
            (self._json(records), self._clock.now(), task_uuid),
        )


async def _images_locked(db: AsyncConnection, task_uuid: str) -> list[rows.Raw]:
    """A task's stored image records, its row locked until the transaction ends ([] for no such task)."""
    row = await (
        await db.execute("SELECT images::text FROM ideogram_tasks WHERE task_uuid = %s FOR UPDATE", (task_uuid,))
    ).fetchone()
    return json.loads(row[0]) if row else []


async def _running(db: AsyncConnection, owner: str, since: float) -> int:
    row = await (
        await db.execute(
            "SELECT COUNT(*) FROM ideogram_tasks WHERE owner = %s AND state = 'pending' AND created >= %s",
            (owner, since),
        )
    ).fetchone()
    return int(row[0]) if row else 0


async def _started(db: AsyncConnection, owner: str, now: float, most: int) -> list[float]:
    """When the owner's ``most`` latest tasks of the minute before ``now`` were recorded, newest first."""
    found = await (
        await db.execute(
            "SELECT created FROM ideogram_tasks WHERE owner = %s AND created > %s AND created <= %s "
            "ORDER BY created DESC LIMIT %s",
            (owner, now - MINUTE, now + CLOCKS_APART, most),
        )
    ).fetchall()
    return [float(created) for (created,) in found]


async def _spent_since(db: AsyncConnection, owner: str, since: float) -> float:
    row = await (
        await db.execute(
            f"SELECT COALESCE(SUM({_SPENT}), 0) FROM ideogram_tasks WHERE owner = %s AND created >= %s", (owner, since)
        )
    ).fetchone()
    return float(row[0]) if row else 0.0


async def unusable(url: SecretStr) -> str | None:
    """Why the journal cannot be kept in this database, in one line with the fix, or None once it is reached and
    its schema brought up to date: what a server checks at its start, before it takes calls."""
    try:
        await Database(url).migrate()
    except JournalError as exc:
        return exc.text()
    return None
