"""A server whose images are kept in an S3-compatible bucket (IDEOGRAM_MCP_STORAGE_URL), served over HTTP with
tokens, against a real SeaweedFS: images and recipes go to the bucket and nowhere on disk, results carry a
download link beside the resource link, resources are listed and read from the bucket, a saved image is edited by
its resource URI, and a start whose bucket cannot be reached stops with one line saying so."""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any, cast

import httpx2
import mcp_types as types
import obstore
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from ideogram_mcp import files, http
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.images.s3 import BucketStore
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks import finish, life
from tests.conftest import error_of, text
from tests.conftest import structured as data
from tests.objectstore import S3Server
from tests.processes import Running, clean_env, free_port
from tests.test_http import TOKENS, connect, served

pytestmark = pytest.mark.anyio


@pytest.fixture
def in_bucket(
    s3: S3Server, make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, str]:
    """Settings keeping images in a fresh place of the bucket (the AWS_* variables set as a user sets them)."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    place = s3.place()
    return make_settings(output_dir=tmp_path / "images", tokens=TOKENS, storage_url=s3.url(place)), place


def downloads(result: types.CallToolResult) -> list[types.ResourceLink]:
    return [b for b in result.content if isinstance(b, types.ResourceLink) and b.uri.startswith("http")]


async def test_images_go_to_the_bucket_listed_read_and_edited_from_it_never_to_the_disk(
    in_bucket: tuple[Settings, str], s3: S3Server, emulator: Emulator, tmp_path: Path
) -> None:
    settings, place = in_bucket
    async with served(settings, emulator) as url, connect(url, TOKENS[0]) as alice:
        made = await alice.call_tool("generate_image", {"positivePrompt": "a red kite", "fileName": "kite"})
        listed = await alice.list_resources()
        read = await alice.read_resource(listed.resources[0].uri)
        edited = await alice.call_tool(
            "edit_image",
            {
                "image": "ideogram://images/kite.jpg",
                "region": {"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5},
                "positivePrompt": "a blue kite",
                "fileName": "kite-blue",
            },
        )
        async with connect(url, TOKENS[1]) as bob:
            bob_listed = await bob.list_resources()
            bob_edit = await bob.call_tool(
                "edit_image",
                {
                    "image": "ideogram://images/kite.jpg",
                    "region": {"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5},
                    "positivePrompt": "mine now",
                },
            )
    (image,) = data(made)["images"]
    owner = http.owner_of(f"token:{TOKENS[0]}")
    stored = s3.store(place)
    saved = bytes(obstore.get(stored, f"{owner}/kite.jpg").bytes())
    recipe = json.loads(bytes(obstore.get(stored, f"{owner}/kite.json").bytes()))
    assert image["path"] == "kite.jpg"
    assert recipe["imageUUID"] == image["imageUUID"]
    assert not (tmp_path / "images").exists(), "nothing of the images is written on this machine's disk"
    (link,) = downloads(made)
    assert "X-Amz-Signature=" in link.uri
    assert link.title == "Download image 1 (the link works for 1 hour)"
    async with httpx2.AsyncClient() as browser:  # a plain GET, as a person's browser makes it
        assert (await browser.get(link.uri)).content == saved
    assert "download link a person can open, for 1 hour" in "".join(
        b.text for b in made.content if isinstance(b, types.TextContent)
    )
    assert [str(r.uri) for r in listed.resources] == ["ideogram://images/kite.jpg"]
    content = read.contents[0]
    assert isinstance(content, types.BlobResourceContents)
    assert base64.b64decode(content.blob) == saved
    # The edit named the saved image by its URI: it went to Runware by the UUID it holds it under, not uploaded.
    kinds = [t["taskType"] for t in emulator.received]
    assert "imageUpload" not in kinds
    edit_task = emulator.received[kinds.index("imageInference", 1)]
    assert image["imageUUID"] in json.dumps(edit_task)
    assert data(edited)["images"][0]["path"] == "kite-blue.jpg"
    assert bytes(obstore.get(stored, f"{owner}/kite-blue.jpg").bytes())
    assert bob_listed.resources == []
    assert bob_edit.is_error, "the same URI names bob's own folder, where there is no such image"
    assert "image: no such file: ideogram://images/kite.jpg." in cast(types.TextContent, bob_edit.content[0]).text


async def test_a_bucket_that_answers_but_takes_no_writes_stops_the_next_paid_call_before_it_is_sent(
    in_bucket: tuple[Settings, str], s3: S3Server, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its check was a read: each call was sent and charged, its images unsaved (found by an audit of team mode).
    settings, place = in_bucket
    refusing = "images"  # from the first call's check on: its images are refused, then every write
    put = obstore.put

    def refused(store: Any, key: str, *args: Any, **kwargs: Any) -> Any:
        if refusing == "all" or (refusing == "images" and "probe" not in key):
            raise OSError(13, "Access Denied")
        return put(store, key, *args, **kwargs)

    async with served(settings, emulator) as url, connect(url, TOKENS[0]) as alice:
        monkeypatch.setattr("ideogram_mcp.images.s3._put", refused)  # once the start proved the bucket
        first = await alice.call_tool("generate_image", {"positivePrompt": "a red kite", "fileName": "kite"})
        refusing = "all"
        second = await alice.call_tool("generate_image", {"positivePrompt": "a blue kite", "fileName": "kite"})
        refusing = ""
        third = await alice.call_tool("generate_image", {"positivePrompt": "a blue kite", "fileName": "kite"})
        fetched = await alice.call_tool("get_generation", {"taskUUID": data(first)["taskUUID"]})
    assert data(first)["images"][0].get("path") is None, "charged before the bucket was found refusing"
    assert error_of(second)["kind"] == "unwritable_folder"
    said = "".join(b.text for b in second.content if isinstance(b, types.TextContent))
    assert f"the bucket {s3.url(place)} takes no images there now (" in said
    assert [t["positivePrompt"] for t in emulator.submitted] == ["a red kite", "a blue kite"], "the second never sent"
    saved = {data(third)["images"][0]["path"], data(fetched)["images"][0]["path"]}
    assert saved == {"kite.jpg", "kite-2.jpg"}, "the first call's image saved too, once the bucket takes it"
    stored = [meta["path"] for meta in obstore.list(s3.store(place)).collect()]
    assert not [key for key in stored if "probe" in key], "no probe left behind"


async def test_a_bucket_key_that_may_not_delete_keeps_one_probe_a_folder_however_many_checks(
    in_bucket: tuple[Settings, str], s3: S3Server, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each check had left an object of its own behind (found by review of b498f35).
    settings, place = in_bucket

    def refused(*_: Any, **__: Any) -> None:
        raise OSError(13, "Access Denied")

    monkeypatch.setattr("ideogram_mcp.images.s3._delete", refused)
    monkeypatch.setattr("ideogram_mcp.tasks.life.WRITABLE_KEPT", 0.0)  # each call checks the folder again
    async with served(settings, emulator) as url, connect(url, TOKENS[0]) as alice:
        for n in range(3):
            assert not (await alice.call_tool("generate_image", {"positivePrompt": f"kite {n}"})).is_error
    stored = [meta["path"] for meta in obstore.list(s3.store(place)).collect()]
    assert [key for key in stored if "probe" in key] == [f"{http.owner_of(f'token:{TOKENS[0]}')}/.ideogram-mcp-probe"]


async def test_an_image_deleted_from_the_bucket_since_it_was_saved_is_said_gone_and_given_by_its_url(
    in_bucket: tuple[Settings, str], s3: S3Server, emulator: Emulator
) -> None:
    settings, place = in_bucket
    async with served(settings, emulator) as url, connect(url, TOKENS[0]) as alice:
        made = data(await alice.call_tool("generate_image", {"positivePrompt": "a red kite", "fileName": "kite"}))
        obstore.delete(s3.store(place), f"{http.owner_of(f'token:{TOKENS[0]}')}/kite.jpg")
        again = await alice.call_tool("get_generation", {"taskUUID": made["taskUUID"]})
    (image,) = data(again)["images"]
    assert image.get("path") is None
    said = "".join(b.text for b in again.content if isinstance(b, types.TextContent))
    assert "Saved as kite.jpg, which is no longer there (moved, deleted or made unreadable since)" in said
    # Runware's URL only: no signed link to an object the bucket no longer holds, no resource link to it
    assert [b.uri for b in again.content if isinstance(b, types.ResourceLink)] == [image["imageURL"]]


async def test_a_stdio_server_started_in_a_project_saves_in_the_bucket_not_the_projects_folder(
    s3: S3Server, make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every call had been refused: "images are saved only under <the bucket's root>", with the bucket's outage fix.
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    place, project = s3.place(), tmp_path / "project"
    project.mkdir()
    settings = make_settings(storage_url=s3.url(place))
    emulator = Emulator()
    server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()), project=project)
    async with Client(server) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": "a red kite", "fileName": "kite"})
        # A folder of the project is refused as outside the bucket's root (it had passed the dry run, and the call
        # was then refused with the bucket's outage fix).
        elsewhere = {"positivePrompt": "a red kite", "outputDir": str(project / "logos"), "dryRun": True}
        refused = await mcp.call_tool("generate_image", elsewhere)
    assert not made.is_error, made.content
    root = (tmp_path / "home" / "Pictures" / "ideogram-mcp").resolve()
    assert [p["message"] for p in error_of(refused)["problems"]] == [
        f"must be inside {root}, the bucket's root; give a folder inside it, e.g. a relative name such as 'logos'."
    ]
    assert data(made)["images"][0]["path"].endswith("kite.jpg")
    assert bytes(obstore.get(s3.store(place), "kite.jpg").bytes())
    assert not (project / "ideogram-output").exists()


def test_a_start_whose_bucket_cannot_be_reached_stops_with_one_line_naming_it_and_the_fix(tmp_path: Path) -> None:
    env = clean_env(
        IDEOGRAM_MCP_TOKENS=TOKENS[0],
        IDEOGRAM_MCP_DATA_DIR=str(tmp_path / "data"),
        IDEOGRAM_MCP_STORAGE_URL="s3://nowhere/images",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
        AWS_REGION="us-east-1",
    )
    code, _, said = Running(["http", "--port", str(free_port())], env).ended()
    assert code == 1
    last = said.strip().splitlines()[-1]
    assert last.startswith("ideogram-mcp: images cannot be kept in s3://nowhere/images: the bucket s3://nowhere/images")
    assert last.endswith("or unset IDEOGRAM_MCP_STORAGE_URL to save images in the output folder.")
    assert "IDEOGRAM_MCP_STATE_KEYS is not set: a spend question asked by this machine can be answered only" in said


async def test_a_bucket_that_does_not_answer_is_said_so_never_taken_for_one_without_the_image(tmp_path: Path) -> None:
    # With the bucket down, resources/list had listed nothing, resources/read said "No image saved by this server",
    # and an edit of a saved image said "no such file".
    from obstore.store import S3Store

    from ideogram_mcp.images.s3 import BucketStore

    dead = S3Store(
        "images",
        endpoint=f"http://127.0.0.1:{free_port()}",
        access_key_id="x",
        secret_access_key="y",
        region="us-east-1",
        client_options={"allow_http": True, "connect_timeout": "1s"},
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=1)},
    )
    root = tmp_path / "images"
    store = BucketStore(dead, root, bucket="images", link_seconds=60)
    down = r"^The image bucket images cannot be reached right now \(.+\)\. Try again in a moment\.$"
    with pytest.raises(LookupError, match=down):
        store.saved([root])
    with pytest.raises(LookupError, match=down):
        store.read(root / "kite.jpg", [root], "ideogram://images/kite.jpg")
    with pytest.raises(LookupError, match=down):
        store.load(root / "kite.jpg", strict=True)
    assert store.load(root / "kite.jpg") is None, "where a caller goes on without it (a preview)"
    saved_before = ImageRecord(image_uuid="u", image_url="https://im.runware.ai/u.jpg", path=str(root / "kite.jpg"))
    assert finish._looked_at(store, [saved_before], {}) == ([], set(), set()), "not gone nor unlinked: it is down"  # pyright: ignore[reportPrivateUsage]
    assert not store.missing(root / "kite.jpg"), "nor missing: the bucket cannot say"
    where = dataclasses.replace(files.places(root, [], []), root=root.resolve())
    kept = functools.partial(life._kept, cast(Any, SimpleNamespace(store=store)))  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(files.LocalInputError) as refused:  # an image tool given the saved image
        await files.read_all(["ideogram://images/kite.jpg"], where, kept)
    ((_, problem),) = refused.value.problems
    assert problem.startswith("cannot be read now: The image bucket images cannot be reached right now (")


async def test_a_file_name_given_again_numbers_its_set_after_the_objects_the_bucket_has(
    in_bucket: tuple[Settings, str], s3: S3Server, emulator: Emulator
) -> None:
    settings, place = in_bucket
    sets: list[list[str]] = []
    for _ in range(2):  # a server each: what one server gave is not known to the next, the bucket's listing is
        async with served(settings, emulator) as url, connect(url, TOKENS[0]) as alice:
            made = await alice.call_tool(
                "generate_image", {"positivePrompt": "a kite", "numberResults": 2, "fileName": "50%off"}
            )
        sets.append([image["path"] for image in data(made)["images"]])
    assert sets == [["50%off-1.jpg", "50%off-2.jpg"], ["50%off-3.jpg", "50%off-4.jpg"]]
    owner = http.owner_of(f"token:{TOKENS[0]}")
    listed = obstore.list_with_delimiter(s3.store(place), owner)  # pyright: ignore[reportUnknownMemberType]
    assert sorted(PurePosixPath(meta["path"]).name for meta in listed["objects"]) == [
        f"50%off-{n}.{ext}" for n in range(1, 5) for ext in ("jpg", "json")
    ]


async def test_a_server_whose_bucket_client_panics_refuses_paid_calls_before_sending_and_stays_up(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    from obstore.store import S3Store

    client = S3Store("b", endpoint="127.0.0.1:9", access_key_id="k", secret_access_key="s", region="us-east-1")
    store = BucketStore(client, tmp_path / "images", bucket="s3://b", link_seconds=600)
    settings = make_settings(output_dir=tmp_path / "images")
    server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock, store=store)
    async with Client(server) as mcp:
        refused = [await mcp.call_tool("generate_image", {"positivePrompt": "a kite"}) for _ in range(2)]
        with pytest.raises(MCPError, match="cannot be reached right now") as listing:  # as an unreachable bucket's
            await mcp.list_resources()
    assert [result.is_error for result in refused] == [True, True]
    assert "the bucket s3://b cannot be reached (" in text(refused[1])
    assert "the bucket's client failed" in str(listing.value)
    assert emulator.submitted == []
