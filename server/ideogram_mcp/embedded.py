"""An HTTP app served inside the running event loop, on a loopback port: the offline mode's emulator, and the
tests' servers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncGenerator, Generator
from typing import Any

import anyio
from starlette.types import ASGIApp


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

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
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
