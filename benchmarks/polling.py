"""The latency async delivery and polling add, against the old synchronous call, for a given render time.

    uv run python benchmarks/polling.py [--runs N] [--render 2.0 ...]

Both ways run against the emulator over loopback HTTP with the same render time: the old way is
one synchronous exchange (``deliveryMethod: "sync"``); the new one sends the task asynchronously
and polls ``getResponse`` on the server's schedule. The difference is what polling costs.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import anyio
from pydantic import SecretStr

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.delivery import Delivery


def task(delivery_method: str) -> dict[str, object]:
    return {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": "ideogram:4@1",
        "positivePrompt": '"BENCH" poster',
        "width": 1024,
        "height": 1024,
        "includeCost": True,
        "deliveryMethod": delivery_method,
    }


async def measure(render: float, runs: int) -> tuple[float, float, int]:
    """Median seconds of the sync call and of async + polling, and the polls one async call made."""
    emulator = Emulator(api_key="bench", render_seconds=render)
    sync_times: list[float] = []
    async_times: list[float] = []
    polls = 0
    async with emulator.served() as url, RunwareClient(SecretStr("bench"), base_url=url, timeout=60) as client:
        runware = Delivery(client)
        async with anyio.create_task_group() as loop:
            loop.start_soon(runware.run)
            for _ in range(runs):
                started = time.perf_counter()
                await client.send([task("sync")])
                sync_times.append(time.perf_counter() - started)
                before = len(emulator.requests)
                started = time.perf_counter()
                sent = task("async")
                await runware.submit(sent, time.monotonic() + 60)
                snapshot = await runware.wait(str(sent["taskUUID"]), 1, time.monotonic() + 60)
                async_times.append(time.perf_counter() - started)
                assert snapshot.images, "the image arrived"
                polls = len(emulator.requests) - before - 1
            loop.cancel_scope.cancel()
    return statistics.median(sync_times), statistics.median(async_times), polls


async def main(runs: int, renders: list[float]) -> None:
    print(f"one 1024x1024 image, emulator over loopback HTTP, median of {runs} runs")
    print(f"{'render':>7} {'sync call':>10} {'async + polling':>16} {'added':>8} {'polls':>6}")
    for render in renders:
        sync_s, async_s, polls = await measure(render, runs)
        print(f"{render:>6.1f}s {sync_s:>9.2f}s {async_s:>15.2f}s {async_s - sync_s:>+7.2f}s {polls:>6}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--render", type=float, nargs="+", default=[0.5, 2.0, 8.0])
    arguments = parser.parse_args()
    anyio.run(main, arguments.runs, arguments.render)
