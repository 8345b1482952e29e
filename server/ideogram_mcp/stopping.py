"""How the HTTP server stops: once the calls in flight have answered, and at once at a second signal.

sse-starlette, under the SDK's streams, closed every stream at uvicorn's first signal: a call sent and paid for ended
with no answer, its client never told its taskUUID nor that it was pending, and its agent would ask, and pay, again;
and a ``subscriptions/listen`` stream held the stop for as long as its client stayed. ``Draining`` lets the calls
answer, then closes the listen streams; ``Stopping`` (one process) and ``Supervisor`` (workers) stop at once at a
second signal of either kind, as a person pressing Ctrl-C twice, or a service manager signalling again, means.
"""

from __future__ import annotations

import asyncio
import signal
import time
import weakref
from typing import TYPE_CHECKING

import anyio
import uvicorn
from starlette.requests import Request
from uvicorn.supervisors import Multiprocess

from ideogram_mcp import logs

if TYPE_CHECKING:
    from types import FrameType

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logs.logger(__name__)


class Draining:
    """A stop (SIGTERM, Ctrl-C) lets the calls in flight answer before the process ends. sse-starlette, under the
    SDK's streams, closed every stream at uvicorn's first signal: a call sent and paid for ended with no answer, its
    client never told its taskUUID nor that it was pending, and its agent would ask, and pay, again. Here the streams
    are left to end as their calls answer (within their wait and the saving's grace, at most ``most`` seconds; uvicorn's
    forced stop, a second Ctrl-C, stops at once); then the ``subscriptions/listen`` streams, which never end, are
    closed."""

    def __init__(self, app: ASGIApp, most: float) -> None:
        from sse_starlette.sse import AppStatus

        AppStatus.disable_automatic_graceful_drain()
        self.app, self.most = app, most
        self._calls: set[anyio.CancelScope] = set()
        """Requests being answered, but listen streams."""
        self._listening: set[anyio.CancelScope] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: asyncio.Task[None] | None = None
        _DRAINING.add(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._watch is None:
            self._loop = asyncio.get_running_loop()
            self._watch = self._loop.create_task(self._watching())
        listen = Request(scope).headers.get("mcp-method") == "subscriptions/listen"
        await self._served(scope, receive, send, self._listening if listen else self._calls)

    async def _served(self, scope: Scope, receive: Receive, send: Send, among: set[anyio.CancelScope]) -> None:
        """A request, which the stop may end: its body then closed as a whole answer's is, where it had begun."""
        said = {"http.response.start": False, "http.response.body": False}

        async def sending(message: Message) -> None:
            if message["type"] in said and not message.get("more_body", False):
                said[message["type"]] = True
            await send(message)

        with anyio.CancelScope() as served:
            among.add(served)
            try:
                await self.app(scope, receive, sending)
            finally:
                among.discard(served)
        if served.cancelled_caught and said["http.response.start"] and not said["http.response.body"]:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def now(self) -> None:
        """End every request at once (a forced stop): each closed whole, where uvicorn's end of the event loop had
        cut them with a traceback logged as an ERROR."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._end, self._calls | self._listening)

    @staticmethod
    def _end(scopes: set[anyio.CancelScope]) -> None:
        for each in list(scopes):
            each.cancel()

    async def _watching(self) -> None:
        from sse_starlette.sse import AppStatus

        server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)  # uvicorn's, serving this process
        if not isinstance(server, uvicorn.Server):
            return  # served by another (the tests' own, which takes no signals): it closes its streams itself
        while not server.should_exit:  # noqa: ASYNC110 (uvicorn's flags are plain attributes: nothing to wait on)
            await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        until = loop.time() + self.most
        if self._calls:
            logger.info(
                "stopping once the %d call(s) in flight have answered, within %.0f s", len(self._calls), self.most
            )
        while self._calls and loop.time() < until and not server.force_exit:  # noqa: ASYNC110 (as above)
            await asyncio.sleep(0.1)
        self._end(self._listening | self._calls)  # the listen streams, and calls past their time
        AppStatus.should_exit = True  # whatever else is open


_DRAINING: weakref.WeakSet[Draining] = weakref.WeakSet()
"""The apps this process serves (one; more in the tests)."""


class Stopping(uvicorn.Server):
    """uvicorn's server, which stops at once at a second signal of either kind: uvicorn does so at a second SIGINT
    only, and a service manager's second SIGTERM had waited for the calls in flight."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
            for app in list(_DRAINING):
                app.now()
        super().handle_exit(sig, frame)


class Supervisor(Multiprocess):
    """uvicorn's supervisor of the workers, knowing whether SIGTERM stopped it (it takes SIGINT and SIGTERM alike, and
    a stop by SIGTERM had been said as "stopped (Ctrl-C)" with status 130), and stopping them at once at a second
    signal."""

    terminated = False

    def handle_int(self) -> None:
        self._again(signal.SIGINT)
        super().handle_int()

    def handle_term(self) -> None:
        self.terminated = True
        self._again(signal.SIGTERM)
        super().handle_term()

    def _again(self, sig: int) -> None:
        """A second signal read with the first (its queue is read whole every half second) is kept for ``join_all``,
        where it had been lost."""
        if self.should_exit.is_set():
            self.signal_queue.append(sig)

    def join_all(self) -> None:
        """The workers, stopping once their calls in flight have answered; a second signal stops them at once, as it
        stops one process: it had gone unheard until they ended."""
        while any(worker.process.is_alive() for worker in self.processes):
            if self.signal_queue:
                self.signal_queue.clear()
                for worker in self.processes:
                    if worker.process.is_alive():
                        worker.process.kill()
            time.sleep(0.1)
        super().join_all()
