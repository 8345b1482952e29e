"""Every path decision: which folders a connection's images go to and its inputs may come from, how paths are
shown to it, under which names images are saved (``names``), and which local files may be read.

No other module joins paths from agent input. Local images in are read only from allowed folders, after
resolving symlinks. (Writing images and their recipes is the image store's: ``images``.)
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname  # pyright: ignore[reportDeprecated]

import anyio
import anyio.to_thread

from ideogram_mcp import references
from ideogram_mcp.errors import IdeogramError
from ideogram_mcp.files.defaults import default_data_dir as default_data_dir
from ideogram_mcp.files.defaults import default_output_dir as default_output_dir
from ideogram_mcp.files.defaults import homeless as homeless
from ideogram_mcp.files.defaults import output_folder as output_folder
from ideogram_mcp.files.names import MAX_NAME as MAX_NAME  # the names images are saved under, said here too
from ideogram_mcp.files.names import MAX_NAME_BYTES as MAX_NAME_BYTES
from ideogram_mcp.files.names import MOST_NUMBERED as MOST_NUMBERED
from ideogram_mcp.files.names import UTF8_FIX, composed, speakable, unwritable_here
from ideogram_mcp.files.names import check_file_name as check_file_name
from ideogram_mcp.files.names import numbers_taken as numbers_taken
from ideogram_mcp.files.names import stems as stems
from ideogram_mcp.images.formats import EXTENSIONS, ImageFormat, sniff
from ideogram_mcp.references import begins_as_base64_image, is_image_reference
from ideogram_mcp.settings import ENV

OUTPUT_SUBFOLDER = "ideogram-output"
"""The folder made inside a client's root for its images."""
MAX_INPUT = 10 * 1024 * 1024
"""Largest image taken as an input, a local file or inline data (Ideogram's own limit)."""
MAX_FOLDER = 1024
"""Characters an ``outputDir`` may have."""
MAX_DEPTH = 16
"""Levels of folders an ``outputDir`` may have (each may be made)."""


# --- where things go -------------------------------------------------------------------------


Source = Literal["setting", "bucket", "argument", "root", "project", "default"]


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
        for a file outside the folders the connection may read, which its resources do not serve: an image saved
        before the output folder was moved, fetched again by its task)."""
        if self.root is None:
            return path.as_uri() if self.may_read(Path(path).parent) else None
        return REMOTE_IMAGES + quote(self.shown(path)) if Path(path).is_relative_to(self.root) else None

    def template(self) -> str:
        """The resource template naming an image saved in the output folder by its file name."""
        if self.root is None:
            return self.output.as_uri() + "/{fileName}"
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


def folder_named(shown: str) -> str:
    """A folder as a sentence names it: as the connection is shown it (``Places.shown``), its own folder over HTTP
    (".") in words."""
    return "this connection's folder" if shown == "." else shown


"""Where a remote connection's saved images are, as resource URIs (a ``file://`` URI would name the server's disk)."""


def places(
    output_dir: Path | None, roots: Sequence[str], allowed: Sequence[Path], project: Path | None = None
) -> Places:
    """The output folder, first match wins: the setting, else ``ideogram-output`` inside the first ``file://`` root
    that is a folder (saving in a deleted project's would make it again), else inside the project folder the server
    was started in, else the per-user default; and the readable ones (all of those, and the allowed folders)."""
    # A root or project folder no result could name (see ``speakable``) is passed over, as one that is no folder.
    root_dirs = [path for path in (path_from_uri(root) for root in roots) if path is not None and _nameable(path)]
    project = project if project is not None and _nameable(project) else None
    source: Source
    if output_dir is not None:
        output, source = output_dir.expanduser(), "setting"
    elif folders_here := [path for path in root_dirs if os.path.isdir(path)]:  # False where it cannot be found out
        output, source = folders_here[0] / OUTPUT_SUBFOLDER, "root"
    elif project is not None:
        output, source = project / OUTPUT_SUBFOLDER, "project"
    else:
        output, source = default_output_dir(), "default"
    folders = [p.expanduser() for p in (*root_dirs, *([project] if project else []), output, *allowed)]
    named = dict.fromkeys(Path(os.path.normpath(p.absolute())) for p in folders)
    readable = dict.fromkeys(p.resolve() for p in folders)
    return Places(output.resolve(), source, tuple(readable), tuple(named))


def _nameable(folder: Path) -> bool:
    """Whether results and the journal can name ``folder`` and the folder its images would go to, links followed (an
    ``ideogram-output`` linked to one named in Latin-1 had been taken, and a team's journal could then list nothing)."""
    try:
        return speakable(str(folder)) and speakable(str((folder / OUTPUT_SUBFOLDER).resolve()))
    except (OSError, RuntimeError):  # a loop of links, which no image can be saved in or read from
        return False


def project_folder(folder: Path | None = None) -> Path | None:
    """``folder`` (the server's working directory unless given) when it is a project a client started the server in:
    not the file system's root, not the home folder, and writable. Claude Code starts its servers in the project."""
    try:
        resolved = (folder or Path.cwd()).resolve()  # a working directory deleted since: none
        home = Path.home().resolve()
    except (OSError, RuntimeError):
        return None
    if resolved == Path(resolved.anchor) or resolved == home or not os.access(resolved, os.W_OK | os.X_OK):
        return None
    return resolved


_UNSEEN = frozenset("\u200b\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # in no name


def chosen_output(where: Places, requested: str) -> tuple[Places | None, str | None]:
    """The places with the output folder an agent asked for (``outputDir``), or why it may not be used. A relative
    folder is taken inside the output folder otherwise used. The folder must lie inside the folders this connection
    may use (inside the set folder, when the user set one); it need not exist yet."""
    text = requested.strip()
    if not text:
        return None, "must be a folder path, not blank"
    if control := next((c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None):
        return None, f"must be a folder path without control characters (it has \\u{ord(control):04x}): remove it"
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+:/|file:", text, re.IGNORECASE):  # file:///x: the folders "file:", "x"
        return None, "must be a folder path, not a URI: give the path itself, e.g. 'logos' or '/home/me/logos'"
    if any(c in _UNSEEN for c in text):  # names no one would see (a joiner, as in Persian or emoji, is fine)
        return None, "must be a folder path without invisible characters (zero-width spaces or direction marks)"
    if len(text) > MAX_FOLDER or len(Path(text).parts) > MAX_DEPTH:
        return None, f"must be a folder path of at most {MAX_FOLDER} characters and {MAX_DEPTH} levels"
    if problem := unwritable_here(text):
        return None, f"must be a folder path this machine can write: {problem}; {UTF8_FIX}"
    try:
        path = Path(text).expanduser()  # "~nobody/x" raises: no such user
        resolved = (path if path.is_absolute() else where.output / path).resolve()
        # Composed once resolved, as the folders it must lie in are (through a link, or "..", it had left them), and
        # resolved again: a composed name may be a link (out of them, where the name typed apart was refused).
        resolved = composed(resolved, (where.output, *where.readable, *([where.root] if where.root else []))).resolve()
    except (OSError, RuntimeError) as exc:
        return None, f"cannot be followed to a folder ({_why(exc)})"
    if not speakable(str(resolved)):  # a link to one named in Latin-1: no result or journal entry can name it
        return None, "leads to a folder whose name is not text here (bytes of another encoding); give another folder"
    if where.root is not None:  # a remote connection: inside its own folder, which it knows by relative names only
        if not resolved.is_relative_to(where.root):
            return None, "must be a folder inside this connection's own, named relatively, e.g. 'logos'"
        return dataclasses.replace(where, output=resolved, source="argument"), None
    inside = (where.output,) if where.source in ("setting", "bucket") else where.readable
    own = resolved.is_relative_to(where.output)
    if not any(resolved.is_relative_to(folder) for folder in inside) or (not own and not where.may_read(resolved)):
        if where.source in ("setting", "bucket"):
            set_by = f"the folder the user set ({ENV.output_dir})" if where.source == "setting" else "the bucket's root"
            said = f"must be inside {where.output}, {set_by}; give a folder inside it, e.g. a relative name such as "
            return None, said + "'logos'"
        listed = ", ".join(str(folder) for folder in where.readable)
        return None, (
            f"is outside the folders this server may use ({listed}); give a folder inside one of them, e.g. a "
            f"relative name such as 'logos', or have the user add it to {ENV.allowed_dirs}"
        )
    readable = tuple(dict.fromkeys((*where.readable, resolved)))
    return dataclasses.replace(where, output=resolved, source="argument", readable=readable), None


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
    try:
        # It decodes the escapes itself: decoded twice, "%2525" was "%". (On Windows it is nturl2path's, deprecated.)
        path = url2pathname(parts.path)  # pyright: ignore[reportDeprecated]
    except (OSError, ValueError, IndexError):  # Windows's reading of a path no drive can have ("/C:/a:b", "|x")
        return None
    return None if "\x00" in path else Path(path)


# --- images in ----------------------------------------------------------------------------------


def looks_local(text: str) -> bool:
    """Whether an image argument names a local file rather than a URL, a data URI, base64 data or an image UUID.

    Paths plainly are (absolute, ``~``, ``./``, a ``file:`` URI, an image extension); URLs of any other
    scheme and data URIs never are; anything else that is not an image reference is read as a path.
    """
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) and not text.startswith(("file:", REMOTE_IMAGES)):
        return False
    if text.startswith("data:"):
        return False
    if text.startswith(("file:", "~", "./", "../", ".\\", "..\\")) or re.match(r"^[A-Za-z]:[\\/]", text):
        return True
    if text.startswith("/") and not text.startswith("/9j/"):  # "/9j/" opens every base64 JPEG
        return True
    if begins_as_base64_image(text) and os.path.splitext(text)[1].lower() not in EXTENSIONS:
        return False  # an image's base64, damaged: said to be so, not looked for as a file of that name
    return os.path.splitext(text)[1].lower() in EXTENSIONS or not is_image_reference(text)


@dataclass(frozen=True, slots=True)
class LocalImage:
    """A local input image, checked: its resolved path, bytes and format."""

    path: Path
    data: bytes
    format: ImageFormat

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def data_uri(self) -> str:
        return references.data_uri(self.data, self.format.mime_type)


class LocalInputError(IdeogramError):
    """Local input images that cannot be used: ``problems`` holds (position, reason) for each; ``absent`` when no file
    is there to read (none, or outside the folders it may come from), rather than one that cannot be used."""

    def __init__(self, problems: list[tuple[int, str]], *, absent: bool = False) -> None:
        self.problems, self.absent = problems, absent
        super().__init__("; ".join(reason for _, reason in problems))

    @classmethod
    def one(cls, reason: str, *, absent: bool = False) -> LocalInputError:
        """The error of one file, its reason said after the argument's name (``is not an image``)."""
        return cls([(0, reason)], absent=absent)


Kept = Callable[[Path], bytes | None]
"""Reads an image saved in a store off this machine by its path: None where it holds none."""


async def read_all(
    texts: Sequence[str], where: Places, kept: Kept | None = None, also: Places | None = None
) -> list[LocalImage]:
    """Check and read every local file an agent named; one bad file raises ``LocalInputError`` naming each problem.
    ``kept`` reads an image saved in a store off this machine (a bucket) by its path, before the disk is tried. A
    relative path is read in ``where``'s output folder, else, where no file is there to read, in ``also``'s (a call's
    own outputDir); found in neither, it is told as ``where`` reads it."""
    read: list[LocalImage] = []
    problems: list[tuple[int, str]] = []
    for position, text in enumerate(texts):
        try:
            read.append(await anyio.to_thread.run_sync(_read_either, text, where, also, kept))
        except LocalInputError as exc:
            problems += [(position, reason) for _, reason in exc.problems]
    if problems:
        raise LocalInputError(problems)
    return read


def _read_either(text: str, where: Places, also: Places | None, kept: Kept | None) -> LocalImage:
    """One local image, read as ``read_all`` reads each."""
    try:
        return read_local(text, where, kept)
    except LocalInputError as first:
        if also is None or not first.absent:
            raise
        try:
            return read_local(text, also, kept)
        except LocalInputError as second:
            raise first if second.absent else second from None


def read_local(text: str, where: Places, kept: Kept | None = None) -> LocalImage:
    """Check and read a local image named by an agent; raises ``LocalInputError`` with the reason and the fix.

    Forms: an absolute path, ``~/...``, a ``file://`` URI, a path relative to the output folder, or (over HTTP) the
    ``ideogram://images/...`` URI of an image saved for this connection. ``kept`` reads an image saved in a store
    off this machine by its path; what it does not hold is read from the disk.
    """
    if "\x00" in text:  # no file system takes it in a name: refused before any look at the disk
        raise LocalInputError.one("is no file path: it holds a NUL character")
    if text.startswith(REMOTE_IMAGES):
        path = where.located(text)
        if path is None:
            raise LocalInputError.one("is not the URI of an image saved for this connection (see resources/list)")
    else:
        try:
            path = path_from_uri(text) if text.startswith("file:") else Path(text).expanduser()
        except RuntimeError as exc:  # "~nobody/x.png": no such user
            raise LocalInputError.one(f"cannot be read ({_why(exc)})") from exc
    if path is None:
        raise LocalInputError.one("is a file: URI this server cannot read (only file:///absolute/path)")
    if problem := unwritable_here(str(path)):  # a locale not UTF-8: no file here is named so
        raise LocalInputError.one(f"names no file this machine can have: {problem}", absent=True)
    if not path.is_absolute():
        path = where.output / path
    if where.root is None:
        listed = ", ".join(str(f) for f in where.readable)
        fix = f" ({listed}). Move the file into one of them, or add its folder to {ENV.allowed_dirs} in the server's "
        fix += "environment"
    else:  # a remote connection learns no folder of the server's
        fix = ": give an image saved for this connection by its path in the results, or a URL"
    outside = LocalInputError.one(f"is outside the folders this server may read{fix}", absent=True)
    # First by its name alone, so that nothing outside (a network share, a device) is even looked at;
    # then again once symlinks are resolved, so that a link cannot lead out.
    lexical = Path(os.path.normpath(path))
    if not any(lexical.is_relative_to(folder) for folder in (*where.named, *where.readable)):
        raise outside
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13), a name too long
        raise LocalInputError.one(f"cannot be followed to a file ({_why(exc)})", absent=True) from exc
    if not where.may_read(resolved):
        if any(resolved.is_relative_to(folder) for folder in where.readable):  # withheld: another token's images
            raise LocalInputError.one(
                "is among images kept for another client of this server; this connection may send only its own "
                f"({where.shown(where.output) if where.root is None else 'by the paths its results give'}), files of "
                "its allowed folders, or URLs"
            )
        raise outside
    stored = kept(lexical) if kept is not None else None  # raising LocalInputError where the store cannot be read
    if stored is not None:
        return _checked(lexical, stored)
    try:
        if not resolved.is_file():
            named = where.shown(resolved) if where.root is None else text[:200]
            if resolved.is_dir():
                raise LocalInputError.one(f"is a folder ({named}), not an image file: name a file in it", absent=True)
            if resolved.exists():  # a pipe, a socket, a device
                raise LocalInputError.one(f"is not a regular file ({named}): name an image file", absent=True)
            raise LocalInputError.one(f"no such file: {named}", absent=True)
        size = resolved.stat().st_size
        if size > MAX_INPUT:
            raise LocalInputError.one(too_large(size))
        with resolved.open("rb") as handle:
            data = handle.read(MAX_INPUT + 1)
    except OSError as exc:  # no permission, a name too long, a file gone in between
        raise LocalInputError.one(f"cannot be read ({_why(exc)})") from exc
    return _checked(resolved, data)


def _checked(path: Path, data: bytes) -> LocalImage:
    """The input image read from ``path``, when it may be one Runware takes: decoded whole later, in the lanes that
    bound the memory it takes (``prepare.inputs_checked``), not in the thread that reads it."""
    if len(data) > MAX_INPUT:
        raise LocalInputError.one(too_large(len(data)))
    if (found := sniff(data)) is None:
        raise LocalInputError.one("is not a PNG, JPEG or WEBP image")
    return LocalImage(path, data, found)


def too_large(size: int) -> str:  # said of a file and of inline data alike
    return f"is {size / 1024 / 1024:.1f} MB; input images may be at most {MAX_INPUT // 1024 // 1024} MB"


def _why(exc: BaseException) -> str:
    """An OS error in a few words, without the path (the message names the argument already)."""
    if isinstance(exc, RuntimeError):  # Python's words for both; a symlink loop on Python 3.12 and older
        return "no such user, so no such home folder" if "home" in str(exc) else "symbolic links in a loop"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
