"""The HTTP transport of every request this server makes (Runware's API, the image URLs it gives): httpx2's own,
with a pool whose look at its idle connections is cheap.

Before each request and after each response, httpcore2's pool asks every idle connection whether its server closed
it. To answer, anyio's socket stream gives up its socket by building a map of all its attributes, calling
``getpeername`` on the way: ~35 us a connection, each time. With the connections that images downloaded at once keep
open that was ~0.6 ms of CPU an image at 1,000 calls in flight (``benchmarks/inflight.py``). The streams here take
their socket once, when they connect, and ask it the same question httpcore2 does.
"""

# ruff: noqa: ASYNC109  (the ``timeout`` arguments are httpcore2's network interface, passed on as they come)

from __future__ import annotations

import select
import ssl
import sys
from collections.abc import Iterable
from typing import Any, Protocol, cast

import httpcore2
import httpx2


def transport(limits: httpx2.Limits | None = None) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport with these pool limits (httpx2's defaults when None), its connections made here."""
    made = httpx2.AsyncHTTPTransport(limits=limits or httpx2.Limits(max_connections=100, max_keepalive_connections=20))
    pool = getattr(made, "_pool", None)
    # httpx2 builds the pool itself and takes no network backend; the pool does (its public argument), so it is set
    # on the pool made. Were either to change, the transport stays httpx2's as it is (tests/runware/test_connections
    # then fails, to say so).
    if isinstance(pool, httpcore2.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = Backend()  # pyright: ignore[reportPrivateUsage]
    return made


class Backend(httpcore2.AsyncNetworkBackend):
    """httpcore2's anyio backend, its streams keeping their socket."""

    def __init__(self) -> None:
        # httpcore2 declares a stand-in class of that name for when anyio is missing; the type checker sees that one.
        self._backend = cast(httpcore2.AsyncNetworkBackend, httpcore2.AnyIOBackend())

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class Stream(httpcore2.AsyncNetworkStream):
    """A connection's stream that took its socket once; everything else is the stream's own."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: Descriptor | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "socket":
            return self._socket
        if info == "is_readable":
            return readable(self._socket)
        return self._stream.get_extra_info(info)


class Descriptor(Protocol):
    """A socket as httpcore2's streams give it (asyncio's ``TransportSocket``, a ``socket.socket``)."""

    def fileno(self) -> int: ...


def readable(sock: Descriptor | None) -> bool:
    """Whether reading the socket would return at once: for an idle connection, that its server closed it (or sent
    what it should not have). A socket that is gone counts as readable, as httpcore2 counts it."""
    descriptor = -1 if sock is None else sock.fileno()
    if descriptor < 0:
        return True
    if sys.platform == "win32" or not hasattr(select, "poll"):  # pragma: no cover - Windows has no poll
        ready, _, _ = select.select([descriptor], [], [], 0)
        return bool(ready)
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))
