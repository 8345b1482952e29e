"""CPU per image download with idle connections in the pool: httpx2's transport as it comes, and the server's
(``runware.connections``), whose connections keep their socket.

    uv run python benchmarks/downloads.py [--idle 20] [--downloads 1000] [--rounds 3]

The fake Runware (``upstream.py``, its own process) renders one image; each round opens ``--idle`` connections
(that many downloads at once, then idle in the pool), then downloads the image ``--downloads`` times, two at a
time, with each transport in turn. httpcore2's pool asks every idle connection whether its server closed it
before and after each request, which is what differs. Prints this process's CPU per download.
"""

from __future__ import annotations

import argparse
import resource
import uuid
from typing import Any

import anyio
import httpx2

from common import BENCH_KEY, counted, upstream
from ideogram_mcp.images.downloads import download
from ideogram_mcp.runware import connections


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


async def image_url(api: str) -> str:
    """An image the fake Runware rendered, by its URL."""
    task = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    wanted = {"taskType": "imageInference", "taskUUID": task, "model": "ideogram:4@1", "positivePrompt": "x"}
    async with httpx2.AsyncClient(headers=headers) as http:
        await http.post(api, json=[{**wanted, "width": 1024, "height": 1024, "deliveryMethod": "async"}])
        while True:
            await anyio.sleep(0.2)
            data = (await http.post(api, json=[{"taskType": "getResponse", "taskUUID": task}])).json().get("data")
            if data and data[0].get("imageURL"):
                return str(data[0]["imageURL"])


async def per_download(url: str, ours: bool, idle: int, downloads: int) -> float:
    """Milliseconds of CPU per download, with ``idle`` connections open in the pool."""
    options: dict[str, Any] = {"timeout": 60, "follow_redirects": True}
    async with connections.client(**options) if ours else httpx2.AsyncClient(**options) as http:
        async with anyio.create_task_group() as opening:
            for _ in range(idle):
                opening.start_soon(download, http, url)

        async def fetching() -> None:
            for _ in range(downloads // 2):
                await download(http, url)

        before = cpu()
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(fetching)
        return (cpu() - before) / downloads * 1000


async def main(idle: int, downloads: int, rounds: int) -> None:
    async with upstream(0.1) as runware:
        url = await image_url(runware.url)
        print(f"{downloads} downloads, two at a time, with {idle} idle connections in the pool; CPU per download:")
        for _ in range(rounds):
            plain = await per_download(url, False, idle, downloads)
            kept = await per_download(url, True, idle, downloads)
            print(f"  httpx2's transport {plain:.3f} ms, the server's {kept:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--downloads", type=counted, default=1000)
    parser.add_argument("--rounds", type=counted, default=3)
    arguments = parser.parse_args()
    anyio.run(main, arguments.idle, arguments.downloads, arguments.rounds)
