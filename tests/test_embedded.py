"""The HTTP listeners: every accepted connection sends each write at once (Nagle's algorithm off)."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from ideogram_mcp.embedded import listener, without_nagle


def _accepted_nodelay(listening: socket.socket) -> int:
    """TCP_NODELAY as asyncio leaves it on a connection accepted from ``listening`` (as uvicorn serves it)."""
    seen: list[int] = []

    async def accept_one() -> None:
        accepted = asyncio.Event()

        class Seen(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                seen.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()
                accepted.set()

        server = await asyncio.get_running_loop().create_server(Seen, sock=listening)
        _, writer = await asyncio.open_connection("127.0.0.1", listening.getsockname()[1])
        await asyncio.wait_for(accepted.wait(), 10)
        writer.close()
        server.close()
        await server.wait_closed()

    listening.listen()
    asyncio.run(accept_one())
    return seen[0]


def _bound() -> socket.socket:
    """A listener bound as ``ideogram-mcp http`` binds it: by uvicorn's own ``Config.bind_socket``."""
    return uvicorn.Config(app=lambda: None, host="127.0.0.1", port=0, log_config=None).bind_socket()


def test_connections_to_the_http_servers_listener_have_nagle_off() -> None:
    # uvicorn's socket says protocol 0, and asyncio leaves Nagle on for it (uvicorn#3149): each response written
    # in two parts then waited ~40 ms for the client's delayed ACK. If uvicorn fixes it, the first check fails
    # and ``without_nagle`` can go.
    assert _accepted_nodelay(_bound()) == 0
    assert _accepted_nodelay(without_nagle(_bound())) == 1


def test_a_socket_already_tcp_or_not_tcp_is_left_as_it_is() -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        assert without_nagle(tcp) is tcp
        assert without_nagle(unix) is unix
    finally:
        tcp.close()
        unix.close()


def test_the_embedded_servers_connections_have_nagle_off() -> None:
    # The emulator (offline mode, the demo, the tests, the benchmarks' fake Runware) serves images and JSON on it.
    assert _accepted_nodelay(listener("127.0.0.1", 0)) == 1
