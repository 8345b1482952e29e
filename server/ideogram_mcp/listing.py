"""What a client reads before its first call, kept from one start to the next: the tools as ``tools/list`` shows them
and the server's instructions.

Both are derived from the specs and the prompt templates (``server`` derives them); deriving them loads the specs'
TOML, every tool's schemas and the pydantic models of their outputs, about 30 ms of a start a client waits for. The
derived listing is therefore kept where Python keeps this module's bytecode, under a fingerprint of everything it
can come from: each file of the package and of the prompt templates (path, size, modification time: what Python
tells stale bytecode by), the Python and pydantic versions, and the installed MCP types. A start whose sources are
unchanged reads it back; any change, or a file that cannot be read, derives it again. Nothing is written where
Python is told to write no bytecode (``PYTHONDONTWRITEBYTECODE``) or cannot write; such a start derives the listing
each time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import mcp_types as types
import pydantic

from ideogram_mcp import logs

logger = logs.logger(__name__)

PACKAGE = Path(__file__).resolve().parent
KEPT = Path(importlib.util.cache_from_source(__file__)).with_suffix(".json")
"""Where a start keeps the listing: beside this module's bytecode (in ``__pycache__``, or under the folder
``PYTHONPYCACHEPREFIX`` names)."""


class Listing(NamedTuple):  # a NamedTuple: a dataclass would cost a start its code generation
    """The tools in the order ``tools/list`` gives them, and the instructions ``initialize`` gives."""

    tools: tuple[types.Tool, ...]
    instructions: str


def load(derive: Callable[[], Listing], sources: Iterable[Path], *, kept: Path | None = None) -> Listing:
    """The listing kept by an earlier start (at ``kept``, else ``KEPT``) when none of ``sources`` (folders, read
    whole) changed since; else the one ``derive`` makes, kept for the next start."""
    kept = kept or KEPT
    try:
        key = fingerprint(sources)
    except OSError:  # a source that cannot be read cannot vouch for a kept listing
        return derive()
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # none kept, or unreadable: derived again
        data = json.loads(kept.read_bytes())
        if data["key"] == key:
            tools = tuple(types.Tool.model_validate(tool) for tool in data["tools"])
            return Listing(tools, str(data["instructions"]))
    listing = derive()
    if not sys.dont_write_bytecode:
        _keep(listing, key, kept)
    return listing


def fingerprint(sources: Iterable[Path]) -> str:
    """What the listing is derived from, summed up: every file under ``sources`` (bytecode aside) by path, size and
    modification time, the Python and pydantic versions, and the MCP types' module by size and time."""
    types_file = Path(types.__file__ or "").stat()
    parts = [sys.version, pydantic.VERSION, f"{types_file.st_size}:{types_file.st_mtime_ns}"]
    for source in sources:
        parts += _files(source)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _files(folder: Path) -> list[str]:
    found: list[str] = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    found += _files(Path(entry.path))
                continue
            stat = entry.stat()
            found.append(f"{entry.path}:{stat.st_size}:{stat.st_mtime_ns}")
    return found


def _keep(listing: Listing, key: str, kept: Path) -> None:
    data = {
        "key": key,
        "tools": [tool.model_dump(mode="json", by_alias=True, exclude_unset=True) for tool in listing.tools],
        "instructions": listing.instructions,
    }
    partial = kept.with_name(f"{kept.name}.{os.getpid()}")  # whole or not at all: another start may read it now
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(kept)
    except OSError as exc:
        logger.debug("the tools' listing is not kept for the next start: %s", exc)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
