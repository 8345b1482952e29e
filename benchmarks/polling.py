"""The latency async delivery and polling add, against the old synchronous call, for a given render time; and the
poll delay after a task finishes, through the tool.

    uv run python benchmarks/polling.py [--runs N] [--render 0.5 2 8]

Both ways run against the emulator over loopback HTTP with the same render time: the old way is
one synchronous exchange (``deliveryMethod: "sync"``); the new one sends the task asynchronously
and polls ``getResponse`` on the server's schedule. The difference is what polling costs.

The poll delay is measured end to end: ``generate_image`` called on ideogram-mcp over stdio (saving and previews
off, one call at a time) against the fake Runware in its own process (``upstream.py``), which says when each
task's render ended and when a poll first saw it done. All processes read the same monotonic clock, so the
delay from the render's end to the first poll that saw it, and to the tool result, are differences of times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio
from pydantic import SecretStr

from common import load_average, server_env, stdio_session, upstream
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


async def poll_delay(render: float, runs: int) -> tuple[list[float], list[float], float]:
    """Seconds from each task's render end to the first poll that saw it done and to its tool result, and the
    ``getResponse`` entries per task."""
    seen: list[float] = []
    answered: list[float] = []
    async with upstream(render) as runware:
        with tempfile.TemporaryDirectory() as folder:
            env = server_env(runware.url, Path(folder), {"save": "false", "preview": "false"})
            command = [sys.executable, "-m", "ideogram_mcp"]
            async with stdio_session(command, env, Path(folder) / "ideogram-mcp.log") as session:
                results: list[tuple[str, float]] = []
                for _ in range(runs):
                    result = await session.client.call_tool(
                        "generate_image", {"positivePrompt": '"BENCH" poster', "preview": False}
                    )
                    at = time.monotonic()
                    content = result.structured_content or {}
                    assert not result.is_error, result.content
                    assert content.get("status") == "done", content
                    results.append((str(content["taskUUID"]), at))
        counts = await runware.counts()
    for task_uuid, at in results:
        ready = counts["ready"][task_uuid]
        seen.append(counts["seen"][task_uuid] - ready)
        answered.append(at - ready)
    return seen, answered, counts["get_response"] / max(counts["inference"], 1)


async def main(runs: int, renders: list[float]) -> None:
    print(f"one 1024x1024 image, emulator over loopback HTTP, median of {runs} runs; load average {load_average()}")
    print(f"{'render':>7} {'sync call':>10} {'async + polling':>16} {'added':>8} {'polls':>6}")
    for render in renders:
        sync_s, async_s, polls = await measure(render, runs)
        print(f"{render:>6.1f}s {sync_s:>9.2f}s {async_s:>15.2f}s {async_s - sync_s:>+7.2f}s {polls:>6}")
    print(f"\npoll delay after a task finishes: generate_image on ideogram-mcp over stdio, saving off, {runs} calls")
    seen_head, answered_head = "first poll that saw it, median / max", "tool result, median / max"
    print(f"{'render':>7} {seen_head:>37} {answered_head:>27} {'polls/task':>11}")
    for render in renders:
        seen, answered, per_task = await poll_delay(render, runs)
        print(
            f"{render:>6.1f}s {statistics.median(seen):>27.2f}s / {max(seen):.2f}s"
            f" {statistics.median(answered):>17.2f}s / {max(answered):.2f}s {per_task:>11.1f}"
        )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--render", type=float, nargs="+", default=[0.5, 2.0, 8.0])
    arguments = parser.parse_args()
    anyio.run(main, arguments.runs, arguments.render)
