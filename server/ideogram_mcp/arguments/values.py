"""An agent's values read in the types the specs say, forgiving where the meaning is plain (``"1024"`` for 1024,
``"watercolor"`` for ``WATERCOLOR``, ``"$0.60"`` for 0.6) and refused with the rule where it is not."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable
from typing import Any, cast

from ideogram_mcp import files
from ideogram_mcp.arguments.names import either
from ideogram_mcp.arguments.problems import show
from ideogram_mcp.references import as_runware_reads
from ideogram_mcp.specs import Parameter
from ideogram_mcp.text import unpaired

_UPLOADED = "00000000-0000-4000-8000-000000000000"  # stands for the UUID a local file will be uploaded as
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce(p: Parameter, raw: Any) -> tuple[Any, str | None]:
    """The value in the spec's type, leniently read, or why it cannot be (a sentence ending in a full stop)."""
    if p.format in _READERS:
        return _READERS[p.format](raw)
    value: Any = raw
    if p.type == "integer":
        value = whole(raw)
    elif p.type == "number":
        value = number(raw)
    elif p.type == "boolean":
        value = boolean(raw)
    elif p.type == "string[]" and isinstance(raw, str):
        value = [raw]  # one image where a list is expected
    elif p.type == "rectangles":
        value = rectangles(raw)
    elif p.format == "image" and p.type == "string" and isinstance(raw, list):
        items = cast(list[object], raw)
        if len(items) != 1:  # one image in a list where one is expected is that image (remix's takes a list)
            return None, f"takes one image, not a list of {len(items)}: pass it as a string."
        value = items[0]
    elif p.type == "string" and isinstance(raw, str) and p.values is not None:
        value, problem = _choice(p, raw)
        if problem:
            return None, problem
    if p.type == "string" and isinstance(value, str) and p.values is None and p.name.endswith("Prompt"):
        value = value.strip()
    if p.format == "image" and isinstance(value, str):  # as Runware reads it; no space around it is a path's
        value = as_runware_reads(value.strip())
    elif p.format == "image" and isinstance(value, list):
        items = cast(list[object], value)
        value = [as_runware_reads(i.strip()) if isinstance(i, str) else i for i in items]
    checked: object = value
    if p.format == "image" and isinstance(checked, str) and checked and files.looks_local(checked):
        checked = _UPLOADED
    elif p.format == "image" and isinstance(checked, list):
        # Checked as it will be sent: each local file is uploaded first and sent as its image UUID.
        items = cast(list[object], checked)
        checked = [_UPLOADED if isinstance(i, str) and i and files.looks_local(i) else i for i in items]
    why = p.violation(checked)
    if why is None:
        return (float(value) if p.type == "number" else value), None
    if "; it has " in why or p.type == "rectangles":  # the figure, or the rectangle at fault, says enough
        return None, f"{why}."
    return None, f"{why}; got {show(raw)}."


def unsendable(raw: Any) -> str | None:
    """Why a value holds text no request can carry, else None: half of a UTF-16 surrogate pair alone (``unpaired``),
    looked for inside lists and objects too."""
    if (found := unpaired(raw)) is None:
        return None
    _, text = found
    at = next(n for n, character in enumerate(text) if "\ud800" <= character <= "\udfff")
    return (
        f"holds half of a UTF-16 surrogate pair alone (\\u{ord(text[at]):04x}, character {at + 1}), which no request"
        " can carry: send the character whole (both halves of its \\u escape pair, or itself)."
    )


def number(raw: Any) -> Any:
    """A number however it came (10, 2.5, "10"); anything else as it is, for the caller to refuse."""
    if isinstance(raw, str) and re.fullmatch(r"\s*\d{1,9}(\.\d{1,9})?\s*", raw):
        return float(raw)
    return raw


def rectangles(raw: Any) -> Any:
    """Rectangles however they came: JSON text of one or a list (as some clients send objects), their numbers as text
    (``"0.25"``); anything else as it is, for the caller to refuse."""
    if isinstance(raw, str) and raw.strip()[:1] in ("{", "["):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, nested too deep, or a number of 5,000 digits
            return raw
    if isinstance(raw, dict):
        return {key: number(given) for key, given in cast(dict[str, Any], raw).items()}
    if isinstance(raw, list):
        return [rectangles(item) if isinstance(item, dict) else item for item in cast(list[Any], raw)]
    return raw


def boolean(raw: Any) -> Any:
    """A boolean however it came (true, "true", "yes", "off" ...); anything else as it is, for the caller to refuse."""
    if isinstance(raw, str):
        word = raw.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else raw
    return raw


def dollars(raw: Any) -> float | None:
    """An amount of money however it came (0.6, "0.6", "$0.60"), or None when it is none (negative, not finite)."""
    if isinstance(raw, str):
        raw = raw.strip().removeprefix("$").strip()
        if not re.fullmatch(r"\d{1,9}(\.\d{0,9})?|\.\d{1,9}", raw):
            return None
        raw = float(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        amount = float(raw)
    except OverflowError:
        return None
    return amount + 0.0 if math.isfinite(amount) and amount >= 0 else None  # + 0.0: -0.0 is said as $0.00


def whole(raw: Any) -> Any:
    """A whole number however it came (3, 3.0, \"3\"); anything else as it is, for the caller to refuse."""
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", raw):  # longer is no count or size
        return int(raw)
    return raw


def _normal(text: str) -> str:
    return re.sub(r"[\s\-_]+", "_", text.strip()).upper()


def _choice(p: Parameter, raw: str) -> tuple[str | None, str | None]:
    assert p.values is not None
    allowed = list(p.values)
    if raw in p.values:
        return raw, None
    wanted = _normal(raw)
    synonym = {_normal(k): v for k, v in (p.synonyms or {}).items()}.get(wanted)
    if synonym is not None:
        return synonym, None
    exact = [v for v in allowed if _normal(v) == wanted]
    if len(exact) == 1:
        return exact[0], None
    starting = [v for v in allowed if _normal(v).startswith(wanted)] if len(wanted) >= 3 else []
    if len(starting) == 1:
        return starting[0], None
    close = starting or difflib.get_close_matches(wanted, allowed, n=3, cutoff=0.5)
    hint = f" Closest: {either(close)}." if close else ""
    if len(allowed) <= 12:
        return None, f"{show(raw)} is not allowed.{hint} Allowed: {', '.join(allowed)}."
    return (
        None,
        f"{show(raw)} is not one of the {len(allowed)} allowed values.{hint} Call list_style_presets for all.",
    )


def _file_name(raw: Any) -> tuple[Any, str | None]:
    if not isinstance(raw, str):
        return None, f"must be a file name (text); got {show(raw)}."
    clean, problem = files.check_file_name(raw)
    return (clean, None) if problem is None else (None, f"{problem}; got {show(raw)}.")


def _folder(raw: Any) -> tuple[Any, str | None]:
    if not isinstance(raw, str) or not raw.strip():
        return None, f"must be a folder path (text); got {show(raw)}."
    return raw.strip(), None


def _dollars(raw: Any) -> tuple[Any, str | None]:
    amount = dollars(raw)
    if amount is None:
        return None, f"must be the dollars the user agreed to, a number such as 0.6; got {show(raw)}."
    return amount, None


def _ratio(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None, f"must be a ratio such as '16:9' or 1.5; got {show(raw)}."
    if isinstance(raw, int) and abs(raw) >= 10**18:
        return None, "must be a ratio such as '16:9' or 1.5; got a number too long to be one."
    return raw if isinstance(raw, str) else str(raw), None  # 1.5 means "1.5"


def _model(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and abs(raw) < 100:
        return str(raw), None  # 4.0 means "4.0"
    if not isinstance(raw, str) or not raw.strip():
        return None, f"must be a model's name, such as 'ideogram-4.0'; got {show(raw)}."
    return raw.strip(), None  # which model it names is the tool's to say (``arguments.models``)


_READERS: dict[str, Callable[[Any], tuple[Any, str | None]]] = {
    "file_name": _file_name,
    "folder": _folder,
    "dollars": _dollars,
    "ratio": _ratio,
    "model": _model,
}
"""How a value of these formats is read: each its own rule (a file name is checked and cleaned, a ratio is text)."""
