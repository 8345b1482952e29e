"""The HTTP listeners: every accepted connection sends each write at once (Nagle's algorithm off)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn

from ideogram_mcp.embedded import listener, serving, without_nagle


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


@pytest.mark.anyio
async def test_a_request_left_hanging_does_not_hold_the_servers_shutdown() -> None:
    # The emulator's faults leave requests hanging on purpose; the tests' servers must still stop at once.
    arrived = anyio.Event()

    async def hangs(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            arrived.set()
            await anyio.sleep_forever()

    async def ask(url: str) -> None:
        with contextlib.suppress(httpx2.HTTPError):
            async with httpx2.AsyncClient() as http:
                await http.get(url)

    async with anyio.create_task_group() as asking:
        with anyio.fail_after(10):
            async with serving(hangs) as url:
                asking.start_soon(ask, url)
                await arrived.wait()
        asking.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_ipv6_host_is_served_at_a_url_that_names_it_in_brackets() -> None:
    # ``ideogram-mcp emulator --host ::1`` says its URL: without the brackets it names no host and port.
    try:
        listener("::1", 0).close()
    except OSError:
        pytest.skip("this system has no IPv6 loopback")

    async def answers(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async with serving(answers, "::1", path="/v1") as url, httpx2.AsyncClient() as http:
        assert url.startswith("http://[::1]:")
        assert url.endswith("/v1")
        assert (await http.get(url)).status_code == 204
