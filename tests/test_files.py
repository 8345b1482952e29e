"""Path decisions: output folders, names, atomic no-overwrite writes, downloads, and which local files may be read."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import os
import sys
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx2
import pytest
from PIL import Image

from ideogram_mcp import files

pytestmark = pytest.mark.anyio


def png(width: int = 8, height: int = 8, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_output_folder_is_the_setting_then_the_first_file_root_then_the_project_then_the_users_pictures(
    tmp_path: Path, home: Path
) -> None:
    project, other, started_in = tmp_path / "project", tmp_path / "other", tmp_path / "started-in"
    roots = ["https://example.com/not-a-folder", project.as_uri(), other.as_uri()]
    chosen = files.places(tmp_path / "set", roots, [], started_in)
    assert (chosen.output, chosen.source) == ((tmp_path / "set").resolve(), "setting")
    chosen = files.places(None, roots, [], started_in)
    assert (chosen.output, chosen.source) == ((project / "ideogram-output").resolve(), "root")
    chosen = files.places(None, [], [], started_in)
    assert (chosen.output, chosen.source) == ((started_in / "ideogram-output").resolve(), "project")
    assert started_in.resolve() in chosen.readable
    chosen = files.places(None, [], [])
    assert (chosen.output, chosen.source) == ((home / "Pictures" / "ideogram-mcp").resolve(), "default")


def test_a_project_folder_is_a_writable_folder_that_is_neither_the_root_nor_home(tmp_path: Path, home: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert files.project_folder(tmp_path) == tmp_path.resolve()
    assert files.project_folder(home) is None
    assert files.project_folder(Path("/")) is None
    if os.geteuid() != 0:  # root may write anywhere
        assert files.project_folder(locked) is None


def test_an_agents_output_folder_must_lie_inside_the_allowed_ones(tmp_path: Path) -> None:
    where = files.places(None, [(tmp_path / "root").as_uri()], [tmp_path / "extra"])
    inside, problem = files.chosen_output(where, "logos")
    assert (inside and inside.output, inside and inside.source, problem) == (
        (tmp_path / "root" / "ideogram-output" / "logos").resolve(),
        "argument",
        None,
    )
    extra, _ = files.chosen_output(where, str(tmp_path / "extra" / "new"))
    assert extra is not None
    assert extra.output == (tmp_path / "extra" / "new").resolve()
    for outside in (str(tmp_path / "elsewhere"), "../../../..", "/etc", "\x00"):
        assert files.chosen_output(where, outside)[0] is None, outside
    _, problem = files.chosen_output(where, "/etc")
    assert problem is not None
    assert problem.startswith("is outside the folders this server may use (")
    fixed = files.places(tmp_path / "set", [(tmp_path / "root").as_uri()], [])
    sub, _ = files.chosen_output(fixed, "logos")
    assert sub is not None
    assert sub.output == (tmp_path / "set" / "logos").resolve()
    refused, problem = files.chosen_output(fixed, str(tmp_path / "root"))
    assert refused is None
    assert problem == (
        f"must be inside {(tmp_path / 'set').resolve()}, the folder the user set (IDEOGRAM_MCP_OUTPUT_DIR); give a "
        "folder inside it, e.g. a relative name such as 'logos'"
    )


def test_a_folder_is_proven_writable_or_the_reason_said_plainly(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    assert files.unwritable(tmp_path / "new" / "deeper") is None
    assert (tmp_path / "new" / "deeper").is_dir()
    assert list((tmp_path / "new" / "deeper").iterdir()) == [], "the probe leaves nothing behind"
    assert files.unwritable(tmp_path / "a-file") == "a file (not a folder) of that name is in the way"
    assert files.unwritable(tmp_path / "a-file" / "out") == "a file (not a folder) stands in its path"


def test_readable_folders_are_the_roots_the_output_folder_and_the_allowed_ones(tmp_path: Path) -> None:
    chosen = files.places(tmp_path / "out", [(tmp_path / "root").as_uri()], [tmp_path / "extra", tmp_path / "out"])
    assert chosen.readable == tuple(p.resolve() for p in (tmp_path / "root", tmp_path / "out", tmp_path / "extra"))


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("sale-poster", "sale-poster"),
        ("  Sale Poster.PNG ", "Sale Poster"),
        ("café menu", "café menu"),
        ("poster.final.webp", "poster.final"),
        (".png", None),
        ("../escape", None),
        ("..", None),
        ("a/b", None),
        ("a\\b", None),
        ("/etc/passwd", None),
        ("C:evil", None),
        ("C:\\Windows\\evil", None),
        (".hidden", None),
        ("line\nbreak", None),
        ("nul\x00byte", None),
        ("bell\x07", None),
        ('quote"s', None),
        ("", None),
        ("x" * 101, None),
        ("NUL", None),
        ("con.png", None),
        ("COM1", None),
        ("console", "console"),
    ],
)
def test_a_file_name_is_a_name_never_a_path(given: str, kept: str | None) -> None:
    clean, problem = files.check_file_name(given)
    assert clean == kept
    assert (problem is None) is (kept is not None)


def test_several_images_of_one_name_are_numbered_and_defaults_are_readable() -> None:
    when = datetime(2026, 11, 25, 9, 30, 5)
    assert files.stems("poster", "x", ["a"], when) == ["poster"]
    assert files.stems("poster", "x", ["a", "b", "c"], when) == ["poster-1", "poster-2", "poster-3"]
    assert files.stems(None, 'A "GRAND OPENING" sign, in neon! Über-bright.', ["1a2b3c4d"], when) == [
        "20261125-093005-a-grand-opening-sign-in-neon-1a2b3c4d"
    ]
    assert files.stems(None, "日本語だけ", ["ff"], when) == ["20261125-093005-image-ff"]


def test_a_write_never_replaces_an_existing_file_and_leaves_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / "poster.png").write_bytes(b"the user's own file")
    first = files.write_new(tmp_path, "poster", "png", b"new image")
    second = files.write_new(tmp_path, "poster", "png", b"newer image")
    assert [first.name, second.name] == ["poster-2.png", "poster-3.png"]
    assert (tmp_path / "poster.png").read_bytes() == b"the user's own file"
    assert first.read_bytes() == b"new image"
    # Each name's recipe is claimed with it (empty until write_sidecar fills it); the user's poster.png has none.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "poster-2.json",
        "poster-2.png",
        "poster-3.json",
        "poster-3.png",
        "poster.png",
    ]


def test_two_images_of_one_name_saved_at_once_in_two_formats_each_get_their_own_recipe(tmp_path: Path) -> None:
    start = threading.Barrier(2)
    saved: dict[str, Path] = {}

    def save(extension: str) -> None:
        start.wait()
        image = files.write_new(tmp_path, "poster", extension, extension.encode())
        files.write_sidecar(image, {"file": image.name})
        saved[extension] = image

    threads = [threading.Thread(target=save, args=(extension,)) for extension in ("jpg", "png")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recipes = {image.name: files.read_sidecar(image.with_suffix(".json")) for image in saved.values()}
    assert all(recipe is not None and recipe["file"] == name for name, recipe in recipes.items())
    assert len({image.stem for image in saved.values()}) == 2


def test_concurrent_writes_of_one_name_each_get_their_own_file(tmp_path: Path) -> None:
    written: list[Path] = []

    def write(n: int) -> None:
        written.append(files.write_new(tmp_path, "same", "jpg", f"image {n}".encode()))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({p.name for p in written}) == 16
    assert sorted(p.read_bytes() for p in written) == sorted(f"image {n}".encode() for n in range(16))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        files.write_new(tmp_path, "poster", "png", b"data")
    assert list(tmp_path.iterdir()) == []


def test_a_sidecar_records_the_recipe_and_marks_it_as_ours(tmp_path: Path) -> None:
    image = files.write_new(tmp_path, "a", "png", png())
    sidecar = files.write_sidecar(image, {"imageUUID": "u-1", "file": image.name})
    assert sidecar == tmp_path / "a.json"
    assert json.loads(sidecar.read_text()) == {"generator": "ideogram-mcp", "imageUUID": "u-1", "file": "a.png"}
    assert files.read_sidecar(sidecar) == {"generator": "ideogram-mcp", "imageUUID": "u-1", "file": "a.png"}
    (tmp_path / "b.json").write_text('{"someone": "else"}')
    assert files.read_sidecar(tmp_path / "b.json") is None


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (png(), "PNG"),
        (b"\xff\xd8\xff\xe0rest", "JPG"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"GIF89a...", None),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_image_bytes_are_recognised_by_content(data: bytes, name: str | None) -> None:
    found = files.sniff(data)
    assert (found.name if found else None) == name


def _serving(status: int, body: bytes, headers: dict[str, str] | None = None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.MockTransport(lambda request: httpx2.Response(status, content=body, headers=headers))
    )


async def test_a_download_is_capped_and_must_be_an_image() -> None:
    image = png()
    async with _serving(200, image) as http:
        assert await files.download(http, "http://img/a.png") == (image, files.FORMATS["PNG"])
    async with _serving(200, image * 4) as http:
        with pytest.raises(files.DownloadError, match="larger than"):
            await files.download(http, "http://img/a.png", limit=len(image) * 2)
    async with _serving(200, b"<html>expired</html>") as http:
        with pytest.raises(files.DownloadError, match="did not serve a PNG, JPEG or WEBP"):
            await files.download(http, "http://img/a.png")
    async with _serving(404, b"") as http:
        with pytest.raises(files.DownloadError, match="HTTP 404"):
            await files.download(http, "http://img/a.png")


async def test_keeping_saves_what_downloads_and_reports_what_does_not(tmp_path: Path) -> None:
    image = png()

    def serve(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=image) if request.url.path == "/ok.png" else httpx2.Response(410)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(serve)) as http:
        kept = await files.keep(
            http,
            [
                files.Wanted("http://img/ok.png", "good", lambda data: {"seed": 1, "first": data[:4].hex()}),
                files.Wanted("http://img/gone.png", "gone", lambda data: {"seed": 2}),
                files.Wanted(None, "none", lambda data: {"seed": 3}),
            ],
            folder=tmp_path,
        )
    assert kept[0].path == tmp_path / "good.png"
    assert kept[0].data == image == (tmp_path / "good.png").read_bytes()
    recipe = json.loads((tmp_path / "good.json").read_text())
    assert recipe == {
        "generator": "ideogram-mcp",
        "seed": 1,
        "first": "89504e47",
        "file": "good.png",
        "format": "PNG",
        "bytes": len(image),
        "sha256": hashlib.sha256(image).hexdigest(),
    }
    assert (kept[1].path, kept[1].problem) == (None, "could not be downloaded: the image URL answered HTTP 410")
    assert (kept[2].path, kept[2].problem) == (None, "Runware gave no URL for it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json", "good.png"]


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("/home/me/ref.png", True),
        ("/home/me/reference", True),
        ("~/Pictures/ref.jpg", True),
        ("./ref.webp", True),
        ("file:///home/me/ref.png", True),
        ("C:\\Users\\me\\ref.png", True),
        ("poster.png", True),
        ("old images/poster", True),
        ("https://example.com/a.png", False),
        ("ftp://example.com/a.png", False),
        ("data:image/png;base64,iVBORw0KGgo=", False),
        ("6f1c1b9e-2b7a-4c3e-9a57-0d1e2f3a4b5c", False),
        ("iVBORw0KGgoAAAANSUhEUgAA", False),
        ("/9j/4AAQSkZJRgABAQAAAQABAAD", False),
    ],
)
def test_local_files_are_told_from_urls_data_and_image_uuids(text: str, local: bool) -> None:
    assert files.looks_local(text) is local


def _places(tmp_path: Path) -> files.Places:
    return files.places(tmp_path / "out", [(tmp_path / "root").as_uri()], [tmp_path / "extra"])


def test_a_local_image_is_read_in_every_accepted_form(tmp_path: Path, home: Path) -> None:
    where = _places(tmp_path)
    image = png()
    for folder in (tmp_path / "root" / "refs", tmp_path / "out", tmp_path / "extra"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ref.png").write_bytes(image)
    for text in (
        str(tmp_path / "root" / "refs" / "ref.png"),
        (tmp_path / "extra" / "ref.png").as_uri(),
        "ref.png",
        "./ref.png",
    ):
        read = files.read_local(text, where)
        assert (read.data, read.format.name, read.image_uuid) == (image, "PNG", None)
    assert read.data_uri.startswith("data:image/png;base64,iVBOR")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("secret.png", "is outside the folders this server may read"),
        ("out/../secret.png", "is outside the folders this server may read"),
        ("out/link.png", "is outside the folders this server may read"),
        ("out/missing.png", "no such file"),
        ("out/big.png", "input images may be at most 10 MB"),
        ("out/notes.png", "is not a PNG, JPEG or WEBP image"),
        ("out", "no such file"),
        # Python 3.11 and 3.12 find the loop when resolving; 3.13 resolves it as it is, and finds no file there.
        ("out/loop.png", r"cannot be followed to a file \(symbolic links in a loop\)|no such file"),
        (f"out/{'n' * 300}.png", r"cannot be (followed to a file|read) \(File name too long\)"),
    ],
)
def test_a_local_image_outside_the_allowed_folders_or_not_an_image_is_refused(
    tmp_path: Path, name: str, says: str
) -> None:
    where = _places(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "secret.png").write_bytes(png())
    (tmp_path / "out" / "link.png").symlink_to(tmp_path / "secret.png")
    (tmp_path / "out" / "notes.png").write_text("not an image")
    (tmp_path / "out" / "loop.png").symlink_to(tmp_path / "out" / "loop.png")
    with (tmp_path / "out" / "big.png").open("wb") as big:
        big.write(png())
        big.truncate(files.MAX_INPUT + 1)
    with pytest.raises(files.LocalInputError, match=says):
        files.read_local(str(tmp_path / name), where)


def test_an_image_this_server_saved_is_sent_by_its_uuid_only_while_unchanged_and_from_the_same_runware(
    tmp_path: Path,
) -> None:
    where = _places(tmp_path)
    image = png()
    saved = files.write_new(where.output, "made", "png", image)
    files.write_sidecar(
        saved,
        {"imageUUID": "uuid-1", "runware": "https://api.runware.ai/v1", "sha256": hashlib.sha256(image).hexdigest()},
    )
    assert files.read_local("made.png", where, "https://api.runware.ai/v1").image_uuid == "uuid-1"
    assert files.read_local("made.png", where, "http://127.0.0.1:5000/v1").image_uuid is None
    saved.write_bytes(png(colour=(0, 0, 0)))
    assert files.read_local("made.png", where, "https://api.runware.ai/v1").image_uuid is None


async def test_local_inputs_are_all_checked_and_every_problem_named(tmp_path: Path) -> None:
    where = _places(tmp_path)
    where.output.mkdir(parents=True)
    (where.output / "a.png").write_bytes(png())
    with pytest.raises(files.LocalInputError) as refused:
        await files.read_all(["a.png", "/nowhere/b.png", "missing.png"], where, "")
    assert [position for position, _ in refused.value.problems] == [1, 2]
    (read,) = await files.read_all(["a.png"], where, "")
    assert read.path == where.output / "a.png"


def test_saved_images_are_listed_newest_first_and_only_ours(tmp_path: Path) -> None:
    for n, created in enumerate(("2026-11-25T10:00:00", "2026-11-25T12:00:00", "2026-11-25T11:00:00")):
        image = files.write_new(tmp_path, f"img{n}", "png", png())
        files.write_sidecar(image, {"file": image.name, "format": "PNG", "created": created, "task": {}})
    (tmp_path / "stranger.png").write_bytes(png())
    (tmp_path / "stranger.json").write_text('{"file": "stranger.png"}')
    orphan = files.write_sidecar(tmp_path / "gone.png", {"file": "gone.png", "created": "2026-11-25T13:00:00"})
    assert orphan.exists()
    files.write_sidecar(tmp_path / "evil1.png", {"file": "../img0.png", "created": "2026-11-25T14:00:00"})
    files.write_sidecar(tmp_path / "evil2.png", {"file": "", "created": "2026-11-25T14:00:00"})
    files.write_sidecar(tmp_path / "evil3.png", {"file": 7, "created": "2026-11-25T14:00:00"})
    assert [s.path.name for s in files.saved_images(tmp_path)] == ["img1.png", "img2.png", "img0.png"]
    data, found = files.read_saved(tmp_path / "img1.png", [tmp_path], "img1")
    assert (data, found.mime_type) == (png(), "image/png")
    (tmp_path.parent / "img1.png").write_bytes(png())
    for path in (tmp_path / "stranger.png", tmp_path.parent / "img1.png", None):
        with pytest.raises(LookupError):
            files.read_saved(path, [tmp_path], "it")


def test_a_remote_connections_paths_and_uris_are_relative_to_its_folder_and_never_lead_out(tmp_path: Path) -> None:
    where = dataclasses.replace(files.places(tmp_path / "own", [], []), root=(tmp_path / "own").resolve())
    image = where.output / "logos" / "a b.png"
    assert where.shown(image) == "logos/a b.png"
    assert where.uri(image) == "ideogram://images/logos/a%20b.png"
    assert where.located("ideogram://images/logos/a%20b.png") == image
    assert where.template() == "ideogram://images/{fileName}"
    for uri in (
        "ideogram://images/../x.png",
        "ideogram://images//etc/passwd",
        image.as_uri(),
        "ideogram://images/a\x00",
    ):
        assert where.located(uri) is None, uri
    here = files.places(tmp_path / "own", [], [])
    assert (here.shown(image), here.uri(image), here.located(image.as_uri())) == (str(image), image.as_uri(), image)


@pytest.mark.parametrize(
    ("platform", "variable", "folder"),
    [
        ("linux", None, ".local/share/ideogram-mcp"),
        ("linux", ("XDG_DATA_HOME", "xdg"), "xdg/ideogram-mcp"),
        ("darwin", None, "Library/Application Support/ideogram-mcp"),
        ("win32", None, "AppData/Local/ideogram-mcp"),
        ("win32", ("LOCALAPPDATA", "local"), "local/ideogram-mcp"),
    ],
)
def test_the_journal_folder_is_where_each_system_keeps_per_user_data(
    platform: str, variable: tuple[str, str] | None, folder: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("XDG_DATA_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    if variable is not None:
        monkeypatch.setenv(variable[0], str(home / variable[1]))
    monkeypatch.setattr(sys, "platform", platform)
    assert files.default_data_dir() == home / folder


@pytest.mark.parametrize("uri", ["file://fileserver/share/ref.png", "file://[::1/ref.png"])
def test_a_file_uri_naming_another_machine_or_malformed_is_refused(tmp_path: Path, uri: str) -> None:
    assert files.path_from_uri(uri) is None
    with pytest.raises(
        files.LocalInputError, match=r"^is a file: URI this server cannot read \(only file:///absolute/path\)$"
    ):
        files.read_local(uri, _places(tmp_path))


def test_without_hard_links_a_write_still_never_replaces_an_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hard_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    (tmp_path / "poster.png").write_bytes(b"the user's own file")
    written = files.write_new(tmp_path, "poster", "png", b"new image")
    assert written == tmp_path / "poster-2.png"
    assert written.read_bytes() == b"new image"
    assert (tmp_path / "poster.png").read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poster-2.json", "poster-2.png", "poster.png"]


async def test_a_download_without_a_declared_size_is_cut_off_at_the_cap_and_a_broken_one_is_named() -> None:
    image = png()

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield image

    undeclared = httpx2.MockTransport(lambda request: httpx2.Response(200, content=stream()))
    async with httpx2.AsyncClient(transport=undeclared) as http:
        with pytest.raises(files.DownloadError, match=r"^the image is larger than 0 MB$"):
            await files.download(http, "http://img/a.png", limit=len(image) * 2)

    def reset(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadError("connection reset", request=request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(reset)) as http:
        with pytest.raises(files.DownloadError, match=r"^the download failed \(ReadError\)$"):
            await files.download(http, "http://img/a.png")


def test_a_sidecar_too_large_to_be_ours_is_not_read(tmp_path: Path) -> None:
    image = files.write_new(tmp_path, "big", "png", png())
    sidecar = files.write_sidecar(image, {"file": image.name, "created": "2026-11-25T10:00:00", "padding": ""})
    recipe = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(recipe | {"padding": "x" * (1024 * 1024)}))
    assert files.read_sidecar(sidecar) is None
    assert files.saved_images(tmp_path) == []
