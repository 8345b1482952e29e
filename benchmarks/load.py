"""Load on the HTTP server: N concurrent MCP clients, each calling generate_image in a loop, against the
emulator with a render time (2 s by default), over loopback.

    uv run python benchmarks/load.py [--clients 20] [--calls 5] [--render 2.0] [--workers 1]

Each client has a token of its own (limits are per token). Prints calls per second, p50 and p95 latency,
errors, and the peak RSS of the server's processes.
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
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ideogram_mcp.emulator import Emulator


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory of a process and its children (the workers), from /proc."""
    total = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


async def one_client(url: str, token: str, calls: int, latencies: list[float], errors: list[str]) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    async with Client(streamable_http_client(url, http_client=http)) as mcp:
        for n in range(calls):
            started = time.perf_counter()
            result = await mcp.call_tool("generate_image", {"positivePrompt": f'"LOAD {n}" poster', "preview": False})
            latencies.append(time.perf_counter() - started)
            status = (result.structured_content or {}).get("status")
            if result.is_error or status != "done":
                errors.append(str(status or result.content[0]))


async def main(clients: int, calls: int, render: float, workers: int) -> None:
    emulator = Emulator(api_key="bench", render_seconds=render)
    tokens = [f"load-token-{n:03d}" for n in range(clients)]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with emulator.served() as runware:
        with tempfile.TemporaryDirectory() as folder:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWARE_", "IDEOGRAM_MCP_"))} | {
                "RUNWARE_API_KEY": "bench",
                "RUNWARE_BASE_URL": runware,
                "IDEOGRAM_MCP_TOKENS": ",".join(tokens),
                "IDEOGRAM_MCP_DATA_DIR": f"{folder}/data",
                "IDEOGRAM_MCP_OUTPUT_DIR": f"{folder}/out",
                "IDEOGRAM_MCP_LOG_LEVEL": "WARNING",
            }
            command = [str(Path(sys.executable).with_name("ideogram-mcp")), "http", "--port", str(port)]
            server = subprocess.Popen([*command, "--workers", str(workers)], env=env, stderr=subprocess.DEVNULL)
            try:
                async with httpx2.AsyncClient() as probe:
                    for _ in range(200):
                        try:
                            if (await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                                break
                        except httpx2.HTTPError:
                            await anyio.sleep(0.1)
                latencies: list[float] = []
                errors: list[str] = []
                url = f"http://127.0.0.1:{port}/mcp"
                started = time.perf_counter()
                async with anyio.create_task_group() as group:
                    for token in tokens:
                        group.start_soon(one_client, url, token, calls, latencies, errors)
                elapsed = time.perf_counter() - started
                rss = peak_rss_mib(server.pid)
            finally:
                server.terminate()
                server.wait(10)
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"{clients} clients x {calls} calls, {render:g} s render, {workers} worker(s), saving on, previews off")
    print(f"  {len(latencies)} calls in {elapsed:.1f} s: {len(latencies) / elapsed:.2f} calls/s")
    print(f"  latency p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s")
    print(f"  errors {len(errors)}; peak RSS of the server's processes {rss:.0f} MiB")
    print(f"  images charged by the emulator: {sum(c.images for c in emulator.ledger)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--render", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=1)
    arguments = parser.parse_args()
    anyio.run(main, arguments.clients, arguments.calls, arguments.render, arguments.workers)
