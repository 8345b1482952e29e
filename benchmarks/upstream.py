"""The fake Runware of the benchmarks: the built-in emulator over loopback HTTP, in a process of its own.

    python benchmarks/upstream.py --render 2.0 [--key KEY] [--draw-each]

Prints the URL to POST tasks to on its first line, then serves until it is stopped. ``GET /bench`` answers what
it received and charged (every ``getResponse`` entry of every request counted), when each task's images were all
ready, when a poll first answered them, and its own CPU and memory.

Runware draws on its own machines; here drawing a 1024x1024 JPEG takes ~18 ms of the same two cores the server
runs on, so by default each size is drawn once and its bytes served for every image (the server still downloads,
saves and previews each one). ``--draw-each`` draws every image, as the emulator does on its own.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import cpu_seconds, peak_rss_mib
from ideogram_mcp.embedded import serving
from ideogram_mcp.emulator import Emulator, artwork
from ideogram_mcp.emulator.state import Answer


class Upstream:
    """The emulator, and what the benchmarks read from it besides what it keeps itself."""

    def __init__(self, render: float, key: str) -> None:
        self.emulator = Emulator(api_key=key, render_seconds=render)
        self.seen: dict[str, float] = {}
        """When a poll first answered each task with a finished image (time.monotonic, which all processes share)."""
        self._poll = self.emulator.handlers["getResponse"]
        self.emulator.handlers["getResponse"] = self._recorded_poll

    async def _recorded_poll(self, task: dict[str, Any], base: str) -> Answer:
        answer = await self._poll(task, base)
        if any(item.get("status") == "success" for item in answer.data):
            self.seen.setdefault(str(task["taskUUID"]), time.monotonic())
        return answer

    async def counts(self, request: Request) -> Response:
        emulator = self.emulator
        arrived = emulator.arrived
        ready = {uuid: job.ready_at(len(job.seeds) - 1, emulator.render_seconds) for uuid, job in emulator.jobs.items()}
        return JSONResponse(
            {
                "requests": len(emulator.requests),
                "inference": sum(task.get("taskType") == "imageInference" for task in arrived),
                "get_response": sum(task.get("taskType") == "getResponse" for task in arrived),
                "charged_tasks": len(emulator.ledger),
                "charged_distinct": len({charge.task_uuid for charge in emulator.ledger}),
                "charged_images": sum(charge.images for charge in emulator.ledger),
                "ready": ready,
                "seen": self.seen,
                "cpu_seconds": cpu_seconds(os.getpid()),
                "peak_rss_mib": peak_rss_mib(os.getpid()),
            }
        )


async def main(render: float, key: str, draw_each: bool) -> None:
    if not draw_each:
        artwork.render = artwork.drawn_once(artwork.render)
    upstream = Upstream(render, key)
    app = upstream.emulator.app()
    app.router.routes.insert(0, Route("/bench", upstream.counts, methods=["GET"]))
    async with serving(app, path="/v1") as url:
        print(url, flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render", type=float, default=2.0)
    parser.add_argument("--key", default=None)
    parser.add_argument("--draw-each", action="store_true")
    arguments = parser.parse_args()
    anyio.run(main, arguments.render, arguments.key, arguments.draw_each)
