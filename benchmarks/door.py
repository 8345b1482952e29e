"""The HTTP server under slow clients: how long a slow one keeps its connection, and whether others still get in.

Starts `ideogram-mcp http` (offline, one worker, the real limits), then opens SLOW connections that send one header
line every 5 s (as the fault audit did) and CROWD connections that send nothing at all, and measures:
when each connection was closed by the server, how many were refused at once, and how long `/healthz` takes for a
client arriving in the middle of it all.

    uv run python benchmarks/door.py [--slow 300] [--crowd 1100]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import anyio.abc
import httpx2


async def _slow(port: int, closed: list[float], started: float) -> None:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    try:
        await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while True:
            with anyio.move_on_after(5):
                if not await stream.receive():
                    break
                continue
            await stream.send(b"X-Slow: 1\r\n")  # one more header line every 5 s, never the end
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        pass
    finally:
        closed.append(time.monotonic() - started)
        await stream.aclose()


async def _idle(port: int, closed: list[float], started: float, refused: list[float]) -> None:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        refused.append(0.0)
        return
    opened = time.monotonic()
    try:
        await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        pass
    finally:
        now = time.monotonic()
        (refused if now - opened < 0.5 else closed).append(now - started)
        await stream.aclose()


async def main(slow: int, crowd: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWARE_", "IDEOGRAM_MCP_"))}
        env |= {"IDEOGRAM_MCP_DATA_DIR": f"{folder}/data", "IDEOGRAM_MCP_LOG_LEVEL": "ERROR"}
        command = [str(Path(sys.executable).with_name("ideogram-mcp")), "http", "--offline", "--port", str(port)]
        server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            async with httpx2.AsyncClient(timeout=5) as client:
                for _ in range(200):
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                            break
                    except httpx2.HTTPError:
                        await anyio.sleep(0.1)
                slow_closed: list[float] = []
                idle_closed: list[float] = []
                refused: list[float] = []
                health: list[float] = []
                new_in = 0.0
                started = time.monotonic()
                async with anyio.create_task_group() as group:
                    for _ in range(slow):
                        group.start_soon(_slow, port, slow_closed, started)
                    for _ in range(crowd):
                        group.start_soon(_idle, port, idle_closed, started, refused)
                    await anyio.sleep(1)
                    for _ in range(10):  # a client that was connected before
                        asked = time.monotonic()
                        answered = await client.get(f"http://127.0.0.1:{port}/healthz")
                        assert answered.status_code == 200
                        health.append(time.monotonic() - asked)
                    while True:  # a new client, on a connection of its own
                        try:
                            async with httpx2.AsyncClient(timeout=2) as newcomer:
                                if (await newcomer.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                                    new_in = time.monotonic() - started
                                    break
                        except httpx2.HTTPError:
                            await anyio.sleep(0.25)
        finally:
            server.terminate()
            server.wait(30)
    print(f"{slow} clients sending a header line every 5 s, {crowd} sending nothing, against one worker:")
    last = max(slow_closed)
    print(f"  slow ones closed by the server after: median {statistics.median(slow_closed):.1f} s, last {last:.1f} s")
    if idle_closed:
        idle = statistics.median(idle_closed)
        print(f"  silent ones let in, then closed after: median {idle:.1f} s ({len(idle_closed)} of them)")
    print(f"  connections refused at once (past the cap): {len(refused)}")
    print(f"  /healthz meanwhile, on a connection made before: median {statistics.median(health) * 1000:.0f} ms")
    print(f"  a new client's first /healthz answered after {new_in:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--crowd", type=int, default=1100)
    arguments = parser.parse_args()
    anyio.run(main, arguments.slow, arguments.crowd)
