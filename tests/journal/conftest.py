"""A real PostgreSQL for the journal's tests (``tests/postgresql.py``): started at the first test that needs it, once
per test process, and stopped at the end. Without PostgreSQL those tests are skipped, saying why; in CI they fail."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.postgresql import DEBIAN_BINARIES, PostgreSQL, running


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    with running() as server:
        if server is None:
            missing = f"PostgreSQL is not installed (no initdb on PATH or in {DEBIAN_BINARIES}/*/bin)"
            if os.environ.get("CI"):
                pytest.fail(f"{missing} under CI: .ci/postgres.sh should have installed it")
            pytest.skip(f"{missing}: apt-get install postgresql")
        yield server


@pytest.fixture
def database_url(postgresql: PostgreSQL) -> str:
    """The URL of an empty database of the test's own."""
    return postgresql.database()
