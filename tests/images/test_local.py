"""The local image store: atomic writes that never replace a file, recipes beside images, and what is listed and
read back (only our own, only from the folders asked for)."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ideogram_mcp.images import local
from ideogram_mcp.images.formats import sniff
from ideogram_mcp.images.local import SIDECAR_MOST, LocalFolders, read_recipe, write_new, write_recipe
from ideogram_mcp.images.recipes import Recipe

from ..conftest import png

STORE = LocalFolders()


def test_a_folder_is_proven_writable_or_the_reason_said_plainly(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    assert STORE.unwritable(tmp_path / "new" / "deeper") is None
    assert (tmp_path / "new" / "deeper").is_dir()
    assert list((tmp_path / "new" / "deeper").iterdir()) == [], "the probe leaves nothing behind"
    assert STORE.unwritable(tmp_path / "a-file") == "a file (not a folder) of that name is in the way"
    assert STORE.unwritable(tmp_path / "a-file" / "out") == "a file (not a folder) stands in its path"


def test_a_full_disk_is_unwritable_but_one_that_tells_nothing_of_its_size_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some FUSE file systems say 0 bytes of 0: refused as full, every paid call would have been.
    from collections import namedtuple

    from ideogram_mcp.images import local

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(local.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 2 * 1024 * 1024))
    assert STORE.unwritable(tmp_path) == "its disk has 2.0 MB free, too little for an image; free space there"
    monkeypatch.setattr(local.shutil, "disk_usage", lambda path: usage(0, 0, 0))
    assert STORE.unwritable(tmp_path) is None


def test_a_write_never_replaces_an_existing_file_and_leaves_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / "poster.png").write_bytes(b"the user's own file")
    first = write_new(tmp_path, "poster", "png", b"new image")
    second = write_new(tmp_path, "poster", "png", b"newer image")
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
        image = write_new(tmp_path, "poster", extension, extension.encode())
        write_recipe(image, Recipe(file=image.name))
        saved[extension] = image

    threads = [threading.Thread(target=save, args=(extension,)) for extension in ("jpg", "png")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recipes = {image.name: read_recipe(image.with_suffix(".json")) for image in saved.values()}
    assert all(recipe is not None and recipe.file == name for name, recipe in recipes.items())
    assert len({image.stem for image in saved.values()}) == 2


def test_concurrent_writes_of_one_name_each_get_their_own_file(tmp_path: Path) -> None:
    written: list[Path] = []

    def write(n: int) -> None:
        written.append(write_new(tmp_path, "same", "jpg", f"image {n}".encode()))

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
        write_new(tmp_path, "poster", "png", b"data")
    assert list(tmp_path.iterdir()) == []


def _users_poster_without_hard_links(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without hard links (``os.link`` refused), and the user's own ``poster.png`` in ``folder``."""

    def no_hard_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    (folder / "poster.png").write_bytes(b"the user's own file")


def test_without_hard_links_a_write_still_never_replaces_an_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _users_poster_without_hard_links(tmp_path, monkeypatch)
    written = write_new(tmp_path, "poster", "png", b"new image")
    assert written == tmp_path / "poster-2.png"
    assert written.read_bytes() == b"new image"
    assert (tmp_path / "poster.png").read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poster-2.json", "poster-2.png", "poster.png"]


def test_a_sidecar_records_the_recipe_and_marks_it_as_ours(tmp_path: Path) -> None:
    image = write_new(tmp_path, "a", "png", png())
    recipe = Recipe(image_uuid="u-1", image_url="https://im.runware.ai/u-1.png", seed=7, file=image.name)
    sidecar = write_recipe(image, recipe)
    assert sidecar == tmp_path / "a.json"
    assert json.loads(sidecar.read_text()) == {
        "generator": "ideogram-mcp",
        "imageUUID": "u-1",
        "imageURL": "https://im.runware.ai/u-1.png",
        "seed": 7,
        "cost": None,
        "width": None,
        "height": None,
        "format": None,
        "model": "",
        "taskUUID": "",
        "runware": None,
        "created": "",
        "task": {},
        "file": "a.png",
        "bytes": None,
        "sha256": None,
    }
    assert read_recipe(sidecar) == recipe
    (tmp_path / "b.json").write_text('{"someone": "else"}')
    assert read_recipe(tmp_path / "b.json") is None
    (tmp_path / "c.json").write_text('{"generator": "ideogram-mcp", "seed": "not a number", "file": "c.png"}')
    assert read_recipe(tmp_path / "c.json") == Recipe(file="c.png"), "a value of the wrong kind is left out"


def test_a_sidecar_too_large_to_be_ours_is_not_read(tmp_path: Path) -> None:
    image = write_new(tmp_path, "big", "png", png())
    sidecar = write_recipe(image, Recipe(file=image.name, created="2026-11-25T10:00:00"))
    recipe = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(recipe | {"padding": "x" * SIDECAR_MOST}))
    assert read_recipe(sidecar) is None
    assert STORE.saved([tmp_path]) == []


def test_an_image_is_served_while_its_recipe_names_it(tmp_path: Path) -> None:
    image = write_new(tmp_path, "poster", "png", png())
    recipe = write_recipe(image, Recipe(file=image.name, created="2026-11-25T10:00:00"))
    other = write_new(tmp_path, "other", "png", png())
    assert (STORE.serves(image), STORE.serves(other)) == (True, False)
    recipe.unlink()
    assert not STORE.serves(image)


def test_saved_images_are_listed_newest_first_and_only_ours(tmp_path: Path) -> None:
    for n, created in enumerate(("2026-11-25T10:00:00", "2026-11-25T12:00:00", "2026-11-25T11:00:00")):
        image = write_new(tmp_path, f"img{n}", "png", png())
        write_recipe(image, Recipe(file=image.name, format="PNG", created=created))
    (tmp_path / "stranger.png").write_bytes(png())
    (tmp_path / "stranger.json").write_text('{"file": "stranger.png"}')
    orphan = write_recipe(tmp_path / "gone.png", Recipe(file="gone.png", created="2026-11-25T13:00:00"))
    assert orphan.exists()
    write_recipe(tmp_path / "evil1.png", Recipe(file="../img0.png", created="2026-11-25T14:00:00"))
    write_recipe(tmp_path / "evil2.png", Recipe(file="", created="2026-11-25T14:00:00"))
    (tmp_path / "evil3.json").write_text('{"generator": "ideogram-mcp", "file": 7, "created": "2026-11-25T14:00:00"}')
    shutil.copy(tmp_path / "img1.json", tmp_path / "img1 copy.json")  # listed twice, though read takes its own only
    assert [s.path.name for s in STORE.saved([tmp_path])] == ["img1.png", "img2.png", "img0.png"]
    data, found = STORE.read(tmp_path / "img1.png", [tmp_path], "img1")
    assert (data, found.mime_type) == (png(), "image/png")
    (tmp_path.parent / "img1.png").write_bytes(png())
    for path in (tmp_path / "stranger.png", tmp_path.parent / "img1.png", None):
        with pytest.raises(LookupError):
            STORE.read(path, [tmp_path], "it")


def test_a_listing_reads_again_only_the_recipes_changed_since_and_sees_every_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every page of resources/list had read, parsed and resolved every recipe in the folder: 1.1 s a page at 10,000
    # images, a whole listing growing with the square of the images.
    for n in range(5):
        image = write_new(tmp_path, f"img{n}", "png", png())
        write_recipe(image, Recipe(file=image.name, format="PNG", created=f"2026-11-25T1{n}:00:00", task={"a": n}))
    reads: list[str] = []
    real = local.read_recipe
    monkeypatch.setattr(local, "read_recipe", lambda sidecar: reads.append(sidecar.name) or real(sidecar))

    def listed() -> list[tuple[str, int, str]]:
        return [(s.path.name, s.size, s.description) for s in STORE.saved([tmp_path])]

    first = listed()
    assert (len(first), len(reads)) == (5, 5)
    reads.clear()
    assert (listed(), reads) == (first, [])
    (tmp_path / "img1.json").unlink()  # a recipe removed, an image changed, a recipe rewritten: each seen
    (tmp_path / "img2.png").write_bytes(png() * 2)
    changed = Recipe(file="img3.png", format="PNG", created="2026-11-25T13:00:00", task={"positivePrompt": "new"})
    (tmp_path / "img3.json").write_bytes(changed.text())
    (tmp_path / "img4.png").unlink()
    one = len(png())
    assert [(name, size) for name, size, _ in listed()] == [("img3.png", one), ("img2.png", 2 * one), ("img0.png", one)]
    assert reads == ["img3.json"]
    assert listed()[0][2].endswith(": new")


def test_an_image_this_server_saved_is_sent_by_its_uuid_only_while_unchanged_and_from_the_same_runware(
    tmp_path: Path,
) -> None:
    image = png()
    saved = write_new(tmp_path, "made", "png", image)
    digest = hashlib.sha256(image).hexdigest()
    made = datetime.now(UTC) - timedelta(days=3)
    recipe = Recipe(image_uuid="uuid-1", runware="https://api.runware.ai/v1", sha256=digest, created=made.isoformat())
    write_recipe(saved, recipe)
    assert STORE.known_uuid(saved, image, "https://api.runware.ai/v1") == "uuid-1"
    assert STORE.known_uuid(saved, image, "http://127.0.0.1:5000/v1") is None
    # Runware keeps an image 30 days after its last use: one made 40 days ago had been sent by a UUID it let go, and
    # every edit of the file refused.
    saved.with_suffix(".json").unlink()
    write_recipe(saved, recipe.model_copy(update={"created": (made - timedelta(days=37)).isoformat()}))
    assert STORE.known_uuid(saved, image, "https://api.runware.ai/v1") is None
    saved.with_suffix(".json").unlink()
    write_recipe(saved, recipe)  # made 3 days ago again: only the bytes differ
    changed = png(colour=(0, 0, 0))
    saved.write_bytes(changed)
    assert STORE.known_uuid(saved, changed, "https://api.runware.ai/v1") is None


def _put(folder: Path, image_uuid: str = "u-1") -> Path:
    """A PNG saved through the store under the stem "poster"."""
    image = png()
    found = sniff(image)
    assert found is not None
    return STORE.put(folder, "poster", image, found, Recipe(image_uuid=image_uuid))


def _recipe_beside(image: Path) -> Recipe:
    recipe = read_recipe(image.with_suffix(".json"))
    assert recipe is not None, f"no recipe of ours beside {image.name}"
    return recipe


def test_an_image_is_saved_with_its_recipe_whole_and_no_file_replaced_or_deleted_but_its_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ext4 without a journal pays for every freed inode at each file made after it: a save frees none of its own.
    removed: list[str] = []
    unlink = os.unlink

    def watched_unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        removed.append(Path(path).name)
        unlink(path, *args, **kwargs)  # pyright: ignore[reportArgumentType]

    def no_replace(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a file was replaced: {args}")

    link = os.link

    def recipes_linked_whole(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        if str(target).endswith(".json"):  # seen under its name only once written whole
            assert Recipe.of_bytes(Path(source).read_bytes()) is not None, "a recipe linked before it was whole"
        link(source, target)

    monkeypatch.setattr(os, "unlink", watched_unlink)
    monkeypatch.setattr(os, "replace", no_replace)
    monkeypatch.setattr(os, "link", recipes_linked_whole)
    (tmp_path / "poster.png").write_bytes(b"the user's own file")
    (tmp_path / "poster-2.json").write_bytes(b'{"the user\'s": "own recipe"}')  # its name taken for the recipe alone
    saved = [_put(tmp_path, f"u-{n}") for n in (1, 2)]
    monkeypatch.setattr(os, "unlink", unlink)
    assert [path.name for path in saved] == ["poster-3.png", "poster-4.png"]
    assert removed, "the temporaries' names are removed"
    assert all(name.startswith(".") and name.endswith(".part") for name in removed), removed
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "poster-2.json",
        "poster-3.json",
        "poster-3.png",
        "poster-4.json",
        "poster-4.png",
        "poster.png",
    ]
    for n, path in enumerate(saved, 1):
        recipe = _recipe_beside(path)
        assert (recipe.image_uuid, recipe.file, recipe.format, recipe.bytes) == (f"u-{n}", path.name, "PNG", len(png()))
        assert recipe.sha256 == hashlib.sha256(png()).hexdigest()
    assert (tmp_path / "poster.png").read_bytes() == b"the user's own file"
    assert (tmp_path / "poster-2.json").read_bytes() == b'{"the user\'s": "own recipe"}'


def _full_for_recipes(monkeypatch: pytest.MonkeyPatch, image: bytes) -> Callable[[Path, bytes], Path]:
    """A disk with room for ``image`` and none for its recipe; returns the writer to put back for room again."""
    write_temporary = local._write_temporary

    def full_for_recipes(folder: Path, data: bytes) -> Path:
        if data != image:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_temporary(folder, data)

    monkeypatch.setattr(local, "_write_temporary", full_for_recipes)
    return write_temporary


def test_an_image_whose_recipe_cannot_be_written_is_saved_all_the_same_its_recipe_name_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = png()
    write_temporary = _full_for_recipes(monkeypatch, image)
    saved = _put(tmp_path)
    assert saved == tmp_path / "poster.png"
    assert saved.read_bytes() == image
    assert (tmp_path / "poster.json").read_bytes() == b"", "the recipe's name is held, empty, for a later write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poster.json", "poster.png"]
    monkeypatch.setattr(local, "_write_temporary", write_temporary)
    write_recipe(saved, Recipe(image_uuid="u-1", file=saved.name))
    assert _recipe_beside(saved).file == "poster.png"


def test_a_recipe_a_full_disk_kept_from_being_written_is_written_at_the_next_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The image had stayed beside an empty recipe for good: no listing, no resource, no gallery showed it.
    image = png()
    write_temporary = _full_for_recipes(monkeypatch, image)
    first = _put(tmp_path)
    assert STORE.saved([tmp_path]) == []
    monkeypatch.setattr(local, "_write_temporary", write_temporary)  # room again
    found = sniff(png())
    assert found is not None
    second = STORE.put(tmp_path, "other", png(), found, Recipe(image_uuid="u-2", created="2026-12-01"))
    assert sorted(s.path for s in STORE.saved([tmp_path])) == sorted([first, second])
    assert _recipe_beside(first).file == first.name


def test_a_recipe_owed_to_an_image_the_user_deleted_meanwhile_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_temporary = _full_for_recipes(monkeypatch, png())
    first = _put(tmp_path)
    first.unlink()
    first.with_suffix(".json").unlink()  # the user removed the image and its empty recipe
    monkeypatch.setattr(local, "_write_temporary", write_temporary)  # room again
    found = sniff(png())
    assert found is not None
    STORE.put(tmp_path, "other", png(), found, Recipe(image_uuid="u-2"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "other.png"], "no recipe of a missing image"


def test_names_taken_between_the_look_and_the_link_are_passed_over_and_left_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "poster.json").write_bytes(b"the user's notes")
    (tmp_path / "poster-2.png").write_bytes(b"the user's own file")
    monkeypatch.setattr(os.path, "lexists", lambda path: False)  # as if both were made just after the look
    saved = _put(tmp_path)
    assert saved == tmp_path / "poster-3.png"
    assert (tmp_path / "poster.json").read_bytes() == b"the user's notes"
    assert (tmp_path / "poster-2.png").read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "poster-2.png",
        "poster-3.json",
        "poster-3.png",
        "poster.json",
    ]
    assert _recipe_beside(saved).file == "poster-3.png"


def test_without_hard_links_an_image_is_saved_with_its_recipe_and_nothing_of_the_users_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _users_poster_without_hard_links(tmp_path, monkeypatch)
    saved = _put(tmp_path)
    assert saved == tmp_path / "poster-2.png"
    assert saved.read_bytes() == png()
    assert (tmp_path / "poster.png").read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poster-2.json", "poster-2.png", "poster.png"]
    recipe = _recipe_beside(saved)
    assert (recipe.image_uuid, recipe.file) == ("u-1", "poster-2.png")


def test_a_save_killed_between_its_two_links_is_finished_under_the_name_its_recipe_holds(tmp_path: Path) -> None:
    # Killed after the recipe's link and before the image's: the next save of the same image went to poster-2,
    # beside a recipe naming a poster.png that was not there.
    first = _put(tmp_path, "u-1")
    first.unlink()  # as if the kill came before this link
    again = _put(tmp_path, "u-1")
    other = _put(tmp_path, "u-2")  # another image of the stem takes the next name, as ever
    assert again == first
    assert _recipe_beside(again).image_uuid == "u-1"
    assert again.read_bytes() == png()
    assert other.name == "poster-2.png"


def test_what_a_killed_save_left_under_a_later_name_is_completed_there_and_the_image_saved_once(
    tmp_path: Path,
) -> None:
    # "poster" asked for twice: the second image went to poster-2 and its process was killed before the journal
    # recorded it; the process that took the task up saved the same paid image again as poster-3, with a second
    # recipe (found by an audit). Only the name the journal recorded, poster, had been looked at.
    _put(tmp_path, "u-1")
    whole = _put(tmp_path, "u-2")  # killed after both links
    half = _put(tmp_path, "u-3")  # killed between the recipe's link and the image's
    half.unlink()
    unwritten = _put(tmp_path, "u-4")  # its recipe's claim left empty (no hard links)
    unwritten.with_suffix(".json").write_bytes(b"")
    again = [_put(tmp_path, image_uuid) for image_uuid in ("u-2", "u-3", "u-4")]
    assert [path.name for path in again] == ["poster-2.png", "poster-3.png", "poster-4.png"]
    assert [path.name for path in (whole, half, unwritten)] == ["poster-2.png", "poster-3.png", "poster-4.png"]
    assert [_recipe_beside(path).image_uuid for path in again] == ["u-2", "u-3", "u-4"]
    assert all(path.read_bytes() == png() for path in again)
    assert len(list(tmp_path.glob("*.png"))) == len(list(tmp_path.glob("*.json"))) == 4
    assert _put(tmp_path, "u-5").name == "poster-5.png"  # another image of the stem: the next free name


def test_a_save_under_a_stem_of_many_images_reads_no_recipe_of_an_image_of_another_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Looking for what a killed save left had read every recipe of the stem at every save (found by review).
    def noise(width: int) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.frombytes("L", (width, 8), random.Random(width).randbytes(width * 8)).save(buffer, format="PNG")
        return buffer.getvalue()

    def put(width: int, image_uuid: str) -> Path:
        image = noise(width)
        found = sniff(image)
        assert found is not None
        return STORE.put(tmp_path, "poster", image, found, Recipe(image_uuid=image_uuid))

    sizes = {len(noise(width)) for width in range(8, 48)}
    assert len(sizes) == 40
    for width in range(8, 48):
        put(width, f"u-{width}")
    reads: list[str] = []
    real = local.read_recipe
    monkeypatch.setattr(local, "read_recipe", lambda path: (reads.append(path.name), real(path))[1])
    saved = put(64, "u-new")
    assert saved.name == "poster-41.png"
    assert reads == [], "only those of a stem's images of the same size are read"


def test_temporaries_a_killed_save_left_are_removed_once_stale_and_a_live_saves_are_not(tmp_path: Path) -> None:
    stale, fresh = tmp_path / ".0123456789abcdef.part", tmp_path / ".fedcba9876543210.part"
    users = tmp_path / ".0123456789abcdef.part.keep"
    for path in (stale, fresh, users):
        path.write_bytes(b"a whole image, hidden")
    long_ago = os.stat(stale).st_mtime - local.STALE_TEMPORARY - 60
    os.utime(stale, (long_ago, long_ago))
    os.utime(users, (long_ago, long_ago))
    _put(tmp_path)
    assert not stale.exists()
    assert fresh.exists(), "a save under way"
    assert users.exists(), "not named as ours"


def test_a_process_serving_for_hours_clears_its_folders_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Once a process, at its first save: a server running for weeks kept every killed save's hidden copy.
    _put(tmp_path, "u-1")
    left = tmp_path / ".0123456789abcdef.part"
    left.write_bytes(b"a whole image, hidden")
    long_ago = os.stat(left).st_mtime - local.STALE_TEMPORARY - 60
    os.utime(left, (long_ago, long_ago))
    _put(tmp_path, "u-2")
    assert left.exists(), "not looked at again at every save"
    (folder,) = [swept for swept in local._swept if swept.resolve() == tmp_path.resolve()]  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setitem(local._swept, folder, local._swept[folder] - local.STALE_TEMPORARY)  # pyright: ignore[reportPrivateUsage]
    _put(tmp_path, "u-3")  # an hour after the first
    assert not left.exists()


def test_a_folder_swept_long_ago_is_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server saving in a folder a day had kept when it swept each, for as long as it served (found by an audit).
    now = [1000.0]
    monkeypatch.setattr(local, "_swept", {})
    monkeypatch.setattr(local.time, "monotonic", lambda: now[0])
    folders = [tmp_path / f"day-{day}" for day in range(4)]
    for folder in folders[:3]:
        local._sweep(folder)  # pyright: ignore[reportPrivateUsage]
    now[0] += local.STALE_TEMPORARY
    local._sweep(folders[3])  # pyright: ignore[reportPrivateUsage]
    assert list(local._swept) == [folders[3]]  # pyright: ignore[reportPrivateUsage]


def test_empty_files_that_may_be_a_live_saves_claims_are_left_alone(tmp_path: Path) -> None:
    image, recipe = tmp_path / "poster.png", tmp_path / "poster.json"
    for path in (image, recipe):
        path.touch()  # just made: a save under way may be about to move its image in
    saved = _put(tmp_path)
    assert saved.name == "poster-2.png"
    assert (image.stat().st_size, recipe.stat().st_size) == (0, 0)


@pytest.mark.parametrize("hard_links", [True, False])
def test_saves_finding_the_same_stale_claims_at_once_each_keep_their_image(
    hard_links: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Empty claims a killed save left (without hard links) are left as they are: three designs that took them over
    # each lost an image under some interleaving (two saves both replacing the image file, a placeholder put back over
    # an image, a recipe put back over the winner's). Each step of the file system is delayed at random, so that the
    # saves interleave every way over the rounds.
    chance = random.Random(16)
    slow = threading.Lock()

    def jittered(call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with slow:
                pause = chance.random() * 0.002
            time.sleep(pause)
            return call(*args, **kwargs)

        return run

    if not hard_links:
        monkeypatch.setattr(os, "link", lambda *_, **__: (_ for _ in ()).throw(OSError(errno.EPERM, "no hard links")))
    for name in ("rename", "replace", "open", "unlink"):
        monkeypatch.setattr(os, name, jittered(getattr(os, name)))
    pictures = {f"u-{n}": png(16, 16, (n * 60, 0, 0)) for n in range(4)}
    for round_ in range(40):
        folder = tmp_path / str(round_)
        folder.mkdir()
        long_ago = time.time() - 3600  # as old as any killed save's
        for claim in (folder / "sale.png", folder / "sale.json"):
            claim.touch()
            os.utime(claim, (long_ago, long_ago))
        saved: dict[str, Path] = {}

        def save(image_uuid: str, folder: Path = folder, saved: dict[str, Path] = saved) -> None:
            data = pictures[image_uuid]
            found = sniff(data)
            assert found is not None
            saved[image_uuid] = STORE.put(folder, "sale", data, found, Recipe(image_uuid=image_uuid))

        threads = [threading.Thread(target=save, args=(image_uuid,)) for image_uuid in pictures]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(set(saved.values())) == len(pictures), f"round {round_}: two images at one path"
        for image_uuid, path in saved.items():
            assert path.read_bytes() == pictures[image_uuid], f"round {round_}: {path.name} lost its image"
            assert _recipe_beside(path).image_uuid == image_uuid
        assert (folder / "sale.png").stat().st_size == 0, "a claim is never taken over: the next name is taken"


def test_a_users_own_json_beside_a_copy_of_the_image_is_never_replaced(tmp_path: Path) -> None:
    # The user keeps a copy of a generated image as poster.png, with notes of their own in poster.json.
    (tmp_path / "poster.png").write_bytes(png())
    (tmp_path / "poster.json").write_bytes(b'{"notes": "the user\'s own"}')
    _put(tmp_path)
    assert (tmp_path / "poster.json").read_bytes() == b'{"notes": "the user\'s own"}'


def test_without_hard_links_a_name_taken_between_the_look_and_the_link_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _users_poster_without_hard_links(tmp_path, monkeypatch)
    monkeypatch.setattr(os.path, "lexists", lambda path: False)  # as if poster.png was made just after the look
    written = write_new(tmp_path, "poster", "png", b"new image")
    assert written == tmp_path / "poster-2.png"
    assert (tmp_path / "poster.png").read_bytes() == b"the user's own file"
    assert written.read_bytes() == b"new image"


def test_a_recipe_of_the_same_image_naming_another_file_is_not_taken_for_a_cut_short_save(tmp_path: Path) -> None:
    recipe = {"generator": "ideogram-mcp", "imageUUID": "u-1", "file": "poster.jpg"}
    (tmp_path / "poster.json").write_text(json.dumps(recipe))
    saved = _put(tmp_path, "u-1")
    assert saved.name == "poster-2.png"
    assert _recipe_beside(saved).file == saved.name
    assert json.loads((tmp_path / "poster.json").read_text()) == recipe


def test_an_image_without_a_uuid_is_not_taken_for_what_a_cut_short_save_of_another_left(tmp_path: Path) -> None:
    # Neither image has a UUID to tell them apart: the recipe beside a deleted image is another's, not this one's.
    first = _put(tmp_path, "")
    first.unlink()  # the user deleted the image, its recipe left
    other = png(colour=(10, 200, 10))
    found = sniff(other)
    assert found is not None
    saved = STORE.put(tmp_path, "poster", other, found, Recipe())
    assert saved.name == "poster-2.png"
    assert (saved.read_bytes(), _recipe_beside(saved).sha256) == (other, hashlib.sha256(other).hexdigest())


def test_a_discarded_copy_leaves_neither_its_image_nor_its_recipe(tmp_path: Path) -> None:
    # Another finish saved the image first: this copy goes, recipe and all (a recipe left behind names a missing file).
    saved = _put(tmp_path)
    LocalFolders().discard(saved)
    assert list(tmp_path.iterdir()) == []
