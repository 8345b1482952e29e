"""Fetching generated images: streamed with a cap, checked to be images, saved with their recipe, each failure said
per image and none raised."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.errors import DownloadError
from ideogram_mcp.images.downloads import Wanted, download, fetch
from ideogram_mcp.images.formats import FORMATS
from ideogram_mcp.images.local import LocalFolders
from ideogram_mcp.images.recipes import Recipe

from ..conftest import png

pytestmark = pytest.mark.anyio


def _serving(status: int, body: bytes, headers: dict[str, str] | None = None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.MockTransport(lambda request: httpx2.Response(status, content=body, headers=headers))
    )


async def test_a_download_is_capped_and_must_be_an_image() -> None:
    image = png()
    async with _serving(200, image) as http:
        assert await download(http, "http://img/a.png") == (image, FORMATS["PNG"])
    async with _serving(200, image * 4) as http:
        with pytest.raises(DownloadError, match="larger than"):
            await download(http, "http://img/a.png", limit=len(image) * 2)
    async with _serving(200, b"<html>expired</html>") as http:
        with pytest.raises(DownloadError, match="did not serve a PNG, JPEG or WEBP"):
            await download(http, "http://img/a.png")
    async with _serving(404, b"") as http:
        with pytest.raises(DownloadError, match="HTTP 404"):
            await download(http, "http://img/a.png")


async def test_a_download_without_a_declared_size_is_cut_off_at_the_cap_and_a_broken_one_is_named() -> None:
    image = png()

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield image

    undeclared = httpx2.MockTransport(lambda request: httpx2.Response(200, content=stream()))
    async with httpx2.AsyncClient(transport=undeclared) as http:
        with pytest.raises(DownloadError, match=r"^the image is larger than 0 MB$"):
            await download(http, "http://img/a.png", limit=len(image) * 2)

    def reset(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadError("connection reset", request=request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(reset)) as http:
        with pytest.raises(DownloadError, match=r"^the download failed \(ReadError\)$"):
            await download(http, "http://img/a.png")


async def test_fetching_saves_what_downloads_with_its_recipe_and_reports_what_does_not(
    tmp_path: Path, clock: ManualClock
) -> None:
    image = png()

    def serve(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=image) if request.url.path == "/ok.png" else httpx2.Response(410)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(serve)) as http:
        kept = await fetch(
            http,
            [
                Wanted("http://img/ok.png", "good", lambda data: Recipe(seed=1, sha256="set from the bytes")),
                Wanted("http://img/gone.png", "gone", lambda data: Recipe(seed=2)),
            ],
            clock=clock,
            until=clock.monotonic() + 60,
            store=LocalFolders(),
            folder=tmp_path,
        )
    assert kept[0].path == tmp_path / "good.png"
    assert kept[0].data == image == (tmp_path / "good.png").read_bytes()
    recipe = json.loads((tmp_path / "good.json").read_text())
    assert (
        recipe
        == Recipe(
            seed=1, file="good.png", format="PNG", bytes=len(image), sha256=hashlib.sha256(image).hexdigest()
        ).to_json()
    )
    assert (kept[1].path, kept[1].problem) == (None, "could not be downloaded: the image URL answered HTTP 410")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json", "good.png"]


async def test_an_image_the_store_refuses_is_said_in_the_folder_as_the_connection_is_told_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Over HTTP with a bucket down, the server's own folder had been named (blanked to "[the server's image
    # folder]/<the owner's hash>"), where every other sentence says "this connection's folder".
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    async with _serving(200, png()) as http:
        (kept,) = await fetch(
            http,
            [Wanted("http://img/ok.png", "good", lambda data: Recipe(seed=1))],
            clock=clock,
            until=clock.monotonic() + 60,
            store=LocalFolders(),
            folder=blocked / "owner-hash",
            named="this connection's folder",
        )
    assert kept.path is None
    assert (kept.problem or "").startswith("could not be saved in this connection's folder: ")
    assert str(tmp_path) not in (kept.problem or "")
