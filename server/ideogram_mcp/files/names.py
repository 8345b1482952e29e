"""The names images are saved under: an agent's ``fileName`` checked to be a plain name, or one made of the date,
the prompt's first words and the image's short id."""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from ideogram_mcp.images.formats import EXTENSIONS
from ideogram_mcp.text import has_visible, unassigned_here

MAX_NAME = 100
"""Characters a ``fileName`` may have."""
MAX_NAME_BYTES = 240
"""Bytes (UTF-8) a ``fileName`` may have: file systems allow 255 for a whole name, and the server may add a number
("-20"), a number against a taken name ("-999") and an extension (".webp")."""
_NUMBERED = {f"{d}{n}" for d in ("COM", "LPT") for n in "0123456789¹²³"}  # ¹²³: Windows reserves them too
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", *_NUMBERED}


def composed(path: Path, kept: Sequence[Path]) -> Path:
    """``path`` with the folders that do not exist yet named in Unicode's composed form, as file names are: "cafe\u0301"
    (an accent typed apart) and "café" had made two folders that look alike. Those that exist, in either form, and the
    ``kept`` ones (the folders set for the server, made at its first save), are left as named."""
    existing, new = path, list[str]()
    while not os.path.lexists(existing) and existing not in kept and existing != existing.parent:  # stat refused: new
        existing, new = existing.parent, [existing.name, *new]
    for name in new:
        existing /= _alike(existing, unicodedata.normalize("NFC", name))
    return existing


def _alike(folder: Path, name: str) -> str:
    """The entry of ``folder`` that ``name`` (composed) names in another form of Unicode ("Cafe\u0301", made by a Mac
    or before), else ``name``: asked for as "Café", a second folder that looks the same had been made beside it."""
    if name.isascii() or os.path.lexists(folder / name):  # a name of ASCII has one form
        return name
    try:
        with os.scandir(folder) as entries:
            return next((e.name for e in entries if unicodedata.normalize("NFC", e.name) == name), name)
    except OSError:  # not there yet, or not to be read: made as asked
        return name


def check_file_name(text: str) -> tuple[str | None, str | None]:
    """An agent's ``fileName`` as a base name without extension, or why it cannot be one: a name, never a path
    (folders, ``..``, a leading dot and control characters are refused)."""
    name = unicodedata.normalize("NFC", text.strip())
    why = "must be a plain file name such as 'sale-poster', without folders"
    if not name:
        return None, f"{why}; it is empty"
    if any(
        (unicodedata.category(c).startswith("C") and not unassigned_here(c)) or c in "\u2028\u2029" for c in name
    ):  # line breaks too
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
    if extension.lower() in {*EXTENSIONS, ".json"} and stem:
        name = stem  # the server adds the extension of the format it saves
    if not has_visible(name):  # the name kept: "\u3164.png" is saved as "\u3164.jpg"
        return None, f"{why}; this one shows nothing (only spaces, fillers or accents), so no one could see or type it"
    if len(name) > MAX_NAME:
        return None, f"{why}, at most {MAX_NAME} characters (got {len(name)})"
    if (size := len(name.encode("utf-8"))) > MAX_NAME_BYTES:
        return None, f"{why}, at most {MAX_NAME_BYTES} bytes in UTF-8 (this one has {size})"
    if problem := unwritable_here(name):
        return None, f"must be a file name this machine can write: {problem}; {UTF8_FIX}"
    return name, None


def unwritable_here(name: str) -> str | None:
    """Why this machine's file names cannot hold ``name``, or None. A server started in a locale that is not UTF-8
    (``LANG=en_US.ISO-8859-1``; ``LC_ALL=C`` with ``PYTHONUTF8=0``) names its files in that locale's encoding: a
    name of other characters had been sent, charged, and never saved, every later fetch failing alike."""
    try:
        os.fsencode(name)
    except UnicodeEncodeError as exc:
        return f"its file names are in {sys.getfilesystemencoding()}, which has no {exc.object[exc.start]!r}"
    return None


def speakable(path: str) -> bool:
    """Whether ``path`` is both text a result can carry and a name this machine's files can have: a folder named in
    another encoding than the locale's (Latin-1 bytes, ``caf\\xe9``) comes to Python as half a surrogate pair, which
    no JSON answer can hold (a result naming it had ended the stdio server)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return unwritable_here(path) is None


UTF8_FIX = "use plain letters, digits and '-', or have the user start the server in a UTF-8 locale"


def stems(
    file_name: str | None,
    prompt: str,
    short_ids: Sequence[str],
    when: datetime,
    *,
    first: int = 1,
    of: int | None = None,
    plain: bool = True,
) -> list[str]:
    """Base names for images of a task: the agent's ``fileName`` (numbered when the task makes several), else defaults.

    ``first`` is the number of the first of these images and ``of`` how many the task makes, so images that arrive
    in several calls are numbered as one set. A single image takes the ``fileName`` itself unless ``plain`` is
    False (that name is taken: it is numbered too). A default is the date and time, the prompt's first words and the
    image's short id.
    """
    if file_name:
        if not short_ids:
            return []
        if (of or len(short_ids)) == 1 and plain:
            return [file_name]
        return [f"{file_name}-{n}" for n in range(first, first + len(short_ids))]
    ascii_prompt = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode().lower()
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_prompt)[:6])[:48].strip("-") or "image"
    return [f"{when:%Y%m%d-%H%M%S}-{slug}-{short_id}" for short_id in short_ids]


MOST_NUMBERED = 999
"""The highest number a ``fileName`` goes on to (its probe before sending allows three digits); a folder's names
with more are not ours, nor in the way."""


def numbers_taken(names: Iterable[str], file_name: str, *, stems: bool = False) -> tuple[bool, int]:
    """Whether one of ``names`` (a folder's files, any extension; or ``stems``, names without one) is ``file_name``
    itself, and the highest number ``n`` (up to ``MOST_NUMBERED``) one is as ``file_name-n``, 0 when none: the
    numbers a new set of that name comes after, so that a second set of "sign" is ``sign-3`` and ``sign-4`` beside
    ``sign-1`` and ``sign-2`` (it had been ``sign-1-2`` and ``sign-2-2``). Names are compared as a file system that
    ignores case and Unicode's forms would."""
    wanted = _folded(file_name)
    numbered = re.compile(re.escape(wanted) + r"-([0-9]{1,3})")
    plain, highest = False, 0
    for name in names:
        stem = _folded(name if stems else os.path.splitext(name)[0])
        if stem == wanted:
            plain = True
        elif (match := numbered.fullmatch(stem)) is not None:
            highest = max(highest, int(match[1]))
    return plain, highest


def _folded(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()
