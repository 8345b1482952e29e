"""The SQLite journal's file opened by several processes at once: the switch of a new file to WAL, which SQLite
refuses one of two processes at once ("locked") without its busy wait, is tried again within the lock wait."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ideogram_mcp.journal import reopening


class _Racing:
    """A connection whose first switches to WAL are refused as another process's switch makes SQLite refuse one."""

    def __init__(self, db: sqlite3.Connection, refusals: int) -> None:
        self.db, self.refusals, self.said = db, refusals, list[str]()

    def execute(self, statement: str, *args: Any) -> sqlite3.Cursor:
        self.said.append(statement)
        if statement == "PRAGMA journal_mode=WAL" and self.refusals:
            self.refusals -= 1
            raise sqlite3.OperationalError("database is locked")
        return self.db.execute(statement, *args)

    def close(self) -> None:
        self.db.close()


def _racing(monkeypatch: pytest.MonkeyPatch, refusals: int) -> list[_Racing]:
    made: list[_Racing] = []
    connect = sqlite3.connect

    def racing(*args: Any, **kwargs: Any) -> _Racing:
        made.append(_Racing(connect(*args, **kwargs), refusals))
        return made[-1]

    monkeypatch.setattr(sqlite3, "connect", racing)
    return made


def test_a_switch_to_wal_refused_while_another_process_switches_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by an audit: four stdio servers making their first call on a new data folder at once had had one call
    # refused ("locked by another process ... stop the other ideogram-mcp processes"), 1 in 100, 4 opens in 90.
    made = _racing(monkeypatch, refusals=3)
    db = reopening.connected(tmp_path / "journal.sqlite3")
    assert made[0].refusals == 0
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # Each try waits at most the time left of the one lock wait (a review had seen twice the wait), then the whole
    # wait is the connection's again.
    waits = [int(s.rpartition("=")[2]) for s in made[0].said if s.startswith("PRAGMA busy_timeout=")]
    assert len(waits) == 5
    assert waits[:4] == sorted(waits[:4], reverse=True)
    assert waits[0] <= 2000
    assert waits[-1] == 2000


def test_a_switch_refused_past_the_lock_wait_or_for_another_reason_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reopening, "LOCK_WAIT", 0.05)
    _racing(monkeypatch, refusals=10_000)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        reopening.connected(tmp_path / "journal.sqlite3")
    (tmp_path / "folder.sqlite3").mkdir()
    monkeypatch.undo()
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):  # not tried again: no lock
        reopening.connected(tmp_path / "folder.sqlite3")
