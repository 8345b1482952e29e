"""What a fault audit found (issue 14), each reproduced through the MCP client: what the agent sees, what reached
the emulated Runware, what is on disk."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

from .conftest import API_KEY, error_of, picture, text

pytestmark = pytest.mark.anyio

PROMPT = 'A chalkboard reading "TODAY"'


def data(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    return cast(dict[str, Any], result.structured_content)


def images_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".jpg", ".png", ".webp")) if folder.is_dir() else []


class FailingImages(httpx2.AsyncBaseTransport):
    """The emulator, but the first ``times`` image downloads answer 404 (a CDN not ready yet, a passing fault)."""

    def __init__(self, emulator: Emulator, times: int) -> None:
        self._inner = httpx2.ASGITransport(emulator.app())
        self.times = times

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and self.times > 0:
            self.times -= 1
            return httpx2.Response(404)
        return await self._inner.handle_async_request(request)


# --- 3. saving again a one-image task that has a fileName ----------------------------------------------------


async def test_get_generation_saves_again_a_one_image_task_with_a_file_name(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    server = build_server(make_settings(output_dir=output), transport=FailingImages(emulator, times=1))
    async with Client(server) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "poster"}))
        again = data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]}))
    assert "path" not in first["images"][0]
    assert Path(again["images"][0]["path"]) == (output / "poster.jpg").resolve()
    assert images_in(output) == ["poster.jpg"]


# --- 4. file names are limited in bytes, the file system's measure --------------------------------------------


@pytest.mark.parametrize("name", ["😀" * 100, "名前" * 50], ids=["emoji", "cjk"])
async def test_a_file_name_too_long_in_bytes_is_refused_before_anything_is_sent(
    name: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": name})
    (problem,) = error_of(result)["problems"]
    assert problem["argument"] == "fileName"
    assert f"at most 240 bytes in UTF-8 (this one has {len(name.encode())})" in problem["message"]
    assert emulator.requests == []


async def test_the_longest_file_name_allowed_is_saved_numbered_and_with_its_recipe(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    name = "名" * 80  # 240 bytes: the most allowed, with room for "-20", "-999" and ".webp"
    made = data(
        await mcp.call_tool(
            "generate_image", {"positivePrompt": PROMPT, "fileName": name, "numberResults": 2, "outputFormat": "WEBP"}
        )
    )
    assert [Path(image["path"]).name for image in made["images"]] == [f"{name}-1.webp", f"{name}-2.webp"]
    assert (output / f"{name}-1.json").is_file()


# --- 11. any region is drawn or refused, however thin ----------------------------------------------------------


async def test_a_region_thinner_than_a_pixel_is_drawn_one_pixel_wide(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    source = picture(output / "small.png", (64, 64))
    result = await mcp.call_tool(
        "edit_image",
        {
            "image": str(source),
            "positivePrompt": "a thin line",
            "region": {"x": 0.5, "y": 0.2, "width": 0.001, "height": 0.5},
        },
    )
    assert not result.is_error, text(result)
    (task,) = [t for t in emulator.submitted if t["taskType"] == "imageInference"]
    mask = base64.b64decode(task["inputs"]["maskImage"].split(";base64,", 1)[1])
    with Image.open(io.BytesIO(mask)) as drawn:
        white = [(x, y) for x in range(64) for y in range(64) if drawn.getpixel((x, y))]
    assert {x for x, _ in white} == {32}
    assert len(white) == 32


# --- 6. one redaction for everything written anywhere ----------------------------------------------------------


class KeyInImageUrls(httpx2.AsyncBaseTransport):
    """The emulator, but every image URL it gives carries the API key in its query (as a signed URL might)."""

    def __init__(self, emulator: Emulator) -> None:
        self._inner = httpx2.ASGITransport(emulator.app())

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        if request.method != "POST":
            return response
        body = (await response.aread()).replace(b'.jpg"', f'.jpg?sig={API_KEY}"'.encode())
        return httpx2.Response(response.status_code, headers={"content-type": "application/json"}, content=body)


async def test_the_key_in_an_image_url_or_the_runware_url_is_written_nowhere(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path, data_dir: Path
) -> None:
    settings = make_settings(output_dir=output, runware_base_url=f"http://runware.test/v1?key={API_KEY}")
    async with Client(build_server(settings, transport=KeyInImageUrls(emulator))) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        listed = await mcp.call_tool("list_generations", {})
    assert len(images_in(output)) == 2
    written = [p.read_bytes() for p in [*output.iterdir(), *data_dir.rglob("*")] if p.is_file()]
    assert all(API_KEY.encode() not in content for content in written)
    assert all(b"[redacted]" in (output / name).with_suffix(".json").read_bytes() for name in images_in(output))
    assert API_KEY not in made.model_dump_json() + listed.model_dump_json()


# --- 1. the daily budget never fails open; 10. a journal that cannot be used says where, what and the fix ------


async def test_with_a_journal_kept_in_memory_a_budget_refuses_paid_calls_rather_than_forget_them(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path, output: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(build_server(make_settings(output_dir=output, data_dir=blocked), transport=transport)) as mcp:
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        dry = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "dryRun": True})
        sizes = await mcp.call_tool("list_sizes", {"ratio": "1:1"})
    unbudgeted = make_settings(output_dir=output, data_dir=blocked, daily_budget=0)
    async with Client(build_server(unbudgeted, transport=transport)) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert error_of(refused)["kind"] == "budget_not_kept"
    assert text(refused) == (
        f"The daily budget ($10.00, IDEOGRAM_MCP_DAILY_BUDGET) cannot be kept: the task journal cannot be kept in "
        f"{blocked} (a file (not a folder) of that name is in the way), so a restart would forget today's spend. "
        "Nothing was "
        "sent or charged. Have the user set IDEOGRAM_MCP_DATA_DIR to a folder this server can write, or "
        "IDEOGRAM_MCP_DAILY_BUDGET=0 to run without a budget."
    )
    assert not dry.is_error
    assert not sizes.is_error
    assert not made.is_error
    assert "so this server keeps it in memory only: a restart forgets this taskUUID" in text(made)
    assert len(emulator.submitted) == 1


async def test_a_journal_of_garbage_is_named_with_the_fix(
    make_settings: Callable[..., Settings], emulator: Emulator, data_dir: Path
) -> None:
    (data_dir / "journal.sqlite3").write_bytes(b"this is no database, just bytes\n" * 64)
    async with Client(build_server(make_settings(), transport=httpx2.ASGITransport(emulator.app()))) as mcp:
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert error_of(refused)["kind"] == "budget_not_kept"
    assert f"the task journal {data_dir / 'journal.sqlite3'} is not a journal (file is not a database)" in text(refused)
    assert emulator.requests == []


async def test_a_locked_journal_answers_within_seconds_with_the_folder_and_the_fix(
    make_settings: Callable[..., Settings], emulator: Emulator, data_dir: Path
) -> None:
    import sqlite3

    async with Client(build_server(make_settings(), transport=httpx2.ASGITransport(emulator.app()))) as mcp:
        assert not (await mcp.call_tool("list_generations", {})).is_error  # the journal exists
        holder = sqlite3.connect(data_dir / "journal.sqlite3", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with anyio.fail_after(8):  # the lock wait is bounded: 2 s, not the 10 s it was
                locked = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        after = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert error_of(locked)["kind"] == "journal"
    assert text(locked) == (
        f"The task journal {data_dir / 'journal.sqlite3'} is locked by another process, so nothing was sent or "
        "charged. Try again in a moment; if it stays locked, stop the other ideogram-mcp processes that use "
        "IDEOGRAM_MCP_DATA_DIR, or give this one a folder of its own."
    )
    assert not after.is_error
    assert len(emulator.submitted) == 1


# --- 2. a charged task is counted at its charge, whatever became of its images ----------------------------------


def _images_without_uuids(body: dict[str, Any]) -> dict[str, Any]:
    return {"data": [item | {"imageUUID": None} for item in body.get("data", [])]}


async def test_finished_images_that_cannot_be_used_are_still_counted_as_charged(
    mcp: Client, emulator: Emulator
) -> None:
    emulator.faults.extend(Fault.mangle(_images_without_uuids, on="getResponse") for _ in range(10))
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    listed = data(await mcp.call_tool("list_generations", {}))
    assert error_of(result)["kind"] == "failed"
    assert error_of(result)["mayHaveBeenCharged"] is True
    assert "Runware reported them finished, so they may have been charged ($0.12)" in text(result)
    assert emulator.charged == 0.12
    assert listed["spentToday"] == 0.12
    assert listed["generations"][0]["cost"] == 0.12


# --- 12. a task Runware never accepted is said to be so, and costs nothing -------------------------------------


async def test_a_task_runware_never_accepted_is_reported_so_once_the_grace_passes_and_costs_nothing(
    make_settings: Callable[..., Settings], emulator: Emulator, data_dir: Path
) -> None:
    import sqlite3

    emulator.faults.extend(Fault.error(500, "internalServerError", "Down.", on="imageInference") for _ in range(40))
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(build_server(make_settings(wait_seconds=1), transport=transport)) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        task_uuid = data(first)["taskUUID"]
        assert data(first)["status"] == "pending"
        with sqlite3.connect(data_dir / "journal.sqlite3") as journal:  # as if it were sent a minute ago
            journal.execute("UPDATE tasks SET created = created - 60")
        later = await mcp.call_tool("get_generation", {"taskUUID": task_uuid})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert error_of(later) == {"kind": "not_accepted", "taskUUID": task_uuid, "mayHaveBeenCharged": False}
    assert text(later) == (
        "Runware never accepted this task: every attempt to send it failed and no poll ever found it, so it was not "
        "charged. Nothing can be fetched; send the call again when Runware answers."
    )
    assert (listed["generations"][0]["state"], listed["generations"][0]["cost"], listed["spentToday"]) == (
        "failed",
        0,
        0,
    )
    assert emulator.charged == 0
