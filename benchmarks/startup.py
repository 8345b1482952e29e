"""Figures for the README: cold start, tools/list size, memory, and offline generation latency.

    uv run python benchmarks/startup.py [--runs N]

Cold start is spawn -> initialize -> tools/list answered, over stdio, measured beside a bare
MCPServer with one tool in the same run so that the machine's speed cancels out.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from pydantic import SecretStr

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

BARE = """
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
async def echo(text: str) -> str:
    return text


mcp.run()
"""


async def cold_start(command: list[str]) -> tuple[float, int]:
    """Seconds from spawn to the tools/list answer, and that answer's size in bytes."""
    started = time.perf_counter()
    async with Client(StdioServerParameters(command=command[0], args=command[1:], env={})) as client:
        listed = await client.list_tools()
        elapsed = time.perf_counter() - started
    return elapsed, len(listed.model_dump_json(by_alias=True, exclude_none=True).encode())


def peak_child_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


async def generation_latency(runs: int) -> list[float]:
    emulator = Emulator(api_key="bench")
    # Saving and previews are measured by benchmarks/saving.py; this is the bare round trip.
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as folder:  # a journal of its own, never the user's
        settings = Settings(
            runware_api_key=SecretStr("bench"),
            runware_base_url="http://emulator/v1",
            save=False,
            preview=False,
            data_dir=Path(folder),
            daily_budget=0,
        )
        server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()))
        await _generate(server, runs, timings)
    return timings


async def _generate(server: Any, runs: int, timings: list[float]) -> None:
    async with Client(server) as client:
        for _ in range(runs):
            started = time.perf_counter()
            result = await client.call_tool(
                "generate_image", {"positivePrompt": '"BENCH" poster', "aspectRatio": "1:1"}
            )
            timings.append(time.perf_counter() - started)
            assert not result.is_error


async def main(runs: int) -> None:
    ours = [str(Path(sys.executable).with_name("ideogram-mcp"))]
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(BARE)
    bare = [sys.executable, script.name]
    await cold_start(bare)  # warm the OS file cache for both
    await cold_start(ours)
    figures: dict[str, list[float]] = {"bare": [], "ours": []}
    size = {"bare": 0, "ours": 0}
    # The two take turns, so that a machine that slows down or speeds up weighs on both alike;
    # the ratio is taken within each pair.
    for _ in range(runs):
        for name, command in (("bare", bare), ("ours", ours)):
            elapsed, size[name] = await cold_start(command)
            figures[name].append(elapsed)
    rss = peak_child_rss_mib()
    await anyio.Path(script.name).unlink()
    ratios = [o / b for b, o in zip(figures["bare"], figures["ours"], strict=True)]
    print(f"cold start, spawn -> tools/list answered, median of {runs} alternating runs (stdio):")
    for name, label in (("bare", "bare MCPServer, 1 tool"), ("ours", "ideogram-mcp")):
        print(f"  {label:24} {statistics.median(figures[name]) * 1000:6.0f} ms   tools/list {size[name]:6,} bytes")
    print(f"  ratio ideogram-mcp / bare, median of the pairs: {statistics.median(ratios):.3f}")
    print(f"peak RSS of a server process (the larger of the two): {rss:.0f} MiB")
    timings = await generation_latency(runs)
    print(
        f"generate_image 1024x1024 JPG against the in-process emulator, median of {runs}: "
        f"{statistics.median(timings) * 1000:.0f} ms (validation + MCP + HTTP + drawing and encoding)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    anyio.run(main, parser.parse_args().runs)
