"""The SQLite journal's file deleted or replaced while a server runs.

Its data folder removed, a process would go on writing into the deleted file, and the next start would find no
tasks, no images saved or to save, and none of the day's spend. Before each read and write the journal looks at
which file is at its path (a stat: microseconds); when it is not the one open, the file is written again from the
open copy, or the one found there gets what the open copy holds, and is taken.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ideogram_mcp import logs
from ideogram_mcp.journal import rows

if TYPE_CHECKING:
    import sqlite3

logger = logs.logger(__name__)

LOCK_WAIT = 2.0
"""Seconds an operation waits for another process's lock on the journal before it gives up and says so."""


def connected(path: Path | str) -> sqlite3.Connection:
    """A connection to the journal's file, in WAL mode, waiting ``LOCK_WAIT`` for another process's lock."""
    import sqlite3  # here, not at import: starting the server needs no database

    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=LOCK_WAIT)
    # Two processes switching a new file to WAL at once: SQLite answers one "locked" at once, without its busy wait
    # (servers of three clients started together had had a first call refused, told to stop the others). Tried again
    # within LOCK_WAIT in all, each try's busy wait the time left: never twice the wait.
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        db.execute(f"PRAGMA busy_timeout={max(1, int((deadline - time.monotonic()) * 1000))}")
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT * 1000)}")
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + 0.01 >= deadline:
                db.close()
                raise
            time.sleep(0.01)


def file_at(path: Path | str) -> tuple[int, int] | None:
    """Which file is at ``path`` (its device and inode), or None: none, or a journal in memory."""
    try:
        found = os.stat(path) if isinstance(path, Path) else None
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if found is not None else None


def reopened(db: sqlite3.Connection, path: Path, upgraded: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """A connection to the journal at ``path`` (a link followed to its file), to write on in place of ``db``, whose
    file is no longer there; nothing of ``db`` is lost.

    Where the path has no file, ``db`` is copied whole into a hidden file beside it, which is then linked to the path:
    never a half-written journal there, and never over one another process put back meanwhile. A journal found there
    (another process's copy, a new one a process started since made, an older one put back) is brought to this
    schema (``upgraded``) and gets every task of ``db`` it lacks or holds in an older state. Raises ``sqlite3.Error``
    or ``OSError`` when neither can be done (a full disk: nothing is left of a copy), and ``sqlite3.DatabaseError``
    for a file there that holds no journal: it is not written over.
    """
    import sqlite3

    path = Path(os.path.realpath(path))  # a link to a file deleted: the file is made again where the link leads
    path.parent.mkdir(parents=True, exist_ok=True)
    if file_at(path) is None:
        copy = path.with_name(f".{path.name}.{secrets.token_hex(4)}.copy")
        try:
            into = sqlite3.connect(str(copy))
            try:
                db.backup(into)
            finally:
                into.close()
            os.link(copy, path)
            logger.warning("the task journal %s was deleted while the server ran; it is written again from here", path)
        except FileExistsError:  # one came meanwhile: another process put it back, or a new one made it
            pass
        finally:
            copy.unlink(missing_ok=True)
    fresh = connected(path)
    try:
        if fresh.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tasks'").fetchone() is None:
            raise sqlite3.DatabaseError("file is not a database: it holds no task journal")
        upgraded(fresh)
        _merge(db, fresh)
    except BaseException:
        fresh.close()
        raise
    return fresh


def _merge(db: sqlite3.Connection, into: sqlite3.Connection) -> None:
    """Every task of ``db`` into ``into``, in one transaction: whole where ``into`` lacks it, else combined as
    ``Journal.update`` combines what two processes recorded (images by imageUUID, a saved path never lost, a finished
    task staying finished, its acknowledgement and that it ran kept, the later errors)."""
    columns = [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
    into.execute("BEGIN IMMEDIATE")
    try:
        for values in db.execute(f"SELECT {', '.join(columns)} FROM tasks").fetchall():
            ours = dict(zip(columns, values, strict=True))
            theirs = into.execute(
                "SELECT state, images, unusable_cost, quote, requested, accepted, updated FROM tasks"
                " WHERE task_uuid = ?",
                (ours["task_uuid"],),
            ).fetchone()
            if theirs is None:
                into.execute(
                    f"INSERT INTO tasks ({', '.join(ours)}) VALUES ({', '.join('?' for _ in ours)})",
                    tuple(ours.values()),
                )
                continue
            later = ours["updated"] > theirs[6]
            state, images, cost, unusable = rows.updated(
                theirs[:5], rows.records(ours["images"]), ours["state"], ours["unusable_cost"], ours["cost"]
            )
            into.execute(
                "UPDATE tasks SET state = ?, images = ?, cost = ?, unusable_cost = ?, accepted = MAX(accepted, ?),"
                " ran = MAX(ran, ?), errors = CASE WHEN ? THEN ? ELSE errors END, updated = MAX(updated, ?)"
                " WHERE task_uuid = ?",
                (
                    state if later or state == "done" else theirs[0],
                    json.dumps(images),
                    cost,
                    unusable,
                    ours["accepted"],
                    ours["ran"],
                    later,
                    ours["errors"],
                    ours["updated"],
                    ours["task_uuid"],
                ),
            )
    except BaseException:
        into.execute("ROLLBACK")
        raise
    into.execute("COMMIT")
