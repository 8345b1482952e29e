"""The stdio transport's two ends, in the form the SDK's ``stdio_server`` takes them: lines in, messages out.

The SDK writes each message out from a worker thread, twice (its write, then its flush): with a thousand calls in
flight those hops wait for the interpreter behind the calls. Where the client connected a pipe or a socket (as MCP
clients do), messages are written here from the event loop, non-blocking. A terminal or a file is written by the
SDK: neither can be made non-blocking without changing it for the processes that share it.

Lines in are read by a daemon thread, one handed over at a time. Read on the event loop instead, a thousand
requests arriving at once were taken in one burst that kept the loop busy, and the journal's thread, which needs
the interpreter between its SQLite calls, recorded them all only at the burst's end: every task went to Runware
late, together (1,000 in flight, saving off: 7-27% slower in three pairs, though 0.6 ms less CPU a call).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import threading
from collections.abc import AsyncIterator, Generator
from typing import TextIO

import anyio
import anyio.from_thread
import anyio.lowlevel

_HUGE_NUMBER = re.compile(r"(?<!\d)\d{4301}")
"""A run of more digits than Python reads as an int (its default limit is 4,300)."""


@contextlib.contextmanager
def ends() -> Generator[tuple[anyio.AsyncFile[str], anyio.AsyncFile[str] | None]]:
    """The stdin and stdout to serve on. The stdout is None (the SDK's own, written by a thread) unless it is a pipe
    or socket of its own; then, while serving, descriptor 1 points at stderr so that stray output (a library's
    print, a child's) misses the wire, as the SDK's own does."""
    with _loop_stdout() as stdout:
        yield _Stdin.open(), stdout


class _Stdin(anyio.AsyncFile[str]):
    """The client's lines, read by a daemon thread. The SDK reads stdin in a worker thread that a cancellation must
    wait for: after Ctrl-C the server would hang until one more line or EOF arrived."""

    @classmethod
    def open(cls) -> _Stdin:
        # Its own descriptor: the reader may still be blocked in it at exit, and must hold no lock of sys.stdin's.
        return cls(open(os.dup(sys.stdin.fileno()), encoding="utf-8", errors="replace"))

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        send, receive = anyio.create_memory_object_stream[str](1)
        token = anyio.lowlevel.current_token()

        def read() -> None:
            with contextlib.suppress(Exception):  # once the loop is gone, a late line has nowhere to go
                for line in self.wrapped:
                    anyio.from_thread.run(send.send, line, token=token)
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(send.close, token=token)

        threading.Thread(target=read, name="stdin", daemon=True).start()
        async with receive:
            async for line in receive:
                yield _readable(line)


class _Stdout(anyio.AsyncFile[str]):
    """Messages written to a non-blocking pipe or socket from the event loop; when the client reads too slowly to
    take one, its writer waits for room without holding up anything else. Unbuffered: ``flush`` has nothing to do."""

    def __init__(self, wire: TextIO) -> None:
        super().__init__(wire)
        self._fd = wire.fileno()

    async def write(self, b: str) -> int:  # the name AsyncFile gives its argument
        left = memoryview(b.encode())
        while left:
            try:
                left = left[os.write(self._fd, left) :]
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
        return len(b)

    async def flush(self) -> None:
        return None


@contextlib.contextmanager
def _loop_stdout() -> Generator[_Stdout | None]:
    if not _switchable(1) or _same_file(1, 2):  # one file with stderr: logging would meet a non-blocking one
        yield None
        return
    import fcntl  # POSIX, as a pipe or socket here is

    wire = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)  # never one of 0-2, even with one of them closed
    os.dup2(2, 1)
    os.set_blocking(wire, False)
    try:
        with open(wire, "w", encoding="utf-8", closefd=False) as text:
            yield _Stdout(text)
    finally:
        with contextlib.suppress(OSError):  # the wire back where it was, as it was
            os.set_blocking(wire, True)
            os.dup2(wire, 1)
        os.close(wire)


def _switchable(fd: int) -> bool:
    """Whether the descriptor is a pipe or a socket on a system whose event loop can wait for one."""
    if os.name != "posix":
        return False
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _same_file(one: int, other: int) -> bool:
    try:
        first, second = os.fstat(one), os.fstat(other)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _readable(line: str) -> str:
    """A message whose integers have more digits than Python reads, with them passed on as text so that the
    argument checks name them; the SDK would drop such a line unanswered. Any other line as it is."""
    if not _HUGE_NUMBER.search(line):
        return line
    try:
        message = json.loads(line, parse_int=lambda digits: int(digits) if len(digits) <= 4300 else digits)
    except ValueError:
        return line
    return json.dumps(message) + "\n"
