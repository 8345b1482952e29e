"""A real PostgreSQL for the tests, in a temporary folder of its own: started once per test process that needs it,
stopped at its end.

It listens on 127.0.0.1 at a free port, and on a socket in its folder. PostgreSQL refuses to run as root, so as
root (CI) its folder belongs to the ``postgres`` user and it runs as that user (``runuser``). Each test takes a
database of its own (``database``), so tests share the server and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.processes import free_port

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
"""Where Debian's PostgreSQL keeps initdb and pg_ctl (not on PATH): a folder per version, each with bin/."""
USER = "postgres"
"""The user PostgreSQL runs as when the tests run as root, and the database user the tests connect as."""


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    versions = [bin for bin in DEBIAN_BINARIES.glob("*/bin") if bin.parent.name.isdigit()]
    versions.sort(key=lambda bin: int(bin.parent.name), reverse=True)
    for folder in [Path(found).resolve().parent] if found else versions:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


class PostgreSQL:
    """One running PostgreSQL server, its data and socket in ``folder``."""

    def __init__(self, folder: Path, port: int, binaries: Path) -> None:
        self.folder, self.port, self._binaries = folder, port, binaries
        self.started_in = 0.0
        """Seconds initdb and the start took."""

    def url(self, database: str = "postgres") -> str:
        """A URL of one of its databases, as a user would write it."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg
        from psycopg import sql

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def _run(self, *args: str) -> None:
        command = [str(self._binaries / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.folder, timeout=120)

    def start(self) -> None:
        began = time.monotonic()
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        self.resume()
        self.started_in = time.monotonic() - began

    def resume(self) -> None:
        """Serve its data again (after ``stop(mode="fast")``)."""
        # Durability is not what a test checks: without fsync each commit costs no disk wait.
        settings = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        settings += " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        data = str(self.folder / "data")
        self._run("pg_ctl", "-D", data, "-l", str(self.folder / "log"), "-o", settings, "-w", "-s", "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop serving: at once (what it did not write to disk is lost), or ``fast``, its data kept to resume."""
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "-s", "stop")


@contextlib.contextmanager
def running() -> Iterator[PostgreSQL | None]:
    """A running PostgreSQL, stopped and removed afterwards; None when it is not installed."""
    folder = binaries()
    if folder is None:
        yield None
        return
    # Not under pytest's temporary folder: that one is the user's only, and PostgreSQL may run as another user.
    home = Path(tempfile.mkdtemp(prefix="ideogram-mcp-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, USER)
    server = PostgreSQL(home, free_port(), folder)
    try:
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
