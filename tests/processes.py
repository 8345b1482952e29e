"""The project's commands run as the user runs them, in processes of their own, their output read as it comes.

Nothing here waits by the clock: a test waits for what a command says (``wait_for``), woken by each piece of
output, with a generous bound that only a hung command reaches.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NoReturn

import pytest

COMMAND = str(Path(sys.executable).with_name("ideogram-mcp"))
"""The installed command, as a client starts it."""
PATIENCE = 60.0
"""Seconds a test waits for a command to say something before it fails; only a hung command takes them."""
LISTENING = "MCP over HTTP at "
"""What ``ideogram-mcp http`` says once its socket takes connections."""


_GIVEN: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, never one this process gave before (two asked for in a row could be one)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def serving(args: list[str], env: dict[str, str], *, attempts: int = 3) -> tuple[int, Running]:
    """``ideogram-mcp http`` with ``args`` on a free port, once it takes connections: the port, and the command. A
    port another process took between its probe and the command's bind is given up for another."""
    for attempt in range(attempts):
        port = free_port()
        running = Running(["http", *args, "--port", str(port)], env)
        try:
            running.listening()
        except AssertionError:
            if running.process.poll() is None:
                os.killpg(running.process.pid, signal.SIGTERM)
            running.ended()  # its pipes closed, not left to the collector
            if attempt + 1 == attempts or "address already in use" not in "".join(running.err):
                raise
        else:
            return port, running
    raise AssertionError("unreachable")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the project's settings, with ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWARE_", "IDEOGRAM_MCP_"))}
    return kept | extra


class Running:
    """A command started in a session of its own (Ctrl-C reaches it and its workers), its stdout and stderr read
    as they come."""

    def __init__(
        self, args: list[str], env: dict[str, str], stdin: int | None = subprocess.PIPE, *, command: str = COMMAND
    ) -> None:
        self.process = subprocess.Popen(
            [command, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True,
        )  # fmt: skip
        self._said = {"out": "", "err": ""}
        self._changed = threading.Condition()
        self.readers = [
            threading.Thread(target=self._read, args=(stream, name), daemon=True)
            for stream, name in ((self.process.stdout, "out"), (self.process.stderr, "err"))
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: IO[bytes], name: str) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            with self._changed:
                self._said[name] += chunk.decode(errors="replace")
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def out(self) -> list[str]:
        """What it wrote to stdout so far, line by line (the last line perhaps still unfinished)."""
        return self._said["out"].splitlines(keepends=True)

    @property
    def err(self) -> list[str]:
        return self._said["err"].splitlines(keepends=True)

    def lines(self, stream: str = "err") -> list[str]:
        """The whole lines of ``stream`` ("out" or "err") so far, without their line ends."""
        said = self._said[stream]
        return said[: said.rfind("\n") + 1].splitlines()

    def wait_for(self, ready: Callable[[], bool]) -> None:
        """Until ``ready()``, checked whenever the command says something; fails if it ends first, or hangs. A line
        counts once it is whole (``lines``): what a command writes in two pieces may be read in between."""
        with self._changed:
            self._changed.wait_for(lambda: ready() or self.process.poll() is not None, timeout=PATIENCE)
        assert ready(), "".join(self.err)

    def listening(self) -> str:
        """Wait until ``ideogram-mcp http`` takes connections; its MCP URL."""
        self.wait_for(lambda: any(LISTENING in line and line.endswith("\n") for line in self.err))
        line = next(line for line in self.err if LISTENING in line)
        return line.split(LISTENING, 1)[1].split()[0]

    def interrupt(self, times: int = 1) -> tuple[int, str, str]:
        """Ctrl-C, as a terminal sends it to the command's process group (``times`` in quick succession, 50 ms
        apart); its exit status and what it said."""
        for n in range(times):
            if n:
                time.sleep(0.05)
            os.killpg(self.process.pid, signal.SIGINT)
        return self.ended()

    def terminate(self) -> tuple[int, str, str]:
        self.process.terminate()
        return self.ended()

    def ended(self) -> tuple[int, str, str]:
        code = self.process.wait(timeout=PATIENCE)
        for reader in self.readers:
            reader.join(timeout=10)  # each ends at its stream's end
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code, "".join(self.out), "".join(self.err)


def missing(what: str, fix: str, *, in_ci: str) -> NoReturn:
    """Skip, saying what is missing and how to get it (``fix``); under CI, where ``in_ci`` provides it, fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} under CI: {in_ci}")
    pytest.skip(f"{what}: {fix}")


@contextlib.contextmanager
def offline_http(folder: Path, token: str) -> Iterator[str]:
    """``ideogram-mcp http --offline`` (Runware emulated in it) on a free port with a bearer token, its journal in
    ``folder/data`` and its images in ``folder/out``: its URL, while the block runs."""
    env = clean_env(
        IDEOGRAM_MCP_TOKENS=token,
        IDEOGRAM_MCP_DATA_DIR=str(folder / "data"),
        IDEOGRAM_MCP_OUTPUT_DIR=str(folder / "out"),
    )
    _, process = serving(["--offline"], env)
    try:
        yield process.listening()
    finally:
        process.terminate()
