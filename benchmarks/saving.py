"""Figures for the README: what saving and previews cost per image, and how big a result gets.

    uv run python benchmarks/saving.py [--runs N]

Each call goes through the in-memory MCP client to the server and the in-process emulator, so
the figures are the server's own work (validation, drawing and encoding the emulated image,
download, atomic write of image and recipe, preview) without network latency. The same call
with saving and previews off is the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from pydantic import SecretStr

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

PROMPT = 'A bakery window with gold lettering "MAPLE & FLOUR"'


async def timed(client: Client, count: int, runs: int) -> tuple[float, int]:
    """Median seconds per call of ``count`` images, and the serialized size of the last result."""
    timings: list[float] = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        result = await client.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": count})
        timings.append(time.perf_counter() - started)
        assert not result.is_error, result.content
        size = len(result.model_dump_json(by_alias=True, exclude_none=True).encode())
    return statistics.median(timings), size


async def main(runs: int) -> None:
    emulator = Emulator(api_key="bench")
    with tempfile.TemporaryDirectory() as folder:
        # The benchmark measures saving, not the money rules: no daily budget, no question above a threshold.
        common = {"runware_api_key": SecretStr("bench"), "runware_base_url": "http://emulator/v1",
                  "data_dir": Path(folder) / "data", "daily_budget": 0, "confirm_above": 100.0}  # fmt: skip
        kept = Settings(**common, output_dir=Path(folder) / "out")
        bare = Settings(**common, save=False, preview=False)
        transport = httpx2.ASGITransport(emulator.app())
        async with (
            Client(build_server(kept, transport=transport)) as on,
            Client(build_server(bare, transport=transport)) as off,
        ):
            print(f"generate_image, 1024x1024 JPG, in-process emulator, median of {runs} calls")
            print(f"{'images':>6} {'result (saved+previews)':>24} {'result (neither)':>17} {'added per image':>16}")
            for count in (1, 4, 5, 20):
                with_both, size_on = await timed(on, count, runs)
                neither, size_off = await timed(off, count, runs)
                added = (with_both - neither) / count * 1000
                print(f"{count:>6} {size_on:>18,} bytes {size_off:>11,} bytes {added:>13.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    anyio.run(main, parser.parse_args().runs)
