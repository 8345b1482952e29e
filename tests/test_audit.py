"""What a fault audit found (issue 14), each reproduced through the MCP client: what the agent sees, what reached
the emulated Runware, what is on disk."""

from __future__ import annotations

import base64
import contextlib
import io
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from PIL import Image

from ideogram_mcp import http
from ideogram_mcp.embedded import serving
from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.journal import failure
from ideogram_mcp.journal.sqlite import SqliteJournal
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

from .conftest import API_KEY, error_of, picture, text
from .conftest import structured as data
from .processes import Running, clean_env, free_port

pytestmark = pytest.mark.anyio

PROMPT = 'A chalkboard reading "TODAY"'


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
    server = build_server(
        make_settings(output_dir=output), transport=FailingImages(emulator, times=1), clock=emulator.clock
    )
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
    async with Client(build_server(settings, transport=KeyInImageUrls(emulator), clock=emulator.clock)) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        listed = await mcp.call_tool("list_generations", {})
    assert len(images_in(output)) == 2
    written = [p.read_bytes() for p in [*output.iterdir(), *data_dir.rglob("*")] if p.is_file()]
    assert all(API_KEY.encode() not in content for content in written)
    assert all(b"[redacted]" in (output / name).with_suffix(".json").read_bytes() for name in images_in(output))
    assert API_KEY not in made.model_dump_json() + listed.model_dump_json()


async def test_the_key_runware_echoes_in_an_errors_parameter_is_shown_in_no_piece(
    mcp: Client, emulator: Emulator
) -> None:
    # The parameter was cut to 80 characters before the key was blanked: 14 of its characters had shown.
    echoed = "x" * 40 + " Authorization: Bearer " + API_KEY + " (header value not accepted for this field)"
    emulator.faults.append(Fault.error(400, "invalidParameter", "Bad value.", parameter=echoed, on="imageInference"))
    refused = await mcp.call_tool("generate_image", {"positivePrompt": "a cat"})
    assert refused.is_error
    assert API_KEY[:10] not in refused.model_dump_json()
    assert "Bearer [redacted]" in refused.model_dump_json()


# --- 1. the daily budget never fails open; 10. a journal that cannot be used says where, what and the fix ------


async def test_with_a_journal_kept_in_memory_a_budget_refuses_paid_calls_rather_than_forget_them(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path, output: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(
        build_server(make_settings(output_dir=output, data_dir=blocked), transport=transport, clock=emulator.clock)
    ) as mcp:
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        dry = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "dryRun": True})
        sizes = await mcp.call_tool("list_sizes", {"ratio": "1:1"})
    unbudgeted = make_settings(output_dir=output, data_dir=blocked, daily_budget=0)
    async with Client(build_server(unbudgeted, transport=transport, clock=emulator.clock)) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert error_of(refused)["kind"] == "budget_not_kept"
    assert text(refused) == (
        f"The daily budget ($10.00, IDEOGRAM_MCP_DAILY_BUDGET) cannot be kept: the task journal cannot be kept in "
        f"{blocked} (a file (not a folder) of that name is in the way), so a restart would forget today's spend. "
        "Nothing was "
        "sent or charged. Have the user set IDEOGRAM_MCP_DATA_DIR to a folder this server can write, or "
        "IDEOGRAM_MCP_DAILY_BUDGET=0 to run without a budget."
    )
    assert (error_of(dry)["kind"], text(dry)) == ("budget_not_kept", text(refused))  # as the real call would be
    assert not sizes.is_error
    assert not made.is_error
    assert "so this server keeps it in memory only: a restart forgets this taskUUID" in text(made)
    assert len(emulator.submitted) == 1


async def test_a_journal_of_garbage_is_named_with_the_fix(
    make_settings: Callable[..., Settings], emulator: Emulator, data_dir: Path
) -> None:
    (data_dir / "journal.sqlite3").write_bytes(b"this is no database, just bytes\n" * 64)
    async with Client(
        build_server(make_settings(), transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    ) as mcp:
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert error_of(refused)["kind"] == "budget_not_kept"
    assert f"the task journal {data_dir / 'journal.sqlite3'} is not a journal (file is not a database)" in text(refused)
    assert emulator.requests == []


async def test_a_locked_journal_answers_within_seconds_with_the_folder_and_the_fix(
    make_settings: Callable[..., Settings], emulator: Emulator, data_dir: Path
) -> None:
    import sqlite3

    async with Client(
        build_server(make_settings(), transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    ) as mcp:
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
    async with Client(build_server(make_settings(wait_seconds=1), transport=transport, clock=emulator.clock)) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        task_uuid = data(first)["taskUUID"]
        assert data(first)["status"] == "pending"
        with sqlite3.connect(data_dir / "journal.sqlite3") as journal:  # as if it were sent a minute ago
            journal.execute("UPDATE tasks SET created = created - 60")
        later = await mcp.call_tool("get_generation", {"taskUUID": task_uuid})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert error_of(later) == {"kind": "not_accepted", "taskUUID": task_uuid, "mayHaveBeenCharged": False}
    assert text(later) == (
        "Runware never accepted this task: it ended before it went, or every attempt to send it failed, and no poll "
        "ever found it, so it was not charged. Nothing can be fetched; send the call again when Runware answers."
    )
    assert (listed["generations"][0]["state"], listed["generations"][0]["cost"], listed["spentToday"]) == (
        "failed",
        0,
        0,
    )
    assert emulator.charged == 0


# --- 5. every paid image is downloaded and stored once ---------------------------------------------------------


async def test_four_fetches_of_one_task_at_once_save_each_image_once(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    emulator.render_seconds = 1.0
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(
        build_server(make_settings(output_dir=output, wait_seconds=0.3), transport=transport, clock=emulator.clock)
    ) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3}))
        assert first["status"] == "pending"
        fetched: list[dict[str, Any]] = []

        async def fetch() -> None:  # as four agents (or one impatient one) do: ask again until it is done
            with anyio.fail_after(20):
                while (answer := data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]})))[
                    "status"
                ] != "done":
                    pass
            fetched.append(answer)

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(fetch)
    assert len(images_in(output)) == 3
    assert len(list(output.glob("*.json"))) == 3
    assert {tuple(sorted(i["path"] for i in answer["images"])) for answer in fetched} == {
        tuple(sorted(str(output.resolve() / name) for name in images_in(output)))
    }


async def test_a_finish_whose_journal_fails_after_saving_lists_what_it_saved_and_a_later_one_adds_no_copy(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path, data_dir: Path
) -> None:
    class DiskFull(SqliteJournal):
        """The data disk fills once the first image's file is written: recording it, and the task, fail."""

        failing = True

        async def stored(self, task_uuid: str, record: ImageRecord, *, by: str) -> str | None:
            if self.failing:
                raise failure(self.path, sqlite3.OperationalError("database or disk is full"))
            return await super().stored(task_uuid, record, by=by)

        async def update(self, task_uuid: str, **kwargs: Any) -> None:
            if self.failing:
                raise failure(self.path, sqlite3.OperationalError("database or disk is full"))
            await super().update(task_uuid, **kwargs)

    journal = DiskFull(data_dir / "journal.sqlite3", clock=emulator.clock)
    settings = make_settings(output_dir=output, wait_seconds=0.5)
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(build_server(settings, transport=transport, journal=journal, clock=emulator.clock)) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
        journal.failing = False
        later: dict[str, Any] = {"images": []}
        with anyio.fail_after(30):  # asked again, as an agent does, until each image is saved
            while len([image for image in later["images"] if "path" in image]) < 3:
                later = data(await mcp.call_tool("get_generation", {"taskUUID": data(first)["taskUUID"]}))
    saved = [image["path"] for image in data(first)["images"]]
    assert len(saved) == 3
    assert "cannot grow: the disk is full, so this answer may not be in the journal yet" in text(first)
    assert sorted(image["path"] for image in later["images"]) == sorted(saved)
    assert len(images_in(output)) == 3


async def test_a_journal_locked_during_the_finish_keeps_the_urls_and_a_later_fetch_saves_each_once(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path, data_dir: Path
) -> None:
    inner = httpx2.ASGITransport(emulator.app())
    holder: list[sqlite3.Connection] = []

    async def lock_once_polled(request: httpx2.Request) -> httpx2.Response:
        response = await inner.handle_async_request(request)
        if request.method == "POST" and b'"getResponse"' in request.content and not holder:
            connection = sqlite3.connect(data_dir / "journal.sqlite3", isolation_level=None)
            connection.execute("BEGIN EXCLUSIVE")  # another process takes the journal as the images come in
            holder.append(connection)
        return response

    settings = make_settings(output_dir=output)
    async with Client(
        build_server(settings, transport=httpx2.MockTransport(lock_once_polled), clock=emulator.clock)
    ) as mcp:
        answer = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        holder[0].execute("ROLLBACK")
        holder[0].close()
        first = data(answer)
        later = data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]}))
    assert [("path" in image) for image in first["images"]] == [False, False]
    assert "Not saved: not saved, as the task journal" not in text(answer)
    assert "is locked by another process" in text(answer)
    # A paid result had said "Try again in a moment" (the journal's fix), and that the files saved "are kept" of none.
    assert "Try again" not in text(answer)
    assert "The files saved above are kept" not in text(answer)
    assert (
        "Do not send this call again (its task was sent): once the journal works, call get_generation with taskUUID "
        f'"{first["taskUUID"]}" to save the rest.'
    ) in text(answer)
    assert [Path(image["path"]).is_file() for image in later["images"]] == [True, True]
    assert len(images_in(output)) == 2


async def test_a_server_killed_while_it_saves_leaves_no_copy_behind_once_the_task_is_fetched_again(
    make_settings: Callable[..., Settings], tmp_path: Path, output: Path, data_dir: Path
) -> None:
    emulator = Emulator(api_key=API_KEY)
    runware = emulator.app()
    released = anyio.Event()
    served: list[str] = []

    async def third_image_hangs(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/image/"):
            served.append(scope["path"])
            if len(served) > 2:
                await released.wait()
        await runware(scope, receive, send)

    async with serving(third_image_hangs) as root:
        env = clean_env(
            RUNWARE_API_KEY=API_KEY,
            RUNWARE_BASE_URL=f"{root}/v1",
            IDEOGRAM_MCP_DATA_DIR=str(data_dir),
            IDEOGRAM_MCP_OUTPUT_DIR=str(output),
            IDEOGRAM_MCP_WAIT_SECONDS="2",
        )
        server = Running(["http", "--port", str(free_port())], env)
        try:
            url = await anyio.to_thread.run_sync(server.listening)
            async with anyio.create_task_group() as group:

                async def call() -> None:
                    with contextlib.suppress(Exception):  # its server is killed under it, on purpose
                        async with Client(url) as mcp:
                            await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})

                group.start_soon(call)
                # Two images written (each says so in the log), the third hanging: none recorded yet.
                await anyio.to_thread.run_sync(server.wait_for, lambda: _saved_in_log(server) >= 2)
                server.process.kill()  # mid-download, as a crash would
                await anyio.to_thread.run_sync(server.ended)
                group.cancel_scope.cancel()
        finally:
            if server.process.poll() is None:
                server.process.kill()
        released.set()
        (task_uuid,) = [c.task_uuid for c in emulator.ledger]
        settings = make_settings(output_dir=output, runware_base_url=f"{root}/v1")
        async with Client(build_server(settings, clock=emulator.clock)) as mcp:
            later: dict[str, Any] = {"images": []}
            with anyio.fail_after(60):  # the killed call's claims run out, then its task is fetched again
                while len([image for image in later["images"] if "path" in image]) < 3:
                    later = data(await mcp.call_tool("get_generation", {"taskUUID": task_uuid}))
    assert len(images_in(output)) == 3
    assert len(list(output.glob("*.json"))) == 3
    assert sorted(Path(image["path"]).name for image in later["images"]) == images_in(output)
    assert emulator.charged == 0.18


def _saved_in_log(server: Running) -> int:
    return sum("saved " in line and line.endswith(".jpg") for line in server.lines())


# --- 9. over HTTP, no server path in any result, template or error ------------------------------------------------


async def test_a_remote_connection_learns_no_path_of_the_server(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder: the journal is kept in memory, and says so")
    picture(tmp_path / "brand" / "logo.png")
    settings = make_settings(
        output_dir=tmp_path / "out",
        data_dir=tmp_path / "a-file" / "data",
        tokens=("tok-0123456789",),
        daily_budget=0,
        allowed_dirs=(tmp_path / "brand",),
    )
    app = http.create_app(settings, transport=httpx2.ASGITransport(emulator.app()))
    answers: list[str] = []
    async with (
        serving(app, lifespan=True) as root,
        httpx2.AsyncClient(headers={"Authorization": "Bearer tok-0123456789"}, timeout=30) as client,
        Client(streamable_http_client(root + http.PATH, http_client=client)) as mcp,
    ):
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "outputDir": "logos"})
        answers.append(made.model_dump_json())
        (image,) = data(made)["images"]
        for tool, arguments in (
            ("generate_image", {"positivePrompt": PROMPT, "outputDir": "/etc"}),
            ("generate_image", {"positivePrompt": PROMPT, "outputDir": "../../.."}),
            ("remix_image", {"image": "missing.png", "positivePrompt": "x"}),
            ("remix_image", {"image": "/etc/hostname.png", "positivePrompt": "x"}),
            ("remix_image", {"image": image["path"], "positivePrompt": "again", "dryRun": True}),
            ("remix_image", {"image": "../../brand/logo.png", "positivePrompt": "brand", "dryRun": True}),
            ("generate_image", {"positivePrompt": PROMPT, "outputDir": "x/" * 2000}),
            ("get_generation", {"taskUUID": data(made)["taskUUID"]}),
            ("list_generations", {}),
        ):
            answers.append((await mcp.call_tool(tool, arguments)).model_dump_json())
        templates = await mcp.list_resource_templates()
        listed = await mcp.list_resources()
        read = await mcp.read_resource(listed.resources[0].uri)
        with pytest.raises(MCPError) as refused:
            await mcp.read_resource((tmp_path / "out" / "x.jpg").as_uri())
        with pytest.raises(MCPError, match="Not an image resource of this server"):
            await mcp.read_resource("ideogram://images/a%00b.jpg")
        answers += [templates.model_dump_json(), listed.model_dump_json()]
    assert image["path"] == f"logos/{Path(image['path']).name}"
    assert str(listed.resources[0].uri) == f"ideogram://images/{image['path']}"
    assert templates.resource_templates[0].uri_template == "ideogram://images/{fileName}"
    assert read.contents
    assert str(refused.value).startswith("Not an image resource of this server"), "file:// URIs are not its"
    leaked = [answer for answer in answers if str(tmp_path) in answer or str(tmp_path.resolve()) in answer]
    assert leaked == []
    assert "the task journal cannot be kept in [the server's data folder]" in answers[9]
    assert "<upload of logo.png>" in answers[6]
    assert '"kind":"invalid_arguments"' in answers[7].replace(" ", "")


# --- the second review's findings: money counted right whatever Runware's answers, and the blanking's bounds ----


def _garbled_first(body: dict[str, Any]) -> dict[str, Any]:
    items = body.get("data", [])
    return {"data": [items[0] | {"imageUUID": None}, *items[1:]]} if items else body


async def test_an_image_garbled_in_two_polls_fails_and_is_counted_once_as_charged(
    mcp: Client, emulator: Emulator
) -> None:
    emulator.faults.extend(Fault.mangle(_garbled_first, on="getResponse") for _ in range(2))
    made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    listed = data(await mcp.call_tool("list_generations", {}))
    assert (len(data(made)["images"]), data(made)["totalCost"]) == (1, 0.12)
    assert listed["spentToday"] == 0.12 == emulator.charged


def _first_without_cost_second_unusable(body: dict[str, Any]) -> dict[str, Any]:
    items = body.get("data", [])
    if len(items) < 2:
        return body
    first = {k: v for k, v in items[0].items() if k != "cost"}
    return {"data": [first, items[1] | {"imageUUID": None}]}


async def test_an_image_without_its_cost_beside_an_unusable_one_counts_the_whole_charge(
    mcp: Client, emulator: Emulator
) -> None:
    emulator.faults.extend(Fault.mangle(_first_without_cost_second_unusable, on="getResponse") for _ in range(10))
    made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    listed = data(await mcp.call_tool("list_generations", {}))
    assert len(data(made)["images"]) == 1
    assert "1 more image(s) finished that cannot be used: they may have been charged ($0.06)" in text(made)
    assert listed["spentToday"] == 0.12 == emulator.charged


async def test_runware_having_the_task_is_recorded_as_soon_as_it_says_so(
    make_settings: Callable[..., Settings], emulator: Emulator, data_dir: Path
) -> None:
    inner = httpx2.ASGITransport(emulator.app())
    seen: list[int] = []

    async def look_at_the_first_poll(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and b'"getResponse"' in request.content and not seen:
            with sqlite3.connect(data_dir / "journal.sqlite3") as journal:  # as a restart now would find it
                seen.append(journal.execute("SELECT accepted FROM tasks").fetchone()[0])
        return await inner.handle_async_request(request)

    async with Client(
        build_server(make_settings(), transport=httpx2.MockTransport(look_at_the_first_poll), clock=emulator.clock)
    ) as mcp:
        await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert seen == [1]


async def test_the_blanking_of_server_folders_touches_only_paths_never_a_result_s_shape(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(output_dir=Path("images"), data_dir=Path("données") / "data", tokens=("tok-0123456789",))
    app = http.create_app(settings, transport=httpx2.ASGITransport(emulator.app()))
    async with (
        serving(app, lifespan=True) as root,
        httpx2.AsyncClient(headers={"Authorization": "Bearer tok-0123456789"}, timeout=30) as client,
        Client(streamable_http_client(root + http.PATH, http_client=client)) as mcp,
    ):
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        listed = await mcp.call_tool("list_generations", {})
    assert len(data(made)["images"]) == 2
    assert len([b for b in made.content if isinstance(b, types.ImageContent)]) == 2, "previews' data intact"
    assert str(tmp_path) not in made.model_dump_json() + listed.model_dump_json()
    assert emulator.charged == 0.12


async def test_a_call_cancelled_while_it_saves_leaves_no_claim_behind(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    inner = httpx2.ASGITransport(emulator.app())
    downloading = anyio.Event()
    released = anyio.Event()

    async def held_images(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and not released.is_set():
            downloading.set()
            await released.wait()
        return await inner.handle_async_request(request)

    async with Client(
        build_server(
            make_settings(output_dir=output), transport=httpx2.MockTransport(held_images), clock=emulator.clock
        )
    ) as mcp:
        async with anyio.create_task_group() as group:
            group.start_soon(mcp.call_tool, "generate_image", {"positivePrompt": PROMPT})
            await downloading.wait()
            group.cancel_scope.cancel()  # the user stops the call while its image downloads
        released.set()
        (task_uuid,) = [c.task_uuid for c in emulator.ledger]
        with anyio.fail_after(10):
            again = data(await mcp.call_tool("get_generation", {"taskUUID": task_uuid}))
    assert Path(again["images"][0]["path"]).is_file(), "saved at once: no claim of the stopped call stood in the way"
    assert len(images_in(output)) == 1


# --- a protocol audit's findings: a failing journal said with its fix, and no server folder, wherever it is met ---


async def test_a_journal_that_fails_is_said_with_its_fix_and_no_server_folder_by_tools_resources_and_completions(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path, data_dir: Path
) -> None:
    class Broken(SqliteJournal):
        """A journal file overwritten with something else after the server opened it."""

        async def recent(self, owner: str, limit: int, state: Any = None, before: Any = None) -> Any:
            raise failure(self.path, sqlite3.DatabaseError("file is not a database"))

        async def folders(self, owner: str) -> list[Path]:
            raise failure(self.path, sqlite3.DatabaseError("file is not a database"))

    journal = Broken(data_dir / "journal.sqlite3", clock=emulator.clock)
    settings = make_settings(output_dir=output)
    transport = httpx2.ASGITransport(emulator.app())
    server = build_server(settings, transport=transport, journal=journal, clock=emulator.clock, shared=True)
    refusals: list[str] = []
    async with Client(server) as mcp:
        listed = await mcp.call_tool("list_generations", {})
        for asked in (
            mcp.list_resources(),
            mcp.read_resource("ideogram://images/x.jpg"),
            mcp.complete(
                types.ResourceTemplateReference(uri="ideogram://images/{fileName}"), {"name": "fileName", "value": ""}
            ),
        ):
            with pytest.raises(MCPError) as refused:
                await asked
            refusals.append(str(refused.value))
    said = "The task journal [the server's data folder]/journal.sqlite3 is not a journal (file is not a database)."
    assert (
        text(listed)
        == f"{said} Move the file aside (a new one is made), or set IDEOGRAM_MCP_DATA_DIR to another folder."
    )
    assert refusals == [text(listed)] * 3


async def test_an_image_another_call_is_saving_is_said_so_with_what_frees_it(
    make_settings: Callable[..., Settings], output: Path
) -> None:
    # It said "another call of this server", where the call holding it may be another process's, or a killed one's.
    emulator = Emulator(api_key=API_KEY)
    runware = emulator.app()
    released, downloading = anyio.Event(), anyio.Event()

    async def downloads_hang(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/image/"):
            downloading.set()
            await released.wait()
        await runware(scope, receive, send)

    transport = httpx2.ASGITransport(downloads_hang)
    settings = make_settings(output_dir=output, preview=False)
    meanwhile: types.CallToolResult | None = None
    async with (
        Client(build_server(settings, transport=transport)) as saving,
        Client(build_server(settings, transport=transport)) as other,  # another process, on the same journal
        anyio.create_task_group() as group,
    ):
        group.start_soon(saving.call_tool, "generate_image", {"positivePrompt": PROMPT})
        with anyio.fail_after(10):
            await downloading.wait()
        (task_uuid,) = emulator.jobs
        meanwhile = await other.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 0.5})
        released.set()
    assert meanwhile is not None
    assert (
        "Not saved: was being saved by another call when this one's time ran out (a call of a server that stopped "
        "holds it until that call's time is up); call get_generation again to save it."
    ) in text(meanwhile)
    assert len(images_in(output)) == 1
