"""The stdio transport's two ends, in the form the SDK's ``stdio_server`` takes them: lines in, messages out.

The SDK writes each message out from a worker thread, twice (its write, then its flush): with a thousand calls in
flight those hops wait for the interpreter behind the calls. Where the client connected a pipe or a socket (as MCP
clients do), messages are written here from the event loop, each write non-blocking, without changing how the
pipe or socket behaves for anyone sharing it. Anything else (a terminal, a file) is written by the SDK.

Lines in are read the same way, on the event loop, where stdin is a pipe or a socket: a thread reading them handed
each over and waited for the loop to take it, two context switches a line, and the loop sat idle between lines while
a thousand requests waited in the pipe. Read on the loop, a burst of requests keeps the loop busy, and the journal's
thread needs the interpreter between its SQLite calls: under Python's default switch interval (5 ms) it got it so
rarely that every task was recorded, and sent, only at the burst's end. While serving on the loop, the interval is
``SWITCH_INTERVAL``, so that a thread waiting for the interpreter has it within that time. 1,000 in flight, saving
off, three pairs against a bare server: 1.17x-1.23x its wall time against 1.31x-1.37x with the thread, the last task
at Runware after 0.97-1.06 s against 1.28-1.45 s, 1.43-1.51 ms of CPU a call against 1.84-1.86. Anything else (a
terminal, a file) is read by a daemon thread.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import re
import socket
import stat
import sys
import threading
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import TextIO, cast

import anyio
import anyio.from_thread
import anyio.lowlevel

from ideogram_mcp import logs
from ideogram_mcp.refusals import answer, at, lone_half, unfit
from ideogram_mcp.text import unpaired

logger = logs.logger(__name__)

_HUGE_NUMBER = re.compile(r"(?<!\d)\d{4301}")
"""A run of more digits than Python reads as an int (its default limit is 4,300)."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""JSON's escape of half of a UTF-16 surrogate pair (a pair of them is one character, and read as such)."""
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
"""A byte of the client's that is no part of UTF-8, as stdin is read (``surrogateescape``: kept, not replaced)."""


@contextlib.contextmanager
def ends() -> Generator[tuple[anyio.AsyncFile[str], Stdout | None]]:
    """The stdin and stdout to serve on. The stdout is None (the SDK's own, written by a thread) unless it is a pipe
    or socket (see ``_own_wire``); then, while serving, descriptor 1 points at stderr so that stray output (a
    library's print, a child's) misses the wire, as the SDK's own does."""
    with _loop_stdout() as stdout, _own_end(0) as source:
        was = sys.getswitchinterval()
        if source is not None:
            sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            yield _Stdin.open(stdout, source), stdout
        finally:
            sys.setswitchinterval(was)


SWITCH_INTERVAL = 50e-6
"""Seconds a thread waits for the interpreter, at most, while stdin is read on the event loop (Python's default is
5 ms). With 50 or 10 us, 1,000 calls at once over stdio ran alike (1.17x and 1.16x the bare server's wall time, three
pairs each); with 100 us, in one run, every task was still sent at the burst's end. Over HTTP, where nothing is read
this way, it gave nothing (1.41x against 1.36x, three pairs each), and the interval stays Python's."""

_CHUNK = 1 << 16
"""Bytes read from stdin at a time on the loop: a pipe's whole buffer."""


@dataclass(frozen=True, slots=True)
class _End:
    """Stdin or stdout used without waiting: ``receive`` and ``send`` raise BlockingIOError when nothing can be read
    or written now; ``fd`` is what to wait on for either."""

    fd: int
    receive: Callable[[int], bytes]
    send: Callable[[memoryview], int]


class _Stdin(anyio.AsyncFile[str]):
    """The client's lines, read on the loop from a ``_End``, else by a daemon thread. The SDK reads stdin in a
    worker thread that a cancellation must wait for: after Ctrl-C the server would hang until one more line or EOF
    arrived."""

    def __init__(self, wrapped: TextIO, answer: Stdout | None = None, source: _End | None = None) -> None:
        super().__init__(wrapped)
        self._answer = answer
        """Where a request the SDK would drop unanswered is answered (None: the SDK writes, and it goes unanswered)."""
        self._source = source

    @classmethod
    def open(cls, answer: Stdout | None = None, source: _End | None = None) -> _Stdin:
        if source is not None:  # read on the loop: the file is never read, and no descriptor is made for it
            return cls(sys.stdin, answer, source)
        # Its own descriptor: the reader may still be blocked in it at exit, and must hold no lock of sys.stdin's.
        # Bytes that are not UTF-8 are kept as such (surrogateescape) so that a request holding them is refused
        # rather than run with each replaced by U+FFFD: a paid image of a sign reading "CAF\ufffd".
        return cls(open(os.dup(sys.stdin.fileno()), encoding="utf-8", errors="surrogateescape"), answer)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        read = _from_loop(self._source) if self._source is not None else self._from_thread()
        async for line in read:
            undecodable = _NOT_UTF8.search(line) is not None
            if self._answer is not None and (refusal := _unreadable(line, undecodable)) is not None:
                await self._answer.write(refusal)
                continue
            if undecodable:  # a notification or a response, or no way to answer: as a reader replacing
                line = line.encode(errors="surrogateescape").decode(errors="replace")
            line = _readable(line)
            if self._answer is not None and (refused := unfit(line)) is not None:
                await self._answer.write(_refused(*refused))
                continue
            yield line

    async def _from_thread(self) -> AsyncIterator[str]:
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
                yield line


async def _from_loop(source: _End) -> AsyncIterator[str]:
    """Stdin's lines as a text file reads them (UTF-8 with ``surrogateescape``, any line end read as one), each
    with its end; the last without one if the input ends part-way through a line. A line is gathered from its pieces
    once, however many reads it took."""
    decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder("utf-8")("surrogateescape"), translate=True)
    begun: list[str] = []
    while True:
        try:
            chunk = source.receive(_CHUNK)
        except BlockingIOError:
            await anyio.wait_readable(source.fd)
            continue
        except OSError as exc:  # the connection reset: as the end of input
            logger.warning("reading the client's requests failed (%s); stopping", exc)
            chunk = b""
        *whole, rest = decoder.decode(chunk, final=not chunk).split("\n")
        for line in whole:
            if begun:
                begun.append(line)
                line, begun = "".join(begun), []
            yield line + "\n"
        if rest:
            begun.append(rest)
            if not whole:  # a long line coming in part after part: the loop's other work goes on meanwhile
                await anyio.lowlevel.checkpoint()
        if not chunk:
            if begun:
                yield "".join(begun)
            return


class Stdout(anyio.AsyncFile[str]):
    """Messages written to the client from the event loop, each write non-blocking; when the client reads too slowly
    to take one, its writer waits for room without holding up anything else. Unbuffered: ``flush`` has nothing to
    do."""

    def __init__(self, wire: TextIO, send: Callable[[memoryview], int]) -> None:
        super().__init__(wire)
        self._fd = wire.fileno()
        self._send = send
        self._partway: anyio.Event | None = None
        """Set while a message is part-way out, waiting for room: another waits for it to end, never cuts into it."""
        self._cut = False
        """Whether a message was cut off part-way (its writer cancelled): the wire can then carry no whole message."""
        self.gone = anyio.Event()
        """Set when the client no longer reads (its end of the pipe closed): serving ends then, as at end of input."""

    async def write(self, b: str) -> int:  # the name AsyncFile gives its argument
        while self._partway is not None:
            await self._partway.wait()
        if self._cut:
            raise anyio.BrokenResourceError("a message before this one was cut off part-way")
        data = b.encode()
        left = memoryview(data)
        partway: anyio.Event | None = None
        try:
            while left:
                try:
                    left = left[self._send(left) :]
                except BlockingIOError:
                    if partway is None:
                        self._partway = partway = anyio.Event()
                    await anyio.wait_writable(self._fd)
                except (BrokenPipeError, ConnectionResetError) as exc:  # the client closed its end: no one reads
                    if not self.gone.is_set():
                        logger.warning("the client stopped reading this server's output; stopping")
                        self.gone.set()
                    raise anyio.ClosedResourceError from exc  # the SDK's writer ends on it, without a traceback
        finally:
            if 0 < len(left) < len(data):  # cancelled part-way
                self._cut = True
            if partway is not None:
                self._partway = None
                partway.set()
        return len(b)

    async def flush(self) -> None:
        return None


@contextlib.contextmanager
def _loop_stdout() -> Generator[Stdout | None]:
    """Stdout written from the loop where that changes nothing for anyone else, with descriptor 1 pointing at stderr
    meanwhile; else None."""
    if sys.platform == "win32" or _same_file(1, 2):  # one file with stderr: the logs would write to it too
        yield None
        return
    with _own_wire() as own:
        if own is None:
            yield None
            return
        import fcntl  # POSIX, as this is

        wire, send = own
        with contextlib.suppress(Exception):
            sys.stdout.flush()  # what a print left buffered goes where it was meant to, not later onto the wire
        saved = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)  # never one of 0-2, even with one of them closed
        try:
            os.dup2(2, 1)  # while serving, stray output (a library's print, a child's) goes to stderr
        except OSError:
            os.close(saved)
            yield None
            return
        try:
            yield Stdout(wire, send)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            with contextlib.suppress(OSError):
                os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def _own_wire() -> Generator[tuple[TextIO, Callable[[memoryview], int]] | None]:
    """Stdout's file and a way to write to it without waiting (``_own_end``); None where there is none."""
    with _own_end(1) as end:
        if end is None:
            yield None
            return
        with open(end.fd, "w", encoding="utf-8", closefd=False) as text:
            yield text, end.send


@contextlib.contextmanager
def _own_end(fd: int) -> Generator[_End | None]:
    """Descriptor ``fd`` (stdin, 0, or stdout, 1) to use without waiting, in a way that changes nothing of its open
    file: a non-blocking flag set on it would be seen by every descriptor and process sharing it (inetd and socat
    hand one socket as both stdin and stdout; a wrapper script shares its own stdout). A socket is used through a
    copy with ``MSG_DONTWAIT``; a pipe is opened afresh through Linux's /proc, non-blocking, as an open file of its
    own. None for anything else (a terminal, a file, a pipe where there is no /proc), and on Windows (whose pipes read
    as FIFOs, and whose ``os`` has no ``O_NONBLOCK``)."""
    if sys.platform == "win32":
        yield None
        return
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        yield None
        return
    if stat.S_ISSOCK(mode) and hasattr(socket, "MSG_DONTWAIT"):
        blocking = os.get_blocking(fd)
        connection = socket.socket(fileno=os.dup(fd))
        os.set_blocking(fd, blocking)  # as it was: with a default timeout set, Python makes a new socket non-blocking
        try:
            yield _End(
                connection.fileno(),
                lambda size: connection.recv(size, socket.MSG_DONTWAIT),
                lambda data: connection.send(data, socket.MSG_DONTWAIT),
            )
        finally:
            connection.close()
        return
    own = -1
    if stat.S_ISFIFO(mode):
        access = os.O_WRONLY if fd == 1 else os.O_RDONLY
        with contextlib.suppress(OSError):  # no /proc (macOS), or the client's end is closed already
            own = os.open(f"/proc/self/fd/{fd}", access | os.O_NONBLOCK | os.O_CLOEXEC)
    if own < 0:
        yield None
        return
    try:
        yield _End(own, lambda size: os.read(own, size), lambda data: os.write(own, data))
    finally:
        os.close(own)


def _same_file(one: int, other: int) -> bool:
    try:
        first, second = os.fstat(one), os.fstat(other)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _unreadable(line: str, undecodable: bool) -> str | None:
    """The answer to a request whose text holds half of a UTF-16 surrogate pair alone (JSON's ``"\\ud800"``), which
    the SDK drops unanswered (its JSON reader refuses it), leaving the client waiting for its own timeout, or bytes
    that are not UTF-8 (``undecodable``: the line holds some as it came): a parse error naming where it is and the fix.
    None for any other line (a notification so written is dropped, as the SDK would)."""
    if not undecodable and not _SURROGATE_ESCAPE.search(line):
        return None
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):  # nested too deep: the depth check after this one refuses it
        return None
    if not isinstance(message, dict) or "id" not in message or "method" not in message:
        return None  # a notification or a response: nothing to answer (the cheap tests first)
    request = cast(dict[str, object], message)
    if (found := unpaired(request)) is None:
        return None
    # A byte that is not UTF-8 is in the line as it came; JSON's "\udc80" is an escape there, half a pair once read.
    if undecodable and (byte := _NOT_UTF8.search(found[1])) is not None:
        said = (
            f"The request's text at {at(found[0])} is not UTF-8 (byte 0x{ord(byte.group()) - 0xDC00:02X}), so it was"
            " not read and nothing was sent: send every text as UTF-8."
        )
    else:
        said = lone_half(found[0])
    return _refused(request["id"], -32700, said)


def _refused(ident: object, code: int, said: str) -> str:
    logger.warning("a request was refused before the SDK read it: %s", said)
    return answer(ident, code, said) + "\n"


def _readable(line: str) -> str:
    """A message whose integers have more digits than Python reads, with them passed on as text so that the
    argument checks name them; the SDK would drop such a line unanswered. Any other line as it is."""
    if not _HUGE_NUMBER.search(line):
        return line
    try:
        message = json.loads(line, parse_int=lambda digits: int(digits) if len(digits) <= 4300 else digits)
    except (ValueError, RecursionError):  # nested too deep too: the depth check after this one refuses it
        return line
    return json.dumps(message) + "\n"
