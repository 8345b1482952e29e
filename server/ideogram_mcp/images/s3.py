"""Saved images in an S3-compatible bucket: the image store every process and machine serving one address shares.

The folders of the local store become key prefixes: an image saved in ``<images root>/<token>/poster.png`` is the
object ``<prefix>/<token>/poster.png`` of the bucket, so every machine configured with the same images root (the
output folder setting; with a bucket it names no folder on disk) names the same images by the same paths, and the
journal's paths mean the same on all of them. Objects are written create-only (``If-None-Match: *``): two machines
saving the same paid image, or two images under one name, never overwrite each other. The recipe is written first,
claiming the name; the image follows. Recipes are read once per process (an object never changes once written).
Signing and the S3 protocol are obstore's; nothing here builds a request by hand.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError

from ideogram_mcp import files, logs
from ideogram_mcp.images import NAMES_TRIED, NotSavedError, SavedImage
from ideogram_mcp.images.formats import ImageFormat, sniff
from ideogram_mcp.images.recipes import Recipe

if TYPE_CHECKING:
    from obstore import ListResult, ObjectMeta
    from obstore.store import S3Store

    from ideogram_mcp.settings import Settings

logger = logs.logger(__name__)

FAILED = (BaseError, OSError)
"""What obstore raises when a request fails (a missing object is Python's own ``FileNotFoundError``), and a panic of
its Rust code (``_calm``)."""
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _calm(call: Callable[_P, _R]) -> Callable[_P, _R]:
    """``call``, an obstore function, raising a panic of its Rust code as an ``OSError``: pyo3 raises it as a
    ``PanicException``, a ``BaseException`` no handler of a failed request takes, so that a panic the start's checks
    do not foresee (an endpoint with no scheme had made one) ended a stdio server, its paid image unsaved."""

    @functools.wraps(call)
    def calmed(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return call(*args, **kwargs)
        except BaseException as exc:
            if type(exc).__module__ != "pyo3_runtime":  # PanicException is created there, not importable before
                raise
            raise OSError(errno.EIO, f"the bucket's client failed ({str(exc)[:200]})") from exc

    return calmed


_put, _head, _delete, _sign = _calm(obstore.put), _calm(obstore.head), _calm(obstore.delete), _calm(obstore.sign)


@_calm
def _object(store: S3Store, key: str) -> bytes:
    """The bytes of the object at ``key``, read whole."""
    return bytes(obstore.get(store, key).bytes())


@_calm
def _listed(store: S3Store, prefix: str | None) -> ListResult[Sequence[ObjectMeta]]:
    """The objects directly under ``prefix`` (obstore's listing as this store asks for it)."""
    return obstore.list_with_delimiter(store, prefix)  # pyright: ignore[reportUnknownMemberType]


KEY_MOST = 1024
"""Bytes an S3 object key may have."""
RECIPES_KEPT = 4096
"""Recipes a process keeps read (they never change once written); the oldest read are forgotten first."""
READ_AT_ONCE = 16
"""Recipes a listing reads from the bucket at once."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """Where a bucket store keeps images: ``s3://bucket/prefix`` as the settings give it."""

    name: str
    prefix: str

    @classmethod
    def of_url(cls, url: str) -> Bucket:
        name, _, prefix = url.removeprefix("s3://").partition("/")
        return cls(name, prefix.strip("/"))

    def __str__(self) -> str:
        return f"s3://{self.name}/{self.prefix}".rstrip("/")


class BucketStore:
    """The image store of an S3-compatible bucket (``ImageStore``), for images saved under ``root``."""

    on_disk = False
    """Its images are objects of the bucket: inputs named by their paths are read from it, not from the disk."""

    def __init__(self, store: S3Store, root: Path, *, bucket: str, link_seconds: int) -> None:
        self._store = store
        self._root = root.resolve()  # the folders it is handed are resolved: a link in the root's path must not matter
        self._bucket = bucket
        self._link_lifetime = timedelta(seconds=link_seconds)
        self._recipes: OrderedDict[str, Recipe] = OrderedDict()
        self._lock = threading.Lock()  # the methods run in worker threads

    @classmethod
    def of_settings(cls, settings: Settings) -> BucketStore:
        """The store of ``IDEOGRAM_MCP_STORAGE_URL`` (``s3://bucket/prefix``), for images saved under the output
        folder setting (the images root every machine must name alike); the endpoint, region and credentials are
        read from the AWS_* variables (obstore's reading of them, as every AWS tool reads them)."""
        from obstore.store import S3Store

        assert settings.storage_url is not None
        where = Bucket.of_url(settings.storage_url)
        root = files.output_folder(settings.output_dir)
        # An endpoint the user set may be plain http (a store on the same network): allowed, as they chose it.
        store = S3Store(
            where.name,
            prefix=where.prefix or None,
            client_options={"allow_http": True, "connect_timeout": "5s", "timeout": "30s"},
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=20)},
        )
        return cls(store, root, bucket=str(where), link_seconds=settings.storage_link_seconds)

    @property
    def root(self) -> Path:
        """The folder whose images this store keeps (each path under it is a key)."""
        return self._root

    def key(self, path: Path) -> str | None:
        """The object key of a path under the images root, or None for one outside it (never stored here)."""
        try:
            relative = path.resolve().relative_to(self._root)  # no file is there: only the links on the way count
        except (ValueError, OSError, RuntimeError):
            return None
        if ".." in relative.parts or any(ord(c) < 32 or ord(c) == 127 for c in str(relative)):
            return None  # no object's key holds a control character: obstore refuses it (a ValueError)
        return PurePosixPath(*relative.parts).as_posix() if relative.parts else ""

    def unwritable(self, folder: Path, longest: str = "") -> str | None:
        """Why images cannot be saved in ``folder``: outside the images root, names too long for a key, the bucket
        not answering, or taking no write there now (its reason in plain words); None when they can."""
        key = self.key(folder)
        if key is None:
            return f"with images kept in the bucket {self._bucket}, images are saved only under {self._root}"
        if len(f"{key}/{longest}".encode()) > KEY_MOST - 64:
            return "names that long do not fit an object key of the bucket; give a shorter fileName"
        probe = _joined(key, ".ideogram-mcp-probe")
        try:
            _head(self._store, probe)
        except FileNotFoundError:
            pass  # the bucket answered, and the probe's name is free, as it is unless a delete was refused
        except FAILED as exc:
            return f"the bucket {self._bucket} cannot be reached ({_said(exc)})"
        # A write, as a folder's check makes a file: a bucket that answers reads may refuse writes (access denied, a
        # quota, a volume gone read-only), and calls had been sent and charged, their images unsaved. Always under one
        # name, written over: a key that may not delete leaves one probe a folder, not one a check.
        try:
            _put(self._store, probe, b"probe")
        except FAILED as exc:
            return f"the bucket {self._bucket} takes no images there now ({_said(exc)})"
        with contextlib.suppress(*FAILED):
            _delete(self._store, probe)
        return None

    def proven(self) -> str | None:
        """Why the bucket cannot keep images safely, tried once at start: a write must be taken, and a second
        create-only write of the same key refused (a store ignoring ``If-None-Match: *`` would let two machines
        overwrite each other's images). None when both hold; the probe is removed after."""
        probe = _joined(self.key(self._root) or "", f".ideogram-mcp-probe-{uuid.uuid4().hex}")
        try:
            _put(self._store, probe, b"probe", mode="create")
        except FAILED as exc:
            return f"the bucket {self._bucket} takes no images with these credentials ({_said(exc)})"
        try:
            _put(self._store, probe, b"again", mode="create")
        except AlreadyExistsError:
            return None
        except FAILED as exc:
            return f"the bucket {self._bucket} answered a create-only write oddly ({_said(exc)})"
        finally:
            with contextlib.suppress(*FAILED):
                _delete(self._store, probe)
        return (
            f"the bucket {self._bucket} overwrote an object that a create-only write (If-None-Match: *) named, so "
            "two machines could overwrite each other's images; use a store that honours it"
        )

    def put(self, folder: Path, stem: str, data: bytes, found: ImageFormat, recipe: Recipe) -> Path:
        """Save an image under ``stem`` (or the next free name) with its recipe, create-only; returns its path. A
        name whose recipe describes this very image (a save cut short, or another machine's save of it) is taken
        as it is: the image is saved once."""
        prefix = self.key(folder)
        if prefix is None:
            raise OSError(errno.EINVAL, f"it is not under {self._root}, the images root kept in the bucket")
        try:
            return self._put(folder, prefix, stem, data, found, recipe)
        except FAILED as exc:  # the caller keeps the image's URL: a later get_generation saves it
            raise OSError(errno.EIO, f"the bucket {self._bucket} did not take it ({_said(exc)})") from exc

    def _put(self, folder: Path, prefix: str, stem: str, data: bytes, found: ImageFormat, recipe: Recipe) -> Path:
        digest = hashlib.sha256(data).hexdigest()
        for attempt in range(1, NAMES_TRIED + 1):
            name = stem if attempt == 1 else f"{stem}-{attempt}"
            image_key, recipe_key = _joined(prefix, f"{name}.{found.extension}"), _joined(prefix, f"{name}.json")
            whole = recipe.with_(file=f"{name}.{found.extension}", format=found.name, bytes=len(data), sha256=digest)
            claimed = False
            try:
                _put(self._store, recipe_key, whole.text(), mode="create")
                claimed = True
            except AlreadyExistsError:
                held = self._recipe(recipe_key, fresh=True)  # kept, it may have been withdrawn since and taken again
                if held is None or held.image_uuid != recipe.image_uuid or held.sha256 != digest:
                    continue  # another image's name (or a file not ours): the next name
                if held.file != f"{name}.{found.extension}":
                    continue
            else:
                self._remember(recipe_key, whole)
            try:
                _put(self._store, image_key, data, mode="create")
            except AlreadyExistsError:
                there = self._bytes(image_key)  # None: it could not be read (another machine's save of this image?)
                if there != data:  # a stranger's object holds the name: ours goes under the next one
                    if claimed and there is not None:  # and our recipe is not left to have it listed as ours
                        self._withdraw(recipe_key)
                    continue
            return folder / f"{name}.{found.extension}"
        raise OSError(errno.EEXIST, f"no free name for {stem}.{found.extension} in the bucket {self._bucket}")

    def _withdraw(self, recipe_key: str, *others: str) -> None:
        """Delete a recipe (and ``others`` with it), forgotten here too."""
        with self._lock:
            self._recipes.pop(recipe_key, None)
        with contextlib.suppress(*FAILED):  # a bucket that keeps everything (no delete right): they stay
            _delete(self._store, [*others, recipe_key])

    def discard(self, image: Path) -> None:
        """Remove a saved image and its recipe (a second copy of an image saved first by another)."""
        key = self.key(image)
        if key is None:
            return
        self._withdraw(_recipe_key(key), key)

    def names(self, folder: Path) -> list[str]:
        """The names of the objects directly under ``folder``'s prefix."""
        if (prefix := self.key(folder)) is None:
            return []
        try:
            listed = _listed(self._store, prefix or None)
        except FAILED as exc:
            raise LookupError(self._unreachable(exc)) from None
        return [PurePosixPath(meta["path"]).name for meta in listed["objects"]]

    def saved(self, folders: Sequence[Path]) -> list[SavedImage]:
        """The images saved directly in ``folders`` (by their keys' prefixes), newest first."""
        found: list[SavedImage] = []
        for folder in folders:
            prefix = self.key(folder)
            if prefix is None:
                continue
            try:
                listed = _listed(self._store, prefix or None)
            except FAILED as exc:  # said, not taken for no images at all
                logger.warning("the images under %s could not be listed from %s: %s", folder, self._bucket, _said(exc))
                raise LookupError(self._unreachable(exc)) from None
            sizes = {PurePosixPath(meta["path"]).name: meta["size"] for meta in listed["objects"]}
            keys = [_joined(prefix, name) for name in sorted(sizes) if name.endswith(".json")]
            for key, recipe in zip(keys, self._recipes_at(keys), strict=True):
                file = recipe.file if recipe is not None else None
                if recipe is None or not file or file not in sizes or file.endswith(".json") or "/" in file:
                    continue
                if PurePosixPath(key).stem != PurePosixPath(file).stem:  # a copy of a recipe: ``read`` takes its own
                    continue
                found.append(recipe.saved_at(folder / file, sizes[file]))
        found.sort(key=lambda s: (s.created, s.path.name), reverse=True)
        return found

    def read(self, path: Path | None, folders: Sequence[Path], uri: str) -> tuple[bytes, ImageFormat]:
        """The bytes of a saved image at ``path`` (named by ``uri``), only when it lies directly in one of
        ``folders`` beside our recipe; ``LookupError`` with a sentence otherwise."""
        if path is None:
            raise LookupError(f"Not an image resource of this server: {uri[:200]}. Call resources/list for them.")
        missing = NotSavedError(uri)
        key = self.key(path)
        if key is None or path.parent not in folders:
            raise missing
        recipe = self._recipe(_recipe_key(key), strict=True)
        data = self._bytes(key, strict=True) if recipe is not None and recipe.file == path.name else None
        if data is None:
            raise missing
        found = sniff(data)
        if found is None:
            raise LookupError(f"{uri[:200]} is no longer a PNG, JPEG or WEBP image.")
        return data, found

    def load(self, path: Path, *, strict: bool = False) -> bytes | None:
        """The bytes of an image saved at ``path``, or None when the bucket holds none there (or, unless ``strict``,
        cannot be reached: ``LookupError`` saying so then)."""
        key = self.key(path)
        return self._bytes(key, strict=strict) if key else None

    def missing(self, path: Path) -> bool:
        """Whether the bucket holds no image at ``path`` any more (asked for its head; False when it does not
        answer)."""
        key = self.key(path)
        if not key:
            return True
        try:
            _head(self._store, key)
        except FileNotFoundError:
            return True
        except FAILED:
            return False
        return False

    def serves(self, path: Path) -> bool:
        """Whether ``read`` would serve the image at ``path`` for its recipe (this server's, naming it); True when the
        bucket does not answer."""
        key = self.key(path)
        try:
            recipe = self._recipe(_recipe_key(key), strict=True) if key else None
        except LookupError:
            return True
        return recipe is not None and recipe.file == path.name

    def link(self, path: Path) -> str | None:
        """A link a person can open to download the image at ``path``, valid for ``link_seconds``."""
        key = self.key(path)
        if not key:
            return None
        try:
            return _sign(self._store, "GET", key, self._link_lifetime)
        except FAILED:
            return None  # no credentials to sign with: the resource link still serves the image

    def known_uuid(self, image: Path, data: bytes, service: str) -> str | None:
        """The image UUID Runware holds a saved, unchanged image under, when it came from ``service``."""
        key = self.key(image)
        recipe = self._recipe(_recipe_key(key)) if key else None
        return recipe.uuid_for(data, service) if recipe is not None else None

    def _bytes(self, key: str, *, strict: bool = False) -> bytes | None:
        """The object at ``key``; None when there is none, or (unless ``strict``: ``LookupError`` saying so) when the
        bucket cannot be reached."""
        try:
            return _object(self._store, key)
        except FileNotFoundError:
            return None
        except FAILED as exc:
            if strict:
                raise LookupError(self._unreachable(exc)) from None
            return None

    def _unreachable(self, exc: BaseException) -> str:
        return f"The image bucket {self._bucket} cannot be reached right now ({_said(exc)}). Try again in a moment."

    def _recipes_at(self, keys: list[str]) -> list[Recipe | None]:
        """The recipes at ``keys``, in order: those read before from memory, the others from the bucket at once."""
        with self._lock:
            kept = {key: self._recipes.get(key) for key in keys}
            for key in (key for key, recipe in kept.items() if recipe is not None):
                self._recipes.move_to_end(key)  # the least lately read are forgotten first
        missing = [key for key, recipe in kept.items() if recipe is None]
        if missing:  # a listing of recipes read before (the usual one) starts no thread
            with ThreadPoolExecutor(min(READ_AT_ONCE, len(missing))) as reading:
                read = reading.map(functools.partial(self._recipe, strict=True), missing)
                kept |= dict(zip(missing, read, strict=True))
        return [kept[key] for key in keys]

    def _recipe(self, key: str, *, strict: bool = False, fresh: bool = False) -> Recipe | None:
        """The recipe at ``key`` when it is one of ours (kept once read: it changes only when withdrawn, so a save
        reads it ``fresh``), else None (``strict``: the bucket not answering is a ``LookupError``)."""
        with self._lock:
            kept = None if fresh else self._recipes.get(key)
            if kept is not None:
                self._recipes.move_to_end(key)  # the least lately read are forgotten first
        if kept is not None:
            return kept
        raw = self._bytes(key, strict=strict)
        recipe = Recipe.of_bytes(raw) if raw is not None else None
        if recipe is not None:
            self._remember(key, recipe)
        return recipe

    def _remember(self, key: str, recipe: Recipe) -> None:
        with self._lock:
            self._recipes[key] = recipe
            if len(self._recipes) > RECIPES_KEPT:
                self._recipes.popitem(last=False)


def _joined(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _recipe_key(key: str) -> str:
    """The key of the recipe beside the image at ``key``."""
    return str(PurePosixPath(key).with_suffix(".json"))


def _said(exc: BaseException) -> str:
    """An object store's failure in a few words, and never an address or a key: the request's URL and obstore's
    debug text name the store's endpoint and the object's key (an owner's folder), which a remote client is not to
    learn. S3's own answer says its code and message; else obstore's cause, which it says last ("Error performing
    PUT <url> in 387ms, after 3 retries ... - HTTP error: error sending request")."""
    text = str(exc).split("Debug source:", 1)[0]
    if code := _XML_CODE.search(text):
        message = _XML_MESSAGE.search(text)
        cause = f"{code.group(1)}: {message.group(1)}" if message else code.group(1)
    else:
        cause = " ".join(text.split()).rsplit(" - ", 1)[-1]
    cause = _PATH.sub("", _ADDRESS.sub("(an address in the bucket)", cause)).strip(" .:")
    return (cause or type(exc).__name__)[:200]


_ADDRESS = re.compile(r"\(?\b[a-z][a-z0-9+.-]*://[^\s)]*\)?", re.IGNORECASE)
"""A URL in an error's words (with the brackets some put around it), signed query and all."""
_PATH = re.compile(r"\s*(?:path|key|resource)[:=]\s*\"?[^\s\",}]+\"?", re.IGNORECASE)
"""An object's key as obstore or S3 names it in words."""
_XML_CODE = re.compile(r"<Code>([^<]{1,80})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{1,200})</Message>")
