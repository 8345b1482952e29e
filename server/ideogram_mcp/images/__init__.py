"""Where saved images are kept: the image store's interface, what it lists, and its default (``local``).

A store saves an image create-only (never over another file or object) beside its recipe, lists and reads back
the images it saved, and proves a folder can take images before anything is paid for. The local folder is the
embedded default; an S3-compatible bucket (``s3``) is the store a team's machines share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ideogram_mcp.images.formats import ImageFormat

if TYPE_CHECKING:
    from ideogram_mcp.images.recipes import Recipe


class NotSavedError(LookupError):
    """No image this server saved is where a link names, among the folders looked in (another connection's folders
    may hold it); any other ``LookupError`` of a store says why an image there cannot be read."""

    def __init__(self, uri: str) -> None:
        super().__init__(
            f"No image saved by this server at {uri[:200]} in the folders this connection may read. Call "
            "resources/list for them."
        )


NAMES_TRIED = 1000
"""Names (``poster``, ``poster-2`` ...) tried for one image before saving it is given up."""


@dataclass(frozen=True, slots=True)
class SavedImage:
    """An image this server saved, as listed from its recipe."""

    path: Path
    format: ImageFormat
    created: str
    size: int
    description: str


class ImageStore(Protocol):
    """Saved images: put (create-only), read, list; the checks before saving. Its methods block (file or network
    work): callers run them off the event loop."""

    on_disk: bool
    """Whether its images are files of this machine (then inputs named by a path are read from the disk)."""

    def unwritable(self, folder: Path, longest: str = "") -> str | None:
        """Why images cannot be saved in ``folder``, in plain words; None when they can."""
        ...

    def put(self, folder: Path, stem: str, data: bytes, found: ImageFormat, recipe: Recipe) -> Path:
        """Save an image with its recipe, never over another; returns where it is."""
        ...

    def discard(self, image: Path) -> None:
        """Remove a saved image and its recipe (a second copy)."""
        ...

    def names(self, folder: Path) -> list[str]:
        """The names of everything directly in ``folder``, ours or not ([] before it is made); ``OSError`` or
        ``LookupError`` where it cannot be read."""
        ...

    def saved(self, folders: Sequence[Path]) -> list[SavedImage]:
        """The images saved in these folders, newest first."""
        ...

    def read(self, path: Path | None, folders: Sequence[Path], uri: str) -> tuple[bytes, ImageFormat]:
        """A saved image's bytes, only from ``folders``; ``LookupError`` with a sentence otherwise."""
        ...

    def load(self, path: Path, *, strict: bool = False) -> bytes | None:
        """The bytes of an image saved at ``path`` (for its preview, or as an input), or None when it is gone;
        ``strict``: ``LookupError``, saying why, where the store cannot be read right now (else None then too)."""
        ...

    def missing(self, path: Path) -> bool:
        """Whether nothing readable is saved at ``path`` any more: moved, deleted or made unreadable since (a look,
        not a read; False where the store cannot tell right now)."""
        ...

    def serves(self, path: Path) -> bool:
        """Whether ``read`` would serve the image at ``path`` for its recipe (this server's, naming it): a file whose
        recipe was deleted is no longer one of its resources. True where the store cannot tell right now."""
        ...

    def link(self, path: Path) -> str | None:
        """A link a person can open to download the saved image (it may expire); None where there is none."""
        ...

    def known_uuid(self, image: Path, data: bytes, service: str) -> str | None:
        """The image UUID Runware (at ``service``) holds a saved, unchanged image under, else None."""
        ...
