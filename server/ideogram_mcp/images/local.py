"""Saved images as files in folders of this machine: the default image store.

An image is written atomically and never over another file: a temporary file in the same folder, then a link to
its name (a taken name gets ``-2``, ``-3`` ...). Its recipe is written beside it, its name claimed before the
image's so that two images saved at once never share one. What a save cut short left (its image with the same
bytes, or its recipe naming this image, under the name it took) is completed and taken, so that a paid image is
saved once; the temporaries of saves killed part-way are removed once a process. Listing and reading take only
files with our recipe beside them, directly in the folders asked for; nothing is followed out of them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ideogram_mcp import files
from ideogram_mcp.clock import stamp
from ideogram_mcp.images import NAMES_TRIED, NotSavedError, SavedImage
from ideogram_mcp.images.formats import ImageFormat, sniff
from ideogram_mcp.images.recipes import SIDECAR_MOST, Recipe

MIN_FREE = 8 * 1024 * 1024
"""Bytes a folder's disk must have free for a paid call to be sent: a 4.0 PNG and its recipe can take 7 MB, and an
empty probe file is written on a full disk all the same."""
_TEMPORARY = re.compile(r"\.[0-9a-f]{16}\.part")
"""How a temporary file of a save is named."""


class LocalFolders:
    """The image store of folders on this machine (``ImageStore``)."""

    on_disk = True
    """Its images are files of this machine, read as any local input is."""

    def unwritable(self, folder: Path, longest: str = "") -> str | None:
        """Why images cannot be saved in ``folder`` (made first if missing), in plain words; None when they can.

        ``longest`` is the longest name an image will be saved under: a probe of that length shows a file system
        whose names are shorter than most (eCryptfs allows 143 bytes) before anything is paid for.
        """
        probing = False  # a name too long is the fileName's only in the probe: the folder's own names come first
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probing = True
            size = max(len(longest.encode("utf-8")), 16)  # a name as long, in bytes, as the longest to be written
            probe = folder / f".{secrets.token_hex(4)}".ljust(size, "x")
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            probe.unlink()
            usage = shutil.disk_usage(folder)  # a file system telling nothing of its size (some FUSE ones) says 0
            if usage.total and (free := usage.free) < MIN_FREE:
                return f"its disk has {free / 1024 / 1024:.1f} MB free, too little for an image; free space there"
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG and longest and probing:
                return "this folder's file system takes no file name that long; give a shorter fileName"
            return files.plainly(exc)
        except RecursionError:
            return "its path has too many levels"
        return None

    def put(self, folder: Path, stem: str, data: bytes, found: ImageFormat, recipe: Recipe) -> Path:
        """Save an image under ``stem`` (or the next free name) with its recipe; returns its path. What a cut-short
        save of this very image left, under any of those names, is completed and taken."""
        facts = recipe.with_(format=found.name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        _write_owed()
        if (left := _cut_short(folder, stem, found.extension, data, facts)) is not None:
            return left
        _sweep(folder)
        return write_new(folder, stem, found.extension, data, recipe=lambda name: facts.with_(file=name).text())

    def discard(self, image: Path) -> None:
        """Remove an image this server saved and its recipe (a second copy of an image saved elsewhere first)."""
        for path in (image, image.with_suffix(".json")):
            with contextlib.suppress(OSError):
                path.unlink()

    def names(self, folder: Path) -> list[str]:
        """The names of the entries of ``folder`` ([] before it is made)."""
        return os.listdir(folder) if os.path.isdir(folder) else []

    def saved(self, folders: Sequence[Path]) -> list[SavedImage]:
        """The images this server saved directly in ``folders``, newest first."""
        found = [image for folder in folders for image in _saved_in(folder)]
        found.sort(key=lambda s: (s.created, s.path.name), reverse=True)
        return found

    def read(self, path: Path | None, folders: Sequence[Path], uri: str) -> tuple[bytes, ImageFormat]:
        """The bytes of a saved image at ``path`` (named by ``uri``), only when it lies directly in one of ``folders``
        beside our recipe. Raises ``LookupError`` with a sentence for anything else."""
        if path is None:
            raise LookupError(f"Not an image resource of this server: {uri[:200]}. Call resources/list for them.")
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError):  # a loop of links, a name too long
            raise NotSavedError(uri) from None
        recipe = read_recipe(resolved.with_suffix(".json")) if resolved.parent in folders else None
        if recipe is None or recipe.file != resolved.name or not resolved.is_file():
            raise NotSavedError(uri)
        try:
            data = resolved.read_bytes()
        except OSError as exc:  # its permissions changed, or the disk failed: said without the server's path
            raise LookupError(
                f"{uri[:200]} is saved but cannot be read ({exc.strerror or type(exc).__name__}): have the user check"
                " the file's permissions."
            ) from None
        found = sniff(data)
        if found is None:
            raise LookupError(f"{uri[:200]} is no longer a PNG, JPEG or WEBP image.")
        return data, found

    def load(self, path: Path, *, strict: bool = False) -> bytes | None:
        """The bytes of the file at ``path``, or None when it is gone (``strict`` changes nothing on a disk)."""
        try:
            return path.read_bytes()
        except OSError:
            return None

    def missing(self, path: Path) -> bool:
        """Whether no readable file is at ``path`` any more (its name looked up: nothing opened)."""
        try:
            return not (path.is_file() and os.access(path, os.R_OK))
        except (OSError, ValueError):  # a name too long, or with a NUL: nothing of ours is there
            return True

    def serves(self, path: Path) -> bool:
        """Whether ``read`` would serve the image at ``path`` for its recipe (this server's, naming it)."""
        recipe = read_recipe(path.with_suffix(".json"))
        return recipe is not None and recipe.file == path.name

    def link(self, path: Path) -> str | None:
        """No download link: the file is on this machine, and its resource link serves it."""
        return None

    def known_uuid(self, image: Path, data: bytes, service: str) -> str | None:
        """The image UUID Runware holds a file under, when this server saved it from ``service`` and it is unchanged
        since: then it needs no new upload."""
        recipe = read_recipe(image.with_suffix(".json"))
        return recipe.uuid_for(data, service) if recipe is not None else None


_owed: dict[Path, bytes] = {}
"""Recipes a full disk kept from being written, by the name claimed for each (an empty file beside its image, which
no listing shows): written at this process's next save, once there is room."""


def _write_owed() -> None:
    for sidecar in list(_owed):
        if (text := _owed.pop(sidecar, None)) is None:  # another save's, meanwhile
            continue
        try:
            if sidecar.is_file() and sidecar.stat().st_size == 0:  # still the empty claim: nothing else took it
                _write_sidecar(sidecar, text)
        except OSError:
            _owed[sidecar] = text  # no room yet


STALE_TEMPORARY = 3600.0
"""Seconds after which a temporary file (``.<16 hex>.part``) is a killed save's: a live save's lasts a moment."""
_swept: dict[Path, float] = {}
"""When (monotonic) this process last cleared each folder of such files, the latest last."""
_sweeping = threading.Lock()


def _sweep(folder: Path) -> None:
    """Remove the temporaries killed saves left in ``folder`` (a whole image each, hidden), at its first save in a
    process and then at most once every ``STALE_TEMPORARY`` seconds: a server runs for weeks."""
    with _sweeping:  # saves run in threads
        now = time.monotonic()
        if now < _swept.get(folder, -math.inf) + STALE_TEMPORARY:
            return
        stamp(_swept, folder, now, lambda swept: now >= swept + STALE_TEMPORARY)
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY:
                        os.unlink(entry.path)


def _cut_short(folder: Path, stem: str, extension: str, data: bytes, facts: Recipe) -> Path | None:
    """The name a save of this very image took, when it was cut short (killed, or its journal failed) before it was
    recorded, completed: ``stem`` or a later one (``-2`` ...; a save takes the first free name, another process's
    save of a name taken too). Its image, or its recipe, is written where the save left it without one, so that a
    paid image is saved once; None when no save of it left anything. The same bytes under another image's recipe (a
    seed made twice) are not this image."""
    for attempt in range(1, NAMES_TRIED + 1):
        name = stem if attempt == 1 else f"{stem}-{attempt}"
        target, sidecar = folder / f"{name}.{extension}", folder / f"{name}.json"
        here, claimed = os.path.lexists(target), os.path.lexists(sidecar)
        if not here and not claimed:
            return None  # the first free name: no save of it went past
        if here and not _sized(target, len(data)):
            continue  # another image: its recipe is not read (a stem of hundreds of images, at every save)
        left = read_recipe(sidecar) if claimed else None
        ours = left is not None and left.image_uuid == facts.image_uuid != "" and left.file == target.name
        if ours and not here:  # killed between linking the recipe and the image
            temporary = _write_temporary(folder, data)
            try:
                _link_exclusive(temporary, target)
                return target
            except FileExistsError:  # taken meanwhile: a name as any other
                continue
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
        if (ours or left is None) and _left_behind(target, data):
            if left is None:  # its recipe an empty claim (no hard links), or not written
                with contextlib.suppress(OSError):  # the image is what was paid for
                    write_recipe(target, facts.with_(file=target.name))
            return target
    return None


def write_new(
    folder: Path, stem: str, extension: str, data: bytes, *, recipe: Callable[[str], bytes] | None = None
) -> Path:
    """Write ``data`` to ``folder/stem.extension`` atomically, never over an existing file.

    When the name is taken, or its recipe's (``stem.json``: an image of another format may hold it), ``-2``,
    ``-3`` ... is added to the stem. The recipe's name is claimed first, so that two images saved at once never
    share one: by the recipe itself, whole, when ``recipe`` makes its file (from the image's file name), else by an
    empty file that the recipe then replaces (a file system without hard links), or that ``write_recipe`` fills.
    A recipe that cannot be written is no reason to lose the image: its name stays claimed, empty. Returns the path
    written.

    A recipe that claims its name whole leaves no file made only to be replaced, and each file deleted costs the
    next ones made where ext4 has no journal: it checks every recently freed inode it passes over when it places a
    new one, so 1,000 images saved at once, each replacing its claim, made the kernel's share of a save grow with
    every image. A save cut short between its two links leaves a recipe naming an image that is not there, which
    nothing lists (a recipe is listed only beside its image); ``put`` saves the image again under that name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    temporary = _write_temporary(folder, data)
    try:
        for attempt in range(1, NAMES_TRIED + 1):
            name = stem if attempt == 1 else f"{stem}-{attempt}"
            target, sidecar = folder / f"{name}.{extension}", folder / f"{name}.json"
            if os.path.lexists(target) or os.path.lexists(sidecar):  # taken: nothing made for it (the links decide)
                continue
            text = recipe(target.name) if recipe is not None else b""
            try:
                whole = _claim(sidecar, text)
            except FileExistsError:
                continue
            try:
                _link_exclusive(temporary, target)
            except BaseException as exc:
                sidecar.unlink(missing_ok=True)
                if isinstance(exc, FileExistsError):
                    continue
                raise
            if text and not whole:
                try:
                    _write_sidecar(sidecar, text)
                except OSError:  # the image is what was paid for: its recipe is written at a later save
                    _owed[sidecar] = text
            return target
        raise FileExistsError(f"no free name for {stem}.{extension} in {folder}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _claim(sidecar: Path, text: bytes) -> bool:
    """Take the recipe's name ``sidecar``, with ``text`` written whole when it can be linked there (True), else with
    an empty file (False: no hard links here, or the text could not be written); raises FileExistsError when the
    name is taken, and OSError when not even the empty file can be made."""
    try:
        written = _write_temporary(sidecar.parent, text) if text else None
    except OSError:  # a full disk: the name is claimed empty
        written = None
    if written is not None:
        try:
            os.link(written, sidecar)
            return True
        except FileExistsError:
            raise
        except OSError:
            pass  # no hard links here: the name is claimed empty, and the recipe replaces it after the image
        finally:
            with contextlib.suppress(FileNotFoundError):
                written.unlink()
    os.close(os.open(sidecar, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    return False


def write_recipe(image: Path, recipe: Recipe) -> Path:
    """Write the recipe beside an image, as ``<same name>.json``, atomically and never over another file
    (only over an empty claim ``write_new`` left for it)."""
    return _write_sidecar(image.with_suffix(".json"), recipe.text())


def _write_sidecar(target: Path, text: bytes) -> Path:
    """Write a recipe's ``text`` as ``target`` atomically: over an empty claim, else only where no file is."""
    temporary = _write_temporary(target.parent, text)
    try:
        if target.is_file() and target.stat().st_size == 0:
            os.replace(temporary, target)
        else:
            _link_exclusive(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return target


def read_recipe(sidecar: Path) -> Recipe | None:
    """A recipe when the file is one of ours, else None.

    Only a regular file is read, and no more of it than a recipe can be: a pipe or a device named like a
    recipe (anyone may put files in a project's folder) must neither block nor fill memory.
    """
    try:
        descriptor = os.open(sidecar, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            raw = handle.read(SIDECAR_MOST + 1)
    except OSError:  # no such file, or one that cannot be read: not ours
        return None
    return Recipe.of_bytes(raw)


def _write_temporary(folder: Path, data: bytes) -> Path:
    """A hidden file in ``folder`` holding ``data``, flushed to disk, with the user's usual permissions."""
    temporary = folder / f".{secrets.token_hex(8)}.part"  # named as _TEMPORARY reads it
    descriptor = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return temporary


def _link_exclusive(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target``, failing with FileExistsError if it is taken."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links: claim the name first, then move the file over the claim.
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        os.replace(source, target)


def _left_behind(path: Path, data: bytes) -> Path | None:
    """``path`` when it holds exactly ``data``: the same paid image, written by a save that was cut short (killed,
    or its journal failed) before it was recorded. Taking it saves the image once, not twice."""
    try:
        return path if _sized(path, len(data)) and path.read_bytes() == data else None
    except OSError:
        return None


def _sized(path: Path, size: int) -> bool:
    """Whether ``path`` is a file (not a link) of ``size`` bytes."""
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size == size
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class _Listed:
    """A recipe as a listing last read it."""

    signature: tuple[int, int, int, int]
    """Its file's device, inode, size and time: another means it changed, and it is read again."""
    shown: SavedImage | None
    """The image it names, in the same folder, as listed (its size filled in at each listing); None when it is no
    recipe of ours, or names no such file."""


_listed: dict[Path, dict[str, _Listed]] = {}
"""By folder, each of its recipes as last listed, by name: a page of ``resources/list`` reads again only the recipes
changed since. A folder of 10,000 images had taken 1.1 s a page, each recipe read and parsed, its image resolved."""


def _saved_in(folder: Path) -> list[SavedImage]:
    """The images this server saved in ``folder`` (those with our recipe beside them)."""
    try:
        with os.scandir(folder) as there:
            entries = {entry.name: entry for entry in there}
        real = folder.resolve()
    except (OSError, RuntimeError, ValueError):
        return []
    before, now = _listed.get(folder, {}), dict[str, _Listed]()
    found: list[SavedImage] = []
    for name, entry in entries.items():
        if not name.endswith(".json"):
            continue
        try:
            signature = _signature(entry.stat())
        except OSError:
            continue
        listed = before.get(name)
        if listed is None or listed.signature != signature:
            listed = _read_for_listing(folder / name, signature)
        now[name] = listed
        if (shown := listed.shown) is None or (image := entries.get(shown.path.name)) is None:
            continue
        if Path(name).stem != shown.path.stem:  # a copy of a recipe ("x copy.json"): ``read`` takes the image's own
            continue
        try:
            if _directly_in(image, real):  # listed only what ``read`` serves: no link out of the folder
                found.append(
                    SavedImage(shown.path, shown.format, shown.created, image.stat().st_size, shown.description)
                )
        except (OSError, RuntimeError, ValueError):  # a loop of links, or gone meanwhile: not listed, as ``read``
            continue
    _listed[folder] = now
    return found


def _read_for_listing(sidecar: Path, signature: tuple[int, int, int, int]) -> _Listed:
    recipe = read_recipe(sidecar)
    name = recipe.file if recipe is not None else None
    if recipe is None or not name or name != Path(name).name or Path(name).suffix.lower() == ".json":
        return _Listed(signature, None)  # a recipe naming no file, a path, or itself: not one this server wrote
    return _Listed(signature, recipe.saved_at(sidecar.with_name(name), 0))


def _directly_in(image: os.DirEntry[str], real: Path) -> bool:
    """Whether a folder's entry is a file in that folder (``real``: the folder resolved), as a link too."""
    if not image.is_symlink():
        return image.is_file(follow_symlinks=False)
    target = Path(image.path).resolve()
    return target.parent == real and target.is_file()


def _signature(found: os.stat_result) -> tuple[int, int, int, int]:
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns
