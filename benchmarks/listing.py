"""Figures for the README: what a page of ``resources/list`` costs as a folder fills with saved images.

    uv run python benchmarks/listing.py [--images 1000 10000] [--walks 2]

Each folder holds N images this server could have saved (one small JPEG hard-linked under N names, each with its own
recipe, as the server writes them), and an in-memory MCP client walks ``resources/list`` from its first page to its
last, ``--walks`` times. A page is 50 images, newest first; the first page of the first walk reads every recipe, and
later pages read again only the recipes changed since.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from PIL import Image

from ideogram_mcp.images.recipes import Recipe
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings


def filled(folder: Path, count: int) -> None:
    """``count`` saved images in ``folder``, each with its recipe."""
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(folder / ".base.jpg", "JPEG")
    size = (folder / ".base.jpg").stat().st_size
    for n in range(count):
        name = f"poster-{n:05d}.jpg"
        os.link(folder / ".base.jpg", folder / name)
        recipe = Recipe(
            image_uuid=f"{n:08d}-0000-4000-8000-000000000000",
            image_url=f"https://im.runware.ai/image/ws/2/ii/{n}.jpg",
            model="ideogram:4@1",
            task_uuid=f"{n:08d}-1111-4000-8000-000000000000",
            created=f"2026-12-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00+00:00",
            task={"taskType": "imageInference", "positivePrompt": f"a poster for concert number {n}", "width": 1024},
            file=name,
            format="JPG",
            bytes=size,
            width=1024,
            height=1024,
            seed=n,
        )
        (folder / f"poster-{n:05d}.json").write_bytes(recipe.text())
    (folder / ".base.jpg").unlink()


async def walked(folder: Path, data: Path, walks: int) -> tuple[int, list[float], list[float]]:
    """The images listed in a walk, and the seconds of each page: of the first walk's first page, and of the rest."""
    first: list[float] = []
    rest: list[float] = []
    listed = 0
    async with Client(build_server(Settings(output_dir=folder, data_dir=data))) as client:
        for walk in range(walks):
            cursor: str | None = None
            listed = 0
            while True:
                started = time.perf_counter()
                page = await client.list_resources(cursor=cursor) if cursor else await client.list_resources()
                (first if walk == 0 and cursor is None else rest).append(time.perf_counter() - started)
                listed += len(page.resources)
                if (cursor := page.next_cursor) is None:
                    break
    return listed, first, rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--walks", type=int, default=2)
    args = parser.parse_args()
    rows: list[str] = []
    for count in args.images:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch) / "out"
            filled(folder, count)
            listed, first, rest = anyio.run(walked, folder, Path(scratch) / "data", args.walks)
            assert listed == count, (listed, count)
            pages = len(rest) + len(first)
            walk = (sum(first) + sum(rest)) / args.walks
            rows.append(
                f"{count:>7} {first[0]:>10.3f}s {statistics.median(rest or first):>8.3f}s "
                f"{max(rest or first):>8.3f}s {walk:>7.1f}s  ({pages // args.walks} pages a walk)"
            )
    print(f"{'images':>7} {'first page':>11} {'page p50':>9} {'page max':>9} {'a walk':>8}", *rows, sep="\n")


if __name__ == "__main__":
    main()
