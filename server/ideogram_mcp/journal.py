"""The journal: every task, recorded before it is sent, with its state, cost and images; and the spend so far.

An embedded SQLite database in WAL mode, so that several server processes can share it. A task
cut short by a crash, a restart or a client that gave up stays ``pending`` here and can be
fetched later with ``get_generation``. Spend limits are counted from it, and a task is recorded
only if it keeps within them, in one transaction, so two calls at once cannot both slip past.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as datetime_time
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import anyio.to_thread
from pydantic import SecretStr

from ideogram_mcp import files
from ideogram_mcp.errors import IdeogramError
from ideogram_mcp.settings import redact

T = TypeVar("T")

logger = logging.getLogger(__name__)

State = Literal["pending", "done", "failed"]
STATES: tuple[State, ...] = ("pending", "done", "failed")

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
)
"""Schema changes in order; ``PRAGMA user_version`` counts those applied."""

Approval = Literal["under threshold", "asked", "approvedCost"]
"""How a paid call was approved: it cost no more than the confirmation threshold, the user said yes when asked,
or the agent passed ``approvedCost`` after the user agreed in the chat (where the client cannot ask)."""

# What a task counts towards spending: its real cost once known, its quote while it may still be charged
# (or when a finished task's cost was never reported), nothing for a task that failed before any charge.
_SPENT = (
    "CASE WHEN state = 'pending' THEN MAX(quote, COALESCE(cost, 0))"
    " WHEN state = 'done' THEN COALESCE(cost, quote) ELSE COALESCE(cost, 0) END"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One task as the journal holds it."""

    task_uuid: str
    owner: str
    tool: str
    model: str
    task: dict[str, Any]
    requested: int
    quote: float
    cost: float | None
    state: State
    images: list[dict[str, Any]]
    errors: list[str]
    options: dict[str, Any]
    """The call's own choices that outlive it (the file name, the folder), for finishing the task later."""
    created: float
    updated: float
    approval: str = ""
    """How the call was approved (``Approval``); empty for tasks of earlier versions."""
    accepted: bool = False
    """Whether Runware ever had the task: it acknowledged it, or a poll found it."""


@dataclass(frozen=True, slots=True)
class Claim:
    """Where the saving of one image stands: ``stored`` (at ``path``), ``mine`` (save it under ``stem``) or
    ``busy`` (another saves it now)."""

    state: Literal["stored", "mine", "busy"]
    stem: str
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Spend:
    """Dollars spent (or reserved by pending tasks) today and in all."""

    today: float
    total: float


class RefusedError(IdeogramError):
    """The journal refuses to record a task; nothing was recorded, and nothing is to be sent."""


class OverBudgetError(RefusedError):
    """Recording the task would pass the daily budget; nothing was recorded."""

    def __init__(self, quote: float, budget: float, spent: float) -> None:
        self.quote, self.budget, self.spent = quote, budget, spent
        super().__init__(
            f"${quote:.2f} on top of ${spent:.2f} spent today would pass the daily budget of ${budget:.2f}"
        )


class DuplicateTaskError(RefusedError):
    """A task with this taskUUID is recorded already: it was sent before, and is never sent twice."""

    def __init__(self, task_uuid: str) -> None:
        self.task_uuid = task_uuid
        super().__init__(f"task {task_uuid} is recorded already")


class TooManyRunningError(RefusedError):
    """Recording the task would pass the owner's limit of tasks running at once; nothing was recorded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"{limit} tasks are already running, the most allowed at once")


LOCK_WAIT = 2.0
"""Seconds an operation waits for another process's lock on the journal before it gives up and says so."""


class JournalError(IdeogramError):
    """The journal cannot be used right now: what is wrong (``said``, a phrase such as "the task journal <path> is
    locked by another process") and the ``fix``, both written for the user."""

    def __init__(self, said: str, fix: str, *, locked: bool = False) -> None:
        self.said, self.fix, self.locked = said, fix, locked
        super().__init__(said)

    def text(self, consequence: str = "") -> str:
        """The error as an agent reads it: what is wrong, so ``consequence`` (when given), and the fix."""
        opening = self.said[:1].upper() + self.said[1:]
        return f"{opening}, so {consequence}. {self.fix}" if consequence else f"{opening}. {self.fix}"


def failure(path: Path | str, exc: BaseException) -> JournalError:
    """What an error of SQLite (or of the file system under it) means for the user, and what fixes it."""
    said = str(exc).lower()
    elsewhere = "set IDEOGRAM_MCP_DATA_DIR to another folder"
    if "locked" in said or "busy" in said:
        return JournalError(
            f"the task journal {path} is locked by another process",
            "Try again in a moment; if it stays locked, stop the other ideogram-mcp processes that use "
            "IDEOGRAM_MCP_DATA_DIR, or give this one a folder of its own.",
            locked=True,
        )
    if "full" in said or getattr(exc, "errno", None) == errno.ENOSPC:
        return JournalError(f"the task journal {path} cannot grow: the disk is full", f"Free space, or {elsewhere}.")
    if "not a database" in said or "malformed" in said:
        return JournalError(
            f"the task journal {path} is not a journal ({exc})",
            f"Move the file aside (a new one is made), or {elsewhere}.",
        )
    if "unable to open" in said:
        return JournalError(
            f"the task journal cannot be kept in {Path(path).parent} (it cannot be opened there)",
            f"Make that folder writable, or {elsewhere}.",
        )
    if "readonly" in said or "read-only" in said:
        return JournalError(
            f"the task journal {path} cannot be written (read-only)", f"Make it writable, or {elsewhere}."
        )
    if isinstance(exc, OSError):
        return JournalError(
            f"the task journal cannot be kept in {Path(path).parent} ({files.plainly(exc)})",
            f"Make that folder writable, or {elsewhere}.",
        )
    return JournalError(f"the task journal {path} failed ({exc})", f"If it stays, {elsewhere}.")


class Journal:
    """The task journal in one SQLite file (``:memory:`` keeps it in the process only).

    Every failure of SQLite is raised as ``JournalError``, saying what is wrong and the fix; a lock held by another
    process is waited for at most ``LOCK_WAIT`` seconds.
    """

    def __init__(self, path: Path | str, *, secret: SecretStr | None = None) -> None:
        self._secret = secret
        """The API key, blanked out of everything written: an upstream answer may echo it."""
        self.path = path
        self.problem: JournalError | None = None
        """Why this journal is kept in memory instead of on disk (then a restart forgets it), else None."""
        import sqlite3  # here, not at import: starting the server needs no database

        try:
            if isinstance(path, Path):
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=LOCK_WAIT)
            self._lock = threading.Lock()
            with self._lock:
                self._db.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT * 1000)}")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                self._transaction(self._migrate)()
        except (OSError, sqlite3.Error) as exc:
            raise failure(path, exc) from exc

    def _migrate(self) -> None:
        """Apply the schema changes this file lacks, in one transaction (several processes may open it at once)."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for change in _MIGRATIONS[int(version) :]:
            self._db.execute(change)
        self._db.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")

    @classmethod
    def open(cls, folder: Path, *, secret: SecretStr | None = None) -> Journal:
        """The journal in ``folder``, or one in memory (with a warning) when the folder cannot hold it.

        A journal locked by another process raises ``JournalError``: that passes, and the next call opens it.
        """
        try:
            return cls(folder / "journal.sqlite3", secret=secret)
        except JournalError as exc:
            if exc.locked:
                raise
            logger.warning("%s; keeping the journal in memory only", exc)
            journal = cls(":memory:", secret=secret)
            journal.problem = exc
            return journal

    async def _run(self, work: Callable[[], T]) -> T:
        """``work`` on the database, off the event loop, under the lock; SQLite's failures as ``JournalError``."""
        import sqlite3

        def guarded() -> T:
            try:
                with self._lock:
                    return work()
            except sqlite3.Error as exc:
                raise failure(self.path, exc) from exc

        return await anyio.to_thread.run_sync(guarded)

    def _transaction(self, work: Callable[[], T]) -> Callable[[], T]:
        """``work`` in one write transaction, taken at once (``BEGIN IMMEDIATE``): all of it or none."""

        def transaction() -> T:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                done = work()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return done

        return transaction

    def _json(self, value: Any) -> str:
        return redact(json.dumps(value), self._secret)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def record(
        self,
        *,
        task_uuid: str,
        owner: str,
        tool: str,
        model: str,
        task: Mapping[str, Any],
        requested: int,
        quote: float,
        options: Mapping[str, Any] | None = None,
        approval: Approval = "under threshold",
        daily_budget: float | None = None,
        max_running: int | None = None,
        running_since: float = 0.0,
    ) -> Entry:
        """Record a task as pending before it is sent.

        Raises ``OverBudgetError`` if it would pass the daily budget, and ``TooManyRunningError`` if the owner
        already has ``max_running`` tasks pending that were sent after ``running_since`` (Unix time); both are
        checked in the transaction that records it, so calls made at once cannot all slip under a limit.
        Raises ``DuplicateTaskError`` when the taskUUID is recorded already (an approval replayed).
        """
        now = time.time()
        entry = Entry(
            task_uuid,
            owner,
            tool,
            model,
            dict(task),
            requested,
            quote,
            None,
            "pending",
            [],
            [],
            dict(options or {}),
            now,
            now,
            approval,
        )
        row = (
            task_uuid,
            owner,
            tool,
            model,
            self._json(task),
            requested,
            quote,
            "pending",
            self._json(entry.options),
            now,
            now,
            approval,
        )

        def write() -> None:
            if max_running is not None and self._running(owner, running_since) >= max_running:
                raise TooManyRunningError(max_running)
            if daily_budget is not None:
                spent = self._spent_since(owner, _midnight())
                if spent + quote > daily_budget + 1e-9:
                    raise OverBudgetError(quote, daily_budget, spent)
            if self._db.execute("SELECT 1 FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone():
                raise DuplicateTaskError(task_uuid)
            self._db.execute(
                "INSERT INTO tasks (task_uuid, owner, tool, model, task, requested, quote, state, options,"
                " created, updated, approval) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._run(self._transaction(write))
        return entry

    async def update(
        self,
        task_uuid: str,
        *,
        state: State,
        images: Sequence[Mapping[str, Any]],
        errors: Sequence[str],
        cost: float | None,
        accepted: bool = False,
        unusable_cost: float | None = None,
    ) -> None:
        """Record what became of a task, merged with what another process may have recorded meanwhile (HTTP
        workers share the journal): images are kept by imageUUID, the saved one first, and a finished task
        stays finished. ``accepted`` says Runware had it.

        Its cost is what its images cost (an image whose cost Runware did not say at the price of one) and
        ``unusable_cost`` (images Runware reported finished that could not be used; None: as recorded), once any
        of that is known; and never less than ``cost``, when given (a task counted at its quote stays so)."""

        def write() -> None:
            row = self._db.execute(
                "SELECT state, images, unusable_cost, quote, requested FROM tasks WHERE task_uuid = ?", (task_uuid,)
            ).fetchone()
            if row is None:
                return
            merged = _merged(json.loads(row[1]), images, limit=int(row[4]))
            final = "done" if row[0] == "done" else state
            unusable = float(row[2]) if unusable_cost is None else unusable_cost
            costs = [r["cost"] for r in merged if isinstance(r.get("cost"), int | float)]
            unit = float(row[3]) / max(1, int(row[4]))
            known = round(sum(costs) + unit * (len(merged) - len(costs)) + unusable, 6) if costs or unusable else None
            total = known if cost is None else max(known or 0.0, cost)
            self._db.execute(
                "UPDATE tasks SET state = ?, images = ?, errors = ?, cost = ?, updated = ?,"
                " accepted = MAX(accepted, ?), unusable_cost = ? WHERE task_uuid = ?",
                (
                    final,
                    self._json(merged),
                    self._json(list(errors)),
                    total,
                    time.time(),
                    int(accepted),
                    unusable,
                    task_uuid,
                ),
            )

        await self._run(self._transaction(write))

    async def get(self, task_uuid: str, owner: str) -> Entry | None:
        """The task of this owner with this taskUUID, or None."""

        def read() -> Entry | None:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE task_uuid = ? AND owner = ?", (task_uuid, owner)
            ).fetchone()
            return _entry(row) if row is not None else None

        return await self._run(read)

    async def recent(self, owner: str, limit: int, state: State | None = None) -> list[Entry]:
        """This owner's latest tasks, newest first."""

        def read() -> list[Entry]:
            where, values = "owner = ?", [owner]
            if state is not None:
                where, values = where + " AND state = ?", [*values, state]
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE {where} ORDER BY created DESC LIMIT ?", (*values, limit)
            ).fetchall()
            return [_entry(row) for row in rows]

        return await self._run(read)

    async def accepted(self, task_uuid: str) -> None:
        """Record that Runware has the task (it acknowledged it): from then on it may be charged, whatever follows."""

        def write() -> None:
            self._db.execute("UPDATE tasks SET accepted = 1 WHERE task_uuid = ?", (task_uuid,))

        await self._run(write)

    async def claim(
        self,
        task_uuid: str,
        arrivals: Sequence[Mapping[str, Any]],
        wanted: Sequence[str],
        *,
        by: str,
        until: float,
    ) -> dict[str, Claim]:
        """Record newly arrived images (with the name each is to be saved under), and claim the saving of the
        ``wanted`` ones (by imageUUID) for ``by`` until ``until`` (Unix time), in one transaction.

        Each wanted image is ``stored`` (someone saved it: its path), ``mine`` (save it, under its ``stem``) or
        ``busy`` (another process saves it now; ask again later, or once its claim runs out). So every paid image
        is saved by one finish only, whatever runs at once: processes, workers, a restart after a kill.
        """

        def write() -> dict[str, Claim]:
            row = self._db.execute("SELECT images, requested FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone()
            if row is None:
                return {}
            records = {r.get("imageUUID"): r for r in _merged(json.loads(row[0]), arrivals, limit=int(row[1]))}
            now = time.time()
            found: dict[str, Claim] = {}
            for image_uuid in wanted:
                record = records.get(image_uuid)
                if record is None:
                    continue
                if record.get("path"):
                    found[image_uuid] = Claim("stored", str(record.get("stem") or ""), str(record["path"]))
                elif record.get("claimedBy") not in (None, by) and float(record.get("claimedUntil") or 0) > now:
                    found[image_uuid] = Claim("busy", str(record.get("stem") or ""))
                else:
                    record |= {"claimedBy": by, "claimedUntil": until}
                    found[image_uuid] = Claim("mine", str(record.get("stem") or ""))
            self._db.execute(
                "UPDATE tasks SET images = ?, updated = ? WHERE task_uuid = ?",
                (self._json(list(records.values())), now, task_uuid),
            )
            return found

        return await self._run(self._transaction(write))

    async def stored(self, task_uuid: str, image_uuid: str, *, by: str, fields: Mapping[str, Any]) -> str | None:
        """Record what became of the saving ``by`` claimed (``fields``: the path, or why there is none, and what was
        measured) and release the claim. Returns the path the image is saved at: another one than this saving's
        when another process saved it first (its claim had run out), which this saving then gives up."""

        def write() -> str | None:
            row = self._db.execute("SELECT images FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone()
            records: list[dict[str, Any]] = json.loads(row[0]) if row else []
            for record in records:
                if record.get("imageUUID") != image_uuid:
                    continue
                if record.get("path"):
                    return str(record["path"])  # saved by another meanwhile: that one stands
                record.update({k: v for k, v in fields.items() if k not in CLAIM_KEYS})
                if record.get("claimedBy") == by:
                    record.pop("claimedBy", None)
                    record.pop("claimedUntil", None)
                self._db.execute(
                    "UPDATE tasks SET images = ?, updated = ? WHERE task_uuid = ?",
                    (self._json(records), time.time(), task_uuid),
                )
                return record.get("path")
            return None

        return await self._run(self._transaction(write))

    async def folders(self, owner: str) -> list[Path]:
        """Every folder this owner's tasks saved images in (a call may choose its own: ``outputDir``)."""

        def read() -> list[Path]:
            rows = self._db.execute(
                "SELECT DISTINCT json_extract(options, '$.folder') FROM tasks WHERE owner = ?", (owner,)
            ).fetchall()
            return [Path(folder) for (folder,) in rows if isinstance(folder, str) and folder]

        return await self._run(read)

    async def release(self, task_uuid: str, *, by: str) -> None:
        """Give up the claims ``by`` still holds on a task's images (its call ended before it saved them): the next
        finish saves them at once rather than waiting for the claims to run out."""

        def write() -> None:
            row = self._db.execute("SELECT images FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone()
            records: list[dict[str, Any]] = json.loads(row[0]) if row else []
            held = [record for record in records if record.get("claimedBy") == by]
            for record in held:
                record.pop("claimedBy", None)
                record.pop("claimedUntil", None)
            if held:
                self._db.execute("UPDATE tasks SET images = ? WHERE task_uuid = ?", (self._json(records), task_uuid))

        await self._run(self._transaction(write))

    async def image(self, image_uuid: str, owner: str) -> dict[str, Any] | None:
        """The record of an image this owner's tasks made, by its image UUID, or None."""

        def read() -> dict[str, Any] | None:
            rows = self._db.execute(
                "SELECT images FROM tasks WHERE owner = ? AND instr(images, ?) > 0", (owner, image_uuid)
            ).fetchall()
            for (images,) in rows:
                for record in cast(list[dict[str, Any]], json.loads(images)):
                    if record.get("imageUUID") == image_uuid:
                        return record
            return None

        return await self._run(read)

    async def running(self, owner: str, since: float) -> int:
        """How many of this owner's tasks sent after ``since`` (Unix time) are still pending."""

        return await self._run(lambda: self._running(owner, since))

    def _running(self, owner: str, since: float) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM tasks WHERE owner = ? AND state = 'pending' AND created >= ?", (owner, since)
        ).fetchone()
        return int(row[0])

    async def spend(self, owner: str) -> Spend:
        """What this owner spent today (local time) and in all, pending tasks counted at their quote."""

        def read() -> Spend:
            today = self._spent_since(owner, _midnight())
            total = self._spent_since(owner, 0.0)
            return Spend(round(today, 6), round(total, 6))

        return await self._run(read)

    def _spent_since(self, owner: str, since: float) -> float:
        row = self._db.execute(
            f"SELECT COALESCE(SUM({_SPENT}), 0) FROM tasks WHERE owner = ? AND created >= ?", (owner, since)
        ).fetchone()
        return float(row[0])


_COLUMNS = (
    "task_uuid, owner, tool, model, task, requested, quote, cost, state, images, errors, options, created, updated,"
    " approval, accepted"
)


def _entry(row: tuple[Any, ...]) -> Entry:
    (
        task_uuid,
        owner,
        tool,
        model,
        task,
        requested,
        quote,
        cost,
        state,
        images,
        errors,
        options,
        created,
        updated,
        approval,
        accepted,
    ) = row
    return Entry(
        task_uuid=str(task_uuid),
        owner=str(owner),
        tool=str(tool),
        model=str(model),
        task=cast(dict[str, Any], json.loads(task)),
        requested=int(requested),
        quote=float(quote),
        cost=float(cost) if cost is not None else None,
        state=cast(State, state),
        images=cast(list[dict[str, Any]], json.loads(images)),
        errors=cast(list[str], json.loads(errors)),
        options=cast(dict[str, Any], json.loads(options)),
        created=float(created),
        updated=float(updated),
        approval=str(approval),
        accepted=bool(accepted),
    )


CLAIM_KEYS = ("claimedBy", "claimedUntil")
"""The fields of an image record that say who is saving it, until when; only ``claim`` and ``stored`` write them."""


def _merged(
    before: Sequence[Mapping[str, Any]], now: Sequence[Mapping[str, Any]], *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Image records of both, one per imageUUID, in the order they came, ``now``'s fields over ``before``'s: but a
    saved path is never lost, the name an image is saved under (``stem``) is set once, and claims are left as they
    are (another process may hold one). At most ``limit`` records are kept (a task makes no more images than it
    asked for), those with a saved file first."""
    kept: dict[object, dict[str, Any]] = {record.get("imageUUID"): dict(record) for record in before}
    for record in now:
        earlier = kept.get(record.get("imageUUID"), {})
        later = {k: v for k, v in record.items() if k not in CLAIM_KEYS}
        if earlier.get("path") and not later.get("path"):
            later = {k: v for k, v in later.items() if k not in ("path", "problem")}
        if earlier.get("stem"):
            later["stem"] = earlier["stem"]
        kept[record.get("imageUUID")] = earlier | later
    records = list(kept.values())
    if limit is None or len(records) <= limit:
        return records
    saved = [r for r in records if r.get("path")]
    return (saved + [r for r in records if not r.get("path")])[:limit] if len(saved) < limit else saved


def _midnight() -> float:
    """The start of today in the server's local time, as a Unix time: with midnight's own UTC offset, which on
    the days clocks change is not the offset of now."""
    return datetime.combine(date.today(), datetime_time()).timestamp()  # a naive time is taken as local
