"""The journal in one embedded SQLite file (WAL mode, so that several server processes can share it); the default.

Each operation runs off the event loop, under one lock per connection, and waits at most ``reopening.LOCK_WAIT``
for another process's lock; every failure of SQLite is a ``JournalError``. The schema's later changes are versioned
(``PRAGMA user_version``) and applied in one transaction at open. A file deleted or replaced while the server runs is
followed before every read and write (``reopening``)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import SecretStr

from ideogram_mcp import logs
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
    failure,
    rows,
)
from ideogram_mcp.journal.reopening import connected, file_at, reopened
from ideogram_mcp.journal.writes import Reader, Writer
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.settings import redact

if TYPE_CHECKING:
    import sqlite3

T = TypeVar("T")

logger = logs.logger(__name__)

JOURNAL_FILE = "journal.sqlite3"
"""The journal's file in its folder (``IDEOGRAM_MCP_DATA_DIR``)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_uuid TEXT PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    tool TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    requested INTEGER NOT NULL,
    quote REAL NOT NULL,
    cost REAL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    images TEXT NOT NULL DEFAULT '[]',
    errors TEXT NOT NULL DEFAULT '[]',
    options TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_owner_and_time ON tasks (owner, created);
"""

_MIGRATIONS = (
    # 1: how each paid call was approved (under the threshold, asked, or approvedCost).
    "ALTER TABLE tasks ADD COLUMN approval TEXT NOT NULL DEFAULT ''",
    # 2: whether Runware ever had the task (it acknowledged it, or a poll found it).
    "ALTER TABLE tasks ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0",
    # 3: what Runware charged for images it reported finished that could not be used.
    "ALTER TABLE tasks ADD COLUMN unusable_cost REAL NOT NULL DEFAULT 0",
    # 4: when an owner's images were last saved (saved_at), read without a walk through the owner's every task.
    "CREATE INDEX IF NOT EXISTS tasks_by_owner_state_and_update ON tasks (owner, state, updated)",
    # 5: whether a poll ever reported an image of the task finished (``Entry.ran``).
    "ALTER TABLE tasks ADD COLUMN ran INTEGER NOT NULL DEFAULT 0",
)
"""Schema changes in order; ``PRAGMA user_version`` counts those applied."""

# What a task counts towards spending: its real cost once known, its quote while it may still be charged
# (or when a finished task's cost was never reported), nothing for a task that failed before any charge.
_SPENT = (
    "CASE WHEN state = 'pending' THEN MAX(quote, COALESCE(cost, 0))"
    " WHEN state = 'done' THEN COALESCE(cost, quote) ELSE COALESCE(cost, 0) END"
)
_COLUMNS = (
    "task_uuid, owner, tool, model, task, requested, quote, cost, state, images, errors, options, created, updated,"
    " approval, accepted, unusable_cost, ran"
)


class SqliteJournal:
    """The task journal in one SQLite file (``:memory:`` keeps it in the process only): a ``Journal``."""

    def __init__(self, path: Path | str, *, secret: SecretStr | None = None, clock: Clock | None = None) -> None:
        self._secret = secret
        """The API key, blanked out of everything written: an upstream answer may echo it."""
        self._clock = clock or SystemClock()
        self.path = path
        self.problem: JournalError | None = None
        import sqlite3  # here, not at import: starting the server needs no database

        try:
            if isinstance(path, Path):
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = connected(path)
            self._lock = threading.Lock()
            self._writer = Writer(self._db, self._lock, lambda exc: failure(path, exc))
            self._reader = Reader(self._lock)
            with self._lock:
                _upgraded(self._db)
            self._file = file_at(path)
        except (OSError, sqlite3.Error) as exc:
            raise failure(path, exc) from exc

    @classmethod
    def open(cls, folder: Path, *, secret: SecretStr | None = None, clock: Clock | None = None) -> SqliteJournal:
        """The journal in ``folder``, or one in memory (with a warning) when the folder cannot hold it.

        A journal locked by another process raises ``JournalError``: that passes, and the next call opens it.
        """
        try:
            return cls(folder / JOURNAL_FILE, secret=secret, clock=clock)
        except JournalError as exc:
            if exc.locked:
                raise
            logger.warning("%s; keeping the journal in memory only", exc)
            journal = cls(":memory:", secret=secret, clock=clock)
            journal.problem = exc
            return journal

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def aclose(self) -> None:
        self.close()

    # --- the interface ----------------------------------------------------------------------------

    async def record(self, pending: Pending, limits: Limits) -> Entry:
        await self._follow()
        entry, row = rows.pending(pending, now=self._clock.now(), json_of=self._json)
        owner, quote = pending.owner, pending.quote

        def write() -> None:
            # A task recorded already (an approval's round sent again) is said to be so, whatever the limits say now.
            if self._db.execute("SELECT 1 FROM tasks WHERE task_uuid = ?", (pending.task_uuid,)).fetchone():
                raise DuplicateTaskError(pending.task_uuid)
            running = self._running(owner, limits.running_since) if limits.max_running is not None else None
            spent = self._spent_since(owner, midnight(self._clock)) if limits.daily_budget is not None else None
            most = limits.per_minute
            started = self._started(owner, entry.created, most) if most is not None else None
            check_limits(limits, quote, running=running, spent=spent, started=started, now=entry.created)
            self._db.execute(
                "INSERT INTO tasks (task_uuid, owner, tool, model, task, requested, quote, state, options,"
                " created, updated, approval) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._writer.write(write)
        return entry

    async def accepted(self, task_uuid: str) -> None:
        await self._follow()
        await self._writer.write(
            lambda: self._db.execute("UPDATE tasks SET accepted = 1 WHERE task_uuid = ?", (task_uuid,))
        )

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
        """Merged with what another process may have recorded meanwhile (HTTP workers share the journal): images are
        kept by imageUUID, the saved one first, and a finished task stays finished.

        Its cost is what its images cost (an image whose cost Runware did not say at the price of one) and
        ``unusable_cost`` (images Runware reported finished that could not be used; None: as recorded), once any
        of that is known; and never less than ``cost``, when given (a task counted at its quote stays so)."""
        await self._follow()

        def write() -> None:
            row = self._db.execute(
                "SELECT state, images, unusable_cost, quote, requested FROM tasks WHERE task_uuid = ?", (task_uuid,)
            ).fetchone()
            if row is None:
                return
            final, merged, total, unusable = rows.updated(row, images, state, unusable_cost, cost)
            self._db.execute(
                "UPDATE tasks SET state = ?, images = ?, errors = ?, cost = ?, updated = ?,"
                " accepted = MAX(accepted, ?), unusable_cost = ?, ran = MAX(ran, ?) WHERE task_uuid = ?",
                (
                    final,
                    self._json(merged),
                    self._json(list(errors)),
                    total,
                    self._clock.now(),
                    int(accepted),
                    unusable,
                    int(ran),
                    task_uuid,
                ),
            )

        await self._writer.write(write)

    async def get(self, task_uuid: str, owner: str) -> Entry | None:
        def read() -> Entry | None:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE task_uuid = ? AND owner = ?", (task_uuid, owner)
            ).fetchone()
            return rows.entry(row) if row is not None else None

        return await self._run(read)

    async def recent(
        self, owner: str, limit: int, state: State | None = None, before: Place | None = None
    ) -> list[Entry]:
        def read() -> list[Entry]:
            where, values = "owner = ?", list[object]([owner])
            if state is not None:
                where, values = where + " AND state = ?", [*values, state]
            if before is not None:
                where += " AND (created < ? OR (created = ? AND task_uuid < ?))"
                values += [before[0], before[0], before[1]]
            found = self._db.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE {where} ORDER BY created DESC, task_uuid DESC LIMIT ?",
                (*values, limit),
            ).fetchall()
            return [rows.entry(row) for row in found]

        return await self._run(read)

    async def image(self, image_uuid: str, owner: str) -> tuple[str, ImageRecord] | None:
        def read() -> tuple[str, ImageRecord] | None:
            found = self._db.execute(
                "SELECT task_uuid, images FROM tasks WHERE owner = ? AND instr(images, ?) > 0", (owner, image_uuid)
            ).fetchall()
            for task_uuid, images in found:
                for record in rows.records(images):
                    if image_uuid in (record.image_uuid, record.image_url):
                        return task_uuid, record
            return None

        return await self._run(read)

    async def saved_at(self, owner: str) -> float:
        def read() -> float:
            row = self._db.execute(
                "SELECT MAX(updated) FROM tasks WHERE owner = ? AND state = 'done'", (owner,)
            ).fetchone()
            return float(row[0]) if row and row[0] is not None else 0.0

        return await self._run(read)

    async def folders(self, owner: str) -> list[Path]:
        def read() -> list[Path]:
            # As bytes: a folder named in another encoding, kept as "\udce9", comes out of json_extract as no UTF-8
            # (it had made every listing of resources fail); read back as Python named it.
            rows = self._db.execute(
                "SELECT DISTINCT CAST(json_extract(options, '$.folder') AS BLOB) FROM tasks WHERE owner = ?", (owner,)
            ).fetchall()
            named = (f.decode("utf-8", "surrogatepass") for (f,) in rows if isinstance(f, bytes) and f)
            return [Path(folder) for folder in named]

        return await self._run(read)

    async def running(self, owner: str, since: float) -> int:
        return await self._run(lambda: self._running(owner, since))

    async def spend(self, owner: str) -> Spend:
        def read() -> Spend:
            today = self._spent_since(owner, midnight(self._clock))
            total = self._spent_since(owner, 0.0)
            return Spend(round(today, 6), round(total, 6))

        return await self._run(read)

    async def claim(
        self, task_uuid: str, arrivals: Sequence[ImageRecord], wanted: Sequence[str], *, by: str, until: float
    ) -> dict[str, Claim]:
        """Record newly arrived images (with the name each is to be saved under), and claim the saving of the
        ``wanted`` ones (by imageUUID) for ``by`` until ``until`` (Unix time), in one transaction.

        Each wanted image is ``stored`` (someone saved it: its path), ``mine`` (save it, under its ``stem``) or
        ``busy`` (another process saves it now; ask again later, or once its claim runs out). So every paid image
        is saved by one finish only, whatever runs at once: processes, workers, a restart after a kill.
        """
        await self._follow()

        def write() -> dict[str, Claim]:
            row = self._db.execute("SELECT images, requested FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone()
            if row is None:
                return {}
            records = rows.merged(json.loads(row[0]), [rows.raw(image) for image in arrivals], limit=int(row[1]))
            found = rows.claimed(records, wanted, by=by, until=until, now=self._clock.now())
            self._set_images(task_uuid, records)
            return found

        return await self._writer.write(write)

    async def stored(self, task_uuid: str, record: ImageRecord, *, by: str) -> str | None:
        """Record what became of the saving ``by`` claimed (``record``: the path, or why there is none, and what
        was measured) and release the claim. Returns the path the image is saved at: another one than this
        saving's when another process saved it first (its claim had run out), which this saving then gives up."""
        await self._follow()

        def write() -> str | None:
            row = self._db.execute("SELECT images FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone()
            records: list[rows.Raw] = json.loads(row[0]) if row else []
            changed, path = rows.stored(records, record, by=by)
            if changed:
                self._set_images(task_uuid, records)
            return path

        return await self._writer.write(write)

    async def release(self, task_uuid: str, *, by: str) -> None:
        """Give up the claims ``by`` still holds on a task's images (its call ended before it saved them): the next
        finish saves them at once rather than waiting for the claims to run out."""
        await self._follow()

        def write() -> None:
            row = self._db.execute("SELECT images FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone()
            records: list[rows.Raw] = json.loads(row[0]) if row else []
            if rows.released(records, by=by):
                self._set_images(task_uuid, records)

        await self._writer.write(write)

    # --- underneath -----------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Before every read and write: the journal's file, if the one at its path is no longer the one open
        (``reopening``)."""
        if isinstance(self.path, Path) and file_at(self.path) != self._file:  # a stat: microseconds, on the loop
            await self._reader.read(self._guarded(self._reopen))

    def _reopen(self) -> None:
        """Take the journal at its path in place of the open one, under the lock (``reopening``)."""
        path = Path(self.path)
        if file_at(path) == self._file:  # another operation did it while this one waited for the lock
            return
        try:
            fresh = reopened(self._db, path, _upgraded)
        except OSError as exc:
            raise failure(path, exc) from exc
        self._db.close()
        self._db = fresh
        self._writer.connect(fresh)
        self._file = file_at(path)

    async def _run(self, work: Callable[[], T]) -> T:
        """``work`` on the database, off the event loop, under the lock (with the reads that come meanwhile: see
        ``writes``); SQLite's failures as ``JournalError``."""
        await self._follow()
        return await self._reader.read(self._guarded(work))

    def _guarded(self, work: Callable[[], T]) -> Callable[[], T]:
        """``work`` with SQLite's failures as ``JournalError``."""
        import sqlite3

        def guarded() -> T:
            try:
                return work()
            except sqlite3.Error as exc:
                raise failure(self.path, exc) from exc

        return guarded

    def _json(self, value: object) -> str:
        return redact(json.dumps(value), self._secret)

    def _set_images(self, task_uuid: str, records: list[rows.Raw]) -> None:
        self._db.execute(
            "UPDATE tasks SET images = ?, updated = ? WHERE task_uuid = ?",
            (self._json(records), self._clock.now(), task_uuid),
        )

    def _running(self, owner: str, since: float) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM tasks WHERE owner = ? AND state = 'pending' AND created >= ?", (owner, since)
        ).fetchone()
        return int(row[0])

    def _started(self, owner: str, now: float, most: int) -> list[float]:
        """When the owner's ``most`` latest tasks of the minute before ``now`` were recorded, newest first."""
        found = self._db.execute(
            "SELECT created FROM tasks WHERE owner = ? AND created > ? AND created <= ? ORDER BY created DESC LIMIT ?",
            (owner, now - MINUTE, now + CLOCKS_APART, most),
        ).fetchall()
        return [float(created) for (created,) in found]

    def _spent_since(self, owner: str, since: float) -> float:
        row = self._db.execute(
            f"SELECT COALESCE(SUM({_SPENT}), 0) FROM tasks WHERE owner = ? AND created >= ?", (owner, since)
        ).fetchone()
        return float(row[0])


def _upgraded(db: sqlite3.Connection) -> None:
    """Make the journal's tables in ``db`` where missing, and apply the schema changes its file lacks, in one
    transaction taken at once (several processes may open it at once)."""
    db.executescript(_SCHEMA)
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if int(version) < len(_MIGRATIONS):  # a newer server's journal keeps its number: never lowered
            for change in _MIGRATIONS[int(version) :]:
                if not _made_already(db, change):
                    db.execute(change)
            db.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


_ADDED = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)")


def _made_already(db: sqlite3.Connection, change: str) -> bool:
    """Whether a schema change is in ``db`` though its number says not: an older server set the number
    to its own count over a newer journal's, and adding a column twice fails ("duplicate column name"), which had
    left the journal unusable. The other changes say ``IF NOT EXISTS``."""
    if (added := _ADDED.match(change)) is None:
        return False
    table, column = added.groups()
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))
