"""The HTTP server's door: how long a client may take to send a request, and how many may be connected at once.

uvicorn bounds neither the time a request's headers take to arrive nor its body's, so a client sending one header
line every few seconds holds its connection for ever; enough of them, and the process runs out of file
descriptors and no one else gets in. ``GuardedH11`` is uvicorn's h11 protocol with those bounds: the headers must
be complete within ``HEADER_SECONDS`` of the connection (or of the previous answer, on a kept-alive connection),
the body within ``BODY_SECONDS`` of the headers, and a process holds at most ``MAX_CONNECTIONS``; past it, a new
connection takes the place of the one that has waited longest for its headers (a silent one), and is refused only
when every connection is busy with a request. An MCP request is a few kilobytes sent at once, so a client that
keeps to these bounds keeps its place.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import TYPE_CHECKING, Any, Literal, cast

import h11
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from ideogram_mcp import logs

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logs.logger(__name__)

HEADER_SECONDS = 10.0
"""Seconds a client has to send a request's headers."""
BODY_SECONDS = 60.0
"""Seconds a client has to send a request's body, once its headers are in (4 MiB at most, the SDK's cap: about
half a megabit a second)."""
MAX_CONNECTIONS = 512
"""Connections one process holds at once; it asks the system for the file descriptors they need."""


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with time limits on a request's headers and body, and a cap on connections."""

    header_seconds = HEADER_SECONDS
    body_seconds = BODY_SECONDS
    max_connections = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._late: asyncio.TimerHandle | None = None
        self._awaiting: Literal["headers", "body"] | None = None
        self._since = 0.0
        self._answered: object = None
        """The request (uvicorn's cycle) answered before its body was all in: nothing waits for the rest of it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections and not self._evict_one():
            self.transport = transport  # for connection_lost, which closes it
            transport.close()
            logger.warning("refused a connection: %d are open and busy, the most allowed", len(self.connections))
            return
        super().connection_made(transport)
        self._await("headers")

    def _evict_one(self) -> bool:
        """Make room for a new connection by closing the one that has waited longest for a request's headers:
        holding connections open and silent gains nothing, and a client that sends its request keeps its place."""
        open_now = cast(set[object], self.connections)
        waiting = [c for c in open_now if isinstance(c, GuardedH11) and (c._awaiting == "headers" or c._done_with())]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._since)
        oldest._await(None)
        oldest.transport.close()
        self.connections.discard(oldest)
        return True

    def _done_with(self) -> bool:
        """Whether the request this connection carries was answered while its body still comes."""
        return self._answered is not None and self._answered is self.cycle and self.conn.their_state is h11.SEND_BODY

    def connection_lost(self, exc: Exception | None) -> None:
        self._await(None)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._awaiting != "body":
            self._await("body")  # the headers are in: the body has a time of its own
        elif state is not h11.IDLE and state is not h11.SEND_BODY:
            self._await(None)  # the whole request is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY:
            # Answered before its body was in (refused: a 401, a 413): the rest is read and dropped within the body's
            # time (closing now would reset the connection before the client read its answer), and the connection
            # gives way to a new one as a silent one does: clients sending such bodies slowly cannot keep others out.
            self._answered = self.cycle
        elif self.conn.their_state is h11.IDLE:
            self._await("headers")  # the next request on this kept-alive connection

    def _await(self, part: Literal["headers", "body"] | None) -> None:
        """Close the connection unless ``part`` of the request arrives in its time (None: nothing is awaited)."""
        if self._late is not None:
            self._late.cancel()
            self._late = None
        self._awaiting = part
        self._since = self.loop.time()
        if part is not None:
            seconds = self.header_seconds if part == "headers" else self.body_seconds
            self._late = self.loop.call_later(seconds, self._too_slow)

    def _too_slow(self) -> None:
        self._late = None
        if not self.transport.is_closing():
            logger.info("closed a connection whose request's %s came too slowly", self._awaiting)
            self.transport.close()


class NoStandaloneStream:
    """A GET of the MCP endpoint (any method but POST) is answered 405, as the spec allows a server that offers no
    stream there: this one is stateless, so such a stream would stay open carrying nothing (the SDK opens one), and
    one token's hundreds of them would hold every connection the process may have. Images saved are heard of with
    ``subscriptions/listen``.

    It stands where the endpoint's app is, behind the SDK's token check (a GET without a token is its 401, which
    points a client to the OAuth metadata), and asks the SDK's Host and Origin check first (421, 403): it had
    answered 405 before either."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app, self.security = app, TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "POST":
            await self.app(scope, receive, send)
            return
        if (refused := await self.security.validate_request(Request(scope, receive))) is not None:
            await refused(scope, receive, send)
            return
        # Every other method too (DELETE: no session to end), with Allow naming POST alone: the SDK's 405 had named
        # GET and DELETE, which are refused.
        said = (
            b"This stateless server sends nothing on a GET stream: POST each request (subscriptions/listen hears of "
            b"images)."
            if scope["method"] in ("GET", "HEAD")
            else b"This stateless server takes each request as a POST, and holds no session to end."
        )
        headers = [(b"allow", b"POST"), (b"content-type", b"text/plain"), (b"content-length", str(len(said)).encode())]
        await send({"type": "http.response.start", "status": 405, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else said})


class BrowsersLetIn:
    """CORS for a page on an origin the server answers (this machine's own, the public URL's, and those the settings
    add): a browser asks before a POST with a token (a preflight, an OPTIONS with none), which the token check had
    refused with 401, and shows the page no answer that does not name its origin. Here the preflight is answered
    before the token check and every answer names the origin, with ``WWW-Authenticate`` readable (it points to the
    OAuth metadata). A bearer token is no credential a browser adds by itself, as a cookie is: a page calls with one
    only if it holds it. A preflight is asked the Host and Origin check first (421, 403), as every request is. The
    Protected Resource Metadata keeps the SDK's answer to every origin."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        origins = security.allowed_origins
        # As the SDK's Origin check reads them: "http://localhost:*" is that origin with any port.
        any_port = "|".join(re.escape(origin[:-2]) + ":.*" for origin in origins if origin.endswith(":*"))
        self.app, self.security = app, TransportSecurityMiddleware(security)
        self.cors = CORSMiddleware(
            app,
            allow_origins=[origin for origin in origins if not origin.endswith(":*")],
            allow_origin_regex=any_port or None,
            allow_methods=("GET", "POST", "DELETE"),
            allow_headers=("*",),
            expose_headers=("WWW-Authenticate", "Mcp-Protocol-Version", "Mcp-Session-Id", "Retry-After"),
            allow_private_network=True,  # a public page's call to a server on this machine's own address
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "/.well-known/" in scope["path"]:
            await self.app(scope, receive, send)
            return
        if (
            scope["method"] == "OPTIONS"
            and (refused := await self.security.validate_request(Request(scope))) is not None
        ):
            await refused(scope, receive, send)
            return
        await self.cors(scope, receive, send)


def make_room(wanted: int = MAX_CONNECTIONS * 2) -> int | None:
    """Ask for file descriptors enough for the connections allowed (the soft limit raised toward the hard one);
    returns the soft limit now in force, or None where the system has no such limit to raise (Windows)."""
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft
