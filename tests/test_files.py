"""Path decisions: output folders, names, and which local files may be read."""

from __future__ import annotations

import dataclasses
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest

from ideogram_mcp import files

from .conftest import png

pytestmark = pytest.mark.anyio


def test_the_output_folder_is_the_setting_then_the_first_file_root_then_the_project_then_the_users_pictures(
    tmp_path: Path, home: Path
) -> None:
    project, other, started_in = tmp_path / "project", tmp_path / "other", tmp_path / "started-in"
    gone = tmp_path / "deleted-project"  # a root that is no folder here is passed over: saving there would make it
    for folder in (project, other):
        folder.mkdir()
    roots = ["https://example.com/not-a-folder", gone.as_uri(), project.as_uri(), other.as_uri()]
    chosen = files.places(tmp_path / "set", roots, [], started_in)
    assert (chosen.output, chosen.source) == ((tmp_path / "set").resolve(), "setting")
    chosen = files.places(None, roots, [], started_in)
    assert (chosen.output, chosen.source) == ((project / "ideogram-output").resolve(), "root")
    chosen = files.places(None, [gone.as_uri()], [], started_in)
    assert (chosen.output, chosen.source) == ((started_in / "ideogram-output").resolve(), "project")
    long = f"file:///{'a' * 300}/project"  # a name too long for the file system: not found out, passed over
    assert files.places(None, [long, project.as_uri()], [], started_in).source == "root"
    image = tmp_path / "one.png"  # a root may be one file: never the output folder, still readable
    image.write_bytes(b"")
    chosen = files.places(None, [image.as_uri()], [], started_in)
    assert chosen.source == "project"
    assert chosen.may_read(image)
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


def test_the_working_folder_is_the_project_and_one_deleted_since_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    assert files.project_folder() == gone.resolve()
    gone.rmdir()  # a stdio server started in a folder deleted since had ended in a traceback (Path.cwd())
    assert files.project_folder() is None


def test_an_agents_output_folder_must_lie_inside_the_allowed_ones(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
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


def test_an_output_folder_is_named_in_one_form_of_unicode_unless_it_exists_as_typed(tmp_path: Path) -> None:
    # "cafe\u0301" (an accent typed apart) and "café" had made two folders that look alike, where file names are one.
    where = files.places(tmp_path / "set", [], [])
    chosen, _ = files.chosen_output(where, "cafe\u0301/menu")
    assert chosen is not None
    assert chosen.output == (tmp_path / "set" / "café" / "menu").resolve()
    (tmp_path / "set" / "Cafe\u0301").mkdir(parents=True)  # made so before: still reached
    kept, _ = files.chosen_output(where, "Cafe\u0301")
    assert kept is not None
    assert kept.output == (tmp_path / "set" / "Cafe\u0301").resolve()
    inside, _ = files.chosen_output(where, str(tmp_path / "set" / "Cafe\u0301" / "Me\u0301nu"))
    assert inside is not None
    assert inside.output == (tmp_path / "set" / "Cafe\u0301" / "Ménu").resolve()
    # Asked for composed, the folder made decomposed (by a Mac, or before) is the one reached: a second folder that
    # looks the same had been made beside it (left by the last note).
    alike, _ = files.chosen_output(where, "Café/Me\u0301nu")
    assert alike is not None
    assert alike.output == (tmp_path / "set" / "Cafe\u0301" / "Ménu").resolve()


@pytest.mark.parametrize("shared", [False, True], ids=["set", "a connection's own"])
def test_a_folder_set_decomposed_and_not_made_yet_still_holds_the_output_folders_asked_for(
    tmp_path: Path, shared: bool
) -> None:
    # The folder set for the server (pasted from macOS, decomposed) is made at its first save: composing it too had
    # put every outputDir outside it, "give a relative name such as 'logos'" said of 'logos' (found by review).
    where = files.places(tmp_path / "Cafe\u0301", [], [])
    where = dataclasses.replace(where, root=where.output) if shared else where
    for asked, made in (("logos", where.output / "logos"), ("cafe\u0301/menu", where.output / "café" / "menu")):
        chosen, problem = files.chosen_output(where, asked)
        assert (chosen and chosen.output, problem) == (made, None)
    if not shared:  # an allowed folder, not made yet either, where none is set
        unset = files.places(None, [], [tmp_path / "Re\u0301sume\u0301s"])
        chosen, problem = files.chosen_output(unset, str(tmp_path / "Re\u0301sume\u0301s" / "logos"))
        assert (chosen and chosen.output, problem) == (tmp_path / "Re\u0301sume\u0301s" / "logos", None)


def test_readable_folders_are_the_roots_the_output_folder_and_the_allowed_ones(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
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
        ("\u3164\u3164", None),  # Hangul fillers: a name that shows nothing
        ("\u115f\u1160", None),
        ("\uffa0 \u2800", None),
        ("\u0301\u0301", None),  # combining accents alone
        ("\u3164.png", None),  # the extension is the server's: the name kept would show nothing
        ("\u2800.JPG", None),
        ("a\u3000b", "a\u3000b"),
        ("\u3164x", "\u3164x"),
        ("한글", "한글"),
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
    (tmp_path / "root").mkdir(exist_ok=True)
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
        assert (read.data, read.format.name) == (image, "PNG")
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
        ("out", r"is a folder \(.*out\), not an image file: name a file in it"),
        # Python 3.11 and 3.12 find the loop when resolving; 3.13 resolves it as it is, and finds no file there.
        ("out/loop.png", r"cannot be followed to a file \(symbolic links in a loop\)|no such file"),
        (f"out/{'n' * 300}.png", r"cannot be (followed to a file|read) \(File name too long\)"),
        ("out/a\x00b.png", "is no file path: it holds a NUL character"),
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


async def test_local_inputs_are_all_checked_and_every_problem_named(tmp_path: Path) -> None:
    where = _places(tmp_path)
    where.output.mkdir(parents=True)
    (where.output / "a.png").write_bytes(png())
    with pytest.raises(files.LocalInputError) as refused:
        await files.read_all(["a.png", "/nowhere/b.png", "missing.png"], where)
    assert [position for position, _ in refused.value.problems] == [1, 2]
    (read,) = await files.read_all(["a.png"], where)
    assert read.path == where.output / "a.png"


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


def test_a_file_uri_windows_cannot_read_as_a_path_is_refused_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def windows(path: str) -> str:  # nturl2path on "/C:/a:b" and "|x"
        raise OSError("Bad URL: " + path)

    monkeypatch.setattr(files, "url2pathname", windows)
    assert files.path_from_uri("file:///C:/x/y:z.png") is None


def test_images_of_a_several_image_task_arriving_one_at_a_time_are_numbered_as_one_set() -> None:
    when = datetime(2026, 11, 25, 9, 30, 5)
    assert files.stems("poster", "x", ["a"], when, first=1, of=2) == ["poster-1"]
    assert files.stems("poster", "x", ["b"], when, first=2, of=2) == ["poster-2"]


def test_the_numbers_a_file_name_takes_in_a_folder_are_read_from_its_names_as_the_file_system_compares_them() -> None:
    assert files.numbers_taken([], "sign") == (False, 0)
    names = ["sign.jpg", "sign-2.json", "Sign-12.PNG", "sign-1-2.jpg", "sign-x.jpg", "signs-40.jpg", ".sign-50.part"]
    assert files.numbers_taken(names, "sign") == (True, 12)
    assert files.numbers_taken(["cafe\u0301-3.webp", "sign-007.jpg"], "Café") == (False, 3)
    assert files.numbers_taken(["sign-007.jpg", "sign-\u0663.jpg"], "sign") == (False, 7)  # ASCII digits only
    assert files.numbers_taken(["v1.2-4.jpg", "v1x2-9.jpg"], "v1.2") == (False, 4)  # the name's dot is no pattern
    assert files.numbers_taken(["poster-2024.jpg", "poster-999.png"], "poster") == (False, 999)  # 1,000 on: not ours
    assert files.numbers_taken(["v1.2", "v1.2-3"], "v1.2", stems=True) == (True, 3)  # names without an extension
    assert files.stems("sign", "x", ["a"], datetime(2026, 1, 1), first=5, plain=False) == ["sign-5"]


def test_a_file_name_ending_in_json_is_saved_without_it() -> None:
    # The server adds the image's extension and writes the recipe as <name>.json: "poster.json" had been saved as
    # poster.json.png beside poster.json.json.
    assert files.check_file_name("poster.json") == ("poster", None)


def test_an_output_folder_asked_for_through_a_link_or_dots_in_a_decomposed_folder_not_made_yet_is_taken(
    tmp_path: Path,
) -> None:
    # The folder set, or allowed, named through a link or reached with "..": composed before it was resolved, the
    # path had left it (found by review).
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    where = files.places(tmp_path / "link" / "Cafe\u0301", [], [])
    chosen, problem = files.chosen_output(where, str(tmp_path / "link" / "Cafe\u0301" / "logos"))
    assert (chosen and chosen.output, problem) == (tmp_path / "real" / "Cafe\u0301" / "logos", None)
    (tmp_path / "o").mkdir()
    where = files.places(None, [(tmp_path / "o").as_uri()], [tmp_path / "Re\u0301sume\u0301s"])
    chosen, problem = files.chosen_output(where, "../../Re\u0301sume\u0301s/logos")
    assert (chosen and chosen.output, problem) == (tmp_path / "Re\u0301sume\u0301s" / "logos", None)


def test_an_output_folder_typed_apart_never_follows_a_composed_names_link_out(tmp_path: Path) -> None:
    # "Cafe\u0301" does not exist, "Café" does and is a link out of the set folder: composed after it was resolved, the
    # name typed apart had been taken and the image saved where the link leads (found by review).
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "Café").symlink_to(tmp_path / "elsewhere")
    where = files.places(tmp_path / "set", [], [])
    for asked in ("Café", "Cafe\u0301", "Cafe\u0301/logos", str(tmp_path / "set" / "Cafe\u0301")):
        chosen, problem = files.chosen_output(where, asked)
        assert chosen is None, asked
        assert problem is not None
        assert problem.startswith("must be inside")
