"""An HTTP app served inside the running event loop, on a loopback port: the offline mode's emulator, and the
tests' servers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncGenerator, Generator
from typing import Any

import anyio
from starlette.types import ASGIApp


def without_nagle(listening: socket.socket) -> socket.socket:
    """``listening`` as a socket whose accepted connections send each write at once (``TCP_NODELAY``).

    asyncio turns Nagle's algorithm off only on connections whose socket says ``IPPROTO_TCP``, and a connection
    takes what its listener says. uvicorn's ``Config.bind_socket`` leaves it at 0 (uvicorn#3149), so every response
    written in two parts (headers, then body: each image download, each JSON answer) waited ~40 ms for the peer's
    delayed ACK. The same descriptor, told it is TCP; any other socket is returned as it is.
    """
    if listening.family not in (socket.AF_INET, socket.AF_INET6) or listening.proto == socket.IPPROTO_TCP:
        return listening
    return socket.socket(listening.family, listening.type, socket.IPPROTO_TCP, fileno=listening.detach())


def listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free one), made as TCP so that its connections have Nagle off."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextlib.asynccontextmanager
async def serving(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    lifespan: bool = False,
    http: Any = "auto",
    path: str = "",
) -> AsyncGenerator[str]:
    """Serve ``app`` over HTTP inside the running event loop; yields its URL (its root, and ``path``).

    Port 0 picks a free port; ``http`` is uvicorn's protocol (the HTTP server's own, with its time limits, for
    tests of them). The socket listens before this yields, so requests made at once wait in the backlog.
    """
    import uvicorn  # only the offline mode, the emulator command and the tests pay for importing it

    class _Embedded(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None]:
            yield  # the host process owns SIGINT and SIGTERM

    sock = listener(host, port)
    sock.listen(128)
    bound = sock.getsockname()[1]
    # log_config=None: uvicorn's default config would send access lines to stdout, the MCP channel.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on" if lifespan else "off", http=http)
    server = _Embedded(config)
    shown = f"[{host}]" if ":" in host else host
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        try:
            yield f"http://{shown}:{bound}{path}"
        finally:
            server.should_exit = True
            server.force_exit = True  # a request left hanging on purpose must not hold the shutdown
    sock.close()
