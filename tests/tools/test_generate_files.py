"""generate_image as an agent and its user see it: saved files, recipes, previews, links, local inputs."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from PIL import Image

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.images import previews
from ideogram_mcp.images.local import LocalFolders
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks import finish, naming

from ..conftest import API_KEY, BASE_URL, error_of, picture, text, with_roots
from ..conftest import structured as data

pytestmark = pytest.mark.anyio

PROMPT = 'A shop sign reading "OPEN LATE" above a bakery door'
LONG_OVER = 50 + naming.NUMBERED_FOR + 1
"""Seconds after which the numbers a call gave (its wait, 50 s, is up) are no longer this server's memory alone."""


def tree(*folders: Path) -> set[Path]:
    """Every file under the folders."""
    return {p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()}


def png_file(path: Path, colour: tuple[int, int, int] = (10, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, format="PNG")
    return path


async def test_every_image_is_saved_byte_for_byte_with_its_recipe_beside_it(
    mcp: Client, emulator: Emulator, output: Path, transport: httpx2.ASGITransport
) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"})
    assert not result.is_error, text(result)
    out = data(result)
    (sent,) = emulator.submitted
    assert sorted(p.name for p in output.iterdir()) == ["sign-1.jpg", "sign-1.json", "sign-2.jpg", "sign-2.json"]
    async with httpx2.AsyncClient(transport=transport) as http:
        for n, image in enumerate(out["images"], 1):
            path = output.resolve() / f"sign-{n}.jpg"
            assert image["path"] == str(path)
            assert path.read_bytes() == (await http.get(image["imageURL"])).content
            recipe = json.loads(path.with_suffix(".json").read_text())
            created = recipe.pop("created")
            assert created.startswith("20")
            assert len(recipe.pop("sha256")) == 64
            assert recipe.pop("bytes") == path.stat().st_size
            assert recipe == {
                "generator": "ideogram-mcp",
                "model": "ideogram:4@1",
                "taskUUID": out["taskUUID"],
                "imageUUID": image["imageUUID"],
                "seed": image["seed"],
                "cost": 0.06,
                "width": 1024,
                "height": 1024,
                "imageURL": image["imageURL"],
                "runware": BASE_URL,
                "task": sent,
                "file": path.name,
                "format": "JPG",
            }


async def test_without_a_setting_images_go_into_the_clients_first_root_and_nowhere_else(
    emulator: Emulator, tmp_path: Path, home: Path, make_settings: Callable[..., Settings]
) -> None:
    project, other = tmp_path / "project", tmp_path / "other"
    project.mkdir()
    settings = make_settings()
    server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    before = tree(tmp_path, home)
    async with with_roots(server, project, other) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert not result.is_error, text(result)
    (image,) = data(result)["images"]
    folder = (project / "ideogram-output").resolve()
    assert Path(image["path"]).parent == folder
    assert data(result)["folder"] == str(folder)
    assert tree(tmp_path, home) - before == {Path(image["path"]), Path(image["path"]).with_suffix(".json")}


async def test_a_client_without_roots_gets_the_per_user_folder(
    emulator: Emulator, home: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    async with Client(
        build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    ) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    (image,) = data(result)["images"]
    assert Path(image["path"]).parent == (home / "Pictures" / "ideogram-mcp").resolve()


async def test_a_client_whose_roots_cannot_be_read_gets_the_per_user_folder(
    emulator: Emulator, home: Path, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ideogram_mcp.tools")

    async def failing(context: ClientRequestContext) -> types.ErrorData:
        return types.ErrorData(code=types.INTERNAL_ERROR, message="the workspace is not open")

    server = build_server(make_settings(), transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    async with Client(server, mode="legacy", list_roots_callback=failing) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    (image,) = data(result)["images"]
    assert Path(image["path"]).parent == (home / "Pictures" / "ideogram-mcp").resolve()
    assert "the client's roots could not be read (MCPError); saving elsewhere" in caplog.messages


@pytest.mark.parametrize(
    "name",
    # A line or paragraph separator had been taken, and split the result's line of the saved path in two.
    [
        "../escape",
        "../../etc/cron.d/x",
        "/tmp/abs",
        "sub/dir",
        "..\\win",
        "C:\\x",
        "a\x00b",
        ".hidden",
        "",
        "a\u2028b",
        "a\u2029b",
        "COM¹",  # Windows' devices: these had been taken
        "conout$.png",
    ],
)
async def test_a_file_name_that_is_not_a_plain_name_is_refused_before_anything_is_sent(
    name: str, mcp: Client, emulator: Emulator, tmp_path: Path, home: Path
) -> None:
    before = tree(tmp_path, home)
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": name})
    assert error_of(result)["problems"][0]["argument"] == "fileName"
    assert "must be a plain file name" in text(result)
    assert emulator.submitted == []
    assert tree(tmp_path, home) == before


async def test_an_existing_file_is_never_overwritten(mcp: Client, output: Path) -> None:
    output.mkdir()
    (output / "poster.jpg").write_bytes(b"the user's own poster")
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "poster.jpg"})
    (image,) = data(result)["images"]
    assert Path(image["path"]).name == "poster-2.jpg"
    assert (output / "poster.jpg").read_bytes() == b"the user's own poster"


async def test_one_name_in_two_formats_gives_each_image_its_own_recipe(mcp: Client, output: Path) -> None:
    for fmt in ("JPG", "PNG"):
        await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "poster", "outputFormat": fmt})
    assert sorted(p.name for p in output.iterdir()) == ["poster-2.json", "poster-2.png", "poster.jpg", "poster.json"]
    recipes = [json.loads((output / name).read_text()) for name in ("poster.json", "poster-2.json")]
    assert [(r["file"], r["format"]) for r in recipes] == [("poster.jpg", "JPG"), ("poster-2.png", "PNG")]
    listed = await mcp.list_resources()
    assert sorted(r.name for r in listed.resources) == ["poster-2.png", "poster.jpg"]


@pytest.mark.parametrize(("count", "blocks", "tiles"), [(1, 1, 1), (4, 4, 1), (5, 1, 5), (20, 1, 20)])
async def test_previews_are_small_decodable_and_keep_the_whole_result_under_300_kb(
    count: int, blocks: int, tiles: int, mcp: Client
) -> None:
    result = await mcp.call_tool(
        "generate_image",
        {"positivePrompt": PROMPT, "numberResults": count, "outputFormat": "PNG", "approvedCost": count * 0.06},
    )
    assert not result.is_error, text(result)
    shown = [b for b in result.content if isinstance(b, types.ImageContent)]
    assert len(shown) == blocks
    for block in shown:
        assert block.mime_type == "image/jpeg"
        budget = previews.PREVIEW_BUDGET if tiles == 1 else previews.SHEET_BUDGET
        assert len(block.data) <= budget
        with Image.open(io.BytesIO(base64.b64decode(block.data))) as picture:
            assert picture.format == "JPEG"
            assert max(picture.size) <= (previews.PREVIEW_SIDE if tiles == 1 else previews.SHEET_SIDE)
    if tiles > 1:
        assert f"one contact sheet, tiles numbered {', '.join(map(str, range(1, count + 1)))}" in text(result)
    assert len(result.model_dump_json(by_alias=True, exclude_none=True).encode()) < 300 * 1024
    links = [b for b in result.content if isinstance(b, types.ResourceLink)]
    assert len(links) == count


async def test_previews_can_be_turned_off_per_call_and_by_default(
    mcp: Client, emulator: Emulator, output: Path, make_settings: Callable[..., Settings]
) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "preview": "false"})
    assert not [b for b in result.content if isinstance(b, types.ImageContent)]
    assert data(result)["images"][0]["path"]
    settings = make_settings(output_dir=output, preview=False)
    async with Client(
        build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    ) as quiet:
        off = await quiet.call_tool("generate_image", {"positivePrompt": PROMPT})
        on = await quiet.call_tool("generate_image", {"positivePrompt": PROMPT, "preview": True})
    assert not [b for b in off.content if isinstance(b, types.ImageContent)]
    assert len([b for b in on.content if isinstance(b, types.ImageContent)]) == 1


async def test_with_saving_off_nothing_is_written_and_the_urls_are_given(
    emulator: Emulator, tmp_path: Path, home: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(output_dir=tmp_path / "out", save=False)
    before = tree(tmp_path, home)
    async with Client(
        build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    ) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        named = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "sale", "outputDir": "x"})
    (image,) = data(result)["images"]
    assert "path" not in image
    assert "folder" not in data(result)
    assert "had no effect" not in text(result)
    assert text(named).endswith(
        "fileName and outputDir had no effect: this server saves no files (IDEOGRAM_MCP_SAVE=false); the images are "
        "at their URLs."
    ), "what an agent chose is never dropped unsaid"
    # ... nor where a host gives the model the structured output alone (Claude Code): it had been in the text only.
    assert data(named)["message"].endswith("the images are at their URLs.")
    assert f"1. {image['imageURL']} (seed {image['seed']})" in text(result)
    assert "Image URLs expire" in text(result)
    assert [str(b.uri) for b in result.content if isinstance(b, types.ResourceLink)] == [image["imageURL"]]
    assert len([b for b in result.content if isinstance(b, types.ImageContent)]) == 1
    assert tree(tmp_path, home) == before


async def test_a_failed_download_still_returns_the_paid_image_url_and_says_why(
    emulator: Emulator, settings: Settings, output: Path
) -> None:
    app = httpx2.ASGITransport(emulator.app())

    async def images_gone(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            return httpx2.Response(503)
        return await app.handle_async_request(request)

    async with Client(build_server(settings, transport=httpx2.MockTransport(images_gone), clock=emulator.clock)) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    assert not result.is_error
    for n, image in enumerate(data(result)["images"], 1):
        assert "path" not in image
        expected = f"{n}. {image['imageURL']} (seed {image['seed']}) Not saved: could not be downloaded: "
        assert expected + "the image URL answered HTTP 503." in text(result).splitlines()
    assert emulator.charged == 0.12
    assert list(output.iterdir()) == []


async def test_a_slow_image_host_cannot_hold_the_call_past_its_time_and_get_generation_saves_later(
    emulator: Emulator, make_settings: Callable[..., Settings], output: Path, clock: ManualClock
) -> None:
    app = httpx2.ASGITransport(emulator.app())
    slow = {"seconds": 300.0}

    async def slow_images(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            await clock.sleep(slow["seconds"])
        return await app.handle_async_request(request)

    settings = make_settings(output_dir=output, wait_seconds=0.5, preview=False)
    async with Client(build_server(settings, transport=httpx2.MockTransport(slow_images), clock=clock)) as mcp:
        started = clock.monotonic()
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        took = clock.monotonic() - started
        slow["seconds"] = 0.0
        again = await mcp.call_tool("get_generation", {"taskUUID": data(result)["taskUUID"]})
    (image,) = data(result)["images"]
    assert took <= settings.wait_seconds + finish.SAVING_GRACE, "the call's time bounds the saving, with its grace"
    assert "path" not in image
    assert (
        f"{image['imageURL']} (seed {image['seed']}) Not saved: was still downloading when the call's time ran out."
        in text(result)
    )
    assert "get_generation with this taskUUID tries to save the unsaved images again" in text(result)
    (saved,) = data(again)["images"]
    assert Path(saved["path"]).read_bytes()[:3] == b"\xff\xd8\xff"
    assert emulator.charged == 0.06


async def test_an_output_folder_that_cannot_be_written_is_refused_before_anything_is_sent(
    emulator: Emulator, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    settings = make_settings(output_dir=blocked / "out")
    async with Client(
        build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    ) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        dry = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "dryRun": True})
    assert error_of(result) == {"kind": "unwritable_folder", "folder": str((blocked / "out").resolve())}
    assert text(result) == (
        f"Images cannot be saved in {(blocked / 'out').resolve()}: a file (not a folder) stands in its path. Nothing "
        "was sent or charged. Have the user set IDEOGRAM_MCP_OUTPUT_DIR (or the --output-dir the server is started "
        "with, which comes first) to a folder this server can write (or IDEOGRAM_MCP_SAVE=false to keep only the "
        "image URLs)."
    )
    assert not dry.is_error, "a dry run saves nothing, so it needs no folder"
    assert emulator.requests == []


async def test_a_folder_that_fails_after_the_task_was_sent_still_returns_the_paid_images(
    emulator: Emulator, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    app = httpx2.ASGITransport(emulator.app())

    async def folder_lost_once_sent(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and b'"imageInference"' in request.content and out.is_dir():
            shutil.rmtree(out)  # the disk changed under the server after it checked the folder
            out.write_text("not a folder any more")
        return await app.handle_async_request(request)

    settings = make_settings(output_dir=out)
    async with Client(
        build_server(settings, transport=httpx2.MockTransport(folder_lost_once_sent), clock=emulator.clock)
    ) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert not result.is_error
    (image,) = data(result)["images"]
    assert "path" not in image
    assert (
        f"Not saved: could not be saved in {out.resolve()}: a file (not a folder) of that name is in the way "
        "(make that folder writable or move what is in the way, then get_generation with this taskUUID saves it)."
    ) in text(result)
    assert image["imageURL"] in text(result)
    assert emulator.charged == 0.06


async def test_once_a_save_fails_on_a_full_disk_the_next_paid_call_is_refused_before_it_is_sent(
    mcp: Client, emulator: Emulator, output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder found writable was taken as such for 30 s whatever its saves met, and an empty probe file is written
    # on a full disk all the same: every call was sent and charged, its images unsaved.
    import errno
    from collections import namedtuple

    from ideogram_mcp.images import local

    first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
    assert "path" in first["images"][0]

    def full(*args: object, **kwargs: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(local.LocalFolders, "put", full)
    monkeypatch.setattr(local.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 300_000, 300_000))
    filled = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})  # the folder was found writable
    refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert "(free space on its disk, then get_generation with this taskUUID saves it)" in text(filled)
    assert error_of(refused)["kind"] == "unwritable_folder"
    assert text(refused).startswith(
        f"Images cannot be saved in {output.resolve()}: its disk has 0.3 MB free, too little for an image; free "
        "space there. Nothing was sent or charged."
    )
    assert emulator.charged == 0.12


@pytest.fixture
async def rooted(emulator: Emulator, tmp_path: Path, make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    """A session whose client offers tmp_path/project as its root; images are saved inside it."""
    settings = make_settings()
    async with with_roots(
        build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock),
        tmp_path / "project",
    ) as c:
        yield c


async def test_a_local_reference_image_inside_a_root_is_uploaded_and_its_uuid_sent(
    rooted: Client, emulator: Emulator, tmp_path: Path
) -> None:
    reference = png_file(tmp_path / "project" / "refs" / "palette.png")
    result = await rooted.call_tool(
        "generate_image",
        {"positivePrompt": PROMPT, "styleReferenceImages": [str(reference), "https://example.com/b.png"]},
    )
    assert not result.is_error, text(result)
    upload, inference = emulator.submitted
    assert upload["taskType"] == "imageUpload"
    assert upload["image"] == "data:image/png;base64," + base64.b64encode(reference.read_bytes()).decode()
    sent = inference["providerSettings"]["ideogram"]["styleReferenceImages"]
    assert sent[1] == "https://example.com/b.png"
    assert emulator.images[sent[0]].data == reference.read_bytes()


async def test_the_same_local_file_is_uploaded_once(rooted: Client, emulator: Emulator, tmp_path: Path) -> None:
    reference = png_file(tmp_path / "project" / "face.png")
    arguments = {"positivePrompt": PROMPT, "characterReferenceImages": [f"file://{reference}"]}
    await rooted.call_tool("generate_image", arguments)
    await rooted.call_tool("generate_image", arguments | {"styleReferenceImages": [str(reference)]})
    assert [t["taskType"] for t in emulator.submitted] == ["imageUpload", "imageInference", "imageInference"]


async def test_a_local_file_is_uploaded_again_once_runware_may_have_let_its_upload_go(
    rooted: Client, emulator: Emulator, clock: ManualClock, tmp_path: Path
) -> None:
    # Runware keeps an upload 30 days after its last use; a server serving for weeks had sent the first upload's UUID.
    reference = png_file(tmp_path / "project" / "face.png")
    arguments = {"positivePrompt": PROMPT, "characterReferenceImages": [str(reference)]}
    for days in (0, 24, 26, 27):
        clock.set_wall(1_800_000_000.0 + days * 86_400)
        assert not (await rooted.call_tool("generate_image", arguments)).is_error
    assert [t["taskType"] for t in emulator.submitted] == ["imageUpload", "imageInference", "imageInference"] * 2
    sent = [
        t["providerSettings"]["ideogram"]["characterReferenceImages"][0]
        for t in emulator.submitted
        if t["taskType"] == "imageInference"
    ]
    assert sent[0] == sent[1] != sent[2] == sent[3], "uploaded at day 0, used at day 24, uploaded again at day 26"
    assert emulator.images[sent[0]].data == emulator.images[sent[2]].data == reference.read_bytes()


@pytest.mark.parametrize("where", ["outside", "missing", "not-an-image", "symlink-out"])
async def test_a_local_reference_that_may_not_be_read_is_refused_with_nothing_sent(
    where: str, rooted: Client, emulator: Emulator, tmp_path: Path
) -> None:
    secret = png_file(tmp_path / "secret" / "id-card.png")
    path = {
        "outside": secret,
        "missing": tmp_path / "project" / "nope.png",
        "not-an-image": tmp_path / "project" / "notes.png",
        "symlink-out": tmp_path / "project" / "innocent.png",
    }[where]
    (tmp_path / "project").mkdir(exist_ok=True)
    (tmp_path / "project" / "notes.png").write_text("hello")
    (tmp_path / "project" / "innocent.png").symlink_to(secret)
    result = await rooted.call_tool(
        "generate_image", {"positivePrompt": PROMPT, "characterReferenceImages": [str(path)]}
    )
    problem = error_of(result)["problems"][0]
    assert problem["argument"] == "characterReferenceImages[0]"
    says = {
        "outside": "is outside the folders this server may read",
        "missing": "no such file",
        "not-an-image": "is not a PNG, JPEG or WEBP image",
        "symlink-out": "is outside the folders this server may read",
    }[where]
    assert says in problem["message"]
    assert "Nothing was generated and nothing was charged" in text(result)
    assert emulator.submitted == []


async def test_an_image_made_earlier_is_reused_by_its_saved_path_without_a_new_upload(
    rooted: Client, emulator: Emulator
) -> None:
    first = await rooted.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "draft"})
    (made,) = data(first)["images"]
    again = await rooted.call_tool("generate_image", {"positivePrompt": PROMPT, "styleReferenceImages": ["draft.jpg"]})
    assert not again.is_error, text(again)
    assert [t["taskType"] for t in emulator.submitted] == ["imageInference", "imageInference"]
    assert emulator.submitted[1]["providerSettings"]["ideogram"]["styleReferenceImages"] == [made["imageUUID"]]


async def test_the_key_is_in_no_file_and_no_log_line(
    mcp: Client, output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
    written = [p.read_bytes() for p in output.iterdir()]
    assert len(written) == 6
    assert not any(API_KEY.encode() in content for content in written)
    assert caplog.records
    assert API_KEY not in caplog.text


async def test_an_agent_may_choose_a_folder_inside_the_allowed_ones_and_nothing_else(
    emulator: Emulator, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    server = build_server(
        make_settings(), transport=httpx2.ASGITransport(emulator.app()), project=project, clock=emulator.clock
    )
    async with Client(server) as mcp:
        default = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "plain"}))
        logos = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "output_dir": "logos/2026"}))
        outside = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "outputDir": str(tmp_path)})
    assert Path(default["images"][0]["path"]) == (project / "ideogram-output" / "plain.jpg").resolve()
    assert Path(logos["images"][0]["path"]).parent == (project / "ideogram-output" / "logos" / "2026").resolve()
    assert logos["folder"] == str((project / "ideogram-output" / "logos" / "2026").resolve())
    assert error_of(outside)["problems"] == [
        {
            "argument": "outputDir",
            "message": f"is outside the folders this server may use ({project.resolve()}, "
            f"{(project / 'ideogram-output').resolve()}); give a folder inside one of them, e.g. a relative name such "
            "as 'logos', or have the user add it to IDEOGRAM_MCP_ALLOWED_DIRS.",
        }
    ]
    assert len(emulator.submitted) == 2


@pytest.mark.parametrize(
    ("folder", "says"),
    [
        ("file:///etc/logos", "not a URI: give the path itself"),
        ("file:/etc/logos", "not a URI: give the path itself"),
        ("logos\u200b", "without invisible characters"),
        ("\u202elogos\u202c", "without invisible characters"),
        ("camp\u2028aign", "without control characters (it has \\u2028)"),  # it had split the result's path line
        ("camp\x00aign", "without control characters (it has \\u0000)"),  # had said only "must be a folder path"
    ],
)
async def test_a_folder_given_as_a_uri_or_with_invisible_characters_is_refused(
    folder: str, says: str, mcp: Client, emulator: Emulator, output: Path
) -> None:
    refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "outputDir": folder})
    (problem,) = error_of(refused)["problems"]
    assert problem["argument"] == "outputDir"
    assert says in problem["message"]
    assert emulator.submitted == []
    assert not output.exists() or list(output.iterdir()) == [], "no folder made"


async def test_an_image_named_relative_to_the_calls_own_output_folder_is_found_there_too(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # Read only relative to the folder results' paths are relative to, "hero.jpg" beside the call's own outputDir
    # had become "no such file" on stdio, where results give absolute paths.
    made = data(
        await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "hero", "outputDir": "campaign"})
    )
    assert made["images"][0]["path"] == str((output / "campaign" / "hero.jpg").resolve())
    found = data(await mcp.call_tool("remove_background", {"image": "hero.jpg", "outputDir": "campaign"}))
    missing = await mcp.call_tool("remove_background", {"image": "nowhere.jpg", "outputDir": "campaign"})
    assert found["status"] == "done"
    # Each file on its own: the image beside the results' paths, its mask beside the call's outputDir.
    picture(output / "base.png", (64, 48))
    Image.new("L", (64, 48), 255).save(output / "campaign" / "m.png")
    both = {"image": "base.png", "mask": "m.png", "positivePrompt": "x", "outputDir": "campaign", "dryRun": True}
    assert data(await mcp.call_tool("edit_image", both))["status"] == "dry_run"
    # Only where no file is there: a file there that cannot be used is told with its own reason, never passed over
    # for another of its name; and one found only in the outputDir that cannot be used, with its reason.
    (output / "logo.png").write_text("not an image")
    picture(output / "campaign" / "logo.png", (64, 48))
    (output / "campaign" / "notes.png").write_text("not an image either")
    for name in ("logo.png", "notes.png"):
        refused = await mcp.call_tool("remove_background", {"image": name, "outputDir": "campaign", "dryRun": True})
        assert error_of(refused)["problems"][0]["message"] == "is not a PNG, JPEG or WEBP image."
    # A path that leads out of the usual folder but, from the outputDir, to a file inside it is found there too.
    picture(output / "campaign" / "up.png", (64, 48))
    up = {"image": "../up.png", "outputDir": "campaign/ref", "dryRun": True}  # beside the results: outside
    assert data(await mcp.call_tool("remove_background", up))["status"] == "dry_run"
    assert error_of(missing)["problems"][0]["message"] == f"no such file: {output.resolve() / 'nowhere.jpg'}."


async def test_a_folder_named_with_joiners_as_persian_and_emoji_write_them_is_taken(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    for folder in ("می\u200cخواهم", "family-👩\u200d👧"):  # noqa: RUF001 (Persian, as written)
        made = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "outputDir": folder}))
        assert Path(made["images"][0]["path"]).parent == (output / folder).resolve()


async def test_a_folder_name_too_long_is_said_to_be_the_folders_not_the_file_names(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # 90 Japanese characters are 270 bytes, over the 255 a name may have: "give a shorter fileName" had been said of
    # a one-letter fileName (found by audit).
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "outputDir": "あ" * 90, "fileName": "f"})
    assert result.is_error
    assert "its path is too long" in text(result)
    assert "fileName" not in text(result)
    assert emulator.requests == []


async def test_images_fetched_later_are_saved_in_the_folder_their_call_chose(
    emulator: Emulator, make_settings: Callable[..., Settings], output: Path, clock: ManualClock
) -> None:
    app = httpx2.ASGITransport(emulator.app())
    slow = {"seconds": 300.0}

    async def slow_images(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            await clock.sleep(slow["seconds"])
        return await app.handle_async_request(request)

    settings = make_settings(output_dir=output, wait_seconds=0.5, preview=False)
    async with Client(build_server(settings, transport=httpx2.MockTransport(slow_images), clock=clock)) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "outputDir": "later"}))
        slow["seconds"] = 0.0
        again = data(await mcp.call_tool("get_generation", {"task_uuid": first["taskUUID"]}))
    assert "path" not in first["images"][0]
    assert Path(again["images"][0]["path"]).parent == (output / "later").resolve()


@pytest.mark.parametrize("argument", ["outputDir", "styleReferenceImages"])
async def test_a_home_folder_of_no_such_user_is_refused_not_a_crash(
    argument: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, argument: "~nosuchuser4711/x.png"})
    assert error_of(result)["kind"] == "invalid_arguments"
    assert "no such user" in text(result)
    assert emulator.requests == []


async def test_a_clients_folders_are_resolved_once_for_a_run_of_calls_then_again(
    mcp: Client, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, output: Path
) -> None:
    from ideogram_mcp import files
    from ideogram_mcp.tools import FOLDERS_KEPT

    worked_out: list[Path | None] = []
    real = files.places

    def counted(output_dir: Path | None, *rest: Any) -> files.Places:
        worked_out.append(output_dir)
        return real(output_dir, *rest)

    monkeypatch.setattr(files, "places", counted)
    for _ in range(3):
        assert not (await mcp.call_tool("generate_image", {"prompt": "a cat", "preview": False})).is_error
    assert worked_out == [output]
    await clock.sleep(FOLDERS_KEPT)
    assert not (await mcp.call_tool("generate_image", {"prompt": "a cat", "preview": False})).is_error
    assert worked_out == [output, output], "a folder made or linked meanwhile is seen"


async def test_previews_that_skip_an_image_say_which_images_they_show(emulator: Emulator, settings: Settings) -> None:
    # The second image's download failed: two previews followed, unnumbered, and the second was taken for image 2.
    app = httpx2.ASGITransport(emulator.app())
    downloads = 0

    async def second_image_gone(request: httpx2.Request) -> httpx2.Response:
        nonlocal downloads
        if request.method == "GET":
            downloads += 1
            if downloads == 2:
                return httpx2.Response(503)
        return await app.handle_async_request(request)

    server = build_server(settings, transport=httpx2.MockTransport(second_image_gone), clock=emulator.clock)
    async with Client(server) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
        whole = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    assert len([c for c in result.content if isinstance(c, types.ImageContent)]) == 2
    assert "Previews, in order, of images 1 and 3." in text(result).splitlines()
    assert not any(line.startswith("Previews, in order") for line in text(whole).splitlines()), "1, 2: as listed"


async def test_a_file_name_given_again_numbers_its_images_after_those_the_folder_has(mcp: Client, output: Path) -> None:
    # A second set of "sign" had been saved as sign-1-2 and sign-2-2 beside sign-1 and sign-2, a third single "sign"
    # as sign-3 beside a set's sign-3-2: each image took the "-2" of a taken name on its own.
    made: list[list[str]] = []
    for count in (2, 2, 1, 1, 3):
        if made:  # a person's note beside the first set: its name is taken all the same
            (output / "SIGN-7.txt").write_text("not an image")
        result = await mcp.call_tool(
            "generate_image", {"positivePrompt": PROMPT, "numberResults": count, "fileName": "sign"}
        )
        made.append([Path(image["path"]).name for image in data(result)["images"]])
    assert made == [
        ["sign-1.jpg", "sign-2.jpg"],
        ["sign-8.jpg", "sign-9.jpg"],
        ["sign.jpg"],
        ["sign-10.jpg"],
        ["sign-11.jpg", "sign-12.jpg", "sign-13.jpg"],
    ]
    assert {p.name for p in output.iterdir()} == {
        "SIGN-7.txt",
        "sign.jpg",
        "sign.json",
        *(f"sign-{n}.{ext}" for n in (1, 2, 8, 9, 10, 11, 12, 13) for ext in ("jpg", "json")),
    }


async def test_a_set_whose_images_come_in_two_calls_keeps_the_numbers_its_first_image_took(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    for n in (1, 2):
        png_file(output / f"sign-{n}.png")
    emulator.render_seconds = 8.0  # the first image is ready at 4 s, the second at 8 s
    server = build_server(
        make_settings(output_dir=output, wait_seconds=6),
        transport=httpx2.ASGITransport(emulator.app()),
        clock=emulator.clock,
    )
    async with Client(server) as mcp:
        first = data(
            await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"})
        )
        await emulator.clock.sleep(5)
        later = data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]}))
    assert first["status"] == "pending"
    assert [Path(image["path"]).name for image in first["images"]] == ["sign-3.jpg"]
    assert [Path(image["path"]).name for image in later["images"]] == ["sign-3.jpg", "sign-4.jpg"]


async def test_a_folder_whose_names_cannot_be_read_still_has_every_image_saved(
    mcp: Client, output: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(self: object, folder: Path) -> list[str]:
        raise PermissionError(13, "Permission denied", str(folder))

    await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"})
    await clock.sleep(LONG_OVER)  # the numbers this server gave are long saved: the folder's names are read for them
    monkeypatch.setattr(LocalFolders, "names", unreadable)
    again = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"})
    assert not again.is_error, text(again)
    assert [Path(image["path"]).name for image in data(again)["images"]] == ["sign-1-2.jpg", "sign-2-2.jpg"]


async def test_calls_given_one_file_name_at_once_take_names_apart(mcp: Client, output: Path) -> None:
    made: dict[int, list[str | None]] = {}

    async def make(n: int, count: int) -> None:
        named = {"positivePrompt": PROMPT, "numberResults": count, "fileName": "sign"}
        made[n] = saved_names(await mcp.call_tool("generate_image", named))

    async with anyio.create_task_group() as calls:
        for n, count in enumerate([2, 1, 2, 1, 1]):
            calls.start_soon(make, n, count)
    names = [name or "not saved" for n in range(5) for name in made[n]]
    assert names.count("sign.jpg") == 1  # a single took the name itself
    assert all(re.fullmatch(r"sign(-[0-9]+)?\.jpg", name) for name in names), made
    assert len(set(names)) == 7, made
    sets = [[int(name[5:-4]) for name in names[:2]], [int(name[5:-4]) for name in names[3:5]]]
    assert [second - first for first, second in sets] == [1, 1], made  # each set's numbers together


async def test_numbers_given_and_deleted_are_given_again_once_the_calls_saving_them_are_long_over(
    mcp: Client, output: Path, clock: ManualClock
) -> None:
    async def sign() -> list[str]:
        result = await mcp.call_tool(
            "generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"}
        )
        return [Path(image["path"]).name for image in data(result)["images"]]

    def deleted() -> None:
        for path in output.glob("sign-*"):
            path.unlink()

    assert await sign() == ["sign-1.jpg", "sign-2.jpg"]
    deleted()
    assert await sign() == ["sign-3.jpg", "sign-4.jpg"]  # as far as this server knows, they may not be saved yet
    deleted()
    await clock.sleep(LONG_OVER)
    assert await sign() == ["sign-1.jpg", "sign-2.jpg"]


def saved_names(result: types.CallToolResult) -> list[str | None]:
    return [Path(image["path"]).name if image.get("path") else None for image in data(result)["images"]]


async def test_a_set_still_rendering_keeps_its_numbers_across_a_restart(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    # A set's numbers were known to the server that gave them, for 2 minutes: a set still rendering across a
    # restart (or for longer) had its later images saved as sign-2-2 beside another set's sign-2 (found by review).
    emulator.render_seconds = 60.0  # a set's images one after another over 60 s
    transport = httpx2.ASGITransport(emulator.app())
    named = {"positivePrompt": PROMPT, "fileName": "sign"}
    settings = make_settings(output_dir=output, wait_seconds=35)
    async with Client(build_server(settings, transport=transport, clock=emulator.clock)) as mcp:
        slow = await mcp.call_tool("generate_image", named | {"numberResults": 2})  # its second image at 60 s
    settings = make_settings(output_dir=output, wait_seconds=18)
    async with Client(build_server(settings, transport=transport, clock=emulator.clock)) as mcp:  # restarted
        other = await mcp.call_tool("generate_image", named | {"numberResults": 8})  # one image every 7.5 s
        await emulator.clock.sleep(60)
        slow_again = await mcp.call_tool("get_generation", {"taskUUID": data(slow)["taskUUID"]})
        other_again = await mcp.call_tool("get_generation", {"taskUUID": data(other)["taskUUID"]})
    assert (data(slow)["status"], saved_names(slow)) == ("pending", ["sign-1.jpg"])
    assert (data(other)["status"], saved_names(other)) == ("pending", ["sign-3.jpg", "sign-4.jpg"])
    assert saved_names(slow_again) == ["sign-1.jpg", "sign-2.jpg"]
    assert saved_names(other_again) == [f"sign-{n}.jpg" for n in range(3, 11)]


async def test_a_set_not_saved_keeps_its_numbers_until_it_is(
    mcp: Client, output: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    put = LocalFolders.put

    def full(self: LocalFolders, *args: Any) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalFolders, "put", full)
    refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"})
    elsewhere = await mcp.call_tool(
        "generate_image", {"positivePrompt": PROMPT, "numberResults": 3, "fileName": "sign", "outputDir": "drafts"}
    )
    assert saved_names(refused) == saved_names(elsewhere)[:2] == [None, None]
    monkeypatch.setattr(LocalFolders, "put", put)  # the user freed some space
    await clock.sleep(LONG_OVER)
    later = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "SIGN"})
    again = await mcp.call_tool("get_generation", {"taskUUID": data(refused)["taskUUID"]})
    assert saved_names(later) == ["SIGN-3.jpg", "SIGN-4.jpg"]  # another folder's unsaved set is not in the way
    assert saved_names(again) == ["sign-1.jpg", "sign-2.jpg"]


async def test_a_set_made_while_saving_was_off_is_numbered_after_the_folder_for_a_later_save(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    transport = httpx2.ASGITransport(emulator.app())
    named = {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"}
    async with Client(build_server(make_settings(output_dir=output), transport=transport, clock=emulator.clock)) as on:
        first = await on.call_tool("generate_image", named)
    off = make_settings(output_dir=output, save=False)
    async with Client(build_server(off, transport=transport, clock=emulator.clock)) as mcp:
        unsaved = await mcp.call_tool("generate_image", named)
    async with Client(build_server(make_settings(output_dir=output), transport=transport, clock=emulator.clock)) as on:
        saved = await on.call_tool("get_generation", {"taskUUID": data(unsaved)["taskUUID"]})
    assert saved_names(first) == ["sign-1.jpg", "sign-2.jpg"]
    assert saved_names(unsaved) == [None, None]
    assert saved_names(saved) == ["sign-3.jpg", "sign-4.jpg"]


async def test_numbers_go_on_to_999_and_a_folders_longer_ones_are_not_in_the_way(
    mcp: Client, output: Path, clock: ManualClock
) -> None:
    output.mkdir(parents=True)
    for name in ("poster-2024.jpg", "sign-997.jpg", "logo.png", "logo-999.png"):
        (output / name).write_bytes(b"a person's file")
    logo = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "logo"})
    poster = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "poster"})
    sign = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"})
    await clock.sleep(LONG_OVER)
    past = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"})
    assert saved_names(poster) == ["poster-1.jpg", "poster-2.jpg"]
    assert saved_names(sign) == ["sign-998.jpg", "sign-999.jpg"]
    assert saved_names(past) == ["sign-1.jpg", "sign-2.jpg"]  # from 1 again, past 999: none of them taken
    assert saved_names(logo) == ["logo.jpg"]  # never logo-1000: the name as given, the store's "-2" if it is taken


class SlowFirstImages(httpx2.AsyncBaseTransport):
    """The emulator, but the first ``times`` image downloads take ``seconds`` (a slow CDN)."""

    def __init__(self, emulator: Emulator, times: int, seconds: float) -> None:
        self._inner = httpx2.ASGITransport(emulator.app())
        self.times, self.seconds, self.clock = times, seconds, emulator.clock

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and self.times > 0:
            self.times -= 1
            await self.clock.sleep(self.seconds)
        return await self._inner.handle_async_request(request)


async def test_a_set_waiting_past_two_minutes_for_its_turn_to_be_saved_keeps_its_numbers(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    # Numbered as its images came, recorded once its saving began: a set that waited longer than 2 minutes for an
    # image lane had its numbers given to the next call (found by review).
    settings = make_settings(output_dir=output, wait_seconds=300, max_in_flight=100, preview=False)
    server = build_server(settings, transport=SlowFirstImages(emulator, times=8, seconds=250), clock=emulator.clock)
    made: dict[str, list[str | None]] = {}
    async with Client(server) as mcp:

        async def call(key: str, arguments: dict[str, Any]) -> None:
            made[key] = saved_names(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT} | arguments))

        async with anyio.create_task_group() as calls:
            for n in range(8):  # eight calls whose downloads are slow hold the eight image lanes
                calls.start_soon(call, f"slow{n}", {"numberResults": 1})
            await emulator.clock.sleep(1)
            calls.start_soon(call, "first", {"numberResults": 2, "fileName": "sign"})
            await emulator.clock.sleep(130)
            calls.start_soon(call, "second", {"numberResults": 2, "fileName": "sign"})
    assert made["first"] == ["sign-1.jpg", "sign-2.jpg"]
    assert made["second"] == ["sign-3.jpg", "sign-4.jpg"]


async def test_a_folder_slow_to_list_does_not_hold_the_call_past_its_time(
    make_settings: Callable[..., Settings], output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bucket (or a network folder) that takes minutes to list had held the saving, and the call's answer, as long.
    # On the machine's clock: a test's clock stands still while a thread works.
    released, listed = threading.Event(), threading.Event()

    def hanging(self: LocalFolders, folder: Path) -> list[str]:
        released.wait(120)
        listed.set()
        return []

    monkeypatch.setattr(LocalFolders, "names", hanging)
    emulator = Emulator(api_key=API_KEY)
    server = build_server(
        make_settings(output_dir=output, wait_seconds=5), transport=httpx2.ASGITransport(emulator.app())
    )
    try:
        async with Client(server) as mcp:
            made = await mcp.call_tool(
                "generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "sign"}
            )
            answered_before_the_listing = not listed.is_set()
    finally:
        released.set()
    assert answered_before_the_listing
    assert not made.is_error, text(made)
    assert saved_names(made) == ["sign-1.jpg", "sign-2.jpg"]  # named as in an empty folder, and saved
