"""What the SQLite journal does of its own: one file several processes share (WAL), and a journal kept in memory
when no file can hold it. What every journal does is in ``test_contract``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ideogram_mcp.journal import Limits
from ideogram_mcp.journal.sqlite import SqliteJournal

from . import pending

pytestmark = pytest.mark.anyio


async def test_the_journal_file_is_shared_in_wal_mode(tmp_path: Path) -> None:
    book = SqliteJournal(tmp_path / "journal.sqlite3")
    await book.record(
        pending("t1"),
        Limits(),
    )
    await book.aclose()
    assert sqlite3.connect(tmp_path / "journal.sqlite3").execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_journal_that_cannot_be_kept_on_disk_is_kept_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    book = SqliteJournal.open(blocker / "sub")
    assert book.path == ":memory:"
    assert book.problem is not None
    assert book.problem.said == f"the task journal cannot be kept in {blocker / 'sub'} (a file (not a folder) " + (
        "stands in its path)"
    )
