"""Saved images as MCP resources: listed newest first and paged, read whole, announced when new."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gc
import io
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourcesListChanged
from PIL import Image

from ideogram_mcp import cursors, files, resources
from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.images import SavedImage
from ideogram_mcp.images.formats import image_format
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.sizes import ratios
from ideogram_mcp.specs import load_spec

from .conftest import text, with_roots

pytestmark = pytest.mark.anyio


def images(result: types.CallToolResult) -> list[dict[str, Any]]:
    return cast(dict[str, Any], result.structured_content)["images"]


async def test_saved_images_are_listed_newest_first_a_page_at_a_time(
    mcp: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "PAGE", 2)
    made: list[dict[str, Any]] = []
    for n in range(3):
        made += images(await mcp.call_tool("generate_image", {"positivePrompt": f"image {n}", "fileName": f"i{n}"}))
    first = await mcp.list_resources()
    second = await mcp.list_resources(cursor=first.next_cursor)
    assert second.next_cursor is None
    listed = first.resources + second.resources
    assert [r.name for r in listed] == ["i2.jpg", "i1.jpg", "i0.jpg"]
    assert [str(r.uri) for r in listed] == [Path(i["path"]).as_uri() for i in reversed(made)]
    assert {r.mime_type for r in listed} == {"image/jpeg"}
    assert listed[0].size == Path(made[2]["path"]).stat().st_size
    assert listed[0].description == f"1024x1024, seed {made[2]['seed']}: image 2"


async def test_an_image_made_with_no_prompt_is_described_by_its_size_alone(mcp: Client) -> None:
    (made,) = images(await mcp.call_tool("generate_image", {"positivePrompt": "a kite", "fileName": "kite"}))
    (cut,) = images(await mcp.call_tool("remove_background", {"image": made["path"], "fileName": "cut"}))
    listed = {r.name: r for r in (await mcp.list_resources()).resources}
    assert listed["cut.png"].description == f"{cut['width']}x{cut['height']}"  # it had ended in ": ", found by an audit


async def test_images_saved_or_removed_between_pages_neither_repeat_nor_go_missing(
    mcp: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "PAGE", 2)
    made = [
        images(await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": f"i{n}"}))[0] for n in range(4)
    ]
    first = await mcp.list_resources()
    assert [r.name for r in first.resources] == ["i3.jpg", "i2.jpg"]
    await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "a-new"})  # newest: first from now on
    Path(made[1]["path"]).unlink()  # one the next page would have listed
    second = await mcp.list_resources(cursor=first.next_cursor)
    assert [r.name for r in second.resources] == ["i0.jpg"]
    assert second.next_cursor is None


async def test_images_made_at_the_same_moment_are_each_listed_once_a_page_at_a_time(
    mcp: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "PAGE", 1)
    for folder in (None, "brand"):  # on the tests' clock, the two images of a call are made at the same moment
        given = {"positivePrompt": "x", "numberResults": 2, "fileName": "same"} | (
            {"outputDir": folder} if folder else {}
        )
        await mcp.call_tool("generate_image", given)
    listed: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        page = await mcp.list_resources(cursor=cursor)
        listed += [str(r.uri) for r in page.resources]
        if (cursor := page.next_cursor) is None:
            break
    assert len(listed) == len(set(listed)) == 4
    assert sorted(uri.rsplit("/", 2)[-2] for uri in listed).count("brand") == 2


async def test_a_saved_image_is_read_whole_as_a_blob(mcp: Client) -> None:
    (image,) = images(await mcp.call_tool("generate_image", {"positivePrompt": "x", "outputFormat": "WEBP"}))
    uri = Path(image["path"]).as_uri()
    read = await mcp.read_resource(uri)
    (content,) = read.contents
    assert isinstance(content, types.BlobResourceContents)
    assert content.mime_type == "image/webp"
    assert base64.b64decode(content.blob) == Path(image["path"]).read_bytes()


async def test_only_images_this_server_saved_in_its_folder_can_be_read(
    mcp: Client, output: Path, tmp_path: Path
) -> None:
    await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    saved = next(output.glob("*.jpg"))
    (output / "private.jpg").write_bytes(saved.read_bytes())
    (output / f"{saved.stem}.png").write_bytes(saved.read_bytes())  # beside a recipe that names another file
    (tmp_path / "elsewhere.jpg").write_bytes(b"\xff\xd8\xff")
    for uri in (
        (output / "private.jpg").as_uri(),
        (output / f"{saved.stem}.png").as_uri(),
        (tmp_path / "elsewhere.jpg").as_uri(),
        (output / ".." / "elsewhere.jpg").as_uri(),
        "https://example.com/a.jpg",
    ):
        with pytest.raises(MCPError, match="resources/list"):
            await mcp.read_resource(uri)


async def test_the_template_names_the_output_folder(mcp: Client, output: Path) -> None:
    (template,) = (await mcp.list_resource_templates()).resource_templates
    assert template.uri_template == output.resolve().as_uri() + "/{fileName}"


async def test_a_2025_client_is_told_when_new_images_are_saved(
    settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock
) -> None:
    announced = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceListChangedNotification):
            announced.set()

    async with Client(
        build_server(settings, transport=transport, clock=clock), mode="legacy", message_handler=on_message
    ) as legacy:
        capabilities = legacy.server_capabilities.resources
        assert capabilities is not None
        assert capabilities.list_changed is True
        await legacy.call_tool("generate_image", {"positivePrompt": "x", "preview": False})
        with anyio.fail_after(5):
            await announced.wait()


async def test_a_2026_client_listening_is_told_when_new_images_are_saved(mcp: Client) -> None:
    async with mcp.listen(resources_list_changed=True) as events:
        await mcp.call_tool("generate_image", {"positivePrompt": "x", "preview": False})
        with anyio.fail_after(5):
            assert await anext(events) == ResourcesListChanged()


async def test_images_a_pending_call_leaves_to_the_background_are_announced_when_saved(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    # The call answers pending and the server's background work saves the image: no one had been told, and a later
    # get_generation, finding it saved, told no one either.
    settings = make_settings(output_dir=output, wait_seconds=5)
    transport = httpx2.ASGITransport(emulator.app())
    heard = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceListChangedNotification):
            heard.set()

    emulator.render_seconds = 20.0
    server = build_server(settings, transport=transport, clock=emulator.clock)
    async with Client(server, mode="legacy", message_handler=on_message) as legacy:
        pending = await legacy.call_tool("generate_image", {"positivePrompt": "slow", "preview": False})
        assert (pending.structured_content or {})["status"] == "pending"
        assert not heard.is_set()
        await emulator.clock.sleep(120)  # the background work fetches and saves the image meanwhile
        assert len(list(output.glob("*.jpg"))) == 1
        with anyio.fail_after(5):
            await heard.wait()
    server = build_server(settings, transport=transport, clock=emulator.clock)
    async with Client(server) as modern, modern.listen(resources_list_changed=True) as events:
        pending = await modern.call_tool("generate_image", {"positivePrompt": "slow", "preview": False})
        assert (pending.structured_content or {})["status"] == "pending"
        await emulator.clock.sleep(120)
        assert len(list(output.glob("*.jpg"))) == 2
        with anyio.fail_after(5):
            assert await anext(events) == ResourcesListChanged()


async def test_a_2026_client_hears_of_a_background_save_once_and_the_pending_calls_are_not_kept(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    # A 2026-07-28 client had heard each background save twice (a connection notification beside its listen
    # stream), and each pending call's whole request (inline images and all) was kept while its task was seen
    # through, for up to a day.
    told: list[object] = []

    async def on_message(message: object) -> None:  # those for the connection, not a listen stream's
        if isinstance(message, types.ResourceListChangedNotification):
            meta = message.params.meta if message.params is not None else None
            if not (meta or {}).get("io.modelcontextprotocol/subscriptionId"):
                told.append(message)

    emulator.render_seconds = 20.0
    settings = make_settings(output_dir=output, wait_seconds=5)
    server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(png, format="PNG")
    inline = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    async with Client(server, message_handler=on_message) as mcp, mcp.listen(resources_list_changed=True) as events:
        for n in range(3):
            arguments = {"image": [inline], "positivePrompt": f"slow {n}", "preview": False}
            pending = await mcp.call_tool("remix_image", arguments)
            assert (pending.structured_content or {})["status"] == "pending"
        gc.collect()
        kept = [c for c in gc.get_objects() if isinstance(c, ServerRequestContext) and c.method == "tools/call"]
        await emulator.clock.sleep(120)
        with anyio.fail_after(5):
            assert await anext(events) == ResourcesListChanged()
    assert len(list(output.glob("*.jpg"))) == 3
    assert told == []
    assert len(kept) <= 1, "at most the last call's, held by its progress beat"


async def test_an_image_saved_before_the_output_folder_moved_gets_no_link_its_resources_would_refuse(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # IDEOGRAM_MCP_OUTPUT_DIR moved, the journal the same: get_generation of an older task gave a file:// link that
    # resources/read answered "No image saved by this server at ...".
    def server(folder: Path) -> Any:
        settings = make_settings(output_dir=folder)
        return build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)

    async with Client(server(tmp_path / "january")) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": "a logo"})
    (image,) = (made.structured_content or {})["images"]
    async with Client(server(tmp_path / "february")) as mcp:
        again = await mcp.call_tool("get_generation", {"taskUUID": (made.structured_content or {})["taskUUID"]})
        links = [block for block in again.content if isinstance(block, types.ResourceLink)]
        for link in links:
            await mcp.read_resource(str(link.uri))  # every link given leads to the image
    assert links == []
    assert image["path"] in text(again), "the file is still named by its path"
    assert [block.type for block in again.content] == ["text", "image"], "and previewed"


async def test_a_prompts_ratio_argument_completes_to_the_listed_ratios_it_starts_with(mcp: Client) -> None:
    poster = types.PromptReference(name="poster")
    completed = await mcp.complete(poster, {"name": "aspect_ratio", "value": "1"})
    assert completed.completion == types.Completion(
        values=["16:9", "16:10", "1:1", "10:16", "1:2", "1:3"], total=6, has_more=False
    )
    everything = await mcp.complete(poster, {"name": "aspect_ratio", "value": ""})
    assert everything.completion.values[:3] == ["3:1", "21:9", "2:1"], "widest first"
    assert everything.completion.total == 19


async def test_the_ideogram_4_layout_prompts_ratio_completes_to_ideogram_4s_ratios(mcp: Client) -> None:
    layout = types.PromptReference(name="poster-layout")
    completed = await mcp.complete(layout, {"name": "aspect_ratio", "value": "8"})
    assert completed.completion.values == ["8:3", "8:5"], "4.0's own, which 3.0 does not list"
    everything = await mcp.complete(layout, {"name": "aspect_ratio", "value": ""})
    assert everything.completion.total == len(ratios(load_spec("ideogram:4@0").sizes))


async def test_an_image_argument_and_the_resource_template_complete_to_saved_image_names(
    mcp: Client, output: Path
) -> None:
    for name in ("sale-poster", "sale-banner", "menu"):
        await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": name, "preview": False})
    fix_text = types.PromptReference(name="fix-text")
    by_prompt = await mcp.complete(fix_text, {"name": "image", "value": "SALE"})
    template = types.ResourceTemplateReference(uri=output.resolve().as_uri() + "/{fileName}")
    by_template = await mcp.complete(template, {"name": "fileName", "value": "m"})
    assert sorted(by_prompt.completion.values) == ["sale-banner.jpg", "sale-poster.jpg"]
    assert by_template.completion == types.Completion(values=["menu.jpg"], total=1, has_more=False)


async def test_a_saved_names_completion_matches_as_unicode_compares_text_without_case(mcp: Client) -> None:
    # Matched by lower() alone, "café-straße" was not found typed with é as e and its accent (as macOS writes it), nor
    # as "café-strasse" (found by audit).
    await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "café-straße", "preview": False})
    fix_text = types.PromptReference(name="fix-text")
    for typed in ("caf", "CAFÉ", "cafe\u0301", "CAFE\u0301-STRASSE", "café-strasse", "ｃａｆé"):
        completed = await mcp.complete(fix_text, {"name": "image", "value": typed})
        assert completed.completion.values == ["café-straße.jpg"], typed
    assert not (await mcp.complete(fix_text, {"name": "image", "value": "cafe-"})).completion.values


async def test_an_image_saved_in_a_folder_of_its_own_is_suggested_as_a_tool_reads_it_and_not_by_the_template(
    mcp: Client, output: Path
) -> None:
    await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "logo", "outputDir": "brand"})
    await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "logo-draft"})
    by_prompt = await mcp.complete(types.PromptReference(name="fix-text"), {"name": "image", "value": "lo"})
    assert sorted(by_prompt.completion.values) == ["brand/logo.jpg", "logo-draft.jpg"]
    reframed = await mcp.call_tool("reframe_image", {"image": "brand/logo.jpg", "aspectRatio": "16:9", "dryRun": True})
    assert not reframed.is_error, "the suggestion is a name the tools read"
    template = types.ResourceTemplateReference(uri=output.resolve().as_uri() + "/{fileName}")
    by_template = await mcp.complete(template, {"name": "fileName", "value": "lo"})
    assert by_template.completion.values == ["logo-draft.jpg"]  # the template's folder holds only that one


async def test_arguments_with_nothing_to_suggest_complete_to_nothing(mcp: Client, output: Path) -> None:
    await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "headline", "preview": False})
    nothing = types.Completion(values=[], total=0, has_more=False)
    completed = await mcp.complete(types.PromptReference(name="poster"), {"name": "headline", "value": "h"})
    assert completed.completion == nothing


async def test_a_completion_of_a_prompt_argument_or_template_the_server_has_not_is_refused_naming_those_it_has(
    mcp: Client, output: Path
) -> None:
    # Answered with nothing, a typo looked like "no matches" (the spec asks -32602 for an unknown prompt).
    template = output.resolve().as_uri() + "/{fileName}"
    refusals: list[str] = []
    for ref, argument in (
        (types.PromptReference(name="flyer"), "aspect_ratio"),
        (types.PromptReference(name="poster"), "no-such-argument"),
        (types.ResourceTemplateReference(uri=template), "folder"),
        (types.ResourceTemplateReference(uri="https://elsewhere.example/{fileName}"), "fileName"),
    ):
        with pytest.raises(MCPError) as refused:
            await mcp.complete(ref, {"name": argument, "value": "h"})
        assert refused.value.error.code == types.INVALID_PARAMS
        refusals.append(str(refused.value))
    assert refusals[0].startswith("No prompt is named 'flyer': the prompts are ")
    assert "poster" in refusals[0]
    assert refusals[1].startswith("The prompt poster has no argument 'no-such-argument': its arguments are ")
    # It had said "No resource template of this server is <the template>", naming it: the argument was wrong.
    assert refusals[2] == f"The resource template {template} has no argument 'folder': its one argument is fileName."
    assert refusals[3] == (
        "No resource template of this server is 'https://elsewhere.example/{fileName}': its one template is "
        f"{template}."
    )


async def test_a_saved_image_overwritten_with_something_else_is_no_longer_served(mcp: Client) -> None:
    (image,) = images(await mcp.call_tool("generate_image", {"positivePrompt": "x", "preview": False}))
    path = Path(image["path"])
    path.write_text("notes the user pasted over the image")
    with pytest.raises(MCPError) as refused:
        await mcp.read_resource(path.as_uri())
    assert str(refused.value) == f"{path.as_uri()} is no longer a PNG, JPEG or WEBP image."


async def test_a_saved_image_that_cannot_be_read_is_said_so_without_the_servers_path(
    mcp: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK answered the PermissionError itself: error code 0 (no JSON-RPC code) and its words, the absolute path.
    (image,) = images(await mcp.call_tool("generate_image", {"positivePrompt": "x", "preview": False}))
    path = Path(image["path"])
    reading = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == path.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return reading(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(MCPError) as refused:
        await mcp.read_resource(path.as_uri())
    assert refused.value.error.code == types.INVALID_PARAMS
    assert str(refused.value) == (
        f"{path.as_uri()} is saved but cannot be read (Permission denied): have the user check the file's permissions."
    )


async def test_a_resource_handler_failing_unexpectedly_is_an_internal_error_without_its_words(
    mcp: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise OSError(5, "Input/output error", "/srv/private/out/x.json")

    monkeypatch.setattr(resources, "_galleries", broken)
    with pytest.raises(MCPError) as failed:
        await mcp.list_resources()
    assert failed.value.error.code == types.INTERNAL_ERROR
    assert str(failed.value) == "The server hit an internal error; nothing more is known. Its log (stderr) has details."


async def test_an_image_whose_links_loop_is_left_out_of_the_list_not_a_failure_of_it(mcp: Client) -> None:
    await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "kept", "preview": False})
    (image,) = images(
        await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "loop", "preview": False})
    )
    path = Path(image["path"])
    path.unlink()
    path.symlink_to(path)  # a link to itself: resolving it fails
    listed = await mcp.list_resources()
    assert [resource.name for resource in listed.resources] == ["kept.jpg"]


@pytest.mark.parametrize("cursor", ["²", "9" * 5000, "-1", "1e3", "x"])
async def test_a_cursor_the_server_never_gave_is_refused_plainly(cursor: str, mcp: Client) -> None:
    with pytest.raises(MCPError) as refused:
        await mcp.list_resources(cursor=cursor)
    assert refused.value.error.code == types.INVALID_PARAMS
    assert refused.value.error.message.startswith("Not a cursor this server gave: ")
    assert refused.value.error.message.endswith(". Start without one.")
    assert len(refused.value.error.message) < 120


async def test_odd_files_in_the_output_folder_are_never_listed_nor_served_and_never_stall_the_list(
    mcp: Client, output: Path, tmp_path: Path
) -> None:
    made = images(await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "real"}))[0]
    recipe = (output / "real.json").read_text()
    (tmp_path / "secret.jpg").write_bytes(Path(made["path"]).read_bytes())
    (output / "link.jpg").symlink_to(tmp_path / "secret.jpg")  # a link out of the folder
    (output / "link.json").write_text(recipe.replace('"real.jpg"', '"link.jpg"'))
    (output / "self.json").write_text(recipe.replace('"real.jpg"', '"self.json"'))  # a recipe naming itself
    (output / "odd.jpg").write_bytes(Path(made["path"]).read_bytes())
    odd = recipe.replace('"real.jpg"', '"odd.jpg"').replace('"width": 1024', '"width": "' + "W" * 10_000 + '"')
    (output / "odd.json").write_text(odd)
    os.mkfifo(output / "pipe.json")  # read, it would block for ever
    with anyio.fail_after(20):
        listed = (await mcp.list_resources()).resources
    assert sorted(r.name for r in listed) == ["odd.jpg", "real.jpg"]
    assert [r.description for r in listed if r.name == "odd.jpg"] == ["size unknown, seed " + str(made["seed"]) + ": x"]
    with pytest.raises(MCPError, match="Not an image resource of this server"):
        await mcp.read_resource((output / "real.jpg").as_uri().replace("real.jpg", "re%00al.jpg"))


async def test_a_session_in_one_project_lists_and_reads_none_of_another_projects_images(
    make_settings: Any, transport: httpx2.ASGITransport, clock: ManualClock, tmp_path: Path
) -> None:
    # On stdio every session of a user shares one journal, which records each folder images were saved in.
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    settings = make_settings()

    def rooted(folder: Path) -> Client:
        return with_roots(build_server(settings, transport=transport, clock=clock), folder)

    async with rooted(first) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "first-logo"})
        (saved,) = [r.uri for r in (await mcp.list_resources()).resources]
    assert Path(images(made)[0]["path"]).parent == first / "ideogram-output"
    async with rooted(second) as mcp:
        assert (await mcp.list_resources()).resources == []
        with pytest.raises(MCPError, match="No image saved by this server at"):
            await mcp.read_resource(saved)
    async with rooted(first) as mcp:  # its own project still lists it
        assert [r.uri for r in (await mcp.list_resources()).resources] == [saved]


def test_a_remote_connections_cursor_tells_no_path_of_the_server(tmp_path: Path) -> None:
    own = tmp_path / "srv" / "out" / "token-folder"
    where = dataclasses.replace(files.places(own, [], []), root=own.resolve())
    image = SavedImage(own.resolve() / "logos" / "a.jpg", image_format("JPG"), "2026-12-06T00:00:00", 1, "")
    cursor = cursors.cursor(resources._place(where, image))  # pyright: ignore[reportPrivateUsage]
    assert json.loads(base64.urlsafe_b64decode(cursor)) == ["2026-12-06T00:00:00", "logos/a.jpg"]


async def test_an_image_whose_name_holds_a_percent_sign_is_read_back_by_the_link_its_result_gave(
    mcp: Client, output: Path
) -> None:
    # A name whose % reads as an escape ("%25"): decoded twice, the link named another file.
    made = await mcp.call_tool("generate_image", {"positivePrompt": "a sale sign", "fileName": "sale 50%25 off"})
    (link,) = [block for block in made.content if isinstance(block, types.ResourceLink)]
    read = await mcp.read_resource(str(link.uri))
    remixed = await mcp.call_tool("remix_image", {"image": str(link.uri), "positivePrompt": "bolder", "dryRun": True})
    assert str(link.uri).endswith("/sale%2050%2525%20off.jpg")
    assert read.contents, "the file:// link a result gives is read back"
    assert not remixed.is_error, text(remixed)
    assert (output / "sale 50%25 off.jpg").is_file()


async def test_a_cursor_for_a_list_given_whole_is_refused_not_read_as_none(mcp: Client) -> None:
    for listing in (mcp.list_tools, mcp.list_prompts, mcp.list_resource_templates):
        with pytest.raises(MCPError) as refused:
            await listing(cursor="bm90LWEtY3Vyc29y")
        assert refused.value.error.code == types.INVALID_PARAMS
        assert str(refused.value) == (
            "Not a cursor this server gave: 'bm90LWEtY3Vyc29y'. This list comes whole: ask without a cursor."
        )
    assert (await mcp.list_tools()).tools, "without one, the list"


async def test_a_folder_named_in_another_encoding_neither_takes_an_image_nor_breaks_a_listing(
    mcp: Client, emulator: Emulator, output: Path, data_dir: Path
) -> None:
    # An outputDir linking to a folder named in Latin-1 (caf\xe9) had been taken: the paid image saved, and the folder,
    # kept in the journal as "\udce9", made every resources/list and completion fail from then on, in every later
    # server (found by review).
    output.mkdir(parents=True)
    latin = os.fsdecode(os.fsencode(output) + b"/caf\xe9")
    os.mkdir(latin)
    os.symlink(latin, output / "link")
    refused = await mcp.call_tool("generate_image", {"positivePrompt": "x", "outputDir": "link"})
    assert refused.is_error
    assert "leads to a folder whose name is not text here" in text(refused)
    assert emulator.requests == []
    # A journal written before the refusal: its folder is read back as it was kept, and the listing goes on.
    assert not (await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "kept"})).is_error
    with contextlib.closing(sqlite3.connect(data_dir / "journal.sqlite3")) as journal, journal:
        journal.execute("UPDATE tasks SET options = json_set(options, '$.folder', json(?))", (json.dumps(latin),))
    listed = await mcp.list_resources()
    completed = await mcp.complete(types.PromptReference(name="fix-text"), {"name": "image", "value": "ke"})
    assert [r.name for r in listed.resources] == ["kept.jpg"]
    assert completed.completion.values == ["kept.jpg"]


@pytest.mark.parametrize("images_folder", ["linked to one named in another encoding", "a loop of links"])
async def test_a_root_whose_images_folder_no_result_could_name_is_passed_over(
    images_folder: str,
    make_settings: Callable[..., Settings],
    transport: httpx2.ASGITransport,
    clock: ManualClock,
    tmp_path: Path,
    home: Path,
) -> None:
    # The root's name is text, but its ideogram-output led to caf\xe9: the paid image was saved there, and a team's
    # journal (PostgreSQL) refused its folder at every resources/list from then on; a loop of links had made each call
    # and each listing an internal error, RuntimeError "Symlink loop" (found by reviews).
    project = tmp_path / "project"
    project.mkdir()
    latin = os.fsdecode(os.fsencode(project) + b"/caf\xe9")
    if images_folder == "a loop of links":
        os.symlink(project / files.OUTPUT_SUBFOLDER, project / files.OUTPUT_SUBFOLDER)
    else:
        os.mkdir(latin)
        os.symlink(latin, project / files.OUTPUT_SUBFOLDER)
    async with with_roots(build_server(make_settings(preview=False), transport=transport, clock=clock), project) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "here"})
        listed = await mcp.list_resources()
    assert not made.is_error, text(made)
    (image,) = cast(dict[str, Any], made.structured_content)["images"]
    assert Path(image["path"]).is_relative_to(home), "the per-user folder, as where no root is"
    assert [r.name for r in listed.resources] == ["here.jpg"]
    if images_folder != "a loop of links":
        assert not os.listdir(latin)


async def test_a_call_that_saved_no_file_announces_no_new_image(
    make_settings: Callable[..., Settings], transport: httpx2.ASGITransport, clock: ManualClock
) -> None:
    announced: list[object] = []

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceListChangedNotification):
            announced.append(message)

    server = build_server(make_settings(save=False), transport=transport, clock=clock)
    async with Client(server, mode="legacy", message_handler=on_message) as legacy:
        made = await legacy.call_tool("generate_image", {"positivePrompt": "x", "preview": False})
        await legacy.list_resources()  # a round trip after the call: a notice it sent has arrived by now
    assert not made.is_error
    assert announced == []
