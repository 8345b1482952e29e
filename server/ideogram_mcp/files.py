"""Every path decision: where images are saved, under which names, and which local files may be read.

No other module joins paths from agent input. Images out are downloaded (streamed, capped,
sniffed) and written atomically: a temporary file in the same folder, then a link to the final
name, so a reader never sees a partial file and an existing file is never overwritten. Local
images in are read only from allowed folders, after resolving symlinks.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import os
import re
import secrets
import stat
import sys
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

import anyio
import anyio.to_thread
import httpx2

from ideogram_mcp.errors import DownloadError, IdeogramError
from ideogram_mcp.specs import is_image_reference

SIDECAR_MARK = "ideogram-mcp"
"""The ``generator`` of every sidecar this server writes; other JSON files are not ours."""
OUTPUT_SUBFOLDER = "ideogram-output"
"""The folder made inside a client's root for its images."""
MAX_DOWNLOAD = 50 * 1024 * 1024
"""Largest image accepted from an image URL (Runware's are a few MB)."""
MAX_INPUT = 10 * 1024 * 1024
"""Largest local image read as an input (Ideogram's own limit)."""
MAX_NAME = 100
"""Characters a ``fileName`` may have."""
MAX_FOLDER = 1024
"""Characters an ``outputDir`` may have."""
MAX_DEPTH = 16
"""Levels of folders an ``outputDir`` may have (each may be made)."""
MAX_NAME_BYTES = 240
"""Bytes (UTF-8) a ``fileName`` may have: file systems allow 255 for a whole name, and the server may add a number
("-20"), a number against a taken name ("-999") and an extension (".webp")."""
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}


@dataclass(frozen=True, slots=True)
class ImageFormat:
    """An image file format as Runware names it, with its file extension and MIME type."""

    name: str
    extension: str
    mime_type: str


FORMATS: dict[str, ImageFormat] = {
    "JPG": ImageFormat("JPG", "jpg", "image/jpeg"),
    "PNG": ImageFormat("PNG", "png", "image/png"),
    "WEBP": ImageFormat("WEBP", "webp", "image/webp"),
}
_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}


def image_format(name: str) -> ImageFormat:
    """The format Runware calls ``name`` (any case); JPG, Runware's default, for anything else."""
    return FORMATS.get(name.upper(), FORMATS["JPG"])


def sniff(data: bytes) -> ImageFormat | None:
    """The format of image bytes by their first bytes, or None when they are no PNG, JPEG or WEBP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return FORMATS["PNG"]
    if data.startswith(b"\xff\xd8\xff"):
        return FORMATS["JPG"]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return FORMATS["WEBP"]
    return None


# --- where things go -------------------------------------------------------------------------


def default_output_dir() -> Path:
    """The per-user folder images go to when neither a setting nor a client root says otherwise."""
    return Path.home() / "Pictures" / "ideogram-mcp"


def default_data_dir() -> Path:
    """The per-user folder for the server's own data (the task journal), as each system names it."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "ideogram-mcp"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "ideogram-mcp"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ideogram-mcp"


Source = Literal["setting", "argument", "root", "project", "default"]


@dataclass(frozen=True, slots=True)
class Places:
    """The folders of one connection: where images are saved, and which folders inputs may come from."""

    output: Path
    source: Source
    readable: tuple[Path, ...]
    """The folders local inputs may come from, symlinks resolved."""
    named: tuple[Path, ...] = ()
    """The same folders as they were named (absolute, normalised, links not followed)."""
    withheld: tuple[Path, ...] = ()
    """Folders inside those that inputs may not come from, but for the output folder itself (over HTTP, where
    every token's images are kept: one token may not send another's)."""
    root: Path | None = None
    """For a remote connection (HTTP), the folder its paths are shown relative to: it learns no path of the server.
    None on stdio, where the client shares the server's disk and sees absolute paths and ``file://`` URIs."""

    def may_read(self, path: Path) -> bool:
        """Whether a local input at ``path`` (symlinks resolved) is in a readable folder and not withheld."""
        if any(path.is_relative_to(folder) for folder in self.withheld) and not path.is_relative_to(self.output):
            return False
        return any(path.is_relative_to(folder) for folder in self.readable)

    def shown(self, path: Path | str) -> str:
        """A path as this connection is told it: absolute on stdio, relative to its folder over HTTP."""
        if self.root is None:
            return str(path)
        if not Path(path).is_relative_to(self.root):
            return Path(path).name  # never happens: a remote connection's files all lie in its folder
        return Path(path).relative_to(self.root).as_posix()

    def uri(self, path: Path) -> str | None:
        """The resource URI of a saved image: ``file://`` on stdio, ``ideogram://images/<path>`` over HTTP (None
        for a file outside the connection's folder, which it cannot read)."""
        if self.root is None:
            return file_uri(path)
        return REMOTE_IMAGES + quote(self.shown(path)) if Path(path).is_relative_to(self.root) else None

    def template(self) -> str:
        """The resource template naming an image saved in the output folder by its file name."""
        if self.root is None:
            return file_uri(self.output) + "/{fileName}"
        folder = self.shown(self.output)
        return REMOTE_IMAGES + ("" if folder == "." else quote(folder) + "/") + "{fileName}"

    def located(self, uri: str) -> Path | None:
        """The local path a resource URI this connection was given names, or None when it names none of ours."""
        if self.root is None:
            return path_from_uri(uri)
        if not uri.startswith(REMOTE_IMAGES):
            return None
        named = unquote(uri.removeprefix(REMOTE_IMAGES))
        relative = Path(named)
        if "\x00" in named or relative.is_absolute() or ".." in relative.parts:
            return None
        return self.root / relative


REMOTE_IMAGES = "ideogram://images/"
"""Where a remote connection's saved images are, as resource URIs (a ``file://`` URI would name the server's disk)."""


def places(
    output_dir: Path | None, roots: Sequence[str], allowed: Sequence[Path], project: Path | None = None
) -> Places:
    """The output folder, first match wins: the setting, else ``ideogram-output`` inside the first ``file://`` root,
    else inside the project folder the server was started in, else the per-user default; and the readable ones
    (all of those, and the allowed folders)."""
    root_dirs = [path for path in (path_from_uri(root) for root in roots) if path is not None]
    source: Source
    if output_dir is not None:
        output, source = output_dir.expanduser(), "setting"
    elif root_dirs:
        output, source = root_dirs[0] / OUTPUT_SUBFOLDER, "root"
    elif project is not None:
        output, source = project / OUTPUT_SUBFOLDER, "project"
    else:
        output, source = default_output_dir(), "default"
    folders = [p.expanduser() for p in (*root_dirs, *([project] if project else []), output, *allowed)]
    named = dict.fromkeys(Path(os.path.normpath(p.absolute())) for p in folders)
    readable = dict.fromkeys(p.resolve() for p in folders)
    return Places(output.resolve(), source, tuple(readable), tuple(named))


def project_folder(folder: Path) -> Path | None:
    """``folder`` (the server's working directory) when it is a project a client started the server in: not the
    file system's root, not the home folder, and writable. Claude Code starts its servers in the project."""
    try:
        resolved = folder.resolve()
        home = Path.home().resolve()
    except (OSError, RuntimeError):
        return None
    if resolved == Path(resolved.anchor) or resolved == home or not os.access(resolved, os.W_OK | os.X_OK):
        return None
    return resolved


def chosen_output(where: Places, requested: str) -> tuple[Places | None, str | None]:
    """The places with the output folder an agent asked for (``outputDir``), or why it may not be used.

    A relative folder is taken inside the output folder otherwise used. The folder must lie inside the folders this
    connection may use (inside the set folder, when the user set one); it need not exist yet.
    """
    text = requested.strip()
    if not text or "\x00" in text or any(unicodedata.category(c) == "Cc" for c in text):
        return None, "must be a folder path"
    if len(text) > MAX_FOLDER or len(Path(text).parts) > MAX_DEPTH:
        return None, f"must be a folder path of at most {MAX_FOLDER} characters and {MAX_DEPTH} levels"
    try:
        path = Path(text).expanduser()  # "~nobody/x" raises: no such user
        resolved = (path if path.is_absolute() else where.output / path).resolve()
    except (OSError, RuntimeError) as exc:
        return None, f"cannot be followed to a folder ({_why(exc)})"
    if where.root is not None:  # a remote connection: inside its own folder, which it knows by relative names only
        if not resolved.is_relative_to(where.root):
            return None, "must be a folder inside this connection's own, named relatively, e.g. 'logos'"
        return dataclasses.replace(where, output=resolved, source="argument"), None
    inside = (where.output,) if where.source == "setting" else where.readable
    own = resolved.is_relative_to(where.output)
    if not any(resolved.is_relative_to(folder) for folder in inside) or (not own and not where.may_read(resolved)):
        if where.source == "setting":
            return None, (
                f"must be inside {where.output}, the folder the user set (IDEOGRAM_MCP_OUTPUT_DIR); give a "
                "folder inside it, e.g. a relative name such as 'logos'"
            )
        listed = ", ".join(str(folder) for folder in where.readable)
        return None, (
            f"is outside the folders this server may use ({listed}); give a folder inside one of them, e.g. a "
            "relative name such as 'logos', or have the user add it to IDEOGRAM_MCP_ALLOWED_DIRS"
        )
    readable = tuple(dict.fromkeys((*where.readable, resolved)))
    return dataclasses.replace(where, output=resolved, source="argument", readable=readable), None


def unwritable(folder: Path, longest: str = "") -> str | None:
    """Why images cannot be saved in ``folder`` (made first if missing), in plain words; None when they can.

    ``longest`` is the longest name an image will be saved under: a probe of that length shows a file system whose
    names are shorter than most (eCryptfs allows 143 bytes) before anything is paid for.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        size = max(len(longest.encode("utf-8")), 16)  # a name as long, in bytes, as the longest to be written
        probe = folder / f".{secrets.token_hex(4)}".ljust(size, "x")
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG and longest:
            return "this folder's file system takes no file name that long; give a shorter fileName"
        return plainly(exc)
    return None


def plainly(exc: OSError) -> str:
    """An error of the file system as a user would say it."""
    reasons = {
        errno.EACCES: "this server's user may not write there",
        errno.EPERM: "this server's user may not write there",
        errno.EROFS: "it is on a read-only file system",
        errno.EEXIST: "a file (not a folder) of that name is in the way",
        errno.ENOTDIR: "a file (not a folder) stands in its path",
        errno.ENOSPC: "the disk is full",
        getattr(errno, "EDQUOT", -1): "the disk quota is used up",
        errno.ENAMETOOLONG: "its path is too long",
    }
    return reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)


def path_from_uri(uri: str) -> Path | None:
    """The local path of a ``file://`` URI, or None for any other URI (or one no file can have: a NUL in it)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    path = url2pathname(unquote(parts.path))
    return None if "\x00" in path else Path(path)


def file_uri(path: Path) -> str:
    """The ``file://`` URI of an absolute path."""
    return path.as_uri()


# --- names -------------------------------------------------------------------------------------


def check_file_name(text: str) -> tuple[str | None, str | None]:
    """An agent's ``fileName`` as a base name without extension, or why it cannot be one.

    A name, never a path: folders, ``..``, a leading dot and control characters are refused.
    """
    name = unicodedata.normalize("NFC", text.strip())
    why = "must be a plain file name such as 'sale-poster', without folders"
    if not name:
        return None, f"{why}; it is empty"
    if any(unicodedata.category(c).startswith("C") for c in name):
        return None, f"{why} or control characters"
    if "/" in name or "\\" in name or Path(name).is_absolute() or re.match(r"^[A-Za-z]:", name):
        return None, f"{why} ('/', '\\' and drive letters are not allowed)"
    if name.startswith("."):
        return None, f"{why}, not starting with '.'"
    if re.search(r'[<>:"|?*]', name):
        return None, f'{why} or any of < > : " | ? *'
    if name.split(".")[0].strip().upper() in _RESERVED:
        return None, f"{why}; {name.split('.')[0]} is a device name on Windows"
    stem, extension = os.path.splitext(name)
    if extension.lower() in {*_EXTENSIONS, ".json"} and stem:
        name = stem  # the server adds the extension of the format it saves
    if len(name) > MAX_NAME:
        return None, f"{why}, at most {MAX_NAME} characters (got {len(name)})"
    if (size := len(name.encode("utf-8"))) > MAX_NAME_BYTES:
        return None, f"{why}, at most {MAX_NAME_BYTES} bytes in UTF-8 (this one has {size})"
    return name, None


def stems(
    file_name: str | None,
    prompt: str,
    short_ids: Sequence[str],
    when: datetime,
    *,
    first: int = 1,
    of: int | None = None,
) -> list[str]:
    """Base names for images of a task: the agent's ``fileName`` (numbered when the task makes several), else defaults.

    ``first`` is the number of the first of these images in the task and ``of`` how many it makes, so images
    that arrive in several calls are numbered as one set. A default is the date and time, the prompt's
    first words and the image's short id.
    """
    if file_name:
        if not short_ids:
            return []
        if (of or len(short_ids)) == 1:
            return [file_name]
        return [f"{file_name}-{n}" for n in range(first, first + len(short_ids))]
    ascii_prompt = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode().lower()
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_prompt)[:6])[:48].strip("-") or "image"
    return [f"{when:%Y%m%d-%H%M%S}-{slug}-{short_id}" for short_id in short_ids]


# --- images out -------------------------------------------------------------------------------


async def download(http: httpx2.AsyncClient, url: str, *, limit: int = MAX_DOWNLOAD) -> tuple[bytes, ImageFormat]:
    """The bytes of an image URL, streamed with a size cap and sniffed; raises ``DownloadError``."""
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise DownloadError(f"the image URL answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise DownloadError(f"the image is larger than {limit // (1024 * 1024)} MB")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise DownloadError(f"the image is larger than {limit // (1024 * 1024)} MB")
                chunks.append(chunk)
    except (httpx2.HTTPError, httpx2.InvalidURL, ValueError) as exc:
        raise DownloadError(f"the download failed ({type(exc).__name__})") from exc
    data = b"".join(chunks)
    found = sniff(data)
    if found is None:
        raise DownloadError("the URL did not serve a PNG, JPEG or WEBP image")
    return data, found


def write_new(folder: Path, stem: str, extension: str, data: bytes) -> Path:
    """Write ``data`` to ``folder/stem.extension`` atomically, never over an existing file.

    When the name is taken, or its recipe's (``stem.json``: an image of another format may hold it), ``-2``,
    ``-3`` ... is added to the stem. The recipe's name is claimed first (an empty file ``write_sidecar`` fills),
    so that two images saved at once never share one. Returns the path written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    temporary = _write_temporary(folder, data)
    try:
        for attempt in range(1, 1000):
            name = stem if attempt == 1 else f"{stem}-{attempt}"
            target, recipe = folder / f"{name}.{extension}", folder / f"{name}.json"
            try:
                os.close(os.open(recipe, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            try:
                _link_exclusive(temporary, target)
            except BaseException as exc:
                recipe.unlink(missing_ok=True)
                if isinstance(exc, FileExistsError):
                    continue
                raise
            return target
        raise FileExistsError(f"no free name for {stem}.{extension} in {folder}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _write_temporary(folder: Path, data: bytes) -> Path:
    """A hidden file in ``folder`` holding ``data``, flushed to disk, with the user's usual permissions."""
    temporary = folder / f".{secrets.token_hex(8)}.part"
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


def write_sidecar(image: Path, recipe: Mapping[str, Any]) -> Path:
    """Write the recipe beside an image, as ``<same name>.json``, atomically and never over another file
    (only over the empty claim ``write_new`` left for it)."""
    text = json.dumps({"generator": SIDECAR_MARK, **recipe}, indent=2, ensure_ascii=False) + "\n"
    target = image.with_suffix(".json")
    temporary = _write_temporary(image.parent, text.encode("utf-8"))
    try:
        if target.is_file() and target.stat().st_size == 0:
            os.replace(temporary, target)
        else:
            _link_exclusive(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return target


@dataclass(frozen=True, slots=True)
class Wanted:
    """One generated image to fetch and maybe save: where it is, and the recipe for its sidecar.

    The recipe is made from the fetched bytes, as some of its facts are read from them (the size of an
    image whose task named none, such as an edit's).
    """

    url: str | None
    stem: str
    recipe: Callable[[bytes], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Kept:
    """What became of one image: its bytes (for previews), its saved path, or why either is missing."""

    data: bytes | None = None
    format: ImageFormat | None = None
    path: Path | None = None
    problem: str | None = None


async def keep(
    http: httpx2.AsyncClient,
    wanted: Sequence[Wanted],
    *,
    folder: Path | None,
    until: float | None = None,
) -> list[Kept]:
    """Download every image at once and, when ``folder`` is given, save each with its sidecar.

    Failures are reported per image, never raised: the caller still has the URLs. ``until`` (monotonic
    seconds) ends the downloads still running then, each reported as unsaved; a file is never left half written.
    """
    kept: list[Kept] = [Kept(problem="was still downloading when the call's time ran out") for _ in wanted]

    async def one(index: int, item: Wanted) -> None:
        if item.url is None:
            kept[index] = Kept(problem="Runware gave no URL for it")
            return
        try:
            data, found = await download(http, item.url)
        except DownloadError as exc:
            kept[index] = Kept(problem=f"could not be downloaded: {exc}")
            return
        if folder is None:
            kept[index] = Kept(data, found)
            return
        target = folder
        try:
            path = await anyio.to_thread.run_sync(lambda: _save(target, item.stem, found, data, item.recipe(data)))
        except OSError as exc:
            problem = (
                f"could not be saved in {folder}: {plainly(exc)} (IDEOGRAM_MCP_OUTPUT_DIR, or "
                "--output-dir, chooses a folder this server can write)"
            )
            kept[index] = Kept(data, found, problem=problem)
            return
        kept[index] = Kept(data, found, path)

    with anyio.move_on_after(math.inf if until is None else until - time.monotonic()):
        async with anyio.create_task_group() as group:
            for index, item in enumerate(wanted):
                group.start_soon(one, index, item)
    return kept


def _save(folder: Path, stem: str, found: ImageFormat, data: bytes, recipe: Mapping[str, Any]) -> Path:
    adopted = _left_behind(folder / f"{stem}.{found.extension}", data)
    recipe_left = read_sidecar(adopted.with_suffix(".json")) if adopted is not None else None
    if recipe_left is not None and recipe_left.get("imageUUID") != recipe.get("imageUUID"):
        adopted = recipe_left = None  # the same bytes, but another image's file (a seed made twice): not ours
    if adopted is not None and recipe_left is not None and recipe_left.get("file") == adopted.name:
        return adopted  # saved whole by an earlier finish that was cut short before recording it
    path = adopted or write_new(folder, stem, found.extension, data)
    details = {
        **recipe,
        "file": path.name,
        "format": found.name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    with contextlib.suppress(OSError):  # the image is what was paid for; a missing recipe is no reason to lose it
        write_sidecar(path, details)
    return path


def discard(image: Path) -> None:
    """Remove an image this server saved and its recipe (a second copy of an image saved elsewhere first)."""
    for path in (image, image.with_suffix(".json")):
        with contextlib.suppress(OSError):
            path.unlink()


def _left_behind(path: Path, data: bytes) -> Path | None:
    """``path`` when it holds exactly ``data``: the same paid image, written by a finish that was cut short (killed,
    or its journal failed) before it recorded it. Taking it saves the image once, not twice."""
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return path
    except OSError:
        return None
    return None


# --- saved images as resources -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SavedImage:
    """An image this server saved, as listed from its sidecar."""

    path: Path
    format: ImageFormat
    created: str
    size: int
    description: str


def saved_images(folder: Path) -> list[SavedImage]:
    """The images this server saved in ``folder`` (those with our sidecar beside them), newest first."""
    found: list[SavedImage] = []
    try:
        sidecars = list(folder.glob("*.json"))
    except OSError:
        return []
    for sidecar in sidecars:
        recipe = read_sidecar(sidecar)
        if recipe is None:
            continue
        name = recipe.get("file")
        if not isinstance(name, str) or not name or name != Path(name).name:
            continue  # a recipe naming no file, or a path: not one this server wrote
        image = sidecar.with_name(name)
        if image.suffix.lower() == ".json" or image.resolve().parent != folder.resolve() or not image.is_file():
            continue  # a recipe naming itself, or a link out of the folder: listed only what read_saved serves
        task = cast(dict[str, Any], recipe.get("task") if isinstance(recipe.get("task"), dict) else {})
        prompt = str(task.get("positivePrompt") or "")
        found.append(
            SavedImage(
                path=image,
                format=image_format(str(recipe.get("format", ""))),
                created=str(recipe.get("created", "")),
                size=image.stat().st_size,
                description=_described(recipe, prompt),
            )
        )
    found.sort(key=lambda s: (s.created, s.path.name), reverse=True)
    return found


SIDECAR_MOST = 1024 * 1024
"""Bytes a recipe may have; a larger file is not one of ours."""


def _described(recipe: Mapping[str, Any], prompt: str) -> str:
    """A saved image in one short line: its size, seed and prompt (a recipe's odd values are left out)."""
    width, height, seed = (recipe.get(key) for key in ("width", "height", "seed"))
    numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height))
    size = f"{width}x{height}" if numbers else "size unknown"
    with_seed = f", seed {seed}" if isinstance(seed, int) and not isinstance(seed, bool) else ""
    return f"{size}{with_seed}: {prompt[:120]}"


def read_sidecar(sidecar: Path) -> dict[str, Any] | None:
    """A sidecar's recipe when it is one of ours, else None.

    Only a regular file is read, and no more of it than a recipe can be: a pipe or a device named like a
    recipe (anyone may put files in a project's folder) must neither block nor fill memory.
    """
    try:
        descriptor = os.open(sidecar, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            raw = handle.read(SIDECAR_MOST + 1)
        if len(raw) > SIDECAR_MOST:
            return None
        recipe: object = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recipe, dict) or recipe.get("generator") != SIDECAR_MARK:  # pyright: ignore[reportUnknownMemberType]
        return None
    return dict(recipe)  # pyright: ignore[reportUnknownArgumentType]


def read_saved(path: Path | None, folders: Sequence[Path], uri: str) -> tuple[bytes, ImageFormat]:
    """The bytes of a saved image at ``path`` (named by ``uri``), only when it lies directly in one of ``folders``
    beside our recipe. Raises ``LookupError`` with a sentence for anything else."""
    if path is None:
        raise LookupError(f"Not an image resource of this server: {uri[:200]}. Call resources/list for them.")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):  # a loop of links, a name too long
        raise LookupError(f"No image saved by this server at {uri[:200]}. Call resources/list for them.") from None
    recipe = read_sidecar(resolved.with_suffix(".json")) if resolved.parent in folders else None
    if recipe is None or recipe.get("file") != resolved.name or not resolved.is_file():
        raise LookupError(f"No image saved by this server at {uri[:200]}. Call resources/list for them.")
    data = resolved.read_bytes()
    found = sniff(data)
    if found is None:
        raise LookupError(f"{uri[:200]} is no longer a PNG, JPEG or WEBP image.")
    return data, found


# --- images in ----------------------------------------------------------------------------------


def looks_local(text: str) -> bool:
    """Whether an image argument names a local file rather than a URL, a data URI, base64 data or an image UUID.

    Paths plainly are (absolute, ``~``, ``./``, a ``file:`` URI, an image extension); URLs of any other
    scheme and data URIs never are; anything else that is not an image reference is read as a path.
    """
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) and not text.startswith("file:"):
        return False
    if text.startswith("data:"):
        return False
    if text.startswith(("file:", "~", "./", "../", ".\\", "..\\")) or re.match(r"^[A-Za-z]:[\\/]", text):
        return True
    if text.startswith("/") and not text.startswith("/9j/"):  # "/9j/" opens every base64 JPEG
        return True
    return os.path.splitext(text)[1].lower() in _EXTENSIONS or not is_image_reference(text)


@dataclass(frozen=True, slots=True)
class LocalImage:
    """A local input image, checked: its resolved path, bytes, format, and the image UUID it already has."""

    path: Path
    data: bytes
    format: ImageFormat
    image_uuid: str | None
    """Set for an image this server saved itself: Runware already has it under this UUID."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def data_uri(self) -> str:
        return f"data:{self.format.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"


class LocalInputError(IdeogramError):
    """Local input images that cannot be used: ``problems`` holds (position, reason) for each."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(reason for _, reason in problems))

    @classmethod
    def one(cls, reason: str) -> LocalInputError:
        """The error of one file, its reason said after the argument's name (``is not an image``)."""
        return cls([(0, reason)])


async def read_all(texts: Sequence[str], where: Places, service: str) -> list[LocalImage]:
    """Check and read every local file an agent named; one bad file raises ``LocalInputError`` naming each problem.

    ``service`` is the Runware URL in use: an image this server saved through the same service carries
    the UUID Runware holds it under, so it needs no new upload.
    """
    read: list[LocalImage] = []
    problems: list[tuple[int, str]] = []
    for position, text in enumerate(texts):
        try:
            read.append(await anyio.to_thread.run_sync(read_local, text, where, service))
        except LocalInputError as exc:
            problems += [(position, reason) for _, reason in exc.problems]
    if problems:
        raise LocalInputError(problems)
    return read


def read_local(text: str, where: Places, service: str = "") -> LocalImage:
    """Check and read a local image named by an agent; raises ``LocalInputError`` with the reason and the fix.

    Forms: an absolute path, ``~/...``, a ``file://`` URI, or a path relative to the output folder.
    """
    try:
        path = path_from_uri(text) if text.startswith("file:") else Path(text).expanduser()
    except RuntimeError as exc:  # "~nobody/x.png": no such user
        raise LocalInputError.one(f"cannot be read ({_why(exc)})") from exc
    if path is None:
        raise LocalInputError.one("is a file: URI this server cannot read (only file:///absolute/path)")
    if not path.is_absolute():
        path = where.output / path
    if where.root is None:
        listed = ", ".join(str(f) for f in where.readable)
        outside = LocalInputError.one(
            f"is outside the folders this server may read ({listed}). Move the file into one of them, "
            "or add its folder to IDEOGRAM_MCP_ALLOWED_DIRS in the server's environment"
        )
    else:  # a remote connection learns no folder of the server's
        outside = LocalInputError.one(
            "is outside the folders this server may read: give an image saved for this connection by its path in the "
            "results, or a URL"
        )
    # First by its name alone, so that nothing outside (a network share, a device) is even looked at;
    # then again once symlinks are resolved, so that a link cannot lead out.
    lexical = Path(os.path.normpath(path))
    if not any(lexical.is_relative_to(folder) for folder in (*where.named, *where.readable)):
        raise outside
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13), a name too long
        raise LocalInputError.one(f"cannot be followed to a file ({_why(exc)})") from exc
    if not where.may_read(resolved):
        if any(resolved.is_relative_to(folder) for folder in where.readable):  # withheld: another token's images
            raise LocalInputError.one(
                "is among images kept for another client of this server; this connection may send only its own "
                f"({where.shown(where.output) if where.root is None else 'by the paths its results give'}), files of "
                "its allowed folders, or URLs"
            )
        raise outside
    try:
        if not resolved.is_file():
            raise LocalInputError.one(f"no such file: {where.shown(resolved) if where.root is None else text[:200]}")
        size = resolved.stat().st_size
        if size > MAX_INPUT:
            raise LocalInputError.one(
                f"is {size / 1024 / 1024:.1f} MB; input images may be at most {MAX_INPUT // 1024 // 1024} MB"
            )
        with resolved.open("rb") as handle:
            data = handle.read(MAX_INPUT + 1)
    except OSError as exc:  # no permission, a name too long, a file gone in between
        raise LocalInputError.one(f"cannot be read ({_why(exc)})") from exc
    found = sniff(data)
    if found is None or len(data) > MAX_INPUT:
        raise LocalInputError.one("is not a PNG, JPEG or WEBP image")
    return LocalImage(resolved, data, found, _known_uuid(resolved, data, service))


def _why(exc: BaseException) -> str:
    """An OS error in a few words, without the path (the message names the argument already)."""
    if isinstance(exc, RuntimeError):  # Python's words for both; a symlink loop on Python 3.12 and older
        return "no such user, so no such home folder" if "home" in str(exc) else "symbolic links in a loop"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def _known_uuid(image: Path, data: bytes, service: str) -> str | None:
    recipe = read_sidecar(image.with_suffix(".json"))
    if recipe is None or recipe.get("sha256") != hashlib.sha256(data).hexdigest():
        return None  # not ours, or changed since it was saved: upload it as it is now
    if not service or recipe.get("runware") != service:
        return None  # made through another Runware (an emulator run, another account): it holds no such UUID
    found = recipe.get("imageUUID")
    return found if isinstance(found, str) else None
