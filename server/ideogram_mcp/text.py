"""How the server quotes text it did not write (Runware's messages, an agent's input): on one line, and short."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import cast

UPSTREAM_SHOWN = 300
"""Characters of each upstream message an agent is shown (an error page can be megabytes)."""


_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Letters and symbols that show nothing: the Hangul fillers and the blank braille pattern."""


def has_visible(text: str) -> bool:
    """Whether text holds a character one can see (a letter, digit, punctuation or symbol, or one this Python's
    Unicode does not know yet): not only spaces, zero-width marks, lone accents or the letters that show nothing
    (Hangul fillers, blank braille)."""
    return any((unicodedata.category(c)[0] in "LNPS" and c not in _BLANK_LETTERS) or unassigned_here(c) for c in text)


def unassigned_here(character: str) -> bool:
    """Whether a character is unassigned in this Python's Unicode tables but may be assigned in a newer Unicode, as
    each year's new emoji are (Python 3.11 knows Unicode 14: 🩷 and 🫨 are unknown to it); never one that will show
    nothing whatever Unicode assigns (``_NEVER_SHOWN``)."""
    code = ord(character)
    if code & 0xFFFE == 0xFFFE:  # U+FFFE, U+FFFF, U+1FFFE ...: each plane's last two are noncharacters
        return False
    return unicodedata.category(character) == "Cn" and not any(code in reserved for reserved in _NEVER_SHOWN)


_NEVER_SHOWN = (range(0xFDD0, 0xFDF0), range(0x2065, 0x2066), range(0xFFF0, 0xFFF9), range(0xE0000, 0xE1000))
"""Unassigned code points that will never show anything: the noncharacters U+FDD0 to U+FDEF, and those Unicode
reserves as default-ignorable (U+2065, U+FFF0 to U+FFF8, and plane 14's block of tags and variation selectors)."""


def joined(words: Sequence[str]) -> str:
    """Words as a sentence lists them: ``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def excerpt(text: str, limit: int = UPSTREAM_SHOWN) -> str:
    """Text as an agent is shown it: on one line, and at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clipped(text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text``, then "…" where it goes on: cut between two characters a reader sees
    as two, never inside one (an accent from its letter, half a flag, a family emoji at a joiner)."""
    if len(text) <= limit:
        return text
    cut = limit - 1
    while cut > 0 and not _between_graphemes(text, cut):
        cut -= 1
    return text[:cut].rstrip() + "…"


_REGIONAL = range(0x1F1E6, 0x1F200)
"""The regional indicators, which pair into flags."""


def _between_graphemes(text: str, at: int) -> bool:
    """Whether ``text[:at]`` and ``text[at:]`` split no character a reader sees as one (the common cases of Unicode's
    rules: combining marks, joiners, variation selectors, skin tones, tags, and flags' pairs)."""
    after, before = ord(text[at]), ord(text[at - 1])
    if (
        unicodedata.category(text[at]).startswith("M")
        or after == 0x200D  # a zero-width joiner
        or 0xFE00 <= after <= 0xFE0F
        or 0xE0100 <= after <= 0xE01EF  # variation selectors
        or 0x1F3FB <= after <= 0x1F3FF  # skin tones
        or 0xE0020 <= after <= 0xE007F  # tags (the flags of England, Scotland, Wales)
        or before == 0x200D
    ):
        return False
    if after in _REGIONAL and before in _REGIONAL:
        run = at
        while run > 0 and ord(text[run - 1]) in _REGIONAL:
            run -= 1
        return (at - run) % 2 == 0  # a flag is two: the cut falls between pairs only
    return True


def quoted(value: object) -> str:
    """A value an agent sent, quoted back as JSON, as it wrote it (``"x"``, ``false``, ``null``), characters that
    do not print escaped (``\u200b``, half a surrogate pair); ``ValueError`` for an integer too long to print."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)


def sentence(text: str) -> str:
    """``text`` as a sentence: capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def unpaired(value: object, path: str = "") -> tuple[str, str] | None:
    """The first text in ``value`` (a string, or one inside lists and objects, keys included) holding half of a UTF-16
    surrogate pair alone, which no UTF-8 text can carry (JSON's ``"\\ud83d"`` without its partner): where it is, as
    ``params.arguments.prompt`` or ``images[0]`` below ``path``, and the text itself; None when there is none."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return path, value
        return None
    if isinstance(value, dict):
        for key, item in cast(dict[str, object], value).items():
            named = f"{path}.{key}" if path else key
            if (found := unpaired(key, named) or unpaired(item, named)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(cast(list[object], value)):
            if (found := unpaired(item, f"{path}[{index}]")) is not None:
                return found
    return None


def carried(value: object) -> object:
    """JSON-like data with every half of a surrogate pair written as its escape (``caf\\udce9``): what a folder named
    in another encoding becomes in Python, which no JSON answer can hold (an answer naming one had ended the server)."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode()
        return value
    if isinstance(value, dict):
        return {carried(key): carried(item) for key, item in cast(dict[object, object], value).items()}
    if isinstance(value, list):
        return [carried(item) for item in cast(list[object], value)]
    return value
